//! The residual blocks of either network written out by hand on host buffers:
//! `h ← h + s·(conv₂(relu(conv₁(relu(h)))))` per block ([`crate::model::autograd::resblock`]),
//! s = [`RESIDUAL_SCALE`], with its backward pass (weight
//! gradients and the input-gradient), and, for the critic's gradient penalty, the
//! input-gradient chain at fixed ReLU masks and its reverse pass.
//!
//! Weights come by name, one [`ConvBlock`] per block ([`crate::model::schema::Schema::view`]),
//! convolution weights `(k·d, d)`; rows of every matrix are `(sample, position)` pairs.
//!
//! A stack may have a *tap* (the critic's local branch, [`crate::model::ModelShape::local_critic`]):
//! the residual stream after its first `N` blocks, whose mean over positions the forward pass
//! keeps per sample, and where the passes back add the branch's gradient ([`TapAdd`]).

use crate::error::{Error, Result};
use crate::kernels::{add_col_sums, add_masked, mask_scale, matmul, Mat, Real};
use crate::model::schema::ConvBlock;
use crate::model::{local_position_weight, RESIDUAL_SCALE};

/// The weights of one block, read.
type Weights<'a, T> = ConvBlock<&'a [T]>;
/// The weight gradients of one block, added to.
type Grads<'a, T> = ConvBlock<&'a mut Vec<T>>;

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
pub fn flip_kernel<T: Real>(w: &[T], out: &mut Vec<T>, k: usize, c_in: usize, c_out: usize) {
    resize(out, k * c_in * c_out);
    for j in 0..k {
        let src = &w[(k - 1 - j) * c_in * c_out..(k - j) * c_in * c_out];
        let dst = &mut out[j * c_out * c_in..(j + 1) * c_out * c_in];
        // In tiles, so that both the reads and the scattered writes stay in cache lines
        // (element by element, a 512-wide flip cost a tenth of the step).
        for i0 in (0..c_in).step_by(FLIP_TILE) {
            for o0 in (0..c_out).step_by(FLIP_TILE) {
                for i in i0..(i0 + FLIP_TILE).min(c_in) {
                    for o in o0..(o0 + FLIP_TILE).min(c_out) {
                        dst[o * c_in + i] = src[i * c_out + o];
                    }
                }
            }
        }
    }
}

/// Side of the square tiles [`flip_kernel`] transposes.
const FLIP_TILE: usize = 16;

/// The padded layout of a stack's activations: samples of `len` positions, `dim` channels,
/// convolutions `kernel` wide. A width-`k` "same" convolution reads `pad = (k − 1)/2` positions
/// either side of each output, so the layout holds `pad` zero rows, then each sample's `len`
/// rows followed by `pad` zero rows (one gap serves the sample before it and the one after).
/// Every window of `k` rows around a sample's position is then `k·d` consecutive elements, so
/// a convolution is one GEMM on a view of the buffer, with no im2col copy; the `pad` outputs
/// centred on each gap are computed (the only extra work, `pad/(len + pad)` of it) and zeroed.
#[derive(Debug, Clone, Copy)]
pub struct Layout {
    pub len: usize,
    pub dim: usize,
    pub kernel: usize,
}

impl Layout {
    /// An odd `kernel` (centred windows; a run's shape is checked long before, by
    /// `model::kernel_fits`): an even or zero one has no padding that keeps the length.
    pub fn new(len: usize, dim: usize, kernel: usize) -> Self {
        assert!(
            !kernel.is_multiple_of(2),
            "a convolution's width must be odd, got {kernel}"
        );
        Layout { len, dim, kernel }
    }

    /// Zero rows either side of a sample.
    fn pad(self) -> usize {
        (self.kernel - 1) / 2
    }

    /// Rows of `b` samples in the padded layout.
    pub fn padded_rows(self, b: usize) -> usize {
        self.pad() + b * (self.len + self.pad())
    }

    /// `x` `(b·l, d)` rows into `dst` in the padded layout (gaps zero).
    fn pad_into<T: Real>(self, x: &[T], dst: &mut Vec<T>) {
        let (l, d, pad) = (self.len, self.dim, self.pad());
        let b = x.len() / (l * d);
        resize(dst, self.padded_rows(b) * d);
        dst[..pad * d].fill(T::zero());
        for (src, out) in x
            .chunks(l * d)
            .zip(dst[pad * d..].chunks_mut((l + pad) * d))
        {
            out[..l * d].copy_from_slice(src);
            out[l * d..].fill(T::zero());
        }
    }

