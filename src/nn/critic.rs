//! Critic: one-hot or softmax text `(B, L, V)` → 1×1 conv → residual blocks → flatten → linear
//! → one score per sample. No batch normalisation: the gradient penalty is per sample.
//!
//! Besides `forward`, the critic computes its own input-gradient `∂(Σ_b D(x_b))/∂x` as an
//! explicit vector-Jacobian product made of ordinary differentiable tensor ops. The gradient
//! penalty built on it is then an ordinary function of the parameters, and one `backward()`
//! gives its exact gradient, second-order term included.

use candle_core::Tensor;

use super::conv::Conv1d;
use super::linear::{Init, Linear};
use super::params::{ParamBuilder, Params, Store};
use super::resblock::ResBlock;
use super::ModelShape;
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct Critic {
    pub shape: ModelShape,
    input: Conv1d,
    blocks: Vec<ResBlock>,
    output: Linear,
}

impl Critic {
    pub fn new(pb: &ParamBuilder, shape: ModelShape) -> Result<Self> {
        let input = Conv1d::new(&pb.pp("input"), shape.vocab, shape.dim, 1)?;
        let blocks = (0..shape.res_blocks)
            .map(|i| ResBlock::new(&pb.pp(format!("blocks.{i}")), shape.dim))
            .collect::<Result<_>>()?;
        let output = Linear::new(&pb.pp("output"), shape.seq_len * shape.dim, 1, Init::Glorot)?;
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
        Ok((c, store.into_params()))
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
            .forward(&h.reshape((b, self.shape.seq_len * self.shape.dim))?)?
            .squeeze(1)?)
    }

    /// Scores `(B)` and the input-gradient `∂(Σ_b D(x_b))/∂x` `(B, L, V)`; row `b` of the
    /// gradient is `∇ₓD(x_b)` since samples do not interact. Both stay differentiable in the
    /// parameters.
    pub fn forward_with_input_grad(&self, x: &Tensor) -> Result<(Tensor, Tensor)> {
        let (b, l, _) = x.dims3()?;
        let mut h = self.input.forward(x)?;
        let mut masks = Vec::with_capacity(self.blocks.len());
        for block in &self.blocks {
            let (next, m) = block.forward_masked(&h)?;
            masks.push(m);
            h = next;
        }
        let scores = self.head(&h)?;
        // ∂score/∂h_last is the output weight, reshaped to one (L, DIM) map per sample.
        let mut g = self
            .output
            .weight
            .reshape((1, l, self.shape.dim))?
            .broadcast_as((b, l, self.shape.dim))?
            .contiguous()?;
        for (block, m) in self.blocks.iter().zip(masks.iter()).rev() {
            g = block.backward_input(&g, m)?;
        }
        Ok((scores, self.input.backward_input(&g)?))
    }

    /// `∂(Σ_b D(x_b))/∂x`, `(B, L, V)`.
    pub fn input_grad(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_with_input_grad(x)?.1)
    }
}
