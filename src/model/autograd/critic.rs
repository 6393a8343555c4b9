//! Critic: one-hot or softmax text `(B, L, V)` → 1×1 conv → residual blocks → flatten → linear
//! → one score per sample. Optionally layer norm in the blocks; never batch normalisation: the
//! gradient penalty is per sample.
//!
//! Optionally a local branch (`--local-critic N`, not in the paper): `local.weight` reads the
//! residual stream after block `N` at every position, a score per window of
//! [`receptive_field`](crate::model::receptive_field)`(N, kernel)` characters, and the mean over positions is added to the global
//! score, `D(x) = w_outᵀ·flat(h_last) + b + (1/L)·Σ_l w_localᵀ·h_N[l]`. The flatten-then-linear
//! head weighs each position on its own; the local branch scores every window with the same
//! weights, so what makes a word look real is learnt once for all positions. The penalty
//! applies to the sum (its input-gradient below includes the branch).
//!
//! Besides `forward`, the critic computes its own input-gradient `∂(Σ_b D(x_b))/∂x` as an
//! explicit vector-Jacobian product made of ordinary differentiable tensor ops. The gradient
//! penalty built on it is then an ordinary function of the parameters, and one `backward()`
//! gives its exact gradient, second-order term included.

use candle_core::Tensor;

use super::conv::Conv1d;
use super::linear::{Init, Linear};
use super::resblock::ResBlock;
use crate::error::{Error, Result};
use crate::model::params::{ParamBuilder, Params, Store};
use crate::model::schema::{self, Net, Schema};
use crate::model::{local_position_weight, CriticNorm, ModelShape, BATCH_NORM_REFUSED};

#[derive(Debug, Clone)]
pub struct Critic {
    pub shape: ModelShape,
    input: Conv1d,
    blocks: Vec<ResBlock>,
    output: Linear,
    /// The local branch: the residual blocks under it, and its weight `(d, 1)`.
    local: Option<(usize, Tensor)>,
}

impl Critic {
    pub fn new(pb: &ParamBuilder, shape: ModelShape) -> Result<Self> {
        let layer_norm = match shape.critic_norm {
            CriticNorm::None => false,
            CriticNorm::Layer => true,
            CriticNorm::Batch => return Err(Error::Config(BATCH_NORM_REFUSED.into())),
        };
        let input = Conv1d::new(&pb.pp(schema::INPUT), shape.vocab, shape.critic_width(), 1)?;
        let blocks = (0..shape.res_blocks)
            .map(|i| {
                ResBlock::new(
                    &pb.pp(schema::block(i)),
                    shape.critic_width(),
                    shape.kernel,
                    layer_norm,
                )
            })
            .collect::<Result<_>>()?;
        let output = Linear::new(
            &pb.pp(schema::OUTPUT),
            shape.seq_len * shape.critic_width(),
            1,
            Init::Glorot,
        )?;
        shape.check_local_critic().map_err(Error::Config)?;
        let local = match shape.local_critic {
            // Glorot for a (d, 1) layer, as the global head.
            Some(n) => {
                let d = shape.critic_width();
                let stdev = (2.0 / (d + 1) as f64).sqrt();
                let w = pb
                    .pp(schema::LOCAL)
                    .uniform(schema::WEIGHT, (d, 1), stdev)?;
                Some((n, w))
            }
            None => None,
        };
        Ok(Critic {
            shape,
            input,
            blocks,
            output,
            local,
        })
    }

    /// A freshly initialised critic and its parameters.
    pub fn init(shape: ModelShape, store: Store) -> Result<(Self, Params)> {
        let c = Self::new(&store.root(), shape)?;
        let params = store.into_params();
        params.check(&Schema::of(Net::Critic, &shape))?;
        Ok((c, params))
    }

