//! The residual blocks of either network written out by hand on host buffers:
//! `h ← h + 0.3·(conv₂(relu(conv₁(relu(h)))))` per block ([`crate::model::autograd::resblock`]), with
//! its backward pass (weight gradients and the input-gradient), and, for the critic's
//! gradient penalty, the input-gradient chain at fixed ReLU masks and its reverse pass.
//!
//! Weights come as 4 slices per block, `[conv1.weight, conv1.bias, conv2.weight, conv2.bias]`,
//! convolution weights `(k·d, d)`; rows of every matrix are `(sample, position)` pairs.

use crate::error::{Error, Result};
use crate::kernels::{add_col_sums, add_masked, im2col, mask_scale, matmul, Mat, Real};
use crate::model::schema::CONV_BLOCK_TENSORS;
use crate::model::{KERNEL, RESIDUAL_SCALE};

const K: usize = KERNEL;

/// Slices per block in the weights and gradients.
const PER_BLOCK: usize = CONV_BLOCK_TENSORS;

pub(crate) fn resize<T: Real>(v: &mut Vec<T>, n: usize) {
    if v.len() != n {
        v.resize(n, T::zero());
    }
}

/// Grow `v` to at least `n` elements (scratch whose length does not matter).
fn reserve<T: Real>(v: &mut Vec<T>, n: usize) {
    if v.len() < n {
        v.resize(n, T::zero());
    }
}

fn scale<T: Real>() -> T {
    T::from_f64(RESIDUAL_SCALE)
}

/// A convolution's kernel `(k·c_in, c_out)` flipped along its width and transposed in
/// channels, `(k·c_out, c_in)`: block `j` of the result is block `k − 1 − j` of `w`,
/// transposed. The convolution's input-gradient is then itself a convolution:
/// `∂/∂x = im2col(g)·flipped`, one GEMM with the long inner dimension `k·c_out`.
pub fn flip_kernel<T: Real>(w: &[T], out: &mut Vec<T>, c_in: usize, c_out: usize) {
    resize(out, K * c_in * c_out);
    for j in 0..K {
        let src = &w[(K - 1 - j) * c_in * c_out..(K - j) * c_in * c_out];
        let dst = &mut out[j * c_out * c_in..(j + 1) * c_out * c_in];
        for i in 0..c_in {
            for o in 0..c_out {
                dst[o * c_in + i] = src[i * c_out + o];
            }
        }
    }
}

/// Samples per im2col chunk: the scratch holds this many samples' windows (21 MB at DIM 512)
/// and every product still has `CHUNK·L` (2048) rows, plenty for the GEMM.
const CHUNK: usize = 64;

/// For each chunk of samples of `x` `(rows, d)`: its im2col windows into `wide`, then
/// `f(windows, rows of the chunk in x)`.
fn by_chunks<T: Real>(
    wide: &mut Vec<T>,
    x: &[T],
    l: usize,
    d: usize,
    mut f: impl FnMut(Mat<T>, std::ops::Range<usize>),
) {
    let chunk = CHUNK * l * d;
    reserve(wide, CHUNK * l * K * d);
    for (i, x) in x.chunks(chunk).enumerate() {
        let n = x.len() / d;
        im2col(x, wide, l, d, K);
        f(Mat::new(wide, n, K * d), i * chunk..i * chunk + x.len());
    }
}

/// `dst ← s·im2col(x)·w` (or `dst + …` with `accumulate`): a convolution of `x` `(rows, d)`
/// with a `(k·d, d)` kernel.
#[allow(clippy::too_many_arguments)]
fn conv<T: Real>(
    wide: &mut Vec<T>,
    x: &[T],
    w: &[T],
    dst: &mut [T],
    l: usize,
    d: usize,
    s: T,
    accumulate: bool,
) {
    by_chunks(wide, x, l, d, |cols, rows| {
        let w = Mat::new(w, K * d, d);
        matmul(&mut dst[rows], cols, w, s, accumulate)
    });
}

/// `grad ← grad + s·im2col(x)ᵀ·g`: a convolution kernel's gradient for input `x` and output
/// gradient `g` `(rows, d)`.
fn conv_weight_grad<T: Real>(
    wide: &mut Vec<T>,
    x: &[T],
    g: &[T],
    grad: &mut [T],
    l: usize,
    d: usize,
    s: T,
) {
    by_chunks(wide, x, l, d, |cols, rows| {
        let g = Mat::new(&g[rows.clone()], rows.len() / d, d);
        matmul(grad, cols.t(), g, s, true)
    });
}

