//! The presets: `paper` is exactly the paper's public code, `cpu` is the default on the CPU, and
//! every flag overrides the preset it starts from.

use std::path::{Path, PathBuf};

use candle_core::Device;
use textgan::kernels::Precision;
use textgan::model::penalty::Lipschitz;
use textgan::model::schema::{Net, Schema};
use textgan::model::CriticNorm;
use textgan::train::optim::{OptimConfig, Rule};
use textgan::train::presets::{Preset, LONG_BUDGET_DIM, LONG_BUDGET_MINUTES};
use textgan::train::settings::RunConfig;
use textgan::train::settings::TrainOptions;
use textgan::train::start::new_run;

fn tiny_corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/tiny.txt")
}

fn config(opts: TrainOptions) -> RunConfig {
    let opts = TrainOptions {
        corpus: Some(tiny_corpus()),
        ..opts
    };
    new_run(&opts, &Device::Cpu).unwrap().0
}

#[test]
fn paper_preset_is_the_papers_language_model() {
    let c = config(TrainOptions {
        preset: Some(Preset::Paper),
        ..TrainOptions::default()
    });
    // The paper's language model (gan_language.py): DIM 512, 5 residual blocks, noise 128,
    // batch 64, 10 critic iterations,
    // Adam 1e-4 with β = (0.5, 0.9) for both networks, λ = 10, the two-sided penalty.
    assert_eq!(c.preset, Preset::Paper);
    assert_eq!(
        (
            c.model.dim,
            c.model.res_blocks,
            c.model.noise_dim,
            c.model.seq_len
        ),
        (512, 5, 128, 32)
    );
    assert_eq!(c.model.kernel, 5);
    assert_eq!(c.model.critic_norm, CriticNorm::None);
    assert_eq!((c.batch, c.critic_iters), (64, 10));
    assert_eq!((c.lipschitz, c.lambda), (Lipschitz::Gp, 10.0));
    let adam = OptimConfig {
        rule: Rule::Adam,
        lr: 1e-4,
        beta1: 0.5,
        beta2: 0.9,
        eps: 1e-8,
    };
    assert_eq!(c.optim_critic, adam);
    assert_eq!(c.optim_generator, adam);
    // No weight average, one width for both networks: the paper's code has neither.
    assert_eq!((c.ema, c.model.critic_dim), (0.0, None));
    // f32 products, as the paper's code computes.
    assert_eq!(c.precision, Precision::F32);
    // Nor any part of textgan's own model: no local critic, no length curriculum, the
    // softmax itself shown to the critic; config.json does not even name them.
    assert_eq!(c.model.local_critic, None);
    assert_eq!((c.curriculum, c.gumbel), (0, 0.0));
    assert_eq!((c.model.attention, c.model.autoregressive), (None, None));
    // Samples read from the noise as drawn, as the paper's code reads them.
    assert_eq!(c.truncation, 1.0);
    let json = serde_json::to_value(&c).unwrap();
    for key in ["curriculum", "gumbel", "truncation"] {
        assert!(json.get(key).is_none(), "{key} in a paper run's config");
    }
    for key in ["local_critic", "attention", "autoregressive", "kernel"] {
        assert!(
            json["model"].get(key).is_none(),
            "{key} in a paper run's config"
        );
    }
    // Its parameter schema, tensor by tensor (gan_language.py's: a dense layer from the
    // noise, five residual blocks of two width-5 convolutions, a 1×1 convolution to the
    // vocabulary; the critic's 1×1 convolution from the one-hot input, five blocks, flatten,
    // one score).
    let v = c.model.vocab;
    let blocks = |out: &mut Vec<(String, Vec<usize>)>| {
        for i in 0..5 {
            for conv in ["conv1", "conv2"] {
                out.push((format!("blocks.{i}.{conv}.weight"), vec![5 * 512, 512]));
                out.push((format!("blocks.{i}.{conv}.bias"), vec![512]));
            }
        }
    };
    let schema = |net| -> Vec<(String, Vec<usize>)> {
        Schema::of(net, &c.model)
            .params
            .into_iter()
            .map(|p| (p.name, p.shape))
            .collect()
    };
    let mut critic = vec![
        ("input.weight".to_string(), vec![v, 512]),
        ("input.bias".to_string(), vec![512]),
    ];
    blocks(&mut critic);
    critic.push(("output.weight".into(), vec![32 * 512, 1]));
    critic.push(("output.bias".into(), vec![1]));
    assert_eq!(schema(Net::Critic), critic);
    let mut generator = vec![
        ("input.weight".to_string(), vec![128, 32 * 512]),
        ("input.bias".to_string(), vec![32 * 512]),
    ];
    blocks(&mut generator);
    generator.push(("output.weight".into(), vec![512, v]));
    generator.push(("output.bias".into(), vec![v]));
    assert_eq!(schema(Net::Generator), generator);
}