    /// `x`: `(B, L, V)` → scores `(B)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let mut h = self.input.forward(x)?;
        let mut local = None;
        for (i, block) in self.blocks.iter().enumerate() {
            local = local.or(self.local_scores(i, &h)?);
            h = block.forward(&h)?;
        }
        local = local.or(self.local_scores(self.blocks.len(), &h)?);
        self.head(&h, local)
    }

    /// The global score of the last block's output `h` `(B, L, d)`, plus the local branch's.
    fn head(&self, h: &Tensor, local: Option<Tensor>) -> Result<Tensor> {
        let b = h.dim(0)?;
        let global = self
            .output
            .forward(&h.reshape((b, self.shape.seq_len * self.shape.critic_width()))?)?
            .squeeze(1)?;
        match local {
            Some(l) => Ok((global + l)?),
            None => Ok(global),
        }
    }

    /// The local branch's score `(B)` when `h` `(B, L, d)` is the input of block `i` and the
    /// branch reads there (`i` = N); with N = the number of blocks, [`head`](Self::head)'s input.
    fn local_scores(&self, i: usize, h: &Tensor) -> Result<Option<Tensor>> {
        match &self.local {
            Some((n, w)) if *n == i => {
                let (b, l, d) = h.dims3()?;
                let per_position = h.reshape((b * l, d))?.matmul(w)?.reshape((b, l))?;
                let k = local_position_weight(l);
                Ok(Some(per_position.sum(1)?.affine(k, 0.0)?))
            }
            _ => Ok(None),
        }
    }

    /// `∂score/∂h` of the local branch at block input `i`, `(B, L, d)`: `w_local/L` at every
    /// position; `None` where the branch does not read.
    fn local_grad(&self, i: usize, (b, l, d): (usize, usize, usize)) -> Result<Option<Tensor>> {
        match &self.local {
            Some((n, w)) if *n == i => Ok(Some(
                w.reshape((1, 1, d))?
                    .affine(local_position_weight(l), 0.0)?
                    .broadcast_as((b, l, d))?
                    .contiguous()?,
            )),
            _ => Ok(None),
        }
    }

    /// Scores `(B)` and the input-gradient `∂(Σ_b D(x_b))/∂x` `(B, L, V)`; row `b` of the
    /// gradient is `∇ₓD(x_b)` since samples do not interact. Both stay differentiable in the
    /// parameters.
    pub fn forward_with_input_grad(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let (scores, mut grads) = self.backward_pass(x, false)?;
        let input_grad = grads
            .pop()
            .ok_or_else(|| Error::Internal("critic backward pass gave no gradient".into()))?;
        Ok((scores, input_grad))
    }

    /// `∂(Σ_b D(x_b))/∂x`, `(B, L, V)`.
    pub fn input_grad(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_with_input_grad(x)?.1)
    }

    /// The gradient of the score w.r.t. every layer's activations, from the output back:
    /// after the last block, after each earlier block, after the input conv, and the input
    /// itself (`res_blocks + 2` tensors). For the vanishing / exploding gradient diagnostic.
    pub fn layer_grads(&self, x: &Tensor) -> Result<Vec<Tensor>> {
        Ok(self.backward_pass(x, true)?.1)
    }

    /// Scores, and the input-gradient (alone, or after every layer's gradient with `keep_all`).
    fn backward_pass(&self, x: &Tensor, keep_all: bool) -> Result<(Tensor, Vec<Tensor>)> {
        let (b, l, _) = x.dims3()?;
        let d = self.shape.critic_width();
        let mut h = self.input.forward(x)?;
        let mut caches = Vec::with_capacity(self.blocks.len());
        let mut local = None;
        for (i, block) in self.blocks.iter().enumerate() {
            local = local.or(self.local_scores(i, &h)?);
            let (next, c) = block.forward_cached(&h)?;
            caches.push(c);
            h = next;
        }
        let n = self.blocks.len();
        local = local.or(self.local_scores(n, &h)?);
        let scores = self.head(&h, local)?;
        // ∂score/∂h_last is the output weight, reshaped to one (L, DIM) map per sample.
        let mut g = self
            .output
            .weight
            .reshape((1, l, d))?
            .broadcast_as((b, l, d))?
            .contiguous()?;
        let mut grads = Vec::new();
        for (i, (block, c)) in self.blocks.iter().zip(caches.iter()).enumerate().rev() {
            if let Some(gl) = self.local_grad(i + 1, (b, l, d))? {
                g = (g + gl)?;
            }
            if keep_all {
                grads.push(g.clone());
            }
            g = block.backward_input(&g, c)?;
        }
        if keep_all {
            grads.push(g.clone());
        }
        grads.push(self.input.backward_input(&g)?);
        Ok((scores, grads))
    }
}
