//! The gradient code, checked against central finite differences in f64 on a tiny model:
//! the critic's input-gradient, the full WGAN-GP critic loss (second-order term included),
//! the penalty's dependence on λ, and the generator loss.

mod common;

use candle_core::{DType, Tensor, Var};
use common::*;
use rand::Rng;
use textgan::model::autograd::critic::Critic;
use textgan::model::autograd::generator::Generator;
use textgan::model::params::{Params, Store};
use textgan::model::penalty::{
    critic_loss, generator_loss, gradient_penalty, interpolate, Lipschitz, Penalty,
};
use textgan::model::{CriticNorm, FakeView, ModelShape};

fn tiny_critic(seed: u64) -> (Critic, Params) {
    Critic::init(TINY, Store::new(seed, DType::F64, &device())).unwrap()
}

fn tiny_layer_norm_critic(seed: u64) -> (Critic, Params) {
    let shape = ModelShape {
        critic_norm: CriticNorm::Layer,
        ..TINY
    };
    Critic::init(shape, Store::new(seed, DType::F64, &device())).unwrap()
}

/// Mixing weights for the penalty: one per sample, and a second for `fd`.
fn mix(r: &mut rand_chacha::ChaCha8Rng, b: usize, strategy: Lipschitz) -> Penalty<Tensor> {
    Penalty::draw(strategy, || Ok::<_, ()>(uniform(r, b))).unwrap()
}

/// Entries to check in a variable: spread over it, at most `k`.
fn sample_entries(var: &Var, k: usize) -> Vec<usize> {
    let n = var.elem_count();
    let step = (n / k).max(1);
    (0..n).step_by(step).take(k).collect()
}

/// Compare `grads` of `loss()` w.r.t. sampled entries of the named variables with central
/// differences; returns the worst relative error and how many entries were compared.
fn check_param_grads(
    params: &Params,
    names: &[&str],
    loss: &dyn Fn() -> Tensor,
    per_var: usize,
) -> (f64, usize) {
    let grads = loss().backward().unwrap();
    let mut worst = 0.0f64;
    let mut count = 0;
    for name in names {
        let var = params
            .get(name)
            .unwrap_or_else(|| panic!("no parameter {name}"));
        let g = grads
            .get(var.as_tensor())
            .unwrap_or_else(|| panic!("no gradient for {name}"))
            .flatten_all()
            .unwrap()
            .to_vec1::<f64>()
            .unwrap();
        let entries = sample_entries(var, per_var);
        let nonzero = entries.iter().filter(|&&i| g[i].abs() > 1e-9).count();
        assert!(
            nonzero * 2 >= entries.len(),
            "{name}: most sampled gradients are zero, nothing was tested"
        );
        for i in entries {
            let fd = central_diff(var, i, 1e-6, &|| scalar(&loss()));
            let e = rel_err(g[i], fd);
            assert!(
                e < 1e-4,
                "{name}[{i}]: analytic {} vs finite difference {} (relative error {e:.2e})",
                g[i],
                fd
            );
            worst = worst.max(e);
            count += 1;
        }
    }
    (worst, count)
}

#[test]
fn critic_input_gradient_matches_finite_differences_of_forward() {
    check_input_gradient(&tiny_critic(1).0);
}

#[test]
fn layer_norm_critic_input_gradient_matches_finite_differences_of_forward() {
    check_input_gradient(&tiny_layer_norm_critic(1).0);
}

fn check_input_gradient(critic: &Critic) {
    let mut r = rng(2);
    let x = interpolate(
        &one_hot(&mut r, 3, critic.shape),
        &soft(&mut r, 3, critic.shape),
        &uniform(&mut r, 3),
    )
    .unwrap();
    let grad = critic
        .input_grad(&x)
        .unwrap()
        .flatten_all()
        .unwrap()
        .to_vec1::<f64>()
        .unwrap();
    let base = x.flatten_all().unwrap().to_vec1::<f64>().unwrap();
    let total = |v: &[f64]| -> f64 {
        let t = Tensor::from_vec(v.to_vec(), x.shape(), &device()).unwrap();
        scalar(&critic.forward(&t).unwrap().sum_all().unwrap())
    };
    let h = 1e-6;
    let mut worst = 0.0f64;
    for i in 0..base.len() {
        let mut up = base.clone();
        up[i] += h;
        let mut down = base.clone();
        down[i] -= h;
        let fd = (total(&up) - total(&down)) / (2.0 * h);
        let e = rel_err(grad[i], fd);
        assert!(
            e < 1e-6,
            "entry {i}: analytic {} vs finite difference {fd} ({e:.2e})",
            grad[i]
        );
        worst = worst.max(e);
    }
    assert!(
        grad.iter().any(|g| g.abs() > 1e-3),
        "input gradient is trivially zero"
    );
    eprintln!(
        "input gradient: {} entries, worst relative error {worst:.2e}",
        base.len()
    );
}