#[test]
fn cpu_preset_is_the_default_on_the_cpu_and_sets_every_value_it_names() {
    assert_eq!(Preset::default_for(&Device::Cpu), Preset::Cpu);
    let c = config(TrainOptions::default());
    let p = Preset::Cpu.values();
    // The sweep's choice (docs/sweep/README.md), as the presets table of docs/usage.md states it.
    assert_eq!((p.res_blocks, p.critic_iters, p.batch), (3, 5, 64));
    // docs/quality §36: width-3 convolutions, whose products cost 3/5 of the paper's width 5,
    // and the time they save spent on width (48 instead of 32): the same curve per iteration
    // as width 48 at the paper's kernel, at 1.4 times its iterations a minute. config.json
    // records it.
    assert_eq!((p.kernel, p.dim), (3, 48));
    assert_eq!((c.model.kernel, c.model.dim), (3, 48));
    assert_eq!(serde_json::to_value(&c).unwrap()["model"]["kernel"], 3);
    assert_eq!((p.lr_critic, p.lr_gen, p.lr_decay), (4e-3, 4e-3, 2000));
    assert_eq!((p.betas, p.lipschitz), ((0.5, 0.9), Lipschitz::Gp));
    // The quality study's choice (docs/quality/README.md): the weight average, which lets a
    // larger step pay.
    assert_eq!(p.ema, 0.999);
    assert_eq!(c.ema, p.ema);
    // The model study's choice (docs/quality §20): the generator's autoregressive read-out.
    assert_eq!(p.autoregressive, 3);
    assert_eq!(c.model.autoregressive, Some(p.autoregressive));
    // docs/quality §25: bf16 products, the same curve per iteration and more iterations a
    // minute on CPUs that have them (the step runs f32 on those that have not).
    assert_eq!(p.precision, Precision::Bf16);
    assert_eq!(c.precision, Precision::Bf16);
    // docs/quality §32: samples read from noise truncated to 0.7, recorded in config.json.
    assert_eq!((p.truncation, c.truncation), (0.7, 0.7));
    assert_eq!(serde_json::to_value(&c).unwrap()["truncation"], 0.7);
    // `--autoregressive 0` leaves the paper's generator: no read-out, none in config.json.
    let off = config(TrainOptions {
        autoregressive: Some(0),
        ..TrainOptions::default()
    });
    assert_eq!(off.model.autoregressive, None);
    let json = serde_json::to_value(&off).unwrap();
    assert!(json["model"].get("autoregressive").is_none());
    assert_eq!(c.preset, Preset::Cpu);
    assert_eq!((c.model.dim, c.model.res_blocks), (p.dim, p.res_blocks));
    assert_eq!((c.batch, c.critic_iters), (p.batch, p.critic_iters));
    assert_eq!(c.lipschitz, p.lipschitz);
    assert_eq!(c.optim_critic.lr, p.lr_critic);
    assert_eq!(c.optim_generator.lr, p.lr_gen);
    assert_eq!(c.lr_decay, p.lr_decay);
    for optim in [c.optim_critic, c.optim_generator] {
        assert_eq!((optim.beta1, optim.beta2), p.betas);
    }
    // What --help and docs/usage.md say it sets is what it sets.
    let text = Preset::Cpu.describe();
    for part in [
        format!("dim {}", p.dim),
        format!(
            "{} residual blocks of width-{} convolutions",
            p.res_blocks, p.kernel
        ),
        format!("{} critic iterations", p.critic_iters),
        format!("batch {}", p.batch),
        format!("{:e}", p.lr_critic),
        format!("{:e}", p.lr_gen),
        format!("β = ({}, {})", p.betas.0, p.betas.1),
        p.lipschitz.name().to_string(),
        format!("generator weight average {}", p.ema),
        format!("read-out looking back {}", p.autoregressive),
        "bf16 products (f32 on CPUs without AVX-512 BF16)".to_string(),
        format!("samples read at noise truncation {}", p.truncation),
    ] {
        assert!(text.contains(&part), "{part:?} not in {text:?}");
    }
    if p.lr_decay > 0 {
        let part = format!("(1 + t/{})", p.lr_decay);
        assert!(text.contains(&part), "{part:?} not in {text:?}");
    }
}

