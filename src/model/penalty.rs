//! The critic's loss and the four ways to keep it (about) 1-Lipschitz (`--lipschitz`):
//!
//! * `gp`, the paper's two-sided gradient penalty (Gulrajani et al. 2017, Formula 9):
//!   `L_D = E[D(x_g)] − E[D(x_r)] + λ · E[(‖∇_x̂ D(x̂)‖₂ − 1)²]`, `x̂ = ε·x_r + (1−ε)·x_g`,
//!   `ε ~ U[0,1]` per sample, the norm over the whole `(L, V)` input of each sample;
//! * `lp`, the one-sided penalty (Formula 4): `λ · E[max(0, ‖∇D(x̂)‖ − 1)²]`;
//! * `fd`, the finite-difference chord penalty (Formula 10): two points `x₁, x₂` on the same
//!   real–fake line, `λ · E[(|D(x₁) − D(x₂)| / ‖x₁ − x₂‖ − 1)²]` — first-order only, no
//!   input-gradient pass;
//! * `clip`, the original WGAN: no penalty, the critic's weights are clipped after each step
//!   (see [`crate::train::optim`]).

use candle_core::Tensor;
use serde::{Deserialize, Serialize};

use super::autograd::critic::Critic;
use crate::error::Result;

/// λ of the paper.
pub const LAMBDA: f64 = 10.0;
/// Added under the norm's square root: `d√s/ds` is infinite at `s = 0` and would turn a step
/// into NaNs; 1e-12 is far below any gradient norm that matters.
pub const NORM_EPS: f64 = 1e-12;
/// Weight-clipping bound of the original WGAN.
pub const CLIP: f64 = 0.01;

/// The numbers of one critic step (all means over the batch).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct CriticStats {
    /// The loss the critic minimises: `−wasserstein + penalty`.
    pub loss: f64,
    /// `mean D(real) − mean D(fake)`.
    pub wasserstein: f64,
    pub penalty: f64,
    /// `mean ‖∇D(x̂)‖` (gp, lp), the mean chord slope (fd), none (clip).
    pub grad_norm: Option<f64>,
}

/// `--lipschitz`: how the critic is kept Lipschitz.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Lipschitz {
    /// Two-sided gradient penalty λ(‖∇D(x̂)‖ − 1)², the paper's (Formula 9)
    #[default]
    Gp,
    /// One-sided gradient penalty λ·max(0, ‖∇D(x̂)‖ − 1)² (Formula 4)
    Lp,
    /// Finite-difference chord penalty λ(|D(x₁) − D(x₂)|/‖x₁ − x₂‖ − 1)², first-order only (Formula 10)
    Fd,
    /// Weight clipping to [−c, c] with RMSProp, the original WGAN (see --clip)
    Clip,
}

impl Lipschitz {
    pub const ALL: [Lipschitz; 4] = [Lipschitz::Gp, Lipschitz::Lp, Lipschitz::Fd, Lipschitz::Clip];

    /// What the strategy is, for help texts.
    pub fn help(self) -> &'static str {
        match self {
            Lipschitz::Gp => "Two-sided gradient penalty λ(‖∇D(x̂)‖ − 1)², the paper's (Formula 9)",
            Lipschitz::Lp => "One-sided gradient penalty λ·max(0, ‖∇D(x̂)‖ − 1)² (Formula 4)",
            Lipschitz::Fd => "Finite-difference chord penalty λ(|D(x₁) − D(x₂)|/‖x₁ − x₂‖ − 1)², first-order only (Formula 10)",
            Lipschitz::Clip => "Weight clipping to [−c, c] with RMSProp, the original WGAN (see --clip)",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Lipschitz::Gp => "gp",
            Lipschitz::Lp => "lp",
            Lipschitz::Fd => "fd",
            Lipschitz::Clip => "clip",
        }
    }

    /// Strategies that add a penalty term (all but clipping).
    pub fn is_penalty(self) -> bool {
        self != Lipschitz::Clip
    }
}

/// The critic loss and its parts, all scalars (0-d tensors) still attached to the graph.
pub struct CriticLoss {
    /// What the critic minimises.
    pub total: Tensor,
    /// `mean D(real) − mean D(fake)`: the critic's estimate of the Wasserstein distance.
    pub wasserstein: Tensor,
    /// The Lipschitz penalty term (0 for clipping).
    pub penalty: Tensor,
    /// `mean ‖∇D(x̂)‖` (gp, lp) or the mean chord slope (fd); not measured with clipping.
    pub grad_norm: Option<Tensor>,
}

