//! The generator's self-attention written out by hand, as
//! [`crate::model::autograd::attention`] computes it: per sample,
//! `h ← h + s · P V`, `P = softmax(Q Kᵀ/√d)`, `Q = h W_q`, `K = h W_k`, `V = h W_v`,
//! s = [`RESIDUAL_SCALE`], and its backward pass. Only the generator has it, so only first
//! derivatives are needed (the penalty differentiates the critic, not the generator).

use crate::cpu_step::res_stack::resize;
use crate::kernels::{matmul, softmax_rows, Mat, Real};
use crate::model::schema::Attention;
use crate::model::RESIDUAL_SCALE;

/// The projections `(d, d)`, read.
type Weights<'a, T> = Attention<&'a [T]>;
/// Their gradients, added to.
type Grads<'a, T> = Attention<&'a mut Vec<T>>;

/// Buffers of one self-attention layer, sized on first use and then reused.
pub struct AttentionStep<T> {
    len: usize,
    dim: usize,
    /// From the last forward pass: the layer's input `h`, its projections `Q`, `K`, `V`
    /// `(rows, d)`, and the attention weights `P` `(samples·L, L)`.
    x: Vec<T>,
    q: Vec<T>,
    k: Vec<T>,
    v: Vec<T>,
    p: Vec<T>,
    /// Scratch for the backward pass: gradients w.r.t. `P` (then the scores), `Q`, `K`, `V`.
    gp: Vec<T>,
    gq: Vec<T>,
    gk: Vec<T>,
    gv: Vec<T>,
}

impl<T: Real> AttentionStep<T> {
    pub fn new(len: usize, dim: usize) -> Self {
        AttentionStep {
            len,
            dim,
            x: Vec::new(),
            q: Vec::new(),
            k: Vec::new(),
            v: Vec::new(),
            p: Vec::new(),
            gp: Vec::new(),
            gq: Vec::new(),
            gk: Vec::new(),
            gv: Vec::new(),
        }
    }

    /// `1/√d`, the scores' scale.
    fn inv_sqrt_d(&self) -> T {
        T::from_f64(1.0 / (self.dim as f64).sqrt())
    }

    /// Forward pass in place on `h` `(samples·L, d)`, keeping what the backward pass needs.
    pub fn forward(&mut self, w: &Weights<T>, h: &mut [T]) {
        let (l, d) = (self.len, self.dim);
        let rows = h.len() / d;
        resize(&mut self.x, rows * d);
        self.x.copy_from_slice(h);
        let x = Mat::new(&self.x, rows, d);
        for (out, wt) in [
            (&mut self.q, w.query),
            (&mut self.k, w.key),
            (&mut self.v, w.value),
        ] {
            resize(out, rows * d);
            matmul(out, x, Mat::new(wt, d, d), T::one(), false);
        }
        resize(&mut self.p, rows * l);
        let scale = self.inv_sqrt_d();
        let s = T::from_f64(RESIDUAL_SCALE);
        for (((p, q), k), (v, out)) in self
            .p
            .chunks_mut(l * l)
            .zip(self.q.chunks(l * d))
            .zip(self.k.chunks(l * d))
            .zip(self.v.chunks(l * d).zip(h.chunks_mut(l * d)))
        {
            matmul(p, Mat::new(q, l, d), Mat::new(k, l, d).t(), scale, false);
            softmax_rows(p, l);
            // The residual: h already holds the input.
            matmul(out, Mat::new(p, l, l), Mat::new(v, l, d), s, true);
        }
    }

    /// Backward pass of the last forward pass: `gh` holds the gradient at the layer's output
    /// and becomes the gradient at its input; the projections' gradients are added to `grads`.
    pub fn backward(&mut self, w: &Weights<T>, grads: &mut Grads<T>, gh: &mut [T]) {
        let (l, d) = (self.len, self.dim);
        let rows = gh.len() / d;
        let s = T::from_f64(RESIDUAL_SCALE);
        let scale = self.inv_sqrt_d();
        resize(&mut self.gp, rows * l);
        for buf in [&mut self.gq, &mut self.gk, &mut self.gv] {
            resize(buf, rows * d);
        }
        for ((((p, gp), go), (q, k)), ((v, gq), (gk, gv))) in self
            .p
            .chunks(l * l)
            .zip(self.gp.chunks_mut(l * l))
            .zip(gh.chunks(l * d))
            .zip(self.q.chunks(l * d).zip(self.k.chunks(l * d)))
            .zip(
                self.v
                    .chunks(l * d)
                    .zip(self.gq.chunks_mut(l * d))
                    .zip(self.gk.chunks_mut(l * d).zip(self.gv.chunks_mut(l * d))),
            )
        {
            let go = Mat::new(go, l, d);
            // The branch's output s·P V: ∂/∂V = s·Pᵀ g, ∂/∂P = s·g Vᵀ.
            matmul(gv, Mat::new(p, l, l).t(), go, s, false);
            matmul(gp, go, Mat::new(v, l, d).t(), s, false);
            // Softmax by rows: ∂/∂score_ij = P_ij·(∂/∂P_ij − Σ_k P_ik·∂/∂P_ik), times 1/√d.
            for (gr, pr) in gp.chunks_mut(l).zip(p.chunks(l)) {
                let dot = gr.iter().zip(pr).map(|(&a, &b)| a * b).sum::<T>();
                for (g, &pi) in gr.iter_mut().zip(pr) {
                    *g = pi * (*g - dot) * scale;
                }
            }
            // scores = Q Kᵀ: ∂/∂Q = G K, ∂/∂K = Gᵀ Q.
            let g = Mat::new(&gp[..], l, l);
            matmul(gq, g, Mat::new(k, l, d), T::one(), false);
            matmul(gk, g.t(), Mat::new(q, l, d), T::one(), false);
        }
        let x = Mat::new(&self.x, rows, d);
        for (gw, wt, gproj) in [
            (&mut *grads.query, w.query, &self.gq),
            (&mut *grads.key, w.key, &self.gk),
            (&mut *grads.value, w.value, &self.gv),
        ] {
            let gproj = Mat::new(gproj, rows, d);
            // Each projection's weight, and the input's share (added to the residual's).
            matmul(gw, x.t(), gproj, T::one(), true);
            matmul(gh, gproj, Mat::new(wt, d, d).t(), T::one(), true);
        }
    }
}
