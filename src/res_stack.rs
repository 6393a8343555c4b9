//! The residual blocks of either network written out by hand on host buffers:
//! `h ← h + 0.3·(conv₂(relu(conv₁(relu(h)))))` per block ([`crate::nn::resblock`]), with
//! its backward pass (weight gradients and the input-gradient), and, for the critic's
//! gradient penalty, the input-gradient chain at fixed ReLU masks and its reverse pass.
//!
//! Weights come as 4 slices per block, `[conv1.weight, conv1.bias, conv2.weight, conv2.bias]`,
//! convolution weights `(k·d, d)`; rows of every matrix are `(sample, position)` pairs.

use crate::kernels::{add_col_sums, add_masked, im2col, mask_scale, matmul, Mat, Real};
use crate::nn::resblock::{KERNEL, RESIDUAL_SCALE};

const K: usize = KERNEL;

/// Slices per block in the weights and gradients.
pub const PER_BLOCK: usize = 4;

pub(crate) fn resize<T: Real>(v: &mut Vec<T>, n: usize) {
    if v.len() != n {
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
    /// The im2col matrix `(rows, k·DIM)` and two `(rows, DIM)` scratch matrices.
    wide: Vec<T>,
    s1: Vec<T>,
    s2: Vec<T>,
    /// Each block's two kernels flipped ([`flip_kernel`]), for the weights of [`prepare`].
    flipped: Vec<[Vec<T>; 2]>,
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
            s1: Vec::new(),
            s2: Vec::new(),
            flipped: vec![[Vec::new(), Vec::new()]; blocks],
            g: vec![Vec::new(); blocks + 1],
            p: vec![Vec::new(); blocks],
        }
    }

    /// Sizes of one block's weights.
    pub fn block_sizes(&self) -> [usize; PER_BLOCK] {
        let d = self.dim;
        [K * d * d, d, K * d * d, d]
    }

    /// Take the weights of the next passes: flips the kernels.
    pub fn prepare(&mut self, w: &[&[T]]) {
        let d = self.dim;
        for (i, pair) in self.flipped.iter_mut().enumerate() {
            flip_kernel(w[i * PER_BLOCK], &mut pair[0], d, d);
            flip_kernel(w[i * PER_BLOCK + 2], &mut pair[1], d, d);
        }
    }

    /// `(rows, d)` scratch and im2col space for `rows`.
    fn reserve(&mut self, rows: usize) {
        let d = self.dim;
        resize(&mut self.wide, rows * K * d);
        resize(&mut self.s1, rows * d);
        resize(&mut self.s2, rows * d);
    }

    /// `dst ← s · im2col(g)·flipped`: the input-gradient of a convolution for the output
    /// gradient `g` (see [`flip_kernel`]).
    #[allow(clippy::too_many_arguments)]
    fn conv_input_grad(
        wide: &mut [T],
        g: &[T],
        flipped: &[T],
        dst: &mut [T],
        l: usize,
        d: usize,
        s: T,
    ) {
        let n = g.len() / d;
        im2col(g, wide, l, d, K);
        matmul(
            dst,
            Mat::new(wide, n, K * d),
            Mat::new(flipped, K * d, d),
            s,
            false,
        );
    }

    /// Forward pass, in place on `h` `(rows, d)`, keeping each block's activations.
    pub fn forward(&mut self, w: &[&[T]], h: &mut [T]) {
        let (l, d) = (self.len, self.dim);
        let n = h.len() / d;
        self.reserve(n);
        for i in 0..self.blocks {
            let wb = &w[i * PER_BLOCK..(i + 1) * PER_BLOCK];
            let a = &mut self.a[i];
            resize(a, n * d);
            a.copy_from_slice(h);
            crate::kernels::relu_in_place(a);
            im2col(a, &mut self.wide, l, d, K);
            let c = &mut self.c[i];
            resize(c, n * d);
            crate::kernels::fill_rows(c, wb[1]);
            let wide = Mat::new(&self.wide, n, K * d);
            matmul(c, wide, Mat::new(wb[0], K * d, d), T::one(), true);
            crate::kernels::relu_in_place(c);
            im2col(c, &mut self.wide, l, d, K);
            // h ← h + 0.3·(conv₂(c) + b₂)
            crate::kernels::add_rows(h, wb[3], scale());
            let wide = Mat::new(&self.wide, n, K * d);
            matmul(h, wide, Mat::new(wb[2], K * d, d), scale(), true);
        }
    }

    /// Backward pass over the first `gh.len() / d` rows of the last forward pass (with the
    /// weights of the last [`prepare`](Self::prepare)): `gh` holds the gradient at the stack's
    /// output and is turned into the gradient at its input; the weight gradients are added to
    /// `grads` (4 per block).
    pub fn backward(&mut self, grads: &mut [Vec<T>], gh: &mut [T]) {
        let (l, d) = (self.len, self.dim);
        let n = gh.len() / d;
        let gu = &mut self.s1[..n * d];
        let tmp = &mut self.s2[..n * d];
        for i in (0..self.blocks).rev() {
            let grads = &mut grads[i * PER_BLOCK..(i + 1) * PER_BLOCK];
            let (a, c) = (&self.a[i][..n * d], &self.c[i][..n * d]);
            let [flip1, flip2] = &self.flipped[i];
            // Second convolution, scaled by 0.3: bias, weight, then back to its input.
            add_col_sums(&mut grads[3], gh, scale());
            im2col(c, &mut self.wide, l, d, K);
            let wide = Mat::new(&self.wide, n, K * d);
            matmul(&mut grads[2], wide.t(), Mat::new(gh, n, d), scale(), true);
            Self::conv_input_grad(&mut self.wide, gh, flip2, gu, l, d, scale());
            mask_scale(gu, c, T::one());
            // First convolution.
            add_col_sums(&mut grads[1], gu, T::one());
            im2col(a, &mut self.wide, l, d, K);
            let wide = Mat::new(&self.wide, n, K * d);
            matmul(&mut grads[0], wide.t(), Mat::new(gu, n, d), T::one(), true);
            // The residual path adds the branch's input-gradient to the block's.
            Self::conv_input_grad(&mut self.wide, gu, flip1, tmp, l, d, T::one());
            add_masked(gh, tmp, a, T::one());
        }
    }

    /// The input-gradient chain at the ReLU masks of `b` samples of the last forward pass from
    /// sample `first` on: from the gradient `g_out` at the stack's output to the one at its
    /// input (returned), keeping every block's intermediate gradients for [`chain_reverse`].
    pub fn chain(&mut self, first: usize, g_out: &[T]) -> &[T] {
        let (l, d) = (self.len, self.dim);
        let n = g_out.len() / d;
        let rows = first * l * d..first * l * d + n * d;
        for buf in self.g.iter_mut().chain(self.p.iter_mut()) {
            resize(buf, n * d);
        }
        self.g[self.blocks].copy_from_slice(g_out);
        let tmp = &mut self.s2[..n * d];
        for i in (0..self.blocks).rev() {
            let (a, c) = (&self.a[i][rows.clone()], &self.c[i][rows.clone()]);
            let [flip1, flip2] = &self.flipped[i];
            let (before, after) = self.g.split_at_mut(i + 1);
            let g_out = &after[0];
            // g_i = g_{i+1} + 0.3·(conv₁ᵀ(p) ⊙ m₁), p = conv₂ᵀ(g_{i+1}) ⊙ m₂.
            Self::conv_input_grad(&mut self.wide, g_out, flip2, &mut self.p[i], l, d, T::one());
            mask_scale(&mut self.p[i], c, T::one());
            Self::conv_input_grad(&mut self.wide, &self.p[i], flip1, tmp, l, d, T::one());
            let g_in = &mut before[i];
            g_in.copy_from_slice(g_out);
            add_masked(g_in, tmp, a, scale());
        }
        &self.g[0]
    }

    /// Reverse pass of the last [`chain`] for the samples from `first` on: `r` holds the
    /// adjoint of the chain's output (the gradient at the input) and becomes the adjoint of its
    /// input `g_out`; the weights' share is added to `grads`. The masks are constants (a ReLU's
    /// derivative does not depend on the weights almost everywhere), so the chain is linear in
    /// each weight and this is its exact gradient, second-order term of the penalty included.
    pub fn chain_reverse(&mut self, w: &[&[T]], grads: &mut [Vec<T>], first: usize, r: &mut [T]) {
        let (l, d) = (self.len, self.dim);
        let n = r.len() / d;
        let rows = first * l * d..first * l * d + n * d;
        let e = &mut self.s1[..n * d];
        for i in 0..self.blocks {
            let wb = &w[i * PER_BLOCK..(i + 1) * PER_BLOCK];
            let grads = &mut grads[i * PER_BLOCK..(i + 1) * PER_BLOCK];
            let (a, c) = (&self.a[i][rows.clone()], &self.c[i][rows.clone()]);
            // The adjoint of p·W₁ᵀ (before col2im) is im2col(0.3·r ⊙ m₁).
            e.copy_from_slice(r);
            mask_scale(e, a, scale());
            im2col(e, &mut self.wide, l, d, K);
            let wide = Mat::new(&self.wide, n, K * d);
            matmul(
                &mut grads[0],
                wide.t(),
                Mat::new(&self.p[i], n, d),
                T::one(),
                true,
            );
            matmul(e, wide, Mat::new(wb[0], K * d, d), T::one(), false);
            // The adjoint of g_{i+1}·W₂ᵀ is im2col(r_p ⊙ m₂).
            mask_scale(e, c, T::one());
            im2col(e, &mut self.wide, l, d, K);
            let wide = Mat::new(&self.wide, n, K * d);
            matmul(
                &mut grads[2],
                wide.t(),
                Mat::new(&self.g[i + 1], n, d),
                T::one(),
                true,
            );
            // The adjoint of g_{i+1}: the identity path plus the branch.
            matmul(r, wide, Mat::new(wb[2], K * d, d), T::one(), true);
        }
    }
}