/// Parameters sampled by the critic-loss checks: every kind of layer.
const CRITIC_PARAMS: [&str; 7] = [
    "input.weight",
    "input.bias",
    "blocks.0.conv1.weight",
    "blocks.0.conv1.bias",
    "blocks.0.conv2.bias",
    "blocks.1.conv2.weight",
    "output.weight",
];

/// The full critic loss of `strategy` against finite differences; the penalty must be
/// non-zero, or the check would not exercise it.
fn check_critic_loss(critic: &Critic, params: &Params, strategy: Lipschitz, names: &[&str]) {
    let mut r = rng(4);
    let real = one_hot(&mut r, 4, critic.shape);
    let fake = soft(&mut r, 4, critic.shape);
    let mix = mix(&mut r, 4, strategy);
    let loss = || critic_loss(critic, &real, &fake, &mix, 10.0).unwrap();
    let penalty = scalar(&loss().penalty);
    assert!(penalty > 1e-3, "{strategy:?}: penalty {penalty} is ~0");
    let (worst, n) = check_param_grads(params, names, &|| loss().total, 12);
    eprintln!("{strategy:?} critic loss (penalty {penalty:.4}): {n} parameter entries, worst relative error {worst:.2e}");
}

#[test]
fn one_sided_and_chord_penalty_losses_match_finite_differences() {
    let (critic, params) = tiny_critic(3);
    check_critic_loss(&critic, &params, Lipschitz::Fd, &CRITIC_PARAMS);
    // Rescale the output layer so that the gradient norms at x̂ straddle 1: the one-sided
    // penalty then differs from the two-sided one (the samples below 1 pay nothing).
    let mut r = rng(4);
    let real = one_hot(&mut r, 4, TINY);
    let fake = soft(&mut r, 4, TINY);
    let eps = mix(&mut r, 4, Lipschitz::Lp).points()[0].clone();
    let x_hat = interpolate(&real, &fake, &eps).unwrap();
    let norms = || {
        textgan::model::penalty::per_sample_norm(&critic.input_grad(&x_hat).unwrap())
            .unwrap()
            .to_vec1::<f64>()
            .unwrap()
    };
    let mut sorted = norms();
    sorted.sort_by(f64::total_cmp);
    let w = params.get("output.weight").unwrap();
    let scale = 2.0 / (sorted[1] + sorted[2]);
    w.set(&(w.as_tensor() * scale).unwrap()).unwrap();
    let n = norms();
    assert!(
        n.iter().any(|&x| x < 1.0) && n.iter().any(|&x| x > 1.0),
        "norms {n:?}"
    );
    check_critic_loss(&critic, &params, Lipschitz::Lp, &CRITIC_PARAMS);
}

#[test]
fn layer_norm_critic_loss_matches_finite_differences_including_the_norms() {
    let (critic, params) = tiny_layer_norm_critic(3);
    let mut names = CRITIC_PARAMS.to_vec();
    names.extend([
        "blocks.0.norm1.gain",
        "blocks.0.norm2.bias",
        "blocks.1.norm1.bias",
        "blocks.1.norm2.gain",
    ]);
    check_critic_loss(&critic, &params, Lipschitz::Gp, &names);
}

#[test]
fn full_critic_loss_gradient_matches_finite_differences_in_every_layer() {
    let (critic, params) = tiny_critic(3);
    check_critic_loss(&critic, &params, Lipschitz::Gp, &CRITIC_PARAMS);
    let mut r = rng(4);
    let real = one_hot(&mut r, 4, TINY);
    let fake = soft(&mut r, 4, TINY);
    let mix = mix(&mut r, 4, Lipschitz::Gp);
    let loss = || {
        critic_loss(&critic, &real, &fake, &mix, 10.0)
            .unwrap()
            .total
    };
    // The output bias (like the last block's conv2 bias) moves D(real) and D(fake) alike and the
    // penalty not at all: its gradient is exactly zero, and the analytic one must agree.
    let grads = loss().backward().unwrap();
    let gb = grads
        .get(params.get("output.bias").unwrap().as_tensor())
        .unwrap();
    assert!(scalar(&gb.sum_all().unwrap()).abs() < 1e-12);
}