    /// The samples of the padded `src` back into `(b·l, d)` rows of `dst`.
    fn unpad_into<T: Real>(self, src: &[T], dst: &mut [T]) {
        let (l, d, pad) = (self.len, self.dim, self.pad());
        for (out, s) in dst
            .chunks_mut(l * d)
            .zip(src[pad * d..].chunks((l + pad) * d))
        {
            out.copy_from_slice(&s[..l * d]);
        }
    }

    /// Zero the gap rows of the padded `x` (after a product wrote its outputs there).
    fn zero_gaps<T: Real>(self, x: &mut [T]) {
        let (l, d, pad) = (self.len, self.dim, self.pad());
        x[..pad * d].fill(T::zero());
        for s in x[pad * d..].chunks_mut((l + pad) * d) {
            let n = s.len().min(l * d);
            s[n..].fill(T::zero());
        }
    }

    /// The window matrix of the padded `x` `(rows, d)`: one row per output position, from the
    /// first sample's first to the last sample's last, `(rows − 2·pad, k·d)`.
    fn windows<T: Real>(self, x: &[T]) -> Mat<'_, T> {
        let (d, pad) = (self.dim, self.pad());
        let rows = x.len() / d;
        assert!(rows > 2 * pad, "a padded buffer holds at least one sample");
        Mat::windows(x, rows - 2 * pad, self.kernel * d, d)
    }

    /// `dst ← s·conv(x)` (or `dst + …` with `accumulate`): a convolution of the padded `x` with
    /// a `(k·d, d)` kernel, into the padded `dst` (its gaps zero afterwards).
    fn conv<T: Real>(self, x: &[T], w: &[T], dst: &mut [T], s: T, accumulate: bool) {
        let (d, pad) = (self.dim, self.pad());
        let cols = self.windows(x);
        let m = x.len() / d - 2 * pad;
        matmul(
            &mut dst[pad * d..(pad + m) * d],
            cols,
            Mat::new(w, self.kernel * d, d),
            s,
            accumulate,
        );
        self.zero_gaps(dst);
    }

    /// `grad ← grad + s·windows(x)ᵀ·g`: a convolution kernel's gradient for the padded input
    /// `x` and output gradient `g` (whose gaps are zero, so the gap outputs add nothing).
    fn conv_weight_grad<T: Real>(self, x: &[T], g: &[T], grad: &mut [T], s: T) {
        let (d, pad) = (self.dim, self.pad());
        let cols = self.windows(x);
        let m = x.len() / d - 2 * pad;
        let g = Mat::new(&g[pad * d..(pad + m) * d], m, d);
        matmul(grad, cols.t(), g, s, true)
    }

    /// `dst ← s·∂/∂x` of a convolution with kernel `w`, for the padded output gradient `g`:
    /// the convolution of `g` with the kernel flipped ([`flip_kernel`], built in `flip`).
    fn conv_input_grad<T: Real>(self, flip: &mut Vec<T>, w: &[T], g: &[T], dst: &mut [T], s: T) {
        flip_kernel(w, flip, self.kernel, self.dim, self.dim);
        self.conv(g, flip, dst, s, false);
    }

    /// `x` (padded) `+= scales[s]·v` at every position of every sample `s`.
    fn add_at_positions<T: Real>(self, x: &mut [T], add: TapAdd<T>) {
        let (l, d, pad) = (self.len, self.dim, self.pad());
        for (sample, &k) in x[pad * d..].chunks_mut((l + pad) * d).zip(add.scales) {
            for row in sample[..l * d].chunks_mut(d) {
                for (o, &v) in row.iter_mut().zip(add.weight) {
                    *o += k * v;
                }
            }
        }
    }

    /// `out += k·Σ` over the positions of the first `out.len() / d` samples of the padded `x`,
    /// per sample (`out` `(b, d)`) or summed over samples (`out` `(d)`, with `per_sample`
    /// false).
    fn sum_positions<T: Real>(self, x: &[T], out: &mut [T], k: T, per_sample: bool) {
        let (l, d, pad) = (self.len, self.dim, self.pad());
        let samples = x[pad * d..].chunks((l + pad) * d);
        let b = if per_sample {
            out.len() / d
        } else {
            usize::MAX
        };
        for (s, sample) in samples.enumerate().take(b) {
            let dst = if per_sample {
                &mut out[s * d..(s + 1) * d]
            } else {
                &mut out[..]
            };
            for row in sample[..l * d].chunks(d) {
                for (o, &v) in dst.iter_mut().zip(row) {
                    *o += k * v;
                }
            }
        }
    }
}