/// `dst ← s·∂/∂x` of a convolution with kernel `w`, for the output gradient `g`: the
/// convolution of `g` with the kernel flipped ([`flip_kernel`], built in `flip`).
#[allow(clippy::too_many_arguments)]
fn conv_input_grad<T: Real>(
    wide: &mut Vec<T>,
    flip: &mut Vec<T>,
    w: &[T],
    g: &[T],
    dst: &mut [T],
    l: usize,
    d: usize,
    s: T,
) {
    flip_kernel(w, flip, d, d);
    conv(wide, g, flip, dst, l, d, s, false);
}

/// Buffers of the residual stack, sized on first use and then reused.
pub struct ResStack<T> {
    len: usize,
    dim: usize,
    blocks: usize,
    /// Per block, `relu` of the block's input and of the first convolution's output, `(rows,
    /// DIM)`, from the last forward pass: the convolutions' inputs, and by their sign the ReLU
    /// masks.
    a: Vec<Vec<T>>,
    c: Vec<Vec<T>>,
    /// Scratch: the im2col windows of one chunk, a flipped kernel, two `(rows, DIM)` matrices.
    wide: Vec<T>,
    flip: Vec<T>,
    s1: Vec<T>,
    s2: Vec<T>,
    /// The input-gradient chain: the gradient at every block's output (`g[i]` at block `i`'s
    /// input, `g[blocks]` at the stack's output) and the inner `p` of every block.
    g: Vec<Vec<T>>,
    p: Vec<Vec<T>>,
}

impl<T: Real> ResStack<T> {
    pub fn new(len: usize, dim: usize, blocks: usize) -> Self {
        ResStack {
            len,
            dim,
            blocks,
            a: vec![Vec::new(); blocks],
            c: vec![Vec::new(); blocks],
            wide: Vec::new(),
            flip: Vec::new(),
            s1: Vec::new(),
            s2: Vec::new(),
            g: vec![Vec::new(); blocks + 1],
            p: vec![Vec::new(); blocks],
        }
    }
}

/// Gradient buffers of the given `sizes`, all zero (reusing their memory).
pub fn zero_grads<T: Real>(grads: &mut Vec<Vec<T>>, sizes: &[usize]) {
    grads.resize(sizes.len(), Vec::new());
    for (g, &n) in grads.iter_mut().zip(sizes) {
        g.clear();
        g.resize(n, T::zero());
    }
}

/// Refuse `weights` unless they have the `sizes` of `net`'s parameters.
pub fn check_sizes<T>(weights: &[&[T]], sizes: &[usize], net: &str) -> Result<()> {
    if weights.len() != sizes.len() || weights.iter().zip(sizes).any(|(w, &n)| w.len() != n) {
        return Err(Error::Runtime(format!(
            "{net} step: the weights do not match the {net}'s shape"
        )));
    }
    Ok(())
}

impl<T: Real> ResStack<T> {
    /// Forward pass, in place on `h` `(rows, d)`, keeping each block's activations.
    pub fn forward(&mut self, w: &[&[T]], h: &mut [T]) {
        let (l, d) = (self.len, self.dim);
        let n = h.len() / d;
        reserve(&mut self.s1, n * d);
        reserve(&mut self.s2, n * d);
        for i in 0..self.blocks {
            let wb = &w[i * PER_BLOCK..(i + 1) * PER_BLOCK];
            let a = &mut self.a[i];
            resize(a, n * d);
            crate::kernels::relu_into(h, a);
            let c = &mut self.c[i];
            resize(c, n * d);
            crate::kernels::fill_rows(c, wb[1]);
            conv(&mut self.wide, a, wb[0], c, l, d, T::one(), true);
            crate::kernels::relu_in_place(c);
            // h ← h + 0.3·(conv₂(c) + b₂)
            crate::kernels::add_rows(h, wb[3], scale());
            conv(&mut self.wide, c, wb[2], h, l, d, scale(), true);
        }
    }

    /// Backward pass over the first `gh.len() / d` rows of the last forward pass: `gh` holds
    /// the gradient at the stack's output and is turned into the gradient at its input; the
    /// weight gradients are added to `grads` (4 per block).
    pub fn backward(&mut self, w: &[&[T]], grads: &mut [Vec<T>], gh: &mut [T]) {
        let (l, d) = (self.len, self.dim);
        let n = gh.len() / d;
        let gu = &mut self.s1[..n * d];
        let tmp = &mut self.s2[..n * d];
        for i in (0..self.blocks).rev() {
            let wb = &w[i * PER_BLOCK..(i + 1) * PER_BLOCK];
            let grads = &mut grads[i * PER_BLOCK..(i + 1) * PER_BLOCK];
            let (a, c) = (&self.a[i][..n * d], &self.c[i][..n * d]);
            let (wide, flip) = (&mut self.wide, &mut self.flip);
            // Second convolution, scaled by 0.3: bias, weight, then back to its input.
            add_col_sums(&mut grads[3], gh, scale());
            conv_weight_grad(wide, c, gh, &mut grads[2], l, d, scale());
            conv_input_grad(wide, flip, wb[2], gh, gu, l, d, scale());
            mask_scale(gu, c, T::one());
            // First convolution.
            add_col_sums(&mut grads[1], gu, T::one());
            conv_weight_grad(wide, a, gu, &mut grads[0], l, d, T::one());
            // The residual path adds the branch's input-gradient to the block's.
            conv_input_grad(wide, flip, wb[0], gu, tmp, l, d, T::one());
            add_masked(gh, tmp, a, T::one());
        }
    }