/// Both networks with width-3 convolutions (`--kernel 3`, the cpu preset's) and width 1 (each
/// block a pair of per-position layers): the input-gradient, the critic's whole loss (the
/// penalty's second-order term through the narrower convolutions included) and, through that
/// critic, the generator's loss with the read-out the preset has.
#[test]
fn narrower_kernels_match_finite_differences_in_both_networks() {
    for kernel in [3, 1] {
        let shape = ModelShape { kernel, ..TINY };
        let (critic, params) = Critic::init(shape, Store::new(3, DType::F64, &device())).unwrap();
        let generator_shape = ModelShape {
            autoregressive: Some(3),
            ..shape
        };
        let (generator, gparams) =
            Generator::init(generator_shape, Store::new(8, DType::F64, &device())).unwrap();
        // Biases start at zero: at width 1 a position whose block input is all zero after its
        // ReLU (likely with 4 channels) puts a convolution's output exactly on the next ReLU's
        // kink, where central differences average the two one-sided slopes. Both networks are
        // checked at a point off every kink: their biases moved to small values of either sign.
        let mut r = rng(12);
        for p in [&params, &gparams] {
            for (name, dims) in p.specs() {
                if name.ends_with("bias") {
                    let n = dims.iter().product();
                    let v: Vec<f64> = (0..n).map(|_| r.random_range(-0.2..0.2)).collect();
                    let t = Tensor::from_vec(v, dims, &device()).unwrap();
                    p.get(&name).unwrap().set(&t).unwrap();
                }
            }
        }
        check_input_gradient(&critic);
        check_critic_loss(&critic, &params, Lipschitz::Gp, &CRITIC_PARAMS);
        let names = [
            "input.weight",
            "blocks.0.conv1.weight",
            "blocks.0.conv1.bias",
            "blocks.1.conv2.weight",
            "autoregressive.embed.weight",
            "output.weight",
        ];
        let z = uniform_noise(&mut rng(9), 4, generator_shape);
        let view = FakeView::all(TINY.seq_len);
        let loss = || {
            let fake = generator.forward_shown(&z, &view).unwrap();
            generator_loss(&critic, &fake).unwrap()
        };
        let (worst, n) = check_param_grads(&gparams, &names, &loss, 8);
        eprintln!("generator loss, kernel {kernel}: {n} parameter entries, worst relative error {worst:.2e}");
    }
}

/// Critics with the local branch (`--local-critic`): after the first of two blocks (a
/// 9-character window in a sequence of 10), and after the only block (read at the stack's
/// output, beside the global head).
const LOCAL_FIRST: ModelShape = ModelShape {
    seq_len: 10,
    local_critic: Some(1),
    ..TINY
};
const LOCAL_LAST: ModelShape = ModelShape {
    res_blocks: 1,
    ..LOCAL_FIRST
};

fn local_critic(shape: ModelShape, seed: u64) -> (Critic, Params) {
    Critic::init(shape, Store::new(seed, DType::F64, &device())).unwrap()
}

#[test]
fn local_critic_input_gradient_matches_finite_differences_of_forward() {
    for shape in [LOCAL_FIRST, LOCAL_LAST] {
        check_input_gradient(&local_critic(shape, 1).0);
    }
}