/// A critic step's Lipschitz strategy together with the mixing weights it needs, each `(B)` in
/// `[0, 1)`: where on the line between a real and a fake sample the penalty looks. One point per
/// sample (gp, lp), a chord of two (fd), or none (clip): one value, so a strategy cannot meet
/// the wrong points. `T` is a tensor on the autograd path and a host slice in the hand-written
/// step.
#[derive(Debug, Clone, Copy)]
pub enum Penalty<T> {
    /// Two-sided gradient penalty at `x̂ = ε·real + (1−ε)·fake` (Formula 9).
    Gp(T),
    /// One-sided gradient penalty at `x̂` (Formula 4).
    Lp(T),
    /// The chord penalty between `x₁` and `x₂` (Formula 10).
    Fd(T, T),
    /// Weight clipping: no penalty term.
    Clip,
}

impl<T> Penalty<T> {
    /// `strategy`'s penalty at points from `draw`, called in the order the training stream is
    /// drawn in: the first point for every strategy (clipping discards it, so that every
    /// strategy draws the same stream, hence the same data and noise), fd's second after it.
    pub fn draw<E>(
        strategy: Lipschitz,
        mut draw: impl FnMut() -> std::result::Result<T, E>,
    ) -> std::result::Result<Self, E> {
        let first = draw()?;
        Ok(match strategy {
            Lipschitz::Gp => Penalty::Gp(first),
            Lipschitz::Lp => Penalty::Lp(first),
            Lipschitz::Fd => Penalty::Fd(first, draw()?),
            Lipschitz::Clip => Penalty::Clip,
        })
    }

    pub fn strategy(&self) -> Lipschitz {
        match self {
            Penalty::Gp(_) => Lipschitz::Gp,
            Penalty::Lp(_) => Lipschitz::Lp,
            Penalty::Fd(..) => Lipschitz::Fd,
            Penalty::Clip => Lipschitz::Clip,
        }
    }

    /// The points' mixing weights, in order (none for clipping).
    pub fn points(&self) -> Vec<&T> {
        match self {
            Penalty::Gp(e) | Penalty::Lp(e) => vec![e],
            Penalty::Fd(a, b) => vec![a, b],
            Penalty::Clip => vec![],
        }
    }

    /// The same penalty with each point mapped by `f`.
    pub fn map<'a, U, E>(
        &'a self,
        mut f: impl FnMut(&'a T) -> std::result::Result<U, E>,
    ) -> std::result::Result<Penalty<U>, E> {
        Ok(match self {
            Penalty::Gp(e) => Penalty::Gp(f(e)?),
            Penalty::Lp(e) => Penalty::Lp(f(e)?),
            Penalty::Fd(a, b) => Penalty::Fd(f(a)?, f(b)?),
            Penalty::Clip => Penalty::Clip,
        })
    }
}

/// `x̂ = ε·real + (1−ε)·fake`, `eps` of shape `(B)`.
pub fn interpolate(real: &Tensor, fake: &Tensor, eps: &Tensor) -> Result<Tensor> {
    let eps = eps.reshape((eps.dim(0)?, 1, 1))?;
    Ok(fake.broadcast_add(&(real - fake)?.broadcast_mul(&eps)?)?)
}

/// Per-sample `‖g_b‖₂` over all axes but the first, `(B)`.
pub fn per_sample_norm(grad: &Tensor) -> Result<Tensor> {
    let b = grad.dim(0)?;
    Ok(grad
        .reshape((b, ()))?
        .sqr()?
        .sum(1)?
        .affine(1.0, NORM_EPS)?
        .sqrt()?)
}

/// `λ · mean((n − 1)²)` over per-sample gradient norms `n` (Formula 5/9).
pub fn two_sided(norms: &Tensor, lambda: f64) -> Result<Tensor> {
    Ok(norms
        .affine(1.0, -1.0)?
        .sqr()?
        .mean_all()?
        .affine(lambda, 0.0)?)
}

/// `λ · mean(max(0, n − 1)²)` (Formula 4): only gradients steeper than 1 are penalised.
pub fn one_sided(norms: &Tensor, lambda: f64) -> Result<Tensor> {
    Ok(norms
        .affine(1.0, -1.0)?
        .relu()?
        .sqr()?
        .mean_all()?
        .affine(lambda, 0.0)?)
}

/// `λ · mean((|d₁ − d₂| / dist − 1)²)` and the mean slope, for scores `d₁, d₂` of two points
/// `dist` apart (all `(B)`) (Formula 10).
pub fn chord(d1: &Tensor, d2: &Tensor, dist: &Tensor, lambda: f64) -> Result<(Tensor, Tensor)> {
    let slope = (d1 - d2)?.abs()?.div(dist)?;
    Ok((two_sided(&slope, lambda)?, slope.mean_all()?))
}

