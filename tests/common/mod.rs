//! Helpers shared by the integration tests.
#![allow(dead_code)]

pub mod server;

use candle_core::{DType, Device, Tensor, Var};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use textgan::model::ModelShape;

/// A model small enough for finite differences, with every kind of layer.
pub const TINY: ModelShape = ModelShape {
    vocab: 5,
    seq_len: 6,
    dim: 4,
    noise_dim: 3,
    res_blocks: 2,
    kernel: 5,
    critic_norm: textgan::model::CriticNorm::None,
    critic_dim: None,
    local_critic: None,
    attention: None,
    autoregressive: None,
};

/// Random one-hot batch `(b, L, V)` in f64.
pub fn one_hot(rng: &mut ChaCha8Rng, b: usize, s: ModelShape) -> Tensor {
    let mut v = vec![0f64; b * s.seq_len * s.vocab];
    for row in 0..b * s.seq_len {
        v[row * s.vocab + rng.random_range(0..s.vocab)] = 1.0;
    }
    Tensor::from_vec(v, (b, s.seq_len, s.vocab), &device()).unwrap()
}

/// Random probability vectors `(b, L, V)` (softmax of Gaussian logits), like generator output.
pub fn soft(rng: &mut ChaCha8Rng, b: usize, s: ModelShape) -> Tensor {
    let v: Vec<f64> = (0..b * s.seq_len * s.vocab)
        .map(|_| rng.random_range(-2.0..2.0))
        .collect();
    let t = Tensor::from_vec(v, (b, s.seq_len, s.vocab), &device()).unwrap();
    candle_nn::ops::softmax(&t, candle_core::D::Minus1).unwrap()
}

pub fn uniform(rng: &mut ChaCha8Rng, n: usize) -> Tensor {
    let v: Vec<f64> = (0..n).map(|_| rng.random::<f64>()).collect();
    Tensor::from_vec(v, n, &device()).unwrap()
}

pub fn rng(seed: u64) -> ChaCha8Rng {
    ChaCha8Rng::seed_from_u64(seed)
}

/// Read entry `i` of a variable (flattened).
pub fn get(var: &Var, i: usize) -> f64 {
    var.as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap()[i]
}

/// Set entry `i` of a variable (flattened).
pub fn set(var: &Var, i: usize, value: f64) {
    let mut v = var
        .as_tensor()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    v[i] = value;
    let t = Tensor::from_vec(v, var.shape(), var.device()).unwrap();
    var.set(&t).unwrap();
}

/// Central finite difference of `f` w.r.t. entry `i` of `var`, step `h`.
pub fn central_diff(var: &Var, i: usize, h: f64, f: &dyn Fn() -> f64) -> f64 {
    let x = get(var, i);
    set(var, i, x + h);
    let up = f();
    set(var, i, x - h);
    let down = f();
    set(var, i, x);
    (up - down) / (2.0 * h)
}

pub fn scalar(t: &Tensor) -> f64 {
    t.to_dtype(DType::F64).unwrap().to_scalar::<f64>().unwrap()
}

/// |a − b| / max(|a|, |b|), and 0 when both are exactly 0.
pub fn rel_err(a: f64, b: f64) -> f64 {
    let d = a.abs().max(b.abs());
    if d == 0.0 {
        0.0
    } else {
        (a - b).abs() / d
    }
}

/// The device the autograd tests build their networks on: the CPU, or the GPU named by
/// `TEXTGAN_TEST_DEVICE=cuda|metal` (what `scripts/gpu-check.sh` sets, in a build with that
/// feature). The hand-written step always runs on the CPU, reading the same weights.
pub fn device() -> Device {
    match std::env::var("TEXTGAN_TEST_DEVICE").as_deref() {
        Err(_) | Ok("") | Ok("cpu") => Device::Cpu,
        Ok("cuda") => Device::new_cuda(0)
            .expect("TEXTGAN_TEST_DEVICE=cuda needs a CUDA GPU and a build with --features cuda"),
        Ok("metal") => Device::new_metal(0).expect(
            "TEXTGAN_TEST_DEVICE=metal needs a Metal GPU and a build with --features metal",
        ),
        Ok(other) => panic!("TEXTGAN_TEST_DEVICE={other}: expected cpu, cuda or metal"),
    }
}