#[test]
fn local_critic_loss_matches_finite_differences_including_the_branch_weight() {
    for (shape, last) in [
        (LOCAL_FIRST, "blocks.1.conv2.weight"),
        (LOCAL_LAST, "blocks.0.conv2.weight"),
    ] {
        let (critic, params) = local_critic(shape, 3);
        let names = [
            "input.weight",
            "blocks.0.conv1.weight",
            last,
            "output.weight",
            "local.weight",
        ];
        for strategy in [Lipschitz::Gp, Lipschitz::Fd] {
            check_critic_loss(&critic, &params, strategy, &names);
        }
        // The penalty alone w.r.t. the branch's weight: its second-order term through the
        // branch (a first-order-only gradient would be zero here).
        let mut r = rng(6);
        let x_hat = interpolate(
            &one_hot(&mut r, 4, shape),
            &soft(&mut r, 4, shape),
            &uniform(&mut r, 4),
        )
        .unwrap();
        let pen = || gradient_penalty(&critic, &x_hat, 10.0).unwrap().0;
        let (worst, n) =
            check_param_grads(&params, &["local.weight", "blocks.0.conv1.weight"], &pen, 8);
        eprintln!("{shape:?} penalty: {n} entries, worst relative error {worst:.2e}");
    }
}

#[test]
fn the_local_branch_adds_the_mean_of_its_position_scores() {
    // D with the branch = D without it (same other weights) + mean_l w·h_N[l]: with the
    // branch's weight at zero the two critics agree, and the branch moves the score.
    let (with, params) = local_critic(LOCAL_FIRST, 5);
    let plain_shape = ModelShape {
        local_critic: None,
        ..LOCAL_FIRST
    };
    let (plain, _) = local_critic(plain_shape, 5);
    let mut r = rng(7);
    let x = soft(&mut r, 3, LOCAL_FIRST);
    let scores = |c: &Critic| c.forward(&x).unwrap().to_vec1::<f64>().unwrap();
    let before = scores(&with);
    let w = params.get("local.weight").unwrap();
    let saved = w.as_tensor().copy().unwrap();
    w.set(&w.as_tensor().zeros_like().unwrap()).unwrap();
    let zeroed = scores(&with);
    assert_eq!(
        zeroed,
        scores(&plain),
        "the same seed draws the same other weights"
    );
    assert!(before
        .iter()
        .zip(&zeroed)
        .all(|(a, b)| (a - b).abs() > 1e-6));
    w.set(&saved).unwrap();
    // A branch wider than the sequence is refused with the flag's name.
    let too_wide = ModelShape {
        seq_len: 8,
        ..LOCAL_FIRST
    };
    let err = Critic::init(too_wide, Store::new(1, DType::F64, &device())).unwrap_err();
    assert!(err.to_string().contains("--local-critic 1"), "{err}");
}

#[test]
fn penalty_gradient_includes_the_second_order_term_and_scales_with_lambda() {
    let (critic, params) = tiny_critic(5);
    let mut r = rng(6);
    let x_hat = interpolate(
        &one_hot(&mut r, 4, TINY),
        &soft(&mut r, 4, TINY),
        &uniform(&mut r, 4),
    )
    .unwrap();
    // The penalty alone, differentiated w.r.t. the parameters: this is exactly the term that a
    // first-order-only implementation silently drops (its gradient would be zero).
    let pen = |lambda: f64| gradient_penalty(&critic, &x_hat, lambda).unwrap().0;
    // (Biases are absent on purpose: a ReLU network's input-gradient depends on its biases only
    // through the activation pattern, so the penalty's bias-gradient is zero almost everywhere.)
    let names = [
        "input.weight",
        "blocks.0.conv2.weight",
        "blocks.1.conv1.weight",
        "output.weight",
    ];
    let (worst, n) = check_param_grads(&params, &names, &|| pen(10.0), 8);
    eprintln!("penalty: {n} parameter entries, worst relative error {worst:.2e}");

    let g1 = pen(1.0).backward().unwrap();
    let g10 = pen(10.0).backward().unwrap();
    for name in names {
        let t = params.get(name).unwrap().as_tensor();
        let a = g1.get(t).unwrap();
        let b = g10.get(t).unwrap();
        let norm_a = scalar(&a.sqr().unwrap().sum_all().unwrap()).sqrt();
        assert!(norm_a > 1e-6, "{name}: penalty gradient is zero");
        let diff = scalar(
            &(b - (a * 10.0).unwrap())
                .unwrap()
                .abs()
                .unwrap()
                .max_all()
                .unwrap(),
        );
        assert!(
            diff < 1e-9 * norm_a.max(1.0) * 10.0,
            "{name}: gradient does not scale with λ"
        );
    }
    // And the total loss's gradient changes with λ.
    let real = one_hot(&mut r, 4, TINY);
    let fake = soft(&mut r, 4, TINY);
    let mix = mix(&mut r, 4, Lipschitz::Gp);
    let w = params.get("blocks.0.conv1.weight").unwrap().as_tensor();
    let at = |lambda| {
        critic_loss(&critic, &real, &fake, &mix, lambda)
            .unwrap()
            .total
            .backward()
            .unwrap()
            .get(w)
            .unwrap()
            .clone()
    };
    let change = scalar(
        &(at(10.0) - at(0.0))
            .unwrap()
            .abs()
            .unwrap()
            .max_all()
            .unwrap(),
    );
    assert!(change > 1e-6, "critic loss gradient does not depend on λ");
}

