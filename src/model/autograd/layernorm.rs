//! Layer normalisation for the critic (`--critic-norm layer`): each sample's activations
//! `(L, C)` are normalised to zero mean and unit variance, then scaled and shifted per channel.
//! Unlike batch norm it never mixes samples, so the per-sample gradient penalty stays valid
//! (the paper, §4, recommends it for the critic).

use candle_core::Tensor;

use crate::error::Result;
use crate::model::params::ParamBuilder;
use crate::model::schema::{BIAS, GAIN};

/// Added to the variance, as in common layer-norm implementations.
pub const NORM_EPS: f64 = 1e-5;

#[derive(Debug, Clone)]
pub struct LayerNorm {
    /// `(C)`, starts at 1.
    pub gain: Tensor,
    /// `(C)`, starts at 0.
    pub bias: Tensor,
}

/// What [`LayerNorm::backward_input`] needs from the forward pass. Both stay attached to the
/// graph: the normalisation statistics depend on the parameters before it.
pub struct NormCache {
    /// The normalised input `(x − μ)/σ`, `(B, L, C)`.
    x_hat: Tensor,
    /// `1/σ` per sample, `(B, 1, 1)`.
    inv_std: Tensor,
}

impl LayerNorm {
    pub fn new(pb: &ParamBuilder, channels: usize) -> Result<Self> {
        Ok(LayerNorm {
            gain: pb.ones(GAIN, channels)?,
            bias: pb.zeros(BIAS, channels)?,
        })
    }

    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        Ok(self.forward_cached(x)?.0)
    }

    pub fn forward_cached(&self, x: &Tensor) -> Result<(Tensor, NormCache)> {
        let mean = per_sample_mean(x)?;
        let centred = x.broadcast_sub(&mean)?;
        let var = per_sample_mean(&centred.sqr()?)?;
        let inv_std = var.affine(1.0, NORM_EPS)?.sqrt()?.recip()?;
        let x_hat = centred.broadcast_mul(&inv_std)?;
        let y = x_hat.broadcast_mul(&self.gain)?.broadcast_add(&self.bias)?;
        Ok((y, NormCache { x_hat, inv_std }))
    }

    /// `∂s/∂x` for `g = ∂s/∂y`: with `ĝ = g·γ`, `∂s/∂x = (ĝ − mean(ĝ) − x̂·mean(ĝ·x̂)) / σ`,
    /// means per sample. Differentiable in the parameters.
    pub fn backward_input(&self, g: &Tensor, cache: &NormCache) -> Result<Tensor> {
        let gh = g.broadcast_mul(&self.gain)?;
        let mean_g = per_sample_mean(&gh)?;
        let mean_gx = per_sample_mean(&(&gh * &cache.x_hat)?)?;
        let dx = gh
            .broadcast_sub(&mean_g)?
            .sub(&cache.x_hat.broadcast_mul(&mean_gx)?)?;
        Ok(dx.broadcast_mul(&cache.inv_std)?)
    }
}

/// Mean over all but the first axis, kept as `(B, 1, 1)`.
fn per_sample_mean(x: &Tensor) -> Result<Tensor> {
    let b = x.dim(0)?;
    Ok(x.reshape((b, ()))?.mean_keepdim(1)?.reshape((b, 1, 1))?)
}
