//! Generator: `z (B, 128) → linear → (B, L, DIM) → residual blocks → 1×1 conv → softmax over V`.
//! Each position is a probability vector over the vocabulary; text is its argmax. With
//! `--attention N` a [`SelfAttention`] layer follows the first `N` residual blocks; with
//! `--autoregressive K` a [`Readout`] adds to each position's logits what it reads of the `K`
//! positions written before it.

use candle_core::{Tensor, D};

use super::attention::SelfAttention;
use super::conv::Conv1d;
use super::linear::{Init, Linear};
use super::readout::Readout;
use super::resblock::ResBlock;
use crate::data::batches::pad_tensor_from;
use crate::error::{Error, Result};
use crate::model::params::{ParamBuilder, Params, Store};
use crate::model::schema::{self, Net, Schema};
use crate::model::{FakeView, ModelShape};

#[derive(Debug, Clone)]
pub struct Generator {
    pub shape: ModelShape,
    input: Linear,
    blocks: Vec<ResBlock>,
    output: Conv1d,
    /// The self-attention and the number of blocks before it.
    attention: Option<(usize, SelfAttention)>,
    readout: Option<Readout>,
    /// With a read-out trained on Gumbel-softmax samples (`--gumbel τ`), the temperature its
    /// look-back is read at when text is decoded: `softmax(logits/τ)`, the relaxed sample at
    /// zero noise, which is as sharp as what it read in training.
    decode_tau: Option<f64>,
}

impl Generator {
    pub fn new(pb: &ParamBuilder, shape: ModelShape) -> Result<Self> {
        let input = Linear::new(
            &pb.pp(schema::INPUT),
            shape.noise_dim,
            shape.seq_len * shape.dim,
            Init::Glorot,
        )?;
        let blocks = (0..shape.res_blocks)
            .map(|i| ResBlock::new(&pb.pp(schema::block(i)), shape.dim, shape.kernel, false))
            .collect::<Result<_>>()?;
        let output = Conv1d::new(&pb.pp(schema::OUTPUT), shape.dim, shape.vocab, 1)?;
        // Drawn last, so that a generator without it starts from the same weights as before.
        shape.check_attention().map_err(Error::Config)?;
        let attention = match shape.attention {
            Some(n) => Some((n, SelfAttention::new(&pb.pp(schema::ATTENTION), shape.dim)?)),
            None => None,
        };
        shape.check_autoregressive().map_err(Error::Config)?;
        let readout = match shape.autoregressive {
            Some(k) => Some(Readout::new(
                &pb.pp(schema::AUTOREGRESSIVE),
                k,
                shape.vocab,
                shape.dim,
            )?),
            None => None,
        };
        Ok(Generator {
            shape,
            input,
            blocks,
            output,
            attention,
            readout,
            decode_tau: None,
        })
    }

    /// A freshly initialised generator and its parameters.
    pub fn init(shape: ModelShape, store: Store) -> Result<(Self, Params)> {
        let g = Self::new(&store.root(), shape)?;
        let params = store.into_params();
        params.check(&Schema::of(Net::Generator, &shape))?;
        Ok((g, params))
    }

    /// `z`: `(B, noise_dim)` → probabilities `(B, L, V)`.
    pub fn forward(&self, z: &Tensor) -> Result<Tensor> {
        let logits = self.logits(z)?;
        Ok(candle_nn::ops::softmax(&logits, D::Minus1)?)
    }

    /// A generator trained with Gumbel-softmax fakes at `tau` (`--gumbel`; 0: none): with a
    /// read-out, text is decoded with its look-back read at that temperature.
    pub fn trained_with_gumbel(mut self, tau: f64) -> Self {
        self.decode_tau = (tau > 0.0).then_some(tau);
        self
    }

