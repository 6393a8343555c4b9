//! The generator's autoregressive read-out written out by hand, as
//! [`crate::model::autograd::readout`] computes it: position by position,
//! `u_t = relu(h_t + x_t·E)`, `logits_t = base_t + u_t·M`, `p_t = softmax(logits_t)`, with
//! `x_t = [p_{t−K}, …, p_{t−1}]`, and its backward pass, which runs the positions in reverse so
//! that each `p_s` has every later position's gradient before its softmax is differentiated.
//!
//! Rows are `(samples·L)`, position `t` of sample `b` at row `b·L + t`, so a position's look-back
//! is `K·V` consecutive elements of the probabilities and the `B` samples' look-backs are a
//! [`Mat::windows`] view `L·V` apart: no copy. Only first derivatives: the penalty
//! differentiates the critic, not the generator.

use crate::cpu_step::res_stack::resize;
use crate::kernels::{matmul, softmax_backward_rows, softmax_rows, Mat, Real};
use crate::model::schema::Readout;

/// `E` `(K·V, d)` and `M` `(d, V)`, read.
type Weights<'a, T> = Readout<&'a [T]>;
/// Their gradients, added to.
type Grads<'a, T> = Readout<&'a mut Vec<T>>;

/// Buffers of the read-out, sized on first use and then reused.
pub struct ReadoutStep<T> {
    look_back: usize,
    len: usize,
    dim: usize,
    vocab: usize,
    /// `u` of the last forward pass, `(samples·L, d)`.
    u: Vec<T>,
    /// Per position: `(samples, d)` and `(samples, V)` scratch.
    rows_d: Vec<T>,
    rows_v: Vec<T>,
    /// Gradient w.r.t. the probabilities, filled in from the last position back, `(samples·L, V)`.
    gp: Vec<T>,
    /// One position's gradient w.r.t. its look-back, `(samples, K·V)`.
    gx: Vec<T>,
    /// `1/τ` of the last forward pass's Gumbel-softmax (1 without).
    inv_tau: T,
}

impl<T: Real> ReadoutStep<T> {
    pub fn new(look_back: usize, len: usize, dim: usize, vocab: usize) -> Self {
        ReadoutStep {
            look_back,
            len,
            dim,
            vocab,
            u: Vec::new(),
            rows_d: Vec::new(),
            rows_v: Vec::new(),
            gp: Vec::new(),
            gx: Vec::new(),
            inv_tau: T::one(),
        }
    }

    /// Positions position `t` reads: `K`, fewer at the start.
    fn seen(&self, t: usize) -> usize {
        t.min(self.look_back)
    }

