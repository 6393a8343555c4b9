//! An honest end-to-end signal: a short run on the tiny corpus makes the samples' character
//! distribution measurably closer to the corpus's.

use std::path::Path;

use candle_core::Device;
use textgan::data::corpus::{Corpus, SEQ_LEN};
use textgan::data::vocab::Vocab;
use textgan::kernels::Precision::F32;
use textgan::model::penalty::Lipschitz;
use textgan::model::CriticNorm;
use textgan::model::{FakeView, ModelShape};
use textgan::train::optim::OptimConfig;
use textgan::train::presets::Preset;
use textgan::train::settings::RunConfig;
use textgan::train::trainer::Trainer;

/// A trainer on the tiny corpus: DIM 16, batch 32, 5 critic steps, Adam 1e-3 (RMSProp 5e-5
/// with clipping).
fn tiny_trainer(lipschitz: Lipschitz, norm: CriticNorm, dir: &Path) -> Trainer {
    tiny_trainer_with(lipschitz, norm, dir, F32)
}

/// [`tiny_trainer`] with the hand-written step's products in `precision`.
fn tiny_trainer_with(
    lipschitz: Lipschitz,
    norm: CriticNorm,
    dir: &Path,
    precision: textgan::kernels::Precision,
) -> Trainer {
    tiny_trainer_edited(lipschitz, norm, dir, precision, |_| {})
}

/// [`tiny_trainer_with`] with the settings changed by `edit`.
fn tiny_trainer_edited(
    lipschitz: Lipschitz,
    norm: CriticNorm,
    dir: &Path,
    precision: textgan::kernels::Precision,
    edit: impl FnOnce(&mut RunConfig),
) -> Trainer {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/tiny.txt");
    let batch = 32;
    let corpus = Corpus::load(&path, 0, batch).unwrap();
    let vocab = Vocab::build(corpus.all_lines(), 2048).unwrap();
    let optim = if lipschitz == Lipschitz::Clip {
        OptimConfig::wgan()
    } else {
        OptimConfig {
            lr: 1e-3,
            ..OptimConfig::paper()
        }
    };
    let mut config = RunConfig {
        textgan_version: "test".into(),
        corpus: path.clone(),
        corpus_hash: String::new(),
        preset: Preset::Cpu,
        model: ModelShape::new(vocab.len(), 16, textgan::model::RES_BLOCKS, norm),
        max_vocab: 2048,
        batch,
        critic_iters: 5,
        lipschitz,
        lambda: 10.0,
        clip: 0.01,
        optim_generator: optim,
        optim_critic: optim,
        lr_decay: 0,
        curriculum: 0,
        gumbel: 0.0,
        ema: 0.0,
        truncation: 1.0,
        precision,
        seed: 0,
        iters: 200,
        minutes: None,
        save_every: 1000,
        eval_every: 1000,
        device: "cpu".into(),
        dtype: "f32".into(),
    };
    edit(&mut config);
    Trainer::new(config, corpus, vocab, dir, &Device::Cpu).unwrap()
}

#[test]
fn a_short_run_on_the_tiny_corpus_brings_the_unigram_jsd_well_down() {
    short_run_learns(F32);
}

#[test]
fn a_short_bf16_run_learns_as_the_f32_one() {
    if !textgan::kernels::bf16::available() {
        eprintln!("skipped: this CPU has no AVX-512 BF16 (the f32 fall-back is tested in cli)");
        return;
    }
    short_run_learns(textgan::kernels::Precision::Bf16);
}

/// 200 iterations on the tiny corpus bring the unigram JSD below half and the bigram JSD
/// below 0.8 of where they started.
fn short_run_learns(precision: textgan::kernels::Precision) {
    let tmp = tempfile::tempdir().unwrap();
    let mut trainer = tiny_trainer_with(Lipschitz::Gp, CriticNorm::None, tmp.path(), precision);
    assert_eq!(trainer.precision(), Some(precision));
    let before = trainer.evaluate().unwrap();
    let mut wasserstein = Vec::new();
    for _ in 0..200 {
        wasserstein.push(trainer.train_iteration().unwrap().wasserstein);
    }
    let after = trainer.evaluate().unwrap();
    eprintln!(
        "unigram JSD {:.3} -> {:.3}; JSD-1..4 after {:?}",
        before.js[0], after.js[0], after.js
    );
    assert!(
        after.js[0] < 0.5 * before.js[0],
        "unigram JSD went from {:.3} to {:.3}: the generator did not learn the characters",
        before.js[0],
        after.js[0]
    );
    // Bigrams too, less strictly: the samples are not just the right letters in any order.
    assert!(
        after.js[1] < 0.8 * before.js[1],
        "bigram JSD {:.3} -> {:.3}",
        before.js[1],
        after.js[1]
    );
    assert!(wasserstein.iter().all(|w| w.is_finite()));
}

