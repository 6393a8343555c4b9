//! The critic's training step written out by hand for the CPU: the same loss as
//! [`crate::model::penalty::critic_loss`] and its exact gradient, the gradient penalty's second-order
//! term included, with every matrix product a direct GEMM into buffers kept from step to step.
//!
//! The critic without normalisation is a ReLU network, so its input-gradient is a product of
//! linear maps: `∇ₓD = W₀ᵀ·B₁ᵀ·…·B_Nᵀ·w_out`, where block `i` maps a gradient `g` to
//! `g + s·(W₁ᵀ(m₂ ⊙ W₂ᵀ g)) ⊙ m₁` (convolutions transposed, `m` the ReLU masks of the forward
//! pass at `x̂`, s = [`RESIDUAL_SCALE`](crate::model::RESIDUAL_SCALE)). The masks do not depend
//! on the weights (almost everywhere), so the penalty
//! `P = λ·mean_b (‖∇D(x̂_b)‖ − 1)²` (Gulrajani et al. 2017, Formula 9) is a polynomial in the
//! weights, and its gradient is one reverse pass over that chain: four GEMMs per residual
//! block (two weight gradients, two propagations), the second-order term exactly.
//!
//! One step: a forward pass over real, fake and the penalty's points stacked (one larger GEMM
//! per layer); the ordinary backward pass of the Wasserstein term over real and fake; for gp
//! and lp the input-gradient chain at `x̂`, the penalty, and its reverse pass. Layout as in
//! [`crate::model`]: channels last, rows are `(sample, position)`, a convolution weight is
//! `(k·C_in, C_out)`.
//!
//! The local branch (`--local-critic N`) adds `(1/L)·Σ_l w_localᵀ·h_N[l]` to each score: the
//! residual stack keeps `mean_l h_N` per sample (its tap), the passes back add `w_local/L` at
//! every position of the stream after block `N` (linear in `w_local`, so the chain stays a
//! polynomial in the weights and its reverse pass exact).

use crate::cpu_step::res_stack::{check_sizes, resize, zero_grads, Layout, ResStack, TapAdd};
use crate::error::{Error, Result};
use crate::kernels::{self, add_col_sums, matmul, Mat, Real};
use crate::model::penalty::{CriticStats, Penalty, NORM_EPS};
use crate::model::schema::{Net, NetView, Schema};
use crate::model::{local_position_weight, CriticNorm, ModelShape};

/// The critic's weights by name.
type Weights<'a, T> = NetView<&'a [T]>;

/// One batch of a critic step: `real` and `fake` `(B, L, V)` row-major, mixing weights `(B)`.
pub struct StepBatch<'a, T> {
    pub real: &'a [T],
    pub fake: &'a [T],
    /// The Lipschitz strategy and where on each real–fake line it looks.
    pub penalty: Penalty<&'a [T]>,
    /// The size of the whole batch this one is a piece of (`B` for a whole batch): the loss
    /// is a mean over it, so each piece's gradient is its share and the pieces' gradients add.
    pub mean_over: usize,
    /// Add this piece's gradient to the last step's instead of starting from zero.
    pub add: bool,
}

/// Buffers of the hand-written critic step, sized on first use and then reused.
pub struct CriticStep<T> {
    vocab: usize,
    len: usize,
    dim: usize,
    /// Where each weight is in the order the step takes them ([`Schema`]), and their sizes.
    schema: Schema,
    sizes: Vec<usize>,
    /// Inputs, `(rows, V)`: real, fake, then the penalty's points.
    x: Vec<T>,
    /// The input convolution's output, then (in place) the last block's output, `(rows, d)`.
    h: Vec<T>,
    stack: ResStack<T>,
    /// Gradients w.r.t. `h`, `(rows, d)`.
    gh: Vec<T>,
    scores: Vec<T>,
    /// The input-gradient chain at the input convolution's output `(B·L, d)`, and `∇ₓD(x̂)`,
    /// then the penalty's adjoint of it, `(B·L, V)`.
    g0: Vec<T>,
    gx: Vec<T>,
    grads: Vec<Vec<T>>,
}

fn to_t<T: Real>(v: f64) -> T {
    T::from_f64(v)
}

impl<T: Real> CriticStep<T> {
    /// Buffers for a critic of `shape`. Layer norm is not written out here (the autograd
    /// path covers it).
    pub fn new(shape: ModelShape) -> Result<Self> {
        if shape.critic_norm != CriticNorm::None {
            return Err(Error::Config(
                "the hand-written critic step has no normalisation layers".into(),
            ));
        }
        let blocks = shape.res_blocks;
        let schema = Schema::of(Net::Critic, &shape);
        Ok(CriticStep {
            sizes: schema.sizes(),
            schema,
            vocab: shape.vocab,
            len: shape.seq_len,
            dim: shape.critic_width(),
            x: Vec::new(),
            h: Vec::new(),
            stack: ResStack::with_tap(
                Layout::new(shape.seq_len, shape.critic_width(), shape.kernel),
                blocks,
                shape.local_critic,
            ),
            gh: Vec::new(),
            scores: Vec::new(),
            g0: Vec::new(),
            gx: Vec::new(),
            grads: Vec::new(),
        })
    }