    /// `E`'s rows for the last `w` look-back positions (the oldest come first).
    fn embed_rows<'a>(&self, embed: &'a [T], w: usize) -> &'a [T] {
        &embed[(self.look_back - w) * self.vocab * self.dim..]
    }

    /// `probs` `(samples·L, V)` holds `base = h·W_out + b_out`; turns it into the probabilities,
    /// position by position, reading `h` `(samples·L, d)`. With `gumbel = (g, 1/τ)`, `g`
    /// `(samples·L, V)`, each position writes the Gumbel-softmax sample
    /// `softmax((logits + g)/τ)` instead, and the later positions read it.
    pub fn forward(&mut self, w: &Weights<T>, h: &[T], probs: &mut [T], gumbel: Option<(&[T], T)>) {
        let (l, d, v) = (self.len, self.dim, self.vocab);
        let rows = h.len() / d;
        let b = rows / l;
        resize(&mut self.u, rows * d);
        resize(&mut self.rows_d, b * d);
        resize(&mut self.rows_v, b * v);
        self.inv_tau = gumbel.map_or(T::one(), |(_, k)| k);
        for t in 0..l {
            // x_t·E for every sample: their look-backs are windows L·V apart.
            let seen = self.seen(t);
            if seen == 0 {
                self.rows_d.iter_mut().for_each(|x| *x = T::zero());
            } else {
                let x = Mat::windows(&probs[(t - seen) * v..], b, seen * v, l * v);
                let e = Mat::new(self.embed_rows(w.embed, seen), seen * v, d);
                matmul(&mut self.rows_d, x, e, T::one(), false);
            }
            for s in 0..b {
                let r = s * l + t;
                let u = &mut self.u[r * d..(r + 1) * d];
                for ((o, &hi), &ci) in u
                    .iter_mut()
                    .zip(&h[r * d..(r + 1) * d])
                    .zip(&self.rows_d[s * d..(s + 1) * d])
                {
                    let x = hi + ci;
                    *o = if x > T::zero() { x } else { T::zero() };
                }
            }
            let u = Mat::windows(&self.u[t * d..], b, d, l * d);
            matmul(&mut self.rows_v, u, Mat::new(w.read, d, v), T::one(), false);
            for s in 0..b {
                let r = s * l + t;
                let row = &mut probs[r * v..(r + 1) * v];
                for (o, &x) in row.iter_mut().zip(&self.rows_v[s * v..(s + 1) * v]) {
                    *o += x;
                }
                if let Some((g, k)) = gumbel {
                    for (o, &gi) in row.iter_mut().zip(&g[r * v..(r + 1) * v]) {
                        *o = (*o + gi) * k;
                    }
                }
                softmax_rows(row, v);
            }
        }
    }

    /// Backward pass: `dprobs` the loss's gradient w.r.t. the probabilities the last forward
    /// pass wrote (`probs`, as shown: a padded position's one-hot has a zero derivative),
    /// `(samples·L, V)`. Writes the gradient w.r.t. the logits into `glogits` (what the output
    /// layer's backward pass takes), adds `E`'s and `M`'s to `g`, and writes the gradient
    /// w.r.t. `h` through the read-out into `gh` (to be added to the output layer's).
    pub fn backward(
        &mut self,
        w: &Weights<T>,
        g: &mut Grads<T>,
        probs: &[T],
        dprobs: &[T],
        glogits: &mut [T],
        gh: &mut [T],
    ) {
        let (l, d, v) = (self.len, self.dim, self.vocab);
        let rows = probs.len() / v;
        let b = rows / l;
        resize(&mut self.gp, rows * v);
        self.gp.copy_from_slice(dprobs);
        resize(&mut self.gx, b * self.look_back * v);
        for t in (0..l).rev() {
            // Every later position has added its share to ∂/∂p_t: the softmax's backward,
            // ∂/∂logit_i = p_i·(∂/∂p_i − Σ_j p_j·∂/∂p_j), over τ for a Gumbel-softmax.
            for s in 0..b {
                let r = (s * l + t) * v..(s * l + t + 1) * v;
                softmax_backward_rows(
                    &mut glogits[r.clone()],
                    &probs[r.clone()],
                    &self.gp[r],
                    v,
                    self.inv_tau,
                );
            }
            let gl = Mat::windows(&glogits[t * v..], b, v, l * v);
            let u = Mat::windows(&self.u[t * d..], b, d, l * d);
            matmul(g.read, u.t(), gl, T::one(), true);
            // ∂/∂u = ∂/∂logits·Mᵀ, through the ReLU: ∂/∂(h_t + x_t·E).
            matmul(
                &mut self.rows_d,
                gl,
                Mat::new(w.read, d, v).t(),
                T::one(),
                false,
            );
            for s in 0..b {
                let r = s * l + t;
                let live = &self.u[r * d..(r + 1) * d];
                let out = &mut gh[r * d..(r + 1) * d];
                for ((gi, o), &ui) in self.rows_d[s * d..(s + 1) * d]
                    .iter_mut()
                    .zip(out)
                    .zip(live)
                {
                    if ui <= T::zero() {
                        *gi = T::zero();
                    }
                    *o = *gi;
                }
            }
            let seen = self.seen(t);
            if seen == 0 {
                continue;
            }
            let (kv, e_rows) = (seen * v, self.embed_rows(w.embed, seen));
            let x = Mat::windows(&probs[(t - seen) * v..], b, kv, l * v);
            let gpre = Mat::new(&self.rows_d, b, d);
            let skip = (self.look_back - seen) * v * d;
            matmul(&mut g.embed[skip..], x.t(), gpre, T::one(), true);
            // ∂/∂x_t = ∂/∂(x_t·E)·Eᵀ, added to the positions it read.
            matmul(
                &mut self.gx,
                gpre,
                Mat::new(e_rows, kv, d).t(),
                T::one(),
                false,
            );
            for s in 0..b {
                let start = (s * l + t - seen) * v;
                for (o, &x) in self.gp[start..start + kv]
                    .iter_mut()
                    .zip(&self.gx[s * kv..(s + 1) * kv])
                {
                    *o += x;
                }
            }
        }
    }
}