#[test]
fn every_lipschitz_strategy_trains_and_clipping_keeps_weights_in_bounds() {
    for (strategy, norm) in [
        (Lipschitz::Lp, CriticNorm::None),
        (Lipschitz::Fd, CriticNorm::None),
        (Lipschitz::Clip, CriticNorm::None),
        (Lipschitz::Gp, CriticNorm::Layer),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let mut trainer = tiny_trainer(strategy, norm, tmp.path());
        let first = trainer.critic_step().unwrap();
        let mut last = first;
        for _ in 0..30 {
            last = trainer.critic_step().unwrap();
        }
        let what = format!("{strategy:?} / {norm:?}");
        assert!(last.loss.is_finite(), "{what}");
        // The critic learns to tell real from fake: its Wasserstein estimate grows.
        assert!(
            last.wasserstein > first.wasserstein,
            "{what}: W {} -> {}",
            first.wasserstein,
            last.wasserstein
        );
        match strategy {
            Lipschitz::Clip => {
                assert_eq!(last.penalty, 0.0);
                assert_eq!(last.grad_norm, None);
                for (name, var) in &trainer.critic_params().vars {
                    let v = var
                        .as_tensor()
                        .flatten_all()
                        .unwrap()
                        .to_vec1::<f32>()
                        .unwrap();
                    assert!(v.iter().all(|x| x.abs() <= 0.01), "{name} outside [-c, c]");
                    // Weights start far outside ±0.01 (biases start at 0 and may not get there).
                    if name.ends_with(".weight") {
                        assert!(
                            v.iter().any(|x| x.abs() == 0.01),
                            "{name}: nothing was clipped"
                        );
                    }
                }
            }
            _ => assert!(last.grad_norm.is_some_and(|g| g > 0.0), "{what}"),
        }
        trainer.train_iteration().unwrap();
        trainer.save().unwrap();
    }
}

#[test]
fn hand_written_and_autograd_steps_train_alike() {
    // The CPU default is the hand-written step; the autograd path is the reference. From the
    // same seed (same weights, data and noise) one generator step and one iteration of critic
    // steps agree up to f32 rounding. (Later iterations drift apart as any two f32
    // implementations of a GAN do: Adam with ε = 1e-8 turns the round-off residue of an exactly
    // zero gradient, such as the last block's conv2 bias, into a step of about 0.1·lr.)
    // Last, the generator with the read-out reading Gumbel-softmax samples (`--gumbel 0.3
    // --autoregressive 3`): both paths draw the same noise and feed it back alike.
    let plain = |_: &mut RunConfig| {};
    let gumbel_readout = |c: &mut RunConfig| {
        c.gumbel = 0.3;
        c.model.autoregressive = Some(3);
    };
    for (strategy, edit) in [
        (Lipschitz::Gp, &plain as &dyn Fn(&mut RunConfig)),
        (Lipschitz::Lp, &plain),
        (Lipschitz::Fd, &plain),
        (Lipschitz::Clip, &plain),
        (Lipschitz::Gp, &gumbel_readout),
    ] {
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let mut hand = tiny_trainer_edited(strategy, CriticNorm::None, a.path(), F32, edit);
        let mut auto = tiny_trainer_edited(strategy, CriticNorm::None, b.path(), F32, edit);
        auto.use_autograd();
        assert!(hand.hand_written() && !auto.hand_written());
        let close = |x: f64, y: f64, what: &str| {
            let e = (x - y).abs() / x.abs().max(y.abs()).max(1e-2);
            assert!(
                e < 2e-5,
                "{strategy:?} {what}: hand-written {x} vs autograd {y}"
            );
        };
        let (g1, g2) = (
            hand.generator_step().unwrap(),
            auto.generator_step().unwrap(),
        );
        close(g1, g2, "generator loss");
        let (h, r) = (
            hand.train_iteration().unwrap(),
            auto.train_iteration().unwrap(),
        );
        close(h.critic_loss, r.critic_loss, "critic loss");
        close(h.wasserstein, r.wasserstein, "W");
        close(h.penalty, r.penalty, "penalty");
        // Weight matrices (biases: see above) after one generator step and five critic steps.
        // Adam's first steps move an entry by lr·g/(|g| + ε) ≈ ±lr whatever |g|, so where a
        // gradient is itself round-off small the two paths may step differently: measured on
        // the mean (a wrong gradient anywhere would move it by ~lr), bounded at every entry.
        let lr = if strategy == Lipschitz::Clip {
            5e-5
        } else {
            1e-3
        };
        for (p, q) in [
            (hand.gen_params(), auto.gen_params()),
            (hand.critic_params(), auto.critic_params()),
        ] {
            let matrices = p
                .vars
                .iter()
                .zip(&q.vars)
                .filter(|((n, _), _)| n.ends_with("weight"));
            for ((name, v), (_, w)) in matrices {
                let diff = (v.as_tensor() - w.as_tensor()).unwrap().abs().unwrap();
                let max = diff.max_all().unwrap().to_scalar::<f32>().unwrap() as f64;
                let mean = diff.mean_all().unwrap().to_scalar::<f32>().unwrap() as f64;
                assert!(
                    mean < 1e-3 * lr && max < 0.1 * lr,
                    "{strategy:?} {name}: weights differ by {mean:.2e} on average, {max:.2e} at most"
                );
            }
        }
    }
}

