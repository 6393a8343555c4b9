//! The generator's autoregressive read-out (`--autoregressive K`; not in the paper): each
//! position's output also reads the generator's own output at the `K` positions before it, as
//! the recurrent generators of Press et al. 2017 read their previous softmax. The convolutional
//! stack still plans the whole sequence at once from the noise; the read-out lets a character
//! depend on the characters actually written before it, which a one-shot generator can only
//! reach by making every position's plan agree.
//!
//! For position `t`, with `p_s` the probabilities written at position `s` (zero before the
//! first), `x_t = [p_{t−K}, …, p_{t−1}]` `(K·V)`:
//!
//! `u_t = relu(h_t + x_t·E)`, `logits_t = h_t·W_out + b_out + u_t·M`, `p_t = softmax(logits_t)`,
//!
//! `E` `(K·V, d)` embeds the look-back, `M` `(d, V)` reads the mixture out; `h_t` is the last
//! residual block's output, `W_out`, `b_out` the generator's output layer. No biases: `h_t`
//! and `b_out` have them. Positions are computed in order, so the output is a function of the
//! noise alone, as before, and its gradient runs back through every `p_s` it read. With
//! `--gumbel τ`, `p_t` is the Gumbel-softmax sample `softmax((logits_t + g_t)/τ)` instead: the
//! later positions read the character drawn, not the distribution it was drawn from.

use candle_core::{Tensor, D};

use crate::error::Result;
use crate::model::params::ParamBuilder;
use crate::model::schema::{EMBED, READ, WEIGHT};

#[derive(Debug, Clone)]
pub struct Readout {
    /// Positions looked back, `K`.
    pub look_back: usize,
    /// `E` `(K·V, d)`: the look-back's embedding, oldest position first.
    pub embed: Tensor,
    /// `M` `(d, V)`.
    pub read: Tensor,
}

impl Readout {
    pub fn new(pb: &ParamBuilder, look_back: usize, vocab: usize, dim: usize) -> Result<Self> {
        // Glorot's scale, as the paper's dense layers; `E`'s fan-in counts one position, since
        // a near one-hot `x_t` has about one non-zero entry per position.
        let embed = pb.pp(EMBED).uniform(
            WEIGHT,
            (look_back * vocab, dim),
            (2.0 / (vocab + dim) as f64).sqrt(),
        )?;
        let read =
            pb.pp(READ)
                .uniform(WEIGHT, (dim, vocab), (2.0 / (dim + vocab) as f64).sqrt())?;
        Ok(Readout {
            look_back,
            embed,
            read,
        })
    }

    /// `h` `(B, L, d)` and `base = h·W_out + b_out` `(B, L, V)` → the logits and what each
    /// position wrote, both `(B, L, V)`, position by position: `p_t = softmax((logits_t +
    /// g_t)/τ)`, with `noise` `g` (none: 0) and `tau` τ (1: the softmax itself). With Gumbel
    /// noise that is the Gumbel-softmax sample (Jang et al. 2017), which the later positions
    /// then read: the read-out conditions each character on the characters drawn before it,
    /// as RelGAN's recurrent generator (Nie et al. 2019) feeds back its Gumbel-softmax output.
    pub fn forward(
        &self,
        h: &Tensor,
        base: &Tensor,
        noise: Option<&Tensor>,
        tau: f64,
    ) -> Result<(Tensor, Tensor)> {
        let (b, l, _) = h.dims3()?;
        let v = base.dim(D::Minus1)?;
        let zeros = Tensor::zeros((b, v), base.dtype(), base.device())?;
        let mut probs: Vec<Tensor> = Vec::with_capacity(l);
        let mut logits = Vec::with_capacity(l);
        for t in 0..l {
            // [p_{t−K}, …, p_{t−1}], zero before the first position.
            let back: Vec<&Tensor> = (1..=self.look_back)
                .rev()
                .map(|j| if t >= j { &probs[t - j] } else { &zeros })
                .collect();
            let x = Tensor::cat(&back, 1)?;
            let u = (h.narrow(1, t, 1)?.squeeze(1)? + x.matmul(&self.embed)?)?.relu()?;
            let logit = (base.narrow(1, t, 1)?.squeeze(1)? + u.matmul(&self.read)?)?;
            let mut written = match noise {
                None => logit.clone(),
                Some(g) => (&logit + g.narrow(1, t, 1)?.squeeze(1)?)?,
            };
            if tau != 1.0 {
                written = (written / tau)?;
            }
            probs.push(candle_nn::ops::softmax(&written, D::Minus1)?);
            logits.push(logit);
        }
        Ok((Tensor::stack(&logits, 1)?, Tensor::stack(&probs, 1)?))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};

    fn readout(k: usize, v: usize, d: usize) -> Readout {
        let store = crate::model::params::Store::new(3, DType::F64, &Device::Cpu);
        Readout::new(&store.root(), k, v, d).unwrap()
    }

    fn tensor(b: usize, l: usize, w: usize, salt: usize) -> Tensor {
        let v: Vec<f64> = (0..b * l * w)
            .map(|i| (((i + salt) * 37 % 11) as f64 - 5.0) / 5.0)
            .collect();
        Tensor::from_vec(v, (b, l, w), &Device::Cpu).unwrap()
    }

    /// Position `t` depends on positions before it and not after: changing `h` at position
    /// 3 changes the logits from 3 on and leaves 0..3 as they were.
    #[test]
    fn reads_only_earlier_positions() {
        let (b, l, d, v) = (2, 6, 4, 5);
        let r = readout(2, v, d);
        let h = tensor(b, l, d, 0);
        let base = tensor(b, l, v, 1);
        let before = r
            .forward(&h, &base, None, 1.0)
            .unwrap()
            .0
            .to_vec3::<f64>()
            .unwrap();
        let mut hv = h.to_vec3::<f64>().unwrap();
        for row in hv.iter_mut() {
            row[3].iter_mut().for_each(|x| *x += 0.7);
        }
        let h2 = Tensor::new(hv, &Device::Cpu).unwrap();
        let after = r
            .forward(&h2, &base, None, 1.0)
            .unwrap()
            .0
            .to_vec3::<f64>()
            .unwrap();
        for s in 0..b {
            for t in 0..l {
                let same = before[s][t] == after[s][t];
                assert_eq!(same, t < 3, "sample {s}, position {t}");
            }
        }
    }
}