    /// The gradient of the last step's loss, in the [`Schema`]'s order.
    pub fn grads(&self) -> &[Vec<T>] {
        &self.grads
    }

    /// The same gradient, to be summed into in place.
    pub(super) fn grads_mut(&mut self) -> &mut [Vec<T>] {
        &mut self.grads
    }

    /// One critic step with the batch's penalty: the loss's value and, in
    /// [`grads`](Self::grads), its gradient w.r.t. every weight. `weights` in the [`Schema`]'s
    /// order.
    pub fn step(
        &mut self,
        weights: &[&[T]],
        batch: &StepBatch<T>,
        lambda: f64,
    ) -> Result<CriticStats> {
        check_sizes(weights, &self.sizes, "critic")?;
        let w = self.schema.view(weights)?;
        let per = self.len * self.vocab;
        // Every strategy's batch size: real's rows (clipping has no points to count).
        let b = batch.real.len() / per.max(1);
        if b == 0 || batch.real.len() != b * per || batch.fake.len() != b * per {
            return Err(Error::Internal(
                "critic step: batch sizes do not match".into(),
            ));
        }
        if batch.mean_over < b || (batch.add && self.grads.len() != self.sizes.len()) {
            return Err(Error::Internal(
                "critic step: a piece larger than its batch, or nothing to add to".into(),
            ));
        }
        if !batch.add {
            zero_grads(&mut self.grads, &self.sizes);
        }
        // Rows: real, fake, then the points the strategy needs.
        let points: Vec<&[T]> = batch.penalty.points().into_iter().copied().collect();
        if points.iter().any(|p| p.len() != b) {
            return Err(Error::Internal(
                "critic step: mixing weights for another batch size".into(),
            ));
        }
        let samples = b * (2 + points.len());
        resize(&mut self.x, samples * per);
        self.x[..b * per].copy_from_slice(batch.real);
        self.x[b * per..2 * b * per].copy_from_slice(batch.fake);
        for (j, eps) in points.iter().enumerate() {
            let dst = &mut self.x[(2 + j) * b * per..(3 + j) * b * per];
            for (s, &e) in eps.iter().enumerate() {
                let range = s * per..(s + 1) * per;
                // x̂ = fake + ε·(real − fake), as `penalty::interpolate`.
                for ((o, &r), &f) in dst[range.clone()]
                    .iter_mut()
                    .zip(&batch.real[range.clone()])
                    .zip(&batch.fake[range])
                {
                    *o = f + (r - f) * e;
                }
            }
        }
        self.forward(&w, samples);
        let score = |s: usize| self.scores[s].to_f64();
        let mean = |from: usize| (from..from + b).map(score).sum::<f64>() / b as f64;
        let wasserstein = mean(0) - mean(b);
        // ∂loss/∂score of every sample: −1/B for real, +1/B for fake (the loss is −W + P; B
        // the whole batch) …
        let whole = batch.mean_over as f64;
        let mut coefs = vec![-1.0 / whole; b];
        coefs.extend(vec![1.0 / whole; b]);
        let (penalty, grad_norm) = match batch.penalty {
            Penalty::Gp(_) | Penalty::Lp(_) => {
                let one_sided = matches!(batch.penalty, Penalty::Lp(_));
                let (p, n) = self.gradient_penalty(&w, b, whole, one_sided, lambda)?;
                (p, Some(n))
            }
            Penalty::Fd(eps, eps2) => {
                // … and for the chord ends, the derivative of λ·mean((|d₁ − d₂|/dist − 1)²).
                let (p, slope, d1, d2) = self.chord(batch, (eps, eps2), b, whole, lambda);
                coefs.extend(d1);
                coefs.extend(d2);
                (p, Some(slope))
            }
            Penalty::Clip => (0.0, None),
        };
        let coefs: Vec<T> = coefs.into_iter().map(to_t).collect();
        self.backward(&w, &coefs)?;
        Ok(CriticStats {
            loss: penalty - wasserstein,
            wasserstein,
            penalty,
            grad_norm,
        })
    }