#[test]
fn lr_decay_divides_both_networks_steps_by_one_plus_t_over_n() {
    // Adam's first step moves an entry by lr·g/(|g| + ε) ≈ ±lr, so the largest move a fresh
    // optimiser makes is the learning rate in force. Starting a trainer at iteration t with one
    // critic step per iteration, one `train_iteration` is the first step of both networks, at
    // t: each should move by 1e-3 / (1 + t/N) at most, on both the hand-written and the
    // autograd path.
    let largest_move = |params: &textgan::model::params::Params, before: &[candle_core::Tensor]| {
        params
            .vars
            .iter()
            .zip(before)
            .map(|((_, v), b)| {
                let d = (v.as_tensor() - b).unwrap().abs().unwrap();
                d.max_all().unwrap().to_scalar::<f32>().unwrap() as f64
            })
            .fold(0.0, f64::max)
    };
    let snapshot = |params: &textgan::model::params::Params| -> Vec<candle_core::Tensor> {
        params
            .vars
            .iter()
            .map(|(_, v)| v.as_tensor().copy().unwrap())
            .collect()
    };
    for autograd in [false, true] {
        for (t, decay, scale) in [(4, 0, 1.0), (2, 2, 0.5), (6, 2, 0.25), (3, 9, 0.75)] {
            let dir = tempfile::tempdir().unwrap();
            let mut trainer =
                tiny_trainer_edited(Lipschitz::Gp, CriticNorm::None, dir.path(), F32, |c| {
                    c.lr_decay = decay;
                    c.critic_iters = 1;
                });
            if autograd {
                trainer.use_autograd();
            }
            trainer.continue_from(t);
            let (g0, d0) = (
                snapshot(trainer.gen_params()),
                snapshot(trainer.critic_params()),
            );
            trainer.train_iteration().unwrap();
            let want = 1e-3 * scale;
            for (net, moved) in [
                ("generator", largest_move(trainer.gen_params(), &g0)),
                ("critic", largest_move(trainer.critic_params(), &d0)),
            ] {
                assert!(
                    (moved - want).abs() < 1e-3 * want,
                    "autograd {autograd}, t {t}, decay {decay}: the {net}'s first step moved a weight by {moved:.4e}, not {want:.4e}"
                );
            }
        }
    }
}

#[test]
fn the_cpu_trainer_takes_the_hand_written_step_or_says_why_not() {
    let tmp = tempfile::tempdir().unwrap();
    let fast = tiny_trainer(Lipschitz::Gp, CriticNorm::None, tmp.path());
    assert!(fast.hand_written());
    assert_eq!(fast.engine(), "hand-written CPU step");
    assert_eq!(fast.info().engine, "hand-written CPU step");
    // Layer norm is written out only in the autograd networks: the run says so.
    let normed = tiny_trainer(Lipschitz::Gp, CriticNorm::Layer, tmp.path());
    assert!(!normed.hand_written());
    assert!(
        normed.engine().starts_with("autograd (") && normed.engine().contains("normalisation"),
        "{}",
        normed.engine()
    );
}

