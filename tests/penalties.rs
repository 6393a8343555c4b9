//! The finite-difference (chord) penalty against the gradient penalty it approximates.
//!
//! The chord slope `|D(x₁) − D(x₂)| / ‖x₁ − x₂‖` between two close points on the real–fake line
//! tends to the directional derivative `|∇D·u|` along that line. It equals `‖∇D‖` (and the `fd`
//! penalty equals `gp`'s) when the gradient points along the line, which is where the paper's
//! optimal critic has it (its Proposition 1); elsewhere `fd` sees only that component.

mod common;

use candle_core::{DType, Tensor};
use common::*;
use textgan::model::autograd::critic::Critic;
use textgan::model::params::Store;
use textgan::model::penalty::{chord, interpolate, per_sample_norm, two_sided};

fn t(v: Vec<f64>) -> Tensor {
    Tensor::from_vec(v.clone(), v.len(), &device()).unwrap()
}

/// A smooth critic `D(x) = softplus(a·x)`: its gradient `σ(a·x)·a` always points along `a`.
fn softplus_critic(a: &[f64], x: &[f64]) -> f64 {
    let s: f64 = a.iter().zip(x).map(|(p, q)| p * q).sum();
    s.exp().ln_1p()
}

#[test]
fn chord_penalty_tends_to_the_gradient_penalty_on_a_smooth_critic() {
    let mut r = rng(21);
    let dim = 12;
    let a: Vec<f64> = (0..dim)
        .map(|_| rand::Rng::random_range(&mut r, -1.0..1.0))
        .collect();
    let a_norm = a.iter().map(|v| v * v).sum::<f64>().sqrt();
    // Four real/fake pairs whose line runs along a; x̂ at ε.
    let fakes: Vec<Vec<f64>> = (0..4)
        .map(|_| {
            (0..dim)
                .map(|_| rand::Rng::random_range(&mut r, -1.0..1.0))
                .collect()
        })
        .collect();
    let steps = [0.5, -1.5, 2.0, 0.8];
    let eps = [0.3, 0.6, 0.1, 0.9];
    let point = |i: usize, e: f64| -> Vec<f64> {
        fakes[i]
            .iter()
            .zip(&a)
            .map(|(f, ai)| f + e * steps[i] * ai)
            .collect()
    };
    // gp: λ·mean((‖∇D(x̂)‖ − 1)²) with the exact gradient norm σ(a·x̂)·‖a‖.
    let norms: Vec<f64> = (0..4)
        .map(|i| {
            let s: f64 = a.iter().zip(point(i, eps[i])).map(|(p, q)| p * q).sum();
            a_norm / (1.0 + (-s).exp())
        })
        .collect();
    let gp = two_sided(&t(norms), 10.0)
        .unwrap()
        .to_scalar::<f64>()
        .unwrap();
    let fd_at = |delta: f64| -> f64 {
        let d1: Vec<f64> = (0..4)
            .map(|i| softplus_critic(&a, &point(i, eps[i])))
            .collect();
        let d2: Vec<f64> = (0..4)
            .map(|i| softplus_critic(&a, &point(i, eps[i] + delta)))
            .collect();
        let dist: Vec<f64> = (0..4).map(|i| delta * steps[i].abs() * a_norm).collect();
        chord(&t(d1), &t(d2), &t(dist), 10.0)
            .unwrap()
            .0
            .to_scalar::<f64>()
            .unwrap()
    };
    let errors: Vec<f64> = [0.3, 0.03, 0.003, 0.0003]
        .iter()
        .map(|&d| (fd_at(d) - gp).abs())
        .collect();
    eprintln!("gp {gp:.6}; |fd − gp| as the points close in: {errors:?}");
    assert!(gp > 0.1, "the example must have a penalty to approximate");
    // First-order convergence: each tenfold step shrinks the gap about tenfold.
    for w in errors.windows(2) {
        assert!(w[1] < 0.2 * w[0], "{errors:?}");
    }
    assert!(errors[3] < 1e-3 * gp, "{errors:?}");
}

#[test]
fn chord_slope_on_the_critic_tends_to_its_directional_derivative() {
    let (critic, _) = Critic::init(TINY, Store::new(31, DType::F64, &device())).unwrap();
    let mut r = rng(32);
    let real = one_hot(&mut r, 3, TINY);
    let fake = soft(&mut r, 3, TINY);
    let eps = uniform(&mut r, 3);
    let x_hat = interpolate(&real, &fake, &eps).unwrap();
    // |∇D(x̂)·u|, u the unit real − fake direction, from the critic's exact input-gradient.
    let diff = (&real - &fake).unwrap();
    let dist1 = per_sample_norm(&diff).unwrap();
    let dot = (critic.input_grad(&x_hat).unwrap() * &diff)
        .unwrap()
        .reshape((3, ()))
        .unwrap()
        .sum(1)
        .unwrap();
    let directional = (dot.abs().unwrap() / &dist1)
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let full = per_sample_norm(&critic.input_grad(&x_hat).unwrap())
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let delta = 1e-7;
    let x2 = interpolate(&real, &fake, &eps.affine(1.0, delta).unwrap()).unwrap();
    let d1 = critic.forward(&x_hat).unwrap();
    let d2 = critic.forward(&x2).unwrap();
    let slope = (d1 - d2)
        .unwrap()
        .abs()
        .unwrap()
        .div(&dist1.affine(delta, 0.0).unwrap())
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    for i in 0..3 {
        assert!(
            rel_err(slope[i], directional[i]) < 1e-5,
            "{slope:?} vs {directional:?}"
        );
        // …which is only the component along the line: at most the full gradient norm.
        assert!(directional[i] <= full[i] + 1e-12);
    }
    eprintln!(
        "chord slopes {slope:.4?}, directional derivatives {directional:.4?}, ‖∇D‖ {full:.4?}"
    );
}
