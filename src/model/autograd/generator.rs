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
            .map(|i| ResBlock::new(&pb.pp(schema::block(i)), shape.dim, false))
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

    /// What the critic is shown in training ([`FakeView`]): `softmax(logits)`, or with Gumbel
    /// noise `softmax((logits + g)/τ)`, its positions from `visible` on padding.
    pub fn forward_shown(&self, z: &Tensor, shown: &FakeView<Tensor>) -> Result<Tensor> {
        let probs = match &shown.gumbel {
            None => self.forward(z)?,
            Some((g, tau)) => {
                let relaxed = ((self.logits(z)? + g)? / *tau)?;
                candle_nn::ops::softmax(&relaxed, D::Minus1)?
            }
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
            Some(readout) => readout.logits(&h, &base),
            None => Ok(base),
        }
    }
}