#[test]
fn parameters_that_differ_from_the_schema_are_an_error_naming_the_tensor() {
    use textgan::cpu_step::adapter::{HandWritten, Split};
    use textgan::model::params::Params;
    let tmp = tempfile::tempdir().unwrap();
    let t = tiny_trainer(Lipschitz::Gp, CriticNorm::None, tmp.path());
    let shape = t.config().model;
    assert!(HandWritten::new(
        shape,
        t.gen_params(),
        t.critic_params(),
        Split::Parallel(2),
        F32
    )
    .is_ok());
    // A critic missing a tensor, and one with a tensor of another shape.
    let missing = Params {
        vars: t.critic_params().vars[1..].to_vec(),
    };
    let err = HandWritten::new(shape, t.gen_params(), &missing, Split::Parallel(2), F32)
        .err()
        .unwrap()
        .to_string();
    assert!(err.contains("critic has no tensor input.weight"), "{err}");
    let mut swapped = t.gen_params().clone();
    swapped.vars.swap(0, 1);
    let renamed: Vec<_> = swapped
        .vars
        .iter()
        .zip(&t.gen_params().vars)
        .map(|((_, v), (n, _))| (n.clone(), v.clone()))
        .collect();
    let err = HandWritten::new(
        shape,
        &Params { vars: renamed },
        t.critic_params(),
        Split::Parallel(2),
        F32,
    )
    .err()
    .unwrap()
    .to_string();
    assert!(
        err.contains("generator's tensor input.weight has shape"),
        "{err}"
    );
    // The autograd networks are checked against the same schema when they are made.
    let other = ModelShape::new(shape.vocab, 16, 2, CriticNorm::None);
    assert!(missing
        .check(&textgan::model::schema::Schema::of(
            textgan::model::schema::Net::Critic,
            &other
        ))
        .is_err());
}

