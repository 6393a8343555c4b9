//! The generator written out by hand for the CPU, as [`crate::model::autograd::generator`] computes it:
//! `z (B, 128) → linear → (B·L, d) → residual blocks → 1×1 conv → softmax over V` (with
//! `--attention N`, self-attention after the first `N` blocks; with `--autoregressive K`, a
//! read-out that also reads the `K` positions written before each one), and the
//! backward pass of a loss given its gradient w.r.t. the probabilities. With the critic's
//! input-gradient ([`crate::cpu_step::critic::CriticStep::scores_and_input_grad`]) that is the
//! generator's step: `∂(−mean D(G(z)))/∂G(z) = −∇ₓD/B`.

use crate::cpu_step::attention::AttentionStep;
use crate::cpu_step::readout::ReadoutStep;
use crate::cpu_step::res_stack::{check_sizes, resize, zero_grads, Layout, ResStack};
use crate::data::batches::pad_from;
use crate::error::{Error, Result};
use crate::kernels::{
    add_col_sums, fill_rows, matmul, softmax_backward_rows, softmax_rows, Mat, Real,
};
use crate::model::schema::{Net, Schema};
use crate::model::{FakeView, ModelShape};

/// Buffers of the hand-written generator, sized on first use and then reused.
pub struct GeneratorStep<T> {
    shape: ModelShape,
    /// Where each weight is in the order the step takes them, and their sizes.
    schema: Schema,
    sizes: Vec<usize>,
    /// The noise of the last forward pass, `(B, noise_dim)`.
    z: Vec<T>,
    /// The input layer's output, then (in place) the last block's output, `(B·L, d)`.
    h: Vec<T>,
    /// The residual blocks; with self-attention, the blocks before it, the attention and the
    /// blocks after it.
    stack: ResStack<T>,
    attention: Option<(AttentionStep<T>, ResStack<T>)>,
    readout: Option<ReadoutStep<T>>,
    /// Softmax probabilities `(B·L, V)`.
    probs: Vec<T>,
    /// `1/τ` of the last forward pass's Gumbel-softmax (1 without).
    inv_tau: T,
    /// Gradients w.r.t. the logits `(B·L, V)` and w.r.t. `h` `(B·L, d)`.
    glogits: Vec<T>,
    gh: Vec<T>,
    grads: Vec<Vec<T>>,
}

impl<T: Real> GeneratorStep<T> {
    pub fn new(shape: ModelShape) -> Self {
        let schema = Schema::of(Net::Generator, &shape);
        let before = shape.attention.unwrap_or(shape.res_blocks);
        let layout = Layout::new(shape.seq_len, shape.dim, shape.kernel);
        GeneratorStep {
            shape,
            sizes: schema.sizes(),
            schema,
            z: Vec::new(),
            h: Vec::new(),
            stack: ResStack::new(layout, before),
            attention: shape.attention.map(|n| {
                (
                    AttentionStep::new(shape.seq_len, shape.dim),
                    ResStack::new(layout, shape.res_blocks.saturating_sub(n)),
                )
            }),
            readout: shape
                .autoregressive
                .map(|k| ReadoutStep::new(k, shape.seq_len, shape.dim, shape.vocab)),
            probs: Vec::new(),
            inv_tau: T::one(),
            glogits: Vec::new(),
            gh: Vec::new(),
            grads: Vec::new(),
        }
    }

    /// Residual blocks before the self-attention (all of them without).
    fn stack_split(&self) -> usize {
        self.shape.attention.unwrap_or(self.shape.res_blocks)
    }

    /// The width of the noise the generator takes.
    pub fn noise_dim(&self) -> usize {
        self.shape.noise_dim
    }

    /// The probabilities `G(z)`, `(B, L, V)` row-major, for noise `z` `(B, noise_dim)`;
    /// keeps what [`backward`](Self::backward) needs.
    pub fn forward(&mut self, w: &[&[T]], z: &[T]) -> Result<&[T]> {
        self.forward_shown(w, z, FakeView::all(self.shape.seq_len))
    }

