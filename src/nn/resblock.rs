//! The paper's residual block: `x + 0.3 · conv2(relu(conv1(relu(x))))`, both convolutions
//! `k = 5`, "same" padding, width DIM → DIM.

use candle_core::Tensor;

use super::conv::Conv1d;
use super::params::ParamBuilder;
use crate::error::Result;

/// Scale of the residual branch in the paper's code.
pub const RESIDUAL_SCALE: f64 = 0.3;
pub const KERNEL: usize = 5;

#[derive(Debug, Clone)]
pub struct ResBlock {
    pub conv1: Conv1d,
    pub conv2: Conv1d,
}

/// What the input-gradient needs from a forward pass: where each ReLU was active
/// (as 0/1 constants: a ReLU's derivative does not depend on the parameters almost everywhere).
pub struct ReluMasks {
    before_conv1: Tensor,
    before_conv2: Tensor,
}

impl ResBlock {
    pub fn new(pb: &ParamBuilder, dim: usize) -> Result<Self> {
        Ok(ResBlock {
            conv1: Conv1d::new(&pb.pp("conv1"), dim, dim, KERNEL)?,
            conv2: Conv1d::new(&pb.pp("conv2"), dim, dim, KERNEL)?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let h = self.conv1.forward(&x.relu()?)?;
        let h = self.conv2.forward(&h.relu()?)?;
        Ok((x + h.affine(RESIDUAL_SCALE, 0.0)?)?)
    }

    /// Forward pass that also returns the ReLU masks for [`backward_input`](Self::backward_input).
    pub fn forward_masked(&self, x: &Tensor) -> Result<(Tensor, ReluMasks)> {
        let m1 = relu_mask(x)?;
        let u = self.conv1.forward(&x.relu()?)?;
        let m2 = relu_mask(&u)?;
        let v = self.conv2.forward(&u.relu()?)?;
        let y = (x + v.affine(RESIDUAL_SCALE, 0.0)?)?;
        Ok((
            y,
            ReluMasks {
                before_conv1: m1,
                before_conv2: m2,
            },
        ))
    }

    /// `∂s/∂x = g + 0.3 · J_fᵀ g` for `g = ∂s/∂y`, with `J_fᵀ g` written out layer by layer
    /// in differentiable ops.
    pub fn backward_input(&self, g: &Tensor, masks: &ReluMasks) -> Result<Tensor> {
        let h = (self.conv2.backward_input(g)? * &masks.before_conv2)?;
        let h = (self.conv1.backward_input(&h)? * &masks.before_conv1)?;
        Ok((g + h.affine(RESIDUAL_SCALE, 0.0)?)?)
    }
}

/// `1` where `x > 0`, else `0`, detached from the graph.
fn relu_mask(x: &Tensor) -> Result<Tensor> {
    Ok(x.gt(0.0)?.to_dtype(x.dtype())?.detach())
}
