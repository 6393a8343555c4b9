//! The paper's residual block: `x + s · conv2(relu(conv1(relu(x))))`, s = [`RESIDUAL_SCALE`],
//! both convolutions `k` wide (the paper's 5, [`crate::model::ModelShape::kernel`]), "same"
//! padding, width DIM → DIM. With layer norm (critic only,
//! optional) each ReLU is preceded by a [`LayerNorm`], as in the paper's image ResNets.

use candle_core::Tensor;

use super::conv::Conv1d;
use super::layernorm::{LayerNorm, NormCache};
use crate::error::Result;
use crate::model::params::ParamBuilder;
use crate::model::schema::{CONV1, CONV2, NORM1, NORM2};
use crate::model::RESIDUAL_SCALE;

#[derive(Debug, Clone)]
pub struct ResBlock {
    pub conv1: Conv1d,
    pub conv2: Conv1d,
    /// Layer norms before the first and the second ReLU, if any.
    pub norms: Option<(LayerNorm, LayerNorm)>,
}

/// What the input-gradient needs from a forward pass: where each ReLU was active (as 0/1
/// constants: a ReLU's derivative does not depend on the parameters almost everywhere), and
/// the layer norms' statistics.
pub struct BlockCache {
    before_conv1: Tensor,
    before_conv2: Tensor,
    norms: Option<(NormCache, NormCache)>,
}

impl ResBlock {
    pub fn new(pb: &ParamBuilder, dim: usize, kernel: usize, layer_norm: bool) -> Result<Self> {
        let norms = if layer_norm {
            Some((
                LayerNorm::new(&pb.pp(NORM1), dim)?,
                LayerNorm::new(&pb.pp(NORM2), dim)?,
            ))
        } else {
            None
        };
        Ok(ResBlock {
            conv1: Conv1d::new(&pb.pp(CONV1), dim, dim, kernel)?,
            conv2: Conv1d::new(&pb.pp(CONV2), dim, dim, kernel)?,
            norms,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_cached(x)?.0)
    }

    /// Forward pass that also returns what [`backward_input`](Self::backward_input) needs.
    pub fn forward_cached(&self, x: &Tensor) -> Result<(Tensor, BlockCache)> {
        let (a, n1) = self.normalise(0, x)?;
        let m1 = relu_mask(&a)?;
        let u = self.conv1.forward(&a.relu()?)?;
        let (b, n2) = self.normalise(1, &u)?;
        let m2 = relu_mask(&b)?;
        let v = self.conv2.forward(&b.relu()?)?;
        let y = (x + v.affine(RESIDUAL_SCALE, 0.0)?)?;
        let norms = n1.zip(n2);
        Ok((
            y,
            BlockCache {
                before_conv1: m1,
                before_conv2: m2,
                norms,
            },
        ))
    }

    /// Layer norm `which` (0 or 1) applied to `x`, or `x` itself without norms.
    fn normalise(&self, which: usize, x: &Tensor) -> Result<(Tensor, Option<NormCache>)> {
        match &self.norms {
            None => Ok((x.clone(), None)),
            Some(pair) => {
                let norm = if which == 0 { &pair.0 } else { &pair.1 };
                let (y, c) = norm.forward_cached(x)?;
                Ok((y, Some(c)))
            }
        }
    }

    /// `∂s/∂x = g + RESIDUAL_SCALE · J_fᵀ g` for `g = ∂s/∂y`, with `J_fᵀ g` written out layer
    /// by layer in differentiable ops.
    pub fn backward_input(&self, g: &Tensor, cache: &BlockCache) -> Result<Tensor> {
        let mut h = (self.conv2.backward_input(g)? * &cache.before_conv2)?;
        if let (Some((_, n2)), Some((_, c2))) = (&self.norms, &cache.norms) {
            h = n2.backward_input(&h, c2)?;
        }
        h = (self.conv1.backward_input(&h)? * &cache.before_conv1)?;
        if let (Some((n1, _)), Some((c1, _))) = (&self.norms, &cache.norms) {
            h = n1.backward_input(&h, c1)?;
        }
        Ok((g + h.affine(RESIDUAL_SCALE, 0.0)?)?)
    }
}

/// `1` where `x > 0`, else `0`, detached from the graph.
fn relu_mask(x: &Tensor) -> Result<Tensor> {
    Ok(x.gt(0.0)?.to_dtype(x.dtype())?.detach())
}