/// The local branch's gradient at the tap, added by the passes back: `scales[s]·weight` at
/// every position of sample `s` (`coef_s/L` for a loss `Σ_s coef_s·D(x_s)`).
#[derive(Clone, Copy)]
pub struct TapAdd<'a, T> {
    pub weight: &'a [T],
    pub scales: &'a [T],
}

/// Buffers of the residual stack, sized on first use and then reused. Everything inside is in
/// the padded layout ([`Layout`]); what comes in and goes out is `(b·l, d)` rows.
pub struct ResStack<T> {
    layout: Layout,
    blocks: usize,
    /// The tap: after this many blocks (1..=blocks), if any.
    tap: Option<usize>,
    /// Per sample of the last forward pass, the mean over positions of the stream at the tap,
    /// `(samples, d)`.
    tap_means: Vec<T>,
    /// Per block, `relu` of the block's input and of the first convolution's output, from the
    /// last forward pass: the convolutions' inputs, and by their sign the ReLU masks.
    a: Vec<Vec<T>>,
    c: Vec<Vec<T>>,
    /// Scratch: the padded stream (activations forward, gradients back), a flipped kernel,
    /// two padded matrices, and the chain's result as rows.
    h: Vec<T>,
    flip: Vec<T>,
    s1: Vec<T>,
    s2: Vec<T>,
    out: Vec<T>,
    /// The input-gradient chain: the gradient at every block's output (`g[i]` at block `i`'s
    /// input, `g[blocks]` at the stack's output) and the inner `p` of every block.
    g: Vec<Vec<T>>,
    p: Vec<Vec<T>>,
}

impl<T: Real> ResStack<T> {
    pub fn new(layout: Layout, blocks: usize) -> Self {
        Self::with_tap(layout, blocks, None)
    }

    /// A stack with a tap after `tap` blocks (the critic's local branch).
    pub fn with_tap(layout: Layout, blocks: usize, tap: Option<usize>) -> Self {
        ResStack {
            layout,
            blocks,
            tap,
            tap_means: Vec::new(),
            a: vec![Vec::new(); blocks],
            c: vec![Vec::new(); blocks],
            h: Vec::new(),
            flip: Vec::new(),
            s1: Vec::new(),
            s2: Vec::new(),
            out: Vec::new(),
            g: vec![Vec::new(); blocks + 1],
            p: vec![Vec::new(); blocks],
        }
    }

    /// The padded rows of `rows` rows of samples, and of samples `first..first + b` within
    /// the padded activations (the gap before `first` included).
    fn span(&self, rows: usize, first: usize) -> (usize, std::ops::Range<usize>) {
        let lay = self.layout;
        let (l, d) = (lay.len, lay.dim);
        debug_assert_eq!(rows % l, 0, "rows of whole samples");
        let np = lay.padded_rows(rows / l);
        let from = first * (l + lay.pad()) * d;
        (np, from..from + np * d)
    }
}

/// `x` `(b·l, d)` padded into `h`, and two scratch matrices of the same padded size from `s1`
/// and `s2`: the three padded streams a backward pass works on.
fn streams<'a, T: Real>(
    x: &[T],
    (h, s1, s2): (&'a mut Vec<T>, &'a mut Vec<T>, &'a mut Vec<T>),
    lay: Layout,
) -> (&'a mut [T], &'a mut [T], &'a mut [T]) {
    lay.pad_into(x, h);
    let n = h.len();
    reserve(s1, n);
    reserve(s2, n);
    (&mut h[..], &mut s1[..n], &mut s2[..n])
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
        return Err(Error::Internal(format!(
            "{net} step: the weights do not match the {net}'s shape"
        )));
    }
    Ok(())
}