    /// Forward pass over the first `samples` inputs of `x`, keeping what the backward passes
    /// need; scores in `self.scores`.
    fn forward(&mut self, w: &Weights<T>, samples: usize) {
        let (v, l, d) = (self.vocab, self.len, self.dim);
        let n = samples * l;
        resize(&mut self.h, n * d);
        let h = &mut self.h[..n * d];
        kernels::fill_rows(h, w.input.bias);
        matmul(
            h,
            Mat::new(&self.x, n, v),
            Mat::new(w.input.weight, v, d),
            T::one(),
            true,
        );
        self.stack.forward(&w.blocks, h);
        let (w_out, b_out) = (w.output.weight, w.output.bias[0]);
        let dot = |a: &[T], b: &[T]| a.iter().zip(b).map(|(&x, &y)| x * y).sum::<T>();
        self.scores = h.chunks(l * d).map(|row| dot(row, w_out) + b_out).collect();
        if let Some(w_local) = w.local {
            let means = self.stack.tap_means().chunks(d);
            for (score, mean) in self.scores.iter_mut().zip(means) {
                *score += dot(mean, w_local);
            }
        }
    }

    /// `1/L` per sample: the local branch's scales in the input-gradient chain.
    fn local_scales(&self, b: usize) -> Vec<T> {
        vec![to_t(local_position_weight(self.len)); b]
    }

    /// Backward pass of `Σ_s coefs[s]·D(x_s)` over the first `coefs.len()` samples of the
    /// last forward pass; adds to the gradients.
    fn backward(&mut self, w: &Weights<T>, coefs: &[T]) -> Result<()> {
        let (v, l, d) = (self.vocab, self.len, self.dim);
        let n = coefs.len() * l;
        let mut g = self.schema.view_mut(&mut self.grads)?;
        resize(&mut self.gh, n * d);
        // ∂/∂h_last = coef_s·w_out, and ∂/∂w_out = Σ_s coef_s·h_last[s].
        let gh = &mut self.gh[..n * d];
        for ((row, hrow), &cf) in gh.chunks_mut(l * d).zip(self.h.chunks(l * d)).zip(coefs) {
            for ((o, &wo), (dw, &hv)) in row
                .iter_mut()
                .zip(w.output.weight)
                .zip(g.output.weight.iter_mut().zip(hrow))
            {
                *o = cf * wo;
                *dw += cf * hv;
            }
        }
        g.output.bias[0] += coefs.iter().copied().sum::<T>();
        // The local branch: ∂/∂w_local = Σ_s coef_s·mean_l h_N[s], and coef_s·w_local/L at
        // every position of the stream after block N.
        let mut scales = Vec::new();
        if let (Some(gl), Some(_)) = (g.local.as_mut(), w.local) {
            let means = self.stack.tap_means().chunks(d);
            for (mean, &cf) in means.zip(coefs) {
                for (o, &m) in gl.iter_mut().zip(mean) {
                    *o += cf * m;
                }
            }
            let k = to_t::<T>(local_position_weight(l));
            scales = coefs.iter().map(|&cf| cf * k).collect();
        }
        let tap = w.local.map(|weight| TapAdd {
            weight,
            scales: &scales,
        });
        self.stack.backward(&w.blocks, &mut g.blocks, gh, tap);
        add_col_sums(g.input.bias, gh, T::one());
        matmul(
            g.input.weight,
            Mat::new(&self.x, n, v).t(),
            Mat::new(gh, n, d),
            T::one(),
            true,
        );
        Ok(())
    }

    /// The gradient penalty at the `b` points after real and fake (gp two-sided, lp one-sided):
    /// adds its exact weight gradient (as a share of a mean over `whole` samples); returns its
    /// value and `mean ‖∇D(x̂)‖` over the `b`.
    fn gradient_penalty(
        &mut self,
        w: &Weights<T>,
        b: usize,
        whole: f64,
        one_sided: bool,
        lambda: f64,
    ) -> Result<(f64, f64)> {
        let (v, l, d) = (self.vocab, self.len, self.dim);
        let n = b * l;
        self.chain(w, 2 * b, b);
        // The penalty and its adjoint on ∇D: ∂P/∂∇D_b = (λ/B)·2·f(n_b − 1)/n_b·∇D_b, with
        // f the identity (two-sided) or max(0, ·) (one-sided).
        let (mut penalty, mut norm_sum) = (0.0, 0.0);
        for row in self.gx.chunks_mut(l * v) {
            let norm = (row.iter().map(|&x| x.to_f64().powi(2)).sum::<f64>() + NORM_EPS).sqrt();
            let excess = if one_sided {
                (norm - 1.0).max(0.0)
            } else {
                norm - 1.0
            };
            penalty += excess * excess;
            norm_sum += norm;
            let coef = to_t::<T>(lambda / whole * 2.0 * excess / norm);
            row.iter_mut().for_each(|x| *x *= coef);
        }
        // Reverse pass over the chain, from the input back up to w_out: the input
        // convolution (∇D = g₀·W₀ᵀ), the blocks, then g_N = w_out for every sample.
        let mut g = self.schema.view_mut(&mut self.grads)?;
        resize(&mut self.gh, n * d);
        let r = &mut self.gh[..n * d];
        matmul(
            g.input.weight,
            Mat::new(&self.gx, n, v).t(),
            Mat::new(&self.g0, n, d),
            T::one(),
            true,
        );
        matmul(
            r,
            Mat::new(&self.gx, n, v),
            Mat::new(w.input.weight, v, d),
            T::one(),
            false,
        );
        let k = to_t::<T>(local_position_weight(l));
        let tap_grad = g.local.map(|gl| (gl.as_mut_slice(), k));
        self.stack
            .chain_reverse(&w.blocks, &mut g.blocks, 2 * b, r, tap_grad);
        for row in r.chunks(l * d) {
            for (o, &x) in g.output.weight.iter_mut().zip(row) {
                *o += x;
            }
        }
        let bf = b as f64;
        Ok((lambda * penalty / bf, norm_sum / bf))
    }