    /// The input-gradient chain at the ReLU masks of `b` samples of the last forward pass from
    /// sample `first` on: from the gradient `g_out` at the stack's output to the one at its
    /// input (returned), keeping every block's intermediate gradients for [`chain_reverse`].
    ///
    /// [`chain_reverse`]: Self::chain_reverse
    pub fn chain(&mut self, w: &[&[T]], first: usize, g_out: &[T]) -> &[T] {
        let (l, d) = (self.len, self.dim);
        let n = g_out.len() / d;
        let rows = first * l * d..first * l * d + n * d;
        for buf in self.g.iter_mut().chain(self.p.iter_mut()) {
            resize(buf, n * d);
        }
        self.g[self.blocks].copy_from_slice(g_out);
        reserve(&mut self.s2, n * d);
        let tmp = &mut self.s2[..n * d];
        for i in (0..self.blocks).rev() {
            let wb = &w[i * PER_BLOCK..(i + 1) * PER_BLOCK];
            let (a, c) = (&self.a[i][rows.clone()], &self.c[i][rows.clone()]);
            let (wide, flip) = (&mut self.wide, &mut self.flip);
            let (before, after) = self.g.split_at_mut(i + 1);
            let g_out = &after[0];
            // g_i = g_{i+1} + 0.3·(conv₁ᵀ(p) ⊙ m₁), p = conv₂ᵀ(g_{i+1}) ⊙ m₂.
            let p = &mut self.p[i];
            conv_input_grad(wide, flip, wb[2], g_out, p, l, d, T::one());
            mask_scale(p, c, T::one());
            conv_input_grad(wide, flip, wb[0], p, tmp, l, d, T::one());
            let g_in = &mut before[i];
            g_in.copy_from_slice(g_out);
            add_masked(g_in, tmp, a, scale());
        }
        &self.g[0]
    }

    /// Reverse pass of the last [`chain`](Self::chain) for the samples from `first` on: `r`
    /// holds the adjoint of the chain's output (the gradient at the input) and becomes the
    /// adjoint of its input `g_out`; the weights' share is added to `grads`. The masks are
    /// constants (a ReLU's derivative does not depend on the weights almost everywhere), so
    /// the chain is linear in each weight and this is its exact gradient, second-order term
    /// of the penalty included.
    pub fn chain_reverse(&mut self, w: &[&[T]], grads: &mut [Vec<T>], first: usize, r: &mut [T]) {
        let (l, d) = (self.len, self.dim);
        let n = r.len() / d;
        let rows = first * l * d..first * l * d + n * d;
        let e = &mut self.s1[..n * d];
        for i in 0..self.blocks {
            let wb = &w[i * PER_BLOCK..(i + 1) * PER_BLOCK];
            let grads = &mut grads[i * PER_BLOCK..(i + 1) * PER_BLOCK];
            let (a, c) = (&self.a[i][rows.clone()], &self.c[i][rows.clone()]);
            let wide = &mut self.wide;
            // The adjoint of p·W₁ᵀ (before col2im) is im2col(e), e = 0.3·r ⊙ m₁: W₁'s
            // gradient is im2col(e)ᵀ·p and p's adjoint im2col(e)·W₁.
            e.copy_from_slice(r);
            mask_scale(e, a, scale());
            conv_weight_grad(wide, e, &self.p[i], &mut grads[0], l, d, T::one());
            let r_p = &mut self.s2[..n * d];
            conv(wide, e, wb[0], r_p, l, d, T::one(), false);
            // Likewise for g_{i+1}·W₂ᵀ, with e = r_p ⊙ m₂.
            mask_scale(r_p, c, T::one());
            conv_weight_grad(wide, r_p, &self.g[i + 1], &mut grads[2], l, d, T::one());
            // The adjoint of g_{i+1}: the identity path plus the branch.
            conv(wide, r_p, wb[2], r, l, d, T::one(), true);
        }
    }
}
