//! The WGAN-GP critic loss (Gulrajani et al. 2017, Formula 9):
//!
//! `L_D = E[D(x_g)] − E[D(x_r)] + λ · E[(‖∇_x̂ D(x̂)‖₂ − 1)²]`,  `x̂ = ε·x_r + (1−ε)·x_g`,
//! `ε ~ U[0,1]` per sample, the norm over the whole `(L, V)` input of each sample.

use candle_core::Tensor;

use crate::error::Result;
use crate::nn::critic::Critic;

/// λ of the paper.
pub const LAMBDA: f64 = 10.0;
/// Added under the norm's square root: `d√s/ds` is infinite at `s = 0` and would turn a step
/// into NaNs; 1e-12 is far below any gradient norm that matters.
pub const NORM_EPS: f64 = 1e-12;

/// The critic loss and its parts, all scalars (0-d tensors) still attached to the graph.
pub struct CriticLoss {
    /// What the critic minimises.
    pub total: Tensor,
    /// `mean D(real) − mean D(fake)`: the critic's estimate of the Wasserstein distance.
    pub wasserstein: Tensor,
    /// `λ · mean((‖∇D(x̂)‖ − 1)²)`.
    pub penalty: Tensor,
    /// `mean ‖∇D(x̂)‖`, for monitoring.
    pub grad_norm: Tensor,
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

/// `λ · mean((‖∇D(x̂)‖ − 1)²)` and `mean ‖∇D(x̂)‖`.
pub fn gradient_penalty(critic: &Critic, x_hat: &Tensor, lambda: f64) -> Result<(Tensor, Tensor)> {
    let grad = critic.input_grad(x_hat)?;
    let norms = per_sample_norm(&grad)?;
    let penalty = norms
        .affine(1.0, -1.0)?
        .sqr()?
        .mean_all()?
        .affine(lambda, 0.0)?;
    Ok((penalty, norms.mean_all()?))
}

/// The full critic loss on a real batch, a (detached) fake batch and per-sample `eps`.
pub fn critic_loss(
    critic: &Critic,
    real: &Tensor,
    fake: &Tensor,
    eps: &Tensor,
    lambda: f64,
) -> Result<CriticLoss> {
    let b = real.dim(0)?;
    // One forward over both batches: one larger GEMM per layer.
    let scores = critic.forward(&Tensor::cat(&[real, fake], 0)?)?;
    let real_mean = scores.narrow(0, 0, b)?.mean_all()?;
    let fake_mean = scores.narrow(0, b, b)?.mean_all()?;
    let wasserstein = (&real_mean - &fake_mean)?;
    let x_hat = interpolate(real, fake, eps)?;
    let (penalty, grad_norm) = gradient_penalty(critic, &x_hat, lambda)?;
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
