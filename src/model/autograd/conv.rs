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
use crate::error::{Error, Result};
use crate::model::params::ParamBuilder;

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
        if k.is_multiple_of(2) {
            return Err(Error::Config(format!(
                "a convolution's width must be odd (each window is centred on its position), got {k}"
            )));
        }
        let lin = Linear::with_fans(pb, (k * c_in, c_out), (k * c_in, k * c_out), Init::He)?;
        Ok(Conv1d {
            lin,
            k,
            c_in,
            c_out,
        })
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
        Ok(cols
            .reshape((b * l, n))?
            .matmul(&flipped)?
            .reshape((b, l, self.c_in))?)
    }
}

/// `(B, L, C)` → `(B, L, k·C)`: the k windows of the zero-padded input, side by side.
/// On the CPU a dedicated kernel (one pass of row copies, with its adjoint as the backward);
/// on other devices the same thing from candle's pad/narrow/cat.
pub fn im2col(x: &Tensor, k: usize) -> Result<Tensor> {
    if k == 1 {
        return Ok(x.clone());
    }
    if x.device().is_cpu() {
        Ok(x.contiguous()?.apply_op1(Im2Col { k })?)
    } else {
        im2col_ops(x, k)
    }
}

/// [`im2col`] from generic tensor ops (any device).
pub fn im2col_ops(x: &Tensor, k: usize) -> Result<Tensor> {
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

/// The im2col kernel ([`crate::kernels::im2col`]) as a candle op.
struct Im2Col {
    k: usize,
}

/// Its adjoint ([`crate::kernels::col2im`]).
struct Col2Im {
    k: usize,
}

fn cpu_slice<'a, T: candle_core::WithDType>(
    s: &'a [T],
    layout: &candle_core::Layout,
) -> candle_core::Result<&'a [T]> {
    match layout.contiguous_offsets() {
        Some((a, b)) => Ok(&s[a..b]),
        None => candle_core::bail!("im2col: input must be contiguous"),
    }
}

/// Apply a kernel generic over the element type to f32 or f64 storage.
macro_rules! im2col_kernels {
    ($storage:expr, $layout:expr, $run:ident($($arg:expr),*)) => {
        match $storage {
            CpuStorage::F32(s) => CpuStorage::F32($run(cpu_slice(s, $layout)?, $($arg),*)),
            CpuStorage::F64(s) => CpuStorage::F64($run(cpu_slice(s, $layout)?, $($arg),*)),
            _ => candle_core::bail!("im2col: only f32 and f64 are supported on the CPU"),
        }
    };
}

use crate::kernels::{self, Real};
use candle_core::{CpuStorage, CustomOp1, Layout, Shape};

impl CustomOp1 for Im2Col {
    fn name(&self) -> &'static str {
        "im2col"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, l, c) = layout.shape().dims3()?;
        let k = self.k;
        fn run<T: Real>(x: &[T], b: usize, l: usize, c: usize, k: usize) -> Vec<T> {
            let mut out = vec![T::zero(); b * l * k * c];
            kernels::im2col(x, &mut out, l, c, k);
            out
        }
        Ok((
            im2col_kernels!(storage, layout, run(b, l, c, k)),
            Shape::from((b, l, k * c)),
        ))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1(Col2Im { k: self.k })?))
    }
}

impl CustomOp1 for Col2Im {
    fn name(&self) -> &'static str {
        "col2im"
    }

    fn cpu_fwd(
        &self,
        storage: &CpuStorage,
        layout: &Layout,
    ) -> candle_core::Result<(CpuStorage, Shape)> {
        let (b, l, kc) = layout.shape().dims3()?;
        let k = self.k;
        let c = kc / k;
        fn run<T: Real>(g: &[T], b: usize, l: usize, c: usize, k: usize) -> Vec<T> {
            let mut out = vec![T::zero(); b * l * c];
            kernels::col2im(g, &mut out, l, c, k);
            out
        }
        Ok((
            im2col_kernels!(storage, layout, run(b, l, c, k)),
            Shape::from((b, l, c)),
        ))
    }

    fn bwd(
        &self,
        _arg: &Tensor,
        _res: &Tensor,
        grad: &Tensor,
    ) -> candle_core::Result<Option<Tensor>> {
        Ok(Some(grad.contiguous()?.apply_op1(Im2Col { k: self.k })?))
    }
}
