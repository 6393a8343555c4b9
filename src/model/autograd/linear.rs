//! A dense layer applied to the last axis: `y = x·W + b`, with `W` stored `(in, out)`.

use candle_core::{Tensor, D};

use crate::error::Result;
use crate::model::params::ParamBuilder;
use crate::model::schema::{BIAS, WEIGHT};

#[derive(Debug, Clone)]
pub struct Linear {
    pub weight: Tensor,
    pub bias: Tensor,
}

/// How a layer's weights are drawn, as in the paper's `tflib`.
#[derive(Debug, Clone, Copy)]
pub enum Init {
    /// stdev = √(2 / (fan_in + fan_out)) — tflib's `Linear` default.
    Glorot,
    /// stdev = √(4 / (fan_in + fan_out)) — tflib's `Conv1D` default (`he_init=True`).
    He,
}

impl Linear {
    pub fn new(pb: &ParamBuilder, fan_in: usize, fan_out: usize, init: Init) -> Result<Self> {
        Self::with_fans(pb, (fan_in, fan_out), (fan_in, fan_out), init)
    }

    /// `shape` is the weight's `(in, out)`; `fans` the fan-in/out used for the init scale
    /// (they differ for a convolution, whose fans count the kernel width).
    pub fn with_fans(
        pb: &ParamBuilder,
        shape: (usize, usize),
        fans: (usize, usize),
        init: Init,
    ) -> Result<Self> {
        let k = match init {
            Init::Glorot => 2.0,
            Init::He => 4.0,
        };
        let stdev = (k / (fans.0 + fans.1) as f64).sqrt();
        let weight = pb.uniform(WEIGHT, shape, stdev)?;
        let bias = pb.zeros(BIAS, shape.1)?;
        Ok(Linear { weight, bias })
    }

    /// `x`: `(..., in)` → `(..., out)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let dims = x.dims().to_vec();
        let (n_in, n_out) = self.weight.dims2()?;
        let rows = x.elem_count() / n_in;
        let y = x
            .reshape((rows, n_in))?
            .matmul(&self.weight)?
            .broadcast_add(&self.bias)?;
        let mut out = dims;
        *out.last_mut().expect("tensor has at least one axis") = n_out;
        Ok(y.reshape(out)?)
    }

    /// Vector-Jacobian product w.r.t. the input: `g·Wᵀ`, differentiable in `W`.
    pub fn backward_input(&self, g: &Tensor) -> Result<Tensor> {
        let dims = g.dims().to_vec();
        let (n_in, n_out) = self.weight.dims2()?;
        let rows = g.elem_count() / n_out;
        let y = g.reshape((rows, n_out))?.matmul(&self.weight.t()?)?;
        let mut out = dims;
        *out.last_mut().expect("tensor has at least one axis") = n_in;
        Ok(y.reshape(out)?)
    }

    pub fn out_features(&self) -> usize {
        self.weight.dim(D::Minus1).unwrap_or(0)
    }
}
