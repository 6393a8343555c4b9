//! 1-D convolution with "same" padding, written as im2col + one matmul.
//!
//! Tensors are channels-last, `(batch, length, channels)`. For a kernel of width `k`, the
//! input is zero-padded by `k/2` on both ends of the length axis, the `k` shifted windows are
//! concatenated on the channel axis (`im2col`), and one matmul with a `(k·C_in, C_out)` weight
//! gives the output. Besides being one large GEMM (the fast way on a CPU), this uses only ops
//! whose gradients candle implements correctly, so the critic's input-gradient below can itself
//! be differentiated (candle's own `conv1d` cannot be, and its CPU gradients are wrong for
//! batch > 1).

use candle_core::Tensor;

use super::linear::{Init, Linear};
use super::params::ParamBuilder;
use crate::error::Result;

#[derive(Debug, Clone)]
pub struct Conv1d {
    /// Weight `(k·C_in, C_out)`: row `j·C_in + c` multiplies input channel `c` at offset
    /// `j - k/2`. Bias `(C_out)`.
    pub lin: Linear,
    pub k: usize,
    pub c_in: usize,
    pub c_out: usize,
}

impl Conv1d {
    /// `k` must be odd (a "same" convolution centred on each position).
    pub fn new(pb: &ParamBuilder, c_in: usize, c_out: usize, k: usize) -> Result<Self> {
        assert!(k % 2 == 1, "kernel width must be odd");
        let lin = Linear::with_fans(pb, (k * c_in, c_out), (k * c_in, k * c_out), Init::He)?;
        Ok(Conv1d { lin, k, c_in, c_out })
    }

    /// `x`: `(B, L, C_in)` → `(B, L, C_out)`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        self.lin.forward(&im2col(x, self.k)?)
    }

    /// Vector-Jacobian product w.r.t. the input: for `g = ∂s/∂y` `(B, L, C_out)` returns
    /// `∂s/∂x` `(B, L, C_in)`. It is the convolution of `g` with the kernel flipped along its
    /// width and transposed in channels, so it is the same im2col + matmul, and it stays
    /// differentiable in the weight (needed for the gradient penalty's second-order term).
    pub fn backward_input(&self, g: &Tensor) -> Result<Tensor> {
        let w = &self.lin.weight;
        let flipped = if self.k == 1 {
            w.t()?
        } else {
            // Row block j' of the flipped kernel is block (k-1-j') of W, transposed.
            let blocks: Vec<Tensor> = (0..self.k)
                .map(|j| w.narrow(0, (self.k - 1 - j) * self.c_in, self.c_in)?.t())
                .collect::<candle_core::Result<_>>()?;
            Tensor::cat(&blocks, 0)?
        };
        let cols = im2col(g, self.k)?;
        let (b, l, n) = cols.dims3()?;
        Ok(cols.reshape((b * l, n))?.matmul(&flipped)?.reshape((b, l, self.c_in))?)
    }
}

/// `(B, L, C)` → `(B, L, k·C)`: the k windows of the zero-padded input, side by side.
pub fn im2col(x: &Tensor, k: usize) -> Result<Tensor> {
    if k == 1 {
        return Ok(x.clone());
    }
    let (_, l, _) = x.dims3()?;
    let half = k / 2;
    let padded = x.pad_with_zeros(1, half, half)?;
    // Each window is made contiguous first: candle then concatenates with block copies
    // instead of an element-by-element strided copy.
    let windows: Vec<Tensor> = (0..k)
        .map(|j| padded.narrow(1, j, l)?.contiguous())
        .collect::<candle_core::Result<_>>()?;
    Ok(Tensor::cat(&windows, 2)?)
}