/// Splitting the batch into pieces — run at once, one per thread, or one after another on
/// the same buffers with the products split across the threads — computes the same step as
/// the whole batch: every loss term is a per-sample mean, so the pieces' gradients, each its
/// share of the batch's mean, add up to the whole batch's, up to the order of f32 sums.
#[test]
fn a_step_split_into_pieces_equals_the_unsplit_step() {
    use candle_core::Tensor;
    use textgan::cpu_step::adapter::{HandWritten, Split};
    use textgan::model::penalty::Penalty;
    let tmp = tempfile::tempdir().unwrap();
    // The generator plain, with self-attention (`--attention`) after its second block, and
    // with an autoregressive read-out (`--autoregressive`) looking back 3.
    for (attention, readout) in [(None, None), (Some(2), None), (None, Some(3))] {
        let dir = tmp
            .path()
            .join(format!("attention-{attention:?}-{readout:?}"));
        std::fs::create_dir_all(&dir).unwrap();
        let t = tiny_trainer_edited(Lipschitz::Gp, CriticNorm::None, &dir, F32, |c| {
            c.model.attention = attention;
            c.model.autoregressive = readout;
        });
        let shape = t.config().model;
        // 7 samples in 3 pieces: unequal shares (2, 2, 3).
        let b = 7;
        let dev = Device::Cpu;
        let real = Tensor::rand(0f32, 1f32, (b, shape.seq_len, shape.vocab), &dev).unwrap();
        let z = Tensor::randn(0f32, 1f32, (b, shape.noise_dim), &dev).unwrap();
        // The chord ends apart (|ε₁ − ε₂| ≥ 0.2): fd divides by their distance, which would
        // magnify the rounding of the scores' difference for points close together.
        let eps = Tensor::rand(0f32, 0.4f32, b, &dev).unwrap();
        let eps2 = Tensor::rand(0.6f32, 1f32, b, &dev).unwrap();
        let close = |a: f64, b: f64, what: &str| {
            assert!(
                (a - b).abs() <= 1e-4 * (1.0 + a.abs().max(b.abs())),
                "{what}: {a} vs {b}"
            );
        };
        let same_grads = |x: &[Vec<f32>], y: &[Vec<f32>], what: &str| {
            assert_eq!(x.len(), y.len());
            let largest = |g: &[f32]| g.iter().fold(0f32, |m, v| m.max(v.abs())) as f64;
            let net = x.iter().map(|g| largest(g)).fold(0.0, f64::max);
            assert!(net > 0.0, "{what}: every gradient is zero");
            for (gx, gy) in x.iter().zip(y) {
                // Relative to the tensor's largest element, and to the network's for tensors whose
                // gradient is a cancellation (the critic's output bias: Σ ±1/B = 0 up to rounding).
                let tol = 1e-4 * largest(gx) + 1e-6 * net;
                for (&u, &v) in gx.iter().zip(gy) {
                    assert!(
                        ((u - v) as f64).abs() <= tol,
                        "{what}: {u} vs {v} (tolerance {tol})"
                    );
                }
            }
        };
        // The whole softmax, and a curriculum's padding with Gumbel noise: each piece must read
        // its own samples' rows of the noise.
        let noise = Tensor::randn(0f32, 1f32, (b, shape.seq_len, shape.vocab), &dev).unwrap();
        // (With the read-out, each position also reads the samples' noise the earlier ones drew.)
        let views = [
            FakeView::all(SEQ_LEN),
            FakeView {
                visible: 9,
                gumbel: Some((noise, 0.5)),
            },
        ];
        for (strategy, view) in [Lipschitz::Gp, Lipschitz::Fd, Lipschitz::Clip]
            .into_iter()
            .flat_map(|s| views.iter().map(move |v| (s, v)))
        {
            let mix = match strategy {
                Lipschitz::Fd => Penalty::Fd(eps.clone(), eps2.clone()),
                Lipschitz::Clip => Penalty::Clip,
                _ => Penalty::Gp(eps.clone()),
            };
            let params = (t.gen_params(), t.critic_params());
            let new =
                |split| HandWritten::new(shape, t.gen_params(), t.critic_params(), split, F32);
            let mut one = new(Split::Parallel(1)).unwrap();
            let s1 = one
                .critic_step(params, &real, &z, &mix, (10.0, view))
                .unwrap();
            let g1 = one
                .generator_step(t.gen_params(), t.critic_params(), &z, view)
                .unwrap();
            for split in [Split::Parallel(3), Split::Sequential(3)] {
                let mut three = new(split).unwrap();
                assert_eq!(three.split(), split);
                // Twice: the second step must start from zero, not add to the first.
                for _ in 0..2 {
                    let s3 = three
                        .critic_step(params, &real, &z, &mix, (10.0, view))
                        .unwrap();
                    let what = format!(
                        "{strategy:?} critic, {split:?}, attention {attention:?}, read-out {readout:?}"
                    );
                    close(s1.loss, s3.loss, &what);
                    close(s1.wasserstein, s3.wasserstein, &what);
                    close(s1.penalty, s3.penalty, &what);
                    assert_eq!(s1.grad_norm.is_some(), s3.grad_norm.is_some(), "{what}");
                    if let (Some(a), Some(b)) = (s1.grad_norm, s3.grad_norm) {
                        close(a, b, &what);
                    }
                    let g3 = three
                        .generator_step(t.gen_params(), t.critic_params(), &z, view)
                        .unwrap();
                    close(g1, g3, "generator loss");
                    // (Generator first: the critic's gradient must survive the generator step.)
                    same_grads(one.critic_grads(), three.critic_grads(), &what);
                    same_grads(one.generator_grads(), three.generator_grads(), &what);
                }
            }
        }
    }
}