/// Generator noise `(b, noise_dim)`, uniform in [−1, 1).
fn uniform_noise(r: &mut rand_chacha::ChaCha8Rng, b: usize, shape: ModelShape) -> Tensor {
    let v: Vec<f64> = (0..b * shape.noise_dim)
        .map(|_| rand::Rng::random_range(r, -1.0..1.0))
        .collect();
    Tensor::from_vec(v, (b, shape.noise_dim), &device()).unwrap()
}

#[test]
fn generator_loss_gradient_matches_finite_differences() {
    let (critic, _) = tiny_critic(7);
    let (generator, gparams) = Generator::init(TINY, Store::new(8, DType::F64, &device())).unwrap();
    let mut r = rng(9);
    let z = uniform_noise(&mut r, 4, TINY);
    // The softmax of the whole sequence; a length curriculum's first 3 positions (the rest
    // padding); the Gumbel-softmax at τ 0.5, and with padding.
    let dims = (4, TINY.seq_len, TINY.vocab);
    let noise = textgan::data::batches::gumbel(&mut r, dims, (DType::F64, &device())).unwrap();
    for (visible, tau) in [
        (TINY.seq_len, None),
        (3, None),
        (TINY.seq_len, Some(0.5)),
        (4, Some(0.5)),
    ] {
        let view = FakeView {
            visible,
            gumbel: tau.map(|t| (noise.clone(), t)),
        };
        let loss = || {
            let fake = generator.forward_shown(&z, &view).unwrap();
            generator_loss(&critic, &fake).unwrap()
        };
        let names = [
            "input.weight",
            "input.bias",
            "blocks.0.conv1.weight",
            "blocks.1.conv2.bias",
            "output.weight",
            "output.bias",
        ];
        let (worst, n) = check_param_grads(&gparams, &names, &loss, 8);
        eprintln!("generator loss, {visible} positions, τ {tau:?}: {n} parameter entries, worst relative error {worst:.2e}");
    }
}

/// The generator loss (through `critic`) of a freshly drawn generator of `shape` on 4 noise
/// samples, `view` shown: its gradient w.r.t. the `names` tensors against central differences.
fn check_generator_loss(
    critic: &Critic,
    shape: ModelShape,
    view: &FakeView<Tensor>,
    names: &[&str],
) -> (f64, usize) {
    let (generator, gparams) =
        Generator::init(shape, Store::new(8, DType::F64, &device())).unwrap();
    let z = uniform_noise(&mut rng(9), 4, shape);
    let loss = || {
        let fake = generator.forward_shown(&z, view).unwrap();
        generator_loss(critic, &fake).unwrap()
    };
    check_param_grads(&gparams, names, &loss, 8)
}

#[test]
fn generator_with_autoregressive_readout_loss_gradient_matches_finite_differences() {
    // Looking back one position and three, on the whole sequence and under a length
    // curriculum's padding: the read-out's two matrices, and the layers under it, whose
    // gradient now also arrives through every later position that read their output. Then
    // with Gumbel noise (τ 0.5): each position writes, and the later ones read, a
    // Gumbel-softmax sample, on the whole sequence and under padding.
    let (critic, _) = tiny_critic(7);
    let dims = (4, TINY.seq_len, TINY.vocab);
    let noise =
        textgan::data::batches::gumbel(&mut rng(11), dims, (DType::F64, &device())).unwrap();
    for (k, visible, tau) in [
        (1, TINY.seq_len, None),
        (3, TINY.seq_len, None),
        (3, 5, None),
        (3, TINY.seq_len, Some(0.5)),
        (1, 4, Some(0.5)),
    ] {
        let shape = ModelShape {
            autoregressive: Some(k),
            ..TINY
        };
        let view = FakeView {
            visible,
            gumbel: tau.map(|t| (noise.clone(), t)),
        };
        let names = [
            "autoregressive.embed.weight",
            "autoregressive.read.weight",
            "input.weight",
            "blocks.0.conv1.weight",
            "blocks.1.conv2.weight",
            "output.weight",
            "output.bias",
        ];
        let (worst, n) = check_generator_loss(&critic, shape, &view, &names);
        eprintln!("generator loss, read-out looking back {k}, {visible} positions, τ {tau:?}: {n} parameter entries, worst relative error {worst:.2e}");
    }
}