    /// What the critic is shown in training ([`FakeView`]): `softmax(logits)`, or with Gumbel
    /// noise `softmax((logits + g)/τ)` (with a read-out, what each position wrote and the
    /// later ones read), its positions from `visible` on padding.
    pub fn forward_shown(&self, z: &Tensor, shown: &FakeView<Tensor>) -> Result<Tensor> {
        let (noise, tau) = match &shown.gumbel {
            Some((g, tau)) => (Some(g), *tau),
            None => (None, 1.0),
        };
        let (logits, written) = self.head(z, noise, tau)?;
        let probs = match (written, noise) {
            (Some(written), _) => written,
            (None, None) => candle_nn::ops::softmax(&logits, D::Minus1)?,
            (None, Some(g)) => candle_nn::ops::softmax(&((logits + g)? / tau)?, D::Minus1)?,
        };
        pad_tensor_from(&probs, shown.visible)
    }

    /// Token ids of the generated text, `B` rows of `L`: the argmax at each position
    /// (of the logits: softmax does not change it).
    pub fn argmax_ids(&self, z: &Tensor) -> Result<Vec<Vec<u32>>> {
        Ok(self.logits(z)?.argmax(D::Minus1)?.to_vec2::<u32>()?)
    }

    /// Pre-softmax scores `(B, L, V)`; their argmax is the generated text.
    pub fn logits(&self, z: &Tensor) -> Result<Tensor> {
        Ok(self.head(z, None, self.decode_tau.unwrap_or(1.0))?.0)
    }

    /// The logits, and with a read-out what each position wrote (`noise`, `tau`: see
    /// [`Readout::forward`]; without a read-out they are not used).
    fn head(
        &self,
        z: &Tensor,
        noise: Option<&Tensor>,
        tau: f64,
    ) -> Result<(Tensor, Option<Tensor>)> {
        let b = z.dim(0)?;
        let mut h = self
            .input
            .forward(z)?
            .reshape((b, self.shape.seq_len, self.shape.dim))?;
        for (i, block) in self.blocks.iter().enumerate() {
            h = block.forward(&h)?;
            if let Some((_, attention)) = self.attention.as_ref().filter(|(n, _)| *n == i + 1) {
                h = attention.forward(&h)?;
            }
        }
        let base = self.output.forward(&h)?;
        match &self.readout {
            Some(readout) => {
                let (logits, written) = readout.forward(&h, &base, noise, tau)?;
                Ok((logits, Some(written)))
            }
            None => Ok((base, None)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::CriticNorm;
    use candle_core::{DType, Device};

    /// A generator trained with Gumbel-softmax fakes at τ decodes what training showed it at
    /// zero noise: the argmax of each position of `softmax(logits/τ)` written and read back.
    #[test]
    fn a_readout_trained_with_gumbel_decodes_its_look_back_at_tau() {
        let shape = ModelShape {
            vocab: 7,
            seq_len: 8,
            dim: 6,
            noise_dim: 5,
            res_blocks: 2,
            kernel: 3,
            critic_norm: CriticNorm::None,
            critic_dim: None,
            local_critic: None,
            attention: None,
            autoregressive: Some(3),
        };
        let store = Store::new(4, DType::F64, &Device::Cpu);
        let (g, _) = Generator::init(shape, store).unwrap();
        let v: Vec<f64> = (0..40)
            .map(|i| ((i * 37 % 11) as f64 - 5.0) / 2.0)
            .collect();
        let z = Tensor::from_vec(v, (8, 5), &Device::Cpu).unwrap();
        let tau = 0.3;
        let shown = FakeView {
            visible: shape.seq_len,
            gumbel: Some((
                Tensor::zeros((8, 8, 7), DType::F64, &Device::Cpu).unwrap(),
                tau,
            )),
        };
        let written = g.forward_shown(&z, &shown).unwrap();
        let expected = written.argmax(D::Minus1).unwrap().to_vec2::<u32>().unwrap();
        let decoded = g.clone().trained_with_gumbel(tau).argmax_ids(&z).unwrap();
        assert_eq!(decoded, expected);
        // Reading the look-back at τ changes what each position reads: the logits move.
        let plain = g.logits(&z).unwrap();
        let sharp = g.clone().trained_with_gumbel(tau).logits(&z).unwrap();
        let moved = (plain - sharp).unwrap().abs().unwrap().max_all().unwrap();
        assert!(moved.to_scalar::<f64>().unwrap() > 1e-6);
    }
}