/// The bf16 step (bf16-rounded product inputs, f32 sums) against the f32 step at a fresh
/// network: the loss, the penalty and the mean gradient norm within 1e-2 relative, and every
/// gradient tensor pointing the same way (cosine ≥ 0.99). Its exactness — that it is the step
/// on bf16-rounded product inputs, to f32 rounding — is tested in `hand_written.rs`; this is
/// what the rounding costs, measured (per-tensor norm-wise differences printed).
#[test]
fn the_bf16_step_follows_the_f32_step() {
    use candle_core::Tensor;
    use textgan::cpu_step::adapter::{HandWritten, Split};
    use textgan::kernels::Precision::Bf16;
    use textgan::model::penalty::Penalty;
    if !textgan::kernels::bf16::available() {
        eprintln!("skipped: this CPU has no AVX-512 BF16");
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let t = tiny_trainer(Lipschitz::Gp, CriticNorm::None, tmp.path());
    let shape = t.config().model;
    let b = 16;
    let dev = Device::Cpu;
    // A real batch of one-hot rows, as training draws.
    let ids = Tensor::rand(0f32, shape.vocab as f32, (b, shape.seq_len), &dev)
        .unwrap()
        .floor()
        .unwrap()
        .to_dtype(candle_core::DType::U32)
        .unwrap();
    let real = candle_nn::encoding::one_hot(ids, shape.vocab, 1f32, 0f32).unwrap();
    let z = Tensor::randn(0f32, 1f32, (b, shape.noise_dim), &dev).unwrap();
    let eps = Tensor::rand(0f32, 1f32, b, &dev).unwrap();
    let dot = |x: &[f32], y: &[f32]| {
        x.iter()
            .zip(y)
            .map(|(&a, &b)| a as f64 * b as f64)
            .sum::<f64>()
    };
    let close = |a: &[Vec<f32>], b: &[Vec<f32>], what: &str| {
        let net = a.iter().map(|g| dot(g, g).sqrt()).fold(0.0, f64::max);
        for (i, (x, y)) in a.iter().zip(b).enumerate() {
            let (nx, ny) = (dot(x, x).sqrt(), dot(y, y).sqrt());
            if nx < 1e-3 * net {
                // A cancellation (the critic's output bias: Σ ±1/B = 0 up to rounding).
                continue;
            }
            let diff: Vec<f32> = x.iter().zip(y).map(|(u, v)| u - v).collect();
            let cos = dot(x, y) / (nx * ny);
            eprintln!(
                "{what}: tensor {i}: {:.1e} relative, cosine {cos:.5}",
                dot(&diff, &diff).sqrt() / nx
            );
            assert!(cos >= 0.99, "{what}: tensor {i} turned (cosine {cos})");
        }
    };
    let rel = |a: f64, b: f64| (a - b).abs() / a.abs().max(1e-6);
    for strategy in [Lipschitz::Gp, Lipschitz::Lp] {
        let mix = Penalty::draw(strategy, || Ok::<_, ()>(eps.clone())).unwrap();
        let params = (t.gen_params(), t.critic_params());
        let mut f32_step = HandWritten::new(
            shape,
            t.gen_params(),
            t.critic_params(),
            Split::Parallel(1),
            F32,
        )
        .unwrap();
        let mut bf16_step = HandWritten::new(
            shape,
            t.gen_params(),
            t.critic_params(),
            Split::Parallel(1),
            Bf16,
        )
        .unwrap();
        assert_eq!(bf16_step.precision(), Bf16);
        let a = f32_step
            .critic_step(params, &real, &z, &mix, (10.0, &FakeView::all(SEQ_LEN)))
            .unwrap();
        let c = bf16_step
            .critic_step(params, &real, &z, &mix, (10.0, &FakeView::all(SEQ_LEN)))
            .unwrap();
        let what = format!("{strategy:?}");
        assert!(
            rel(a.loss, c.loss) <= 1e-2,
            "{what} loss {} vs {}",
            a.loss,
            c.loss
        );
        assert!(
            rel(a.penalty, c.penalty) <= 1e-2,
            "{what} penalty {} vs {}",
            a.penalty,
            c.penalty
        );
        let (na, nc) = (a.grad_norm.unwrap(), c.grad_norm.unwrap());
        assert!(rel(na, nc) <= 1e-2, "{what} |grad| {na} vs {nc}");
        // The penalty matters in this batch (its gradient is not negligible).
        assert!(
            a.penalty > 1e-3 * a.loss.abs(),
            "{what}: penalty {}",
            a.penalty
        );
        close(f32_step.critic_grads(), bf16_step.critic_grads(), &what);
        // And they are not the same computation: bf16 rounding shows.
        assert_ne!(f32_step.critic_grads(), bf16_step.critic_grads(), "{what}");
        let ga = f32_step
            .generator_step(
                t.gen_params(),
                t.critic_params(),
                &z,
                &FakeView::all(SEQ_LEN),
            )
            .unwrap();
        let gc = bf16_step
            .generator_step(
                t.gen_params(),
                t.critic_params(),
                &z,
                &FakeView::all(SEQ_LEN),
            )
            .unwrap();
        assert!(rel(ga, gc) <= 1e-2, "generator loss {ga} vs {gc}");
        close(
            f32_step.generator_grads(),
            bf16_step.generator_grads(),
            "generator",
        );
    }
}