/// The `cpu` preset is wider for a budget of half an hour or more (docs/quality §23, §36);
/// config.json records the width the run got, and a resumed run keeps it whatever its new
/// budget. An explicit `--dim`, the paper's preset and a budget in iterations alone are left as
/// they were.
#[test]
fn the_cpu_preset_is_wider_for_a_long_budget() {
    let run = |preset, minutes, dim| {
        config(TrainOptions {
            preset: Some(preset),
            minutes,
            dim,
            ..TrainOptions::default()
        })
    };
    let width = |preset, minutes, dim| run(preset, minutes, dim).model.dim;
    let (narrow, wide) = (Preset::Cpu.values().dim, LONG_BUDGET_DIM);
    assert_eq!((narrow, wide, LONG_BUDGET_MINUTES), (48, 64, 30.0));
    // Every budget has width-3 convolutions: at width 48 (§36) and at the long budget's 64
    // (§38) they learn per iteration what the paper's width-5 ones learn, at 1.4 times the
    // iterations a minute.
    let kernel = |minutes| run(Preset::Cpu, minutes, None).model.kernel;
    assert_eq!((kernel(None), kernel(Some(10.0))), (3, 3));
    assert_eq!((kernel(Some(30.0)), kernel(Some(60.0))), (3, 3));
    assert_eq!(width(Preset::Cpu, None, None), narrow);
    assert_eq!(width(Preset::Cpu, Some(10.0), None), narrow);
    assert_eq!(width(Preset::Cpu, Some(29.5), None), narrow);
    assert_eq!(width(Preset::Cpu, Some(30.0), None), wide);
    assert_eq!(width(Preset::Cpu, Some(60.0), None), wide);
    assert_eq!(width(Preset::Cpu, Some(60.0), Some(48)), 48);
    assert_eq!(width(Preset::Paper, Some(60.0), None), 512);
    // Only the width: the rest of the hour's settings are the preset's.
    let hour = run(Preset::Cpu, Some(60.0), None);
    let ten = run(Preset::Cpu, Some(10.0), None);
    assert_eq!(
        (
            hour.model.critic_width(),
            hour.model.autoregressive,
            hour.lr_decay,
            hour.batch
        ),
        (wide, ten.model.autoregressive, ten.lr_decay, ten.batch)
    );
    let json = serde_json::to_value(&hour).unwrap();
    assert_eq!(
        (&json["model"]["dim"], &json["model"]["kernel"]),
        (&64.into(), &3.into())
    );
    let resumed = TrainOptions {
        minutes: Some(10.0),
        ..TrainOptions::default()
    }
    .resumed_config(hour, "run", "cpu".into())
    .unwrap();
    assert_eq!(
        (resumed.model.dim, resumed.model.kernel, resumed.minutes),
        (wide, 3, Some(10.0))
    );
    let text = Preset::Cpu.describe();
    assert!(
        text.contains("dim 48 (64 with --minutes 30 or more)"),
        "{text}"
    );
    // The width is the one setting the budget changes.
    assert_eq!(text.matches("--minutes 30 or more").count(), 1, "{text}");
}