impl<T: Real> ResStack<T> {
    /// Forward pass, in place on `h` `(rows, d)`, keeping each block's activations.
    pub fn forward(&mut self, w: &[Weights<T>], h: &mut [T]) {
        let lay = self.layout;
        let (l, d) = (lay.len, lay.dim);
        let (np, _) = self.span(h.len() / d, 0);
        lay.pad_into(h, &mut self.h);
        let hp = &mut self.h[..np * d];
        debug_assert_eq!(w.len(), self.blocks, "one block of weights per block");
        let samples = h.len() / (l * d);
        let tap_means = &mut self.tap_means;
        let mut read_tap = |i: usize, hp: &[T]| {
            if self.tap == Some(i) {
                tap_means.clear();
                tap_means.resize(samples * d, T::zero());
                let k = T::from_f64(local_position_weight(l));
                lay.sum_positions(hp, tap_means, k, true);
            }
        };
        for (i, wb) in w.iter().enumerate() {
            read_tap(i, hp);
            let a = &mut self.a[i];
            resize(a, np * d);
            crate::kernels::relu_into(hp, a);
            let c = &mut self.c[i];
            resize(c, np * d);
            crate::kernels::fill_rows(c, wb.conv1.bias);
            lay.conv(a, wb.conv1.weight, c, T::one(), true);
            crate::kernels::relu_in_place(c);
            // h ← h + s·(conv₂(c) + b₂), s = RESIDUAL_SCALE
            crate::kernels::add_rows(hp, wb.conv2.bias, scale());
            lay.conv(c, wb.conv2.weight, hp, scale(), true);
        }
        read_tap(self.blocks, hp);
        lay.unpad_into(hp, h);
    }

    /// Per sample of the last forward pass, the mean over positions of the stream at the tap,
    /// `(samples, d)` (empty without a tap).
    pub fn tap_means(&self) -> &[T] {
        &self.tap_means
    }

    /// Backward pass over the first `gh.len() / d` rows of the last forward pass: `gh` holds
    /// the gradient at the stack's output and is turned into the gradient at its input; the
    /// weight gradients are added to `grads` (one [`ConvBlock`] per block); the tap's
    /// gradient `tap` is added where the tap reads.
    pub fn backward(
        &mut self,
        w: &[Weights<T>],
        grads: &mut [Grads<T>],
        gh: &mut [T],
        tap: Option<TapAdd<T>>,
    ) {
        let lay = self.layout;
        let d = lay.dim;
        let (np, _) = self.span(gh.len() / d, 0);
        let (gp, gu, tmp) = streams(gh, (&mut self.h, &mut self.s1, &mut self.s2), lay);
        debug_assert!(w.len() == self.blocks && grads.len() == self.blocks);
        for (i, (wb, gb)) in w.iter().zip(grads.iter_mut()).enumerate().rev() {
            // gp: the gradient at block i's output, the stream after i + 1 blocks.
            if let Some(add) = tap.filter(|_| self.tap == Some(i + 1)) {
                lay.add_at_positions(gp, add);
            }
            let (a, c) = (&self.a[i][..np * d], &self.c[i][..np * d]);
            let flip = &mut self.flip;
            // Second convolution, scaled by RESIDUAL_SCALE: bias, weight, then back to its input.
            add_col_sums(gb.conv2.bias, gp, scale());
            lay.conv_weight_grad(c, gp, gb.conv2.weight, scale());
            lay.conv_input_grad(flip, wb.conv2.weight, gp, gu, scale());
            mask_scale(gu, c, T::one());
            // First convolution.
            add_col_sums(gb.conv1.bias, gu, T::one());
            lay.conv_weight_grad(a, gu, gb.conv1.weight, T::one());
            // The residual path adds the branch's input-gradient to the block's.
            lay.conv_input_grad(flip, wb.conv1.weight, gu, tmp, T::one());
            add_masked(gp, tmp, a, T::one());
        }
        lay.unpad_into(gp, gh);
    }

