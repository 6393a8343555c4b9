//! Critic: one-hot or softmax text `(B, L, V)` → 1×1 conv → residual blocks → flatten → linear
//! → one score per sample. Optionally layer norm in the blocks; never batch normalisation: the
//! gradient penalty is per sample.
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
use crate::model::{CriticNorm, ModelShape, BATCH_NORM_REFUSED};

#[derive(Debug, Clone)]
pub struct Critic {
    pub shape: ModelShape,
    input: Conv1d,
    blocks: Vec<ResBlock>,
    output: Linear,
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
            .map(|i| ResBlock::new(&pb.pp(schema::block(i)), shape.critic_width(), layer_norm))
            .collect::<Result<_>>()?;
        let output = Linear::new(
            &pb.pp(schema::OUTPUT),
            shape.seq_len * shape.critic_width(),
            1,
            Init::Glorot,
        )?;
        Ok(Critic {
            shape,
            input,
            blocks,
            output,
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
        for block in &self.blocks {
            h = block.forward(&h)?;
        }
        self.head(&h)
    }

    fn head(&self, h: &Tensor) -> Result<Tensor> {
        let b = h.dim(0)?;
        Ok(self
            .output
            .forward(&h.reshape((b, self.shape.seq_len * self.shape.critic_width()))?)?
            .squeeze(1)?)
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
        let mut h = self.input.forward(x)?;
        let mut caches = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let (next, c) = block.forward_cached(&h)?;
            caches.push(c);
            h = next;
        }
        let scores = self.head(&h)?;
        // ∂score/∂h_last is the output weight, reshaped to one (L, DIM) map per sample.
        let mut g = self
            .output
            .weight
            .reshape((1, l, self.shape.critic_width()))?
            .broadcast_as((b, l, self.shape.critic_width()))?
            .contiguous()?;
        let mut grads = Vec::new();
        for (block, c) in self.blocks.iter().zip(caches.iter()).rev() {
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