/// The two-sided penalty at `x_hat` and `mean ‖∇D(x̂)‖`.
pub fn gradient_penalty(critic: &Critic, x_hat: &Tensor, lambda: f64) -> Result<(Tensor, Tensor)> {
    let norms = per_sample_norm(&critic.input_grad(x_hat)?)?;
    Ok((two_sided(&norms, lambda)?, norms.mean_all()?))
}

/// The critic loss with `penalty` on a real batch and a (detached) fake batch.
pub fn critic_loss(
    critic: &Critic,
    real: &Tensor,
    fake: &Tensor,
    penalty: &Penalty<Tensor>,
    lambda: f64,
) -> Result<CriticLoss> {
    let b = real.dim(0)?;
    let (scores, penalty, grad_norm) = match penalty {
        Penalty::Fd(eps, eps2) => {
            // One forward over real, fake and both chord ends: no input-gradient pass at all.
            let x1 = interpolate(real, fake, eps)?;
            let x2 = interpolate(real, fake, eps2)?;
            let scores = critic.forward(&Tensor::cat(&[real, fake, &x1, &x2], 0)?)?;
            // ‖x₁ − x₂‖ = |ε₁ − ε₂|·‖real − fake‖, exactly, without the subtraction's rounding.
            let dist = (eps - eps2)?
                .abs()?
                .mul(&per_sample_norm(&(real - fake)?)?)?
                .affine(1.0, NORM_EPS)?;
            let (penalty, slope) = chord(
                &scores.narrow(0, 2 * b, b)?,
                &scores.narrow(0, 3 * b, b)?,
                &dist,
                lambda,
            )?;
            (scores, penalty, Some(slope))
        }
        Penalty::Gp(eps) | Penalty::Lp(eps) => {
            // One forward over both batches: one larger GEMM per layer.
            let scores = critic.forward(&Tensor::cat(&[real, fake], 0)?)?;
            let x_hat = interpolate(real, fake, eps)?;
            let norms = per_sample_norm(&critic.input_grad(&x_hat)?)?;
            let term = match penalty {
                Penalty::Lp(_) => one_sided(&norms, lambda)?,
                _ => two_sided(&norms, lambda)?,
            };
            (scores, term, Some(norms.mean_all()?))
        }
        Penalty::Clip => {
            let scores = critic.forward(&Tensor::cat(&[real, fake], 0)?)?;
            let zero = Tensor::zeros((), scores.dtype(), scores.device())?;
            (scores, zero, None)
        }
    };
    let real_mean = scores.narrow(0, 0, b)?.mean_all()?;
    let fake_mean = scores.narrow(0, b, b)?.mean_all()?;
    let wasserstein = (&real_mean - &fake_mean)?;
    let total = ((&fake_mean - &real_mean)? + &penalty)?;
    Ok(CriticLoss {
        total,
        wasserstein,
        penalty,
        grad_norm,
    })
}

/// Generator loss `−mean D(G(z))`, for generated probabilities `fake`.
pub fn generator_loss(critic: &Critic, fake: &Tensor) -> Result<Tensor> {
    Ok(critic.forward(fake)?.mean_all()?.neg()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    fn t(v: &[f64]) -> Tensor {
        Tensor::new(v, &Device::Cpu).unwrap()
    }

    fn s(x: &Tensor) -> f64 {
        x.to_scalar::<f64>().unwrap()
    }

    #[test]
    fn two_and_one_sided_penalties_on_known_norms() {
        let norms = t(&[0.5, 1.0, 2.0, 3.0]);
        // (−0.5)² + 0 + 1² + 2² = 5.25, mean 1.3125, λ = 10.
        assert!((s(&two_sided(&norms, 10.0).unwrap()) - 13.125).abs() < 1e-12);
        // Only the norms above 1 count: 1 + 4 = 5, mean 1.25.
        assert!((s(&one_sided(&norms, 10.0).unwrap()) - 12.5).abs() < 1e-12);
        // A critic with gradient norm below 1 everywhere pays nothing one-sided.
        assert_eq!(s(&one_sided(&t(&[0.2, 0.9]), 10.0).unwrap()), 0.0);
    }

    #[test]
    fn chord_penalty_on_known_scores() {
        // Slopes |1 − 0|/0.5 = 2 and |0 − 3|/3 = 1: penalties 1 and 0, mean 0.5, λ = 2.
        let (p, slope) = chord(&t(&[1.0, 0.0]), &t(&[0.0, 3.0]), &t(&[0.5, 3.0]), 2.0).unwrap();
        assert!((s(&p) - 1.0).abs() < 1e-12);
        assert!((s(&slope) - 1.5).abs() < 1e-12);
    }
}