#[test]
fn every_flag_overrides_the_preset() {
    for preset in [Preset::Cpu, Preset::Paper] {
        let c = config(TrainOptions {
            preset: Some(preset),
            dim: Some(24),
            res_blocks: Some(2),
            critic_iters: Some(3),
            batch: Some(32),
            lr_critic: Some(7e-4),
            lr_gen: Some(2e-4),
            beta1: Some(0.0),
            beta2: Some(0.99),
            lr_decay: Some(1500),
            lipschitz: Some(Lipschitz::Lp),
            lambda: Some(5.0),
            critic_dim: Some(40),
            ema: Some(0.99),
            truncation: Some(0.5),
            kernel: Some(7),
            ..TrainOptions::default()
        });
        assert_eq!(c.preset, preset);
        assert_eq!(c.truncation, 0.5);
        assert_eq!(c.model.kernel, 7);
        assert_eq!((c.model.dim, c.model.res_blocks), (24, 2));
        assert_eq!((c.model.critic_dim, c.model.critic_width()), (Some(40), 40));
        assert_eq!(c.ema, 0.99);
        assert_eq!((c.batch, c.critic_iters), (32, 3));
        assert_eq!((c.optim_critic.lr, c.optim_generator.lr), (7e-4, 2e-4));
        assert_eq!(c.lr_decay, 1500);
        assert_eq!((c.lipschitz, c.lambda), (Lipschitz::Lp, 5.0));
        for optim in [c.optim_critic, c.optim_generator] {
            assert_eq!((optim.beta1, optim.beta2), (0.0, 0.99));
        }
        // --lr sets both rates; a specific rate wins over it.
        let c = config(TrainOptions {
            preset: Some(preset),
            lr: Some(3e-4),
            lr_gen: Some(1e-5),
            ..TrainOptions::default()
        });
        assert_eq!((c.optim_critic.lr, c.optim_generator.lr), (3e-4, 1e-5));
    }
    // Clipping brings the original WGAN's optimiser (RMSProp, 5e-5) unless a rate is given;
    // RMSProp has no β₁, so --beta1 is refused there rather than recorded and ignored.
    let clip = |lr: Option<f64>, beta2: Option<f64>| {
        config(TrainOptions {
            lipschitz: Some(Lipschitz::Clip),
            lr,
            beta2,
            ..TrainOptions::default()
        })
    };
    let c = clip(None, None);
    assert_eq!(c.optim_critic, OptimConfig::wgan());
    assert_eq!(c.optim_generator, OptimConfig::wgan());
    // ... at the original's constant rate, whatever the preset's decay.
    assert!(Preset::Cpu.values().lr_decay > 0);
    assert_eq!(c.lr_decay, 0);
    let c = clip(Some(1e-3), Some(0.9));
    let rms = OptimConfig {
        lr: 1e-3,
        beta2: 0.9,
        ..OptimConfig::wgan()
    };
    assert_eq!((c.optim_critic, c.optim_generator), (rms, rms));
    let opts = TrainOptions {
        corpus: Some(tiny_corpus()),
        lipschitz: Some(Lipschitz::Clip),
        beta1: Some(0.5),
        ..TrainOptions::default()
    };
    let e = new_run(&opts, &Device::Cpu).unwrap_err().to_string();
    assert!(
        e.contains("--beta1 has no effect with --lipschitz clip"),
        "{e}"
    );
}

#[test]
fn absurd_depths_and_betas_are_refused_with_the_flag() {
    let refused = |opts: TrainOptions, needle: &str| {
        let opts = TrainOptions {
            corpus: Some(tiny_corpus()),
            ..opts
        };
        let e = new_run(&opts, &Device::Cpu).unwrap_err().to_string();
        assert!(e.contains(needle), "{e}");
    };
    for blocks in [0, 1000] {
        let opts = TrainOptions {
            res_blocks: Some(blocks),
            ..TrainOptions::default()
        };
        refused(opts, "--res-blocks must be at least 1");
    }
    for beta in [-0.1, 1.0, f64::NAN] {
        let opts = TrainOptions {
            beta1: Some(beta),
            ..TrainOptions::default()
        };
        refused(opts, "--beta1 must be at least 0 and below 1");
        let opts = TrainOptions {
            beta2: Some(beta),
            ..TrainOptions::default()
        };
        refused(opts, "--beta2 must be at least 0 and below 1");
    }
}