    /// The input-gradient chain at the ReLU masks of `b` samples of the last forward pass from
    /// sample `first` on: from the gradient `g_out` at the stack's output to the one at its
    /// input (returned), keeping every block's intermediate gradients for [`chain_reverse`].
    ///
    /// [`chain_reverse`]: Self::chain_reverse
    /// The tap's gradient `tap` is added where the tap reads (the chain is linear in it).
    pub fn chain(
        &mut self,
        w: &[Weights<T>],
        first: usize,
        g_out: &[T],
        tap: Option<TapAdd<T>>,
    ) -> &[T] {
        let lay = self.layout;
        let d = lay.dim;
        let (np, rows) = self.span(g_out.len() / d, first);
        for buf in self.g.iter_mut().chain(self.p.iter_mut()) {
            resize(buf, np * d);
        }
        lay.pad_into(g_out, &mut self.g[self.blocks]);
        reserve(&mut self.s2, np * d);
        let tmp = &mut self.s2[..np * d];
        debug_assert_eq!(w.len(), self.blocks, "one block of weights per block");
        for (i, wb) in w.iter().enumerate().rev() {
            let (a, c) = (&self.a[i][rows.clone()], &self.c[i][rows.clone()]);
            let flip = &mut self.flip;
            let (before, after) = self.g.split_at_mut(i + 1);
            if let Some(add) = tap.filter(|_| self.tap == Some(i + 1)) {
                lay.add_at_positions(&mut after[0], add);
            }
            let g_out = &after[0];
            // g_i = g_{i+1} + s·(conv₁ᵀ(p) ⊙ m₁), p = conv₂ᵀ(g_{i+1}) ⊙ m₂, s = RESIDUAL_SCALE.
            let p = &mut self.p[i];
            lay.conv_input_grad(flip, wb.conv2.weight, g_out, p, T::one());
            mask_scale(p, c, T::one());
            lay.conv_input_grad(flip, wb.conv1.weight, p, tmp, T::one());
            let g_in = &mut before[i];
            g_in.copy_from_slice(g_out);
            add_masked(g_in, tmp, a, scale());
        }
        resize(&mut self.out, g_out.len());
        lay.unpad_into(&self.g[0], &mut self.out);
        &self.out
    }

    /// Reverse pass of the last [`chain`](Self::chain) for the samples from `first` on: `r`
    /// holds the adjoint of the chain's output (the gradient at the input) and becomes the
    /// adjoint of its input `g_out`; the weights' share is added to `grads`. The masks are
    /// constants (a ReLU's derivative does not depend on the weights almost everywhere), so
    /// the chain is linear in each weight and this is its exact gradient, second-order term
    /// of the penalty included. With a tap, `tap_grad` gets `k·Σ` of the adjoint at the tap
    /// over every position (`k` = 1/L: the tap added `w/L` at every position).
    pub fn chain_reverse(
        &mut self,
        w: &[Weights<T>],
        grads: &mut [Grads<T>],
        first: usize,
        r: &mut [T],
        mut tap_grad: Option<(&mut [T], T)>,
    ) {
        let lay = self.layout;
        let d = lay.dim;
        let (np, rows) = self.span(r.len() / d, first);
        debug_assert!(
            self.p.iter().all(|p| p.len() == np * d),
            "chain_reverse follows a chain over the same samples"
        );
        let (rp, e, r_p) = streams(r, (&mut self.h, &mut self.s1, &mut self.s2), lay);
        debug_assert!(w.len() == self.blocks && grads.len() == self.blocks);
        for (i, (wb, gb)) in w.iter().zip(grads.iter_mut()).enumerate() {
            let (a, c) = (&self.a[i][rows.clone()], &self.c[i][rows.clone()]);
            // p ↦ conv₁ᵀ(p) is linear in W₁: with e = s·r ⊙ m₁ (s = RESIDUAL_SCALE), W₁'s
            // gradient is windows(e)ᵀ·p and p's adjoint windows(e)·W₁.
            e.copy_from_slice(rp);
            mask_scale(e, a, scale());
            lay.conv_weight_grad(e, &self.p[i], gb.conv1.weight, T::one());
            lay.conv(e, wb.conv1.weight, r_p, T::one(), false);
            // Likewise for g_{i+1}·W₂ᵀ, with e = r_p ⊙ m₂.
            mask_scale(r_p, c, T::one());
            lay.conv_weight_grad(r_p, &self.g[i + 1], gb.conv2.weight, T::one());
            // The adjoint of g_{i+1}: the identity path plus the branch.
            lay.conv(r_p, wb.conv2.weight, rp, T::one(), true);
            if let Some((out, k)) = tap_grad.as_mut().filter(|_| self.tap == Some(i + 1)) {
                lay.sum_positions(rp, out, *k, false);
            }
        }
        lay.unpad_into(rp, r);
    }
}

#[cfg(test)]
mod tests {
    use crate::cpu_step::res_stack::Layout;
    use crate::kernels::{im2col, matmul, Mat};

    use crate::kernels::test_values as values;

    /// The kernels the tests run: the paper's 5, and 1 and 3.
    const KERNELS: [usize; 3] = [1, 3, 5];

