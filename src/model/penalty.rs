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
use crate::error::{Error, Result};

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

/// Per-sample mixing weights of a critic step, each `(B)` in `[0, 1)`: where on the line
/// between a real and a fake sample the Lipschitz penalty looks. `T` is a tensor on the
/// autograd path and a host slice in the hand-written step.
#[derive(Debug, Clone, Copy)]
pub enum Mix<T> {
    /// One point per sample, `x̂ = ε·real + (1−ε)·fake`: gp and lp (Formulas 9 and 4). Clipping
    /// draws it too, unused, so that every strategy draws the same stream.
    Point(T),
    /// The two ends of a chord, `x₁` and `x₂`: fd (Formula 10).
    Chord(T, T),
}

impl<T> Mix<T> {
    /// The shape of mixing weights `strategy` needs, filled by `draw` (called once per point,
    /// first point first: the order the training stream is drawn in).
    pub fn draw<E>(
        strategy: Lipschitz,
        mut draw: impl FnMut() -> std::result::Result<T, E>,
    ) -> std::result::Result<Self, E> {
        let first = draw()?;
        Ok(match strategy {
            Lipschitz::Fd => Mix::Chord(first, draw()?),
            Lipschitz::Gp | Lipschitz::Lp | Lipschitz::Clip => Mix::Point(first),
        })
    }

    /// The first point's weights (`x̂`, or the chord's `x₁`).
    pub fn first(&self) -> &T {
        match self {
            Mix::Point(e) | Mix::Chord(e, _) => e,
        }
    }

    /// The same points, each mapped by `f`.
    pub fn map<'a, U, E>(
        &'a self,
        mut f: impl FnMut(&'a T) -> std::result::Result<U, E>,
    ) -> std::result::Result<Mix<U>, E> {
        Ok(match self {
            Mix::Point(e) => Mix::Point(f(e)?),
            Mix::Chord(a, b) => Mix::Chord(f(a)?, f(b)?),
        })
    }

    /// Whether `strategy` reads these points (a chord for fd, one point for the others).
    pub fn fits(&self, strategy: Lipschitz) -> bool {
        matches!(
            (strategy, self),
            (Lipschitz::Fd, Mix::Chord(..))
                | (
                    Lipschitz::Gp | Lipschitz::Lp | Lipschitz::Clip,
                    Mix::Point(_)
                )
        )
    }
}

/// The one way a strategy and its mixing weights can disagree: only by a caller that built
/// them apart from [`Mix::draw`].
pub fn mismatch<T>(strategy: Lipschitz, mix: &Mix<T>) -> Error {
    let points = match mix {
        Mix::Point(_) => "one point",
        Mix::Chord(..) => "a chord",
    };
    Error::Internal(format!(
        "the {} penalty was given mixing weights of {points} (draw them with Mix::draw)",
        strategy.name()
    ))
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

/// The critic loss of `strategy` on a real batch, a (detached) fake batch and the mixing
/// weights.
pub fn critic_loss(
    critic: &Critic,
    real: &Tensor,
    fake: &Tensor,
    mix: &Mix<Tensor>,
    strategy: Lipschitz,
    lambda: f64,
) -> Result<CriticLoss> {
    let b = real.dim(0)?;
    let (scores, penalty, grad_norm) = match (strategy, mix) {
        (Lipschitz::Fd, Mix::Chord(eps, eps2)) => {
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
        (Lipschitz::Gp | Lipschitz::Lp, Mix::Point(eps)) => {
            // One forward over both batches: one larger GEMM per layer.
            let scores = critic.forward(&Tensor::cat(&[real, fake], 0)?)?;
            let x_hat = interpolate(real, fake, eps)?;
            let norms = per_sample_norm(&critic.input_grad(&x_hat)?)?;
            let penalty = if strategy == Lipschitz::Gp {
                two_sided(&norms, lambda)?
            } else {
                one_sided(&norms, lambda)?
            };
            (scores, penalty, Some(norms.mean_all()?))
        }
        (Lipschitz::Clip, _) => {
            let scores = critic.forward(&Tensor::cat(&[real, fake], 0)?)?;
            let zero = Tensor::zeros((), scores.dtype(), scores.device())?;
            (scores, zero, None)
        }
        (_, mix) => return Err(mismatch(strategy, mix)),
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