#[test]
fn generator_with_self_attention_loss_gradient_matches_finite_differences() {
    // Self-attention after the first of two blocks (a block after it) and after the last
    // (straight into the output layer): its three projections and the blocks either side.
    let (critic, _) = tiny_critic(7);
    for after in [1, TINY.res_blocks] {
        let shape = ModelShape {
            attention: Some(after),
            ..TINY
        };
        let names = [
            "attention.query.weight",
            "attention.key.weight",
            "attention.value.weight",
            "input.weight",
            "blocks.0.conv1.weight",
            "blocks.1.conv2.weight",
            "output.weight",
        ];
        let view = FakeView::all(shape.seq_len);
        let (worst, n) = check_generator_loss(&critic, shape, &view, &names);
        eprintln!("generator loss, attention after block {after}: {n} parameter entries, worst relative error {worst:.2e}");
    }
}

#[test]
#[allow(clippy::needless_range_loop)] // index arithmetic mirrors the formula
fn im2col_convolution_matches_a_direct_convolution() {
    use textgan::model::autograd::conv::Conv1d;
    let store = Store::new(11, DType::F64, &device());
    let conv = Conv1d::new(&store.root(), 3, 2, 5).unwrap();
    let mut r = rng(12);
    let x = soft(
        &mut r,
        2,
        textgan::model::ModelShape {
            vocab: 3,
            seq_len: 7,
            ..TINY
        },
    );
    let y = conv.forward(&x).unwrap().to_vec3::<f64>().unwrap();
    let w = conv.lin.weight.to_vec2::<f64>().unwrap();
    let b = conv.lin.bias.to_vec1::<f64>().unwrap();
    let xv = x.to_vec3::<f64>().unwrap();
    for n in 0..2 {
        for t in 0..7 {
            for o in 0..2 {
                let mut s = b[o];
                for j in 0..5 {
                    let pos = t as i64 + j as i64 - 2;
                    if (0..7).contains(&pos) {
                        for c in 0..3 {
                            s += xv[n][pos as usize][c] * w[j * 3 + c][o];
                        }
                    }
                }
                assert!(
                    (s - y[n][t][o]).abs() < 1e-12,
                    "y[{n}][{t}][{o}] = {} expected {s}",
                    y[n][t][o]
                );
            }
        }
    }
}

#[test]
fn cpu_im2col_kernel_and_its_backward_match_the_generic_tensor_ops() {
    use textgan::model::autograd::conv::{im2col, im2col_ops};
    let mut r = rng(13);
    let s = textgan::model::ModelShape {
        vocab: 3,
        seq_len: 7,
        ..TINY
    };
    let x = Var::from_tensor(&soft(&mut r, 2, s)).unwrap();
    let w = soft(
        &mut r,
        2,
        textgan::model::ModelShape {
            vocab: 15,
            seq_len: 7,
            ..TINY
        },
    );
    let a = im2col(x.as_tensor(), 5).unwrap();
    let b = im2col_ops(x.as_tensor(), 5).unwrap();
    assert_eq!(a.to_vec3::<f64>().unwrap(), b.to_vec3::<f64>().unwrap());
    // Backward (col2im): the gradient of <w, im2col(x)> is the same through both.
    let ga = (&a * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let gb = (&b * &w).unwrap().sum_all().unwrap().backward().unwrap();
    let ga = ga.get(x.as_tensor()).unwrap().to_vec3::<f64>().unwrap();
    let gb = gb.get(x.as_tensor()).unwrap().to_vec3::<f64>().unwrap();
    for (p, q) in ga
        .iter()
        .flatten()
        .flatten()
        .zip(gb.iter().flatten().flatten())
    {
        assert!((p - q).abs() < 1e-12);
    }
}