    #[test]
    fn the_padded_convolution_is_the_im2col_convolution_and_keeps_its_gaps_zero() {
        for k in KERNELS {
            // Odd sizes: 3 samples of 7 positions, 3 channels.
            let (b, l, d) = (3, 7, 3);
            let lay = Layout::new(l, d, k);
            let x = values(b * l * d, 1);
            let w = values(k * d * d, 2);
            let start = values(b * l * d, 3);
            // The reference: the im2col windows copied out, one product, added to `start`.
            let mut wide = vec![0.0; b * l * k * d];
            im2col(&x, &mut wide, l, d, k);
            let mut want = start.clone();
            matmul(
                &mut want,
                Mat::new(&wide, b * l, k * d),
                Mat::new(&w, k * d, d),
                0.5,
                true,
            );

            let mut xp = Vec::new();
            lay.pad_into(&x, &mut xp);
            assert_eq!(xp.len(), lay.padded_rows(b) * d);
            let mut dst = Vec::new();
            lay.pad_into(&start, &mut dst);
            lay.conv(&xp, &w, &mut dst, 0.5, true);
            let mut got = vec![0.0; b * l * d];
            lay.unpad_into(&dst, &mut got);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-12, "kernel {k}: {g} vs {w}");
            }
            // The gaps (the rows that straddle two samples) are zero again for the next product.
            let pad = lay.pad();
            let gap_rows = (0..pad).chain((0..b).flat_map(|s| {
                let end = pad + s * (l + pad) + l;
                end..end + pad
            }));
            for r in gap_rows {
                assert!(
                    dst[r * d..(r + 1) * d].iter().all(|&v| v == 0.0),
                    "kernel {k}: gap row {r}"
                );
            }

            // The kernel's gradient: windows(x)ᵀ·g equals im2col(x)ᵀ·g.
            let g = values(b * l * d, 4);
            let mut want = vec![0.25; k * d * d];
            matmul(
                &mut want,
                Mat::new(&wide, b * l, k * d).t(),
                Mat::new(&g, b * l, d),
                1.0,
                true,
            );
            let mut gp = Vec::new();
            lay.pad_into(&g, &mut gp);
            let mut got = vec![0.25; k * d * d];
            lay.conv_weight_grad(&xp, &gp, &mut got, 1.0);
            for (g, w) in got.iter().zip(&want) {
                assert!((g - w).abs() < 1e-12, "kernel {k}: {g} vs {w}");
            }
        }
    }

    #[test]
    fn the_padded_input_gradient_is_the_convolutions_adjoint() {
        // ⟨conv(x), g⟩ = ⟨x, conv_input_grad(g)⟩ for any x and g: the flipped kernel on the
        // padded layout is the exact transpose of the convolution, samples kept apart.
        for k in KERNELS {
            let (b, l, d) = (4, 6, 2);
            let lay = Layout::new(l, d, k);
            let (x, g) = (values(b * l * d, 5), values(b * l * d, 6));
            let w = values(k * d * d, 7);
            let (mut xp, mut gp) = (Vec::new(), Vec::new());
            lay.pad_into(&x, &mut xp);
            lay.pad_into(&g, &mut gp);
            let mut y = vec![9.0; xp.len()];
            lay.conv(&xp, &w, &mut y, 1.0, false);
            let mut dx = vec![9.0; gp.len()];
            lay.conv_input_grad(&mut Vec::new(), &w, &gp, &mut dx, 1.0);
            let dot = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(u, v)| u * v).sum::<f64>();
            let (lhs, rhs) = (dot(&y, &gp), dot(&xp, &dx));
            assert!(
                (lhs - rhs).abs() < 1e-12 * lhs.abs().max(1.0),
                "kernel {k}: {lhs} vs {rhs}"
            );
            // A sample's input-gradient does not depend on another sample's output gradient.
            let mut g2 = g.clone();
            g2[..l * d].iter_mut().for_each(|v| *v += 1.0);
            let mut gp2 = Vec::new();
            lay.pad_into(&g2, &mut gp2);
            let mut dx2 = vec![0.0; gp2.len()];
            lay.conv_input_grad(&mut Vec::new(), &w, &gp2, &mut dx2, 1.0);
            let from = lay.pad() + l + lay.pad();
            assert_eq!(&dx[from * d..], &dx2[from * d..], "kernel {k}");
            assert_ne!(&dx[..from * d], &dx2[..from * d], "kernel {k}");
        }
    }
}