    /// What the critic is shown in training ([`FakeView`]): with Gumbel noise `g` and a
    /// temperature τ, `softmax((logits + g)/τ)`; the positions from `visible` on the pad
    /// token's one-hot (a length curriculum), whose gradient in [`backward`](Self::backward)
    /// is then zero by itself (the softmax's derivative at a one-hot is zero).
    pub fn forward_shown(&mut self, w: &[&[T]], z: &[T], shown: FakeView<&[T]>) -> Result<&[T]> {
        let s = self.shape;
        check_sizes(w, &self.sizes, "generator")?;
        let w = self.schema.view(w)?;
        let b = z.len() / s.noise_dim;
        if b == 0 || z.len() != b * s.noise_dim {
            return Err(Error::Internal(
                "generator step: noise of the wrong size".into(),
            ));
        }
        let (l, d, v) = (s.seq_len, s.dim, s.vocab);
        let n = b * l;
        resize(&mut self.z, z.len());
        self.z.copy_from_slice(z);
        // (B, L·d) rows are (B·L, d) rows: position t of sample b is row b·L + t.
        resize(&mut self.h, n * d);
        fill_rows(&mut self.h, w.input.bias);
        let (nz, ld) = (s.noise_dim, l * d);
        matmul(
            &mut self.h,
            Mat::new(z, b, nz),
            Mat::new(w.input.weight, nz, ld),
            T::one(),
            true,
        );
        let before = self.stack_split();
        match (&mut self.attention, &w.attention) {
            (Some((attention, after)), Some(wa)) => {
                self.stack.forward(&w.blocks[..before], &mut self.h);
                attention.forward(wa, &mut self.h);
                after.forward(&w.blocks[before..], &mut self.h);
            }
            _ => self.stack.forward(&w.blocks, &mut self.h),
        }
        resize(&mut self.probs, n * v);
        fill_rows(&mut self.probs, w.output.bias);
        let h = Mat::new(&self.h, n, d);
        let w_out = Mat::new(w.output.weight, d, v);
        matmul(&mut self.probs, h, w_out, T::one(), true);
        self.inv_tau = T::one();
        if let Some((g, tau)) = shown.gumbel {
            if g.len() != n * v || tau.is_nan() || tau <= 0.0 {
                return Err(Error::Internal(
                    "generator step: Gumbel noise of the wrong size, or τ not positive".into(),
                ));
            }
            self.inv_tau = T::from_f64(1.0 / tau);
        }
        let gumbel = shown.gumbel.map(|(g, _)| (g, self.inv_tau));
        match (&mut self.readout, &w.readout) {
            (Some(readout), Some(wr)) => readout.forward(wr, &self.h, &mut self.probs, gumbel),
            _ => {
                if let Some((g, k)) = gumbel {
                    for (x, &gi) in self.probs.iter_mut().zip(g) {
                        *x = (*x + gi) * k;
                    }
                }
                softmax_rows(&mut self.probs, v);
            }
        }
        pad_from(&mut self.probs, l, v, shown.visible, (T::zero(), T::one()));
        Ok(&self.probs)
    }

    /// Backward pass of a loss whose gradient w.r.t. the last forward pass's probabilities is
    /// `dprobs` `(B, L, V)`: the weight gradients, in [`grads`](Self::grads), or added to the
    /// last ones with `add` (a batch run in pieces).
    pub fn backward(&mut self, w: &[&[T]], dprobs: &[T], add: bool) -> Result<()> {
        let s = self.shape;
        let (l, d, v) = (s.seq_len, s.dim, s.vocab);
        let n = self.probs.len() / v;
        if dprobs.len() != n * v || (add && self.grads.len() != self.sizes.len()) {
            return Err(Error::Internal(
                "generator step: gradient of the wrong size, or nothing to add to".into(),
            ));
        }
        if !add {
            zero_grads(&mut self.grads, &self.sizes);
        }
        let before = self.stack_split();
        let w = self.schema.view(w)?;
        let mut g = self.schema.view_mut(&mut self.grads)?;
        resize(&mut self.glogits, n * v);
        resize(&mut self.gh, n * d);
        match (&mut self.readout, &w.readout, &mut g.readout) {
            // Position by position from the last: ∂/∂logits, and ∂/∂h through the read-out
            // into `gh`, to which the output layer's share is added below.
            (Some(readout), Some(wr), Some(gr)) => {
                readout.backward(wr, gr, &self.probs, dprobs, &mut self.glogits, &mut self.gh)
            }
            _ => {
                // Softmax of (logit + g)/τ: ∂/∂logit_i = p_i·(∂/∂p_i − Σ_j p_j·∂/∂p_j)/τ.
                softmax_backward_rows(&mut self.glogits, &self.probs, dprobs, v, self.inv_tau);
                self.gh.iter_mut().for_each(|x| *x = T::zero());
            }
        }
        let gl = Mat::new(&self.glogits, n, v);
        matmul(
            g.output.weight,
            Mat::new(&self.h, n, d).t(),
            gl,
            T::one(),
            true,
        );
        add_col_sums(g.output.bias, &self.glogits, T::one());
        matmul(
            &mut self.gh,
            gl,
            Mat::new(w.output.weight, d, v).t(),
            T::one(),
            true,
        );
        match (&mut self.attention, &w.attention, &mut g.attention) {
            (Some((attention, after)), Some(wa), Some(ga)) => {
                after.backward(
                    &w.blocks[before..],
                    &mut g.blocks[before..],
                    &mut self.gh,
                    None,
                );
                attention.backward(wa, ga, &mut self.gh);
                self.stack.backward(
                    &w.blocks[..before],
                    &mut g.blocks[..before],
                    &mut self.gh,
                    None,
                );
            }
            _ => self
                .stack
                .backward(&w.blocks, &mut g.blocks, &mut self.gh, None),
        }
        let (b, nz, ld) = (n / l, s.noise_dim, l * d);
        add_col_sums(g.input.bias, &self.gh, T::one());
        matmul(
            g.input.weight,
            Mat::new(&self.z, b, nz).t(),
            Mat::new(&self.gh, b, ld),
            T::one(),
            true,
        );
        Ok(())
    }

    /// The gradient of the last [`backward`](Self::backward), in the [`Schema`]'s order.
    pub fn grads(&self) -> &[Vec<T>] {
        &self.grads
    }

    /// The same gradient, to be summed into in place.
    pub(super) fn grads_mut(&mut self) -> &mut [Vec<T>] {
        &mut self.grads
    }
}