    /// The input-gradient chain `∇ₓ Σ_s D(x_s)` for the `b` samples of the last forward pass
    /// from sample `first` on, into `self.gx` (and `self.g0`).
    fn chain(&mut self, w: &Weights<T>, first: usize, b: usize) {
        let (v, l, d) = (self.vocab, self.len, self.dim);
        let n = b * l;
        resize(&mut self.gx, n * v);
        // g_N = w_out for every sample (built in g0, which then takes the chain's result).
        let w_out = w.output.weight;
        resize(&mut self.g0, n * d);
        for row in self.g0.chunks_mut(l * d) {
            row.copy_from_slice(w_out);
        }
        let scales = self.local_scales(b);
        let tap = w.local.map(|weight| TapAdd {
            weight,
            scales: &scales,
        });
        let g0 = self.stack.chain(&w.blocks, first, &self.g0, tap);
        self.g0.copy_from_slice(g0);
        matmul(
            &mut self.gx,
            Mat::new(&self.g0, n, d),
            Mat::new(w.input.weight, v, d).t(),
            T::one(),
            false,
        );
    }

    /// Scores `D(x_s)` and the input-gradient `∇ₓD(x_s)` of the samples `x` `(B, L, V)`, without
    /// any weight gradient: what the generator's step needs of the critic.
    pub fn scores_and_input_grad(&mut self, weights: &[&[T]], x: &[T]) -> Result<(&[T], &[T])> {
        check_sizes(weights, &self.sizes, "critic")?;
        let w = self.schema.view(weights)?;
        let per = self.len * self.vocab;
        let b = x.len() / per;
        if b == 0 || x.len() != b * per {
            return Err(Error::Internal(
                "critic step: input of the wrong size".into(),
            ));
        }
        resize(&mut self.x, b * per);
        self.x[..b * per].copy_from_slice(&x[..b * per]);
        self.forward(&w, b);
        self.chain(&w, 0, b);
        Ok((&self.scores[..b], &self.gx[..b * per]))
    }

    /// The chord penalty between the points after real and fake (samples `2B..3B` and
    /// `3B..4B`): its value, the mean slope, and `∂P/∂D(x₁)`, `∂P/∂D(x₂)` per sample (as a
    /// share of a mean over `whole` samples).
    fn chord(
        &self,
        batch: &StepBatch<T>,
        (eps, eps2): (&[T], &[T]),
        b: usize,
        whole: f64,
        lambda: f64,
    ) -> (f64, f64, Vec<f64>, Vec<f64>) {
        let per = self.len * self.vocab;
        let (mut penalty, mut slope_sum) = (0.0, 0.0);
        let (mut d1, mut d2) = (Vec::with_capacity(b), Vec::with_capacity(b));
        let pairs = batch.real.chunks(per).zip(batch.fake.chunks(per));
        for (s, ((real, fake), (&e1, &e2))) in pairs.zip(eps.iter().zip(eps2)).enumerate() {
            // ‖x₁ − x₂‖ = |ε₁ − ε₂|·‖real − fake‖, as `penalty::critic_loss`.
            let gap = (real.iter().zip(fake))
                .map(|(&r, &f)| (r - f).to_f64().powi(2))
                .sum::<f64>();
            let dist = (e1.to_f64() - e2.to_f64()).abs() * (gap + NORM_EPS).sqrt() + NORM_EPS;
            let diff = self.scores[2 * b + s].to_f64() - self.scores[3 * b + s].to_f64();
            let slope = diff.abs() / dist;
            penalty += (slope - 1.0).powi(2);
            slope_sum += slope;
            let coef = lambda / whole * 2.0 * (slope - 1.0) * diff.signum() / dist;
            d1.push(coef);
            d2.push(-coef);
        }
        let bf = b as f64;
        (lambda * penalty / bf, slope_sum / bf, d1, d2)
    }
}
