//! A run's settings, one path from what the user asked to what is recorded: [`TrainOptions`]
//! (every setting optional: "the preset's value" for a new run, "as saved" on resume) resolves
//! against a [`Preset`]'s values into [`RunConfig`], the run directory's `config.json`, which
//! records every setting actually used.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use super::optim::{OptimConfig, Rule};
use super::presets::{
    Preset, DEFAULT_EVAL_EVERY, DEFAULT_ITERS, DEFAULT_SAVE_EVERY, DEFAULT_SEED, MAX_VOCAB,
};
use crate::data::batches::check_truncation;
use crate::error::{Error, Result};
use crate::kernels::Precision;
use crate::model::penalty::{Lipschitz, CLIP};
use crate::model::{
    kernel_fits, CriticNorm, ModelShape, BATCH_NORM_REFUSED, MAX_DIM, MAX_KERNEL, MAX_RES_BLOCKS,
    MAX_VOCAB_LIMIT,
};

/// `textgan train` options; `None` means "the preset's value" (new run) or "as saved" (resume).
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    pub corpus: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub preset: Option<Preset>,
    pub iters: Option<u64>,
    pub minutes: Option<f64>,
    pub dim: Option<usize>,
    /// The critic's width, where it differs from the generator's.
    pub critic_dim: Option<usize>,
    pub res_blocks: Option<usize>,
    /// Width of the residual blocks' convolutions.
    pub kernel: Option<usize>,
    /// The critic's local branch after this many blocks; 0: none.
    pub local_critic: Option<usize>,
    /// The generator's self-attention after this many blocks; 0: none.
    pub attention: Option<usize>,
    /// The generator's autoregressive read-out, positions looked back; 0: none.
    pub autoregressive: Option<usize>,
    pub critic_iters: Option<usize>,
    pub batch: Option<usize>,
    pub lr: Option<f64>,
    /// Overrides `lr` for the critic.
    pub lr_critic: Option<f64>,
    /// Overrides `lr` for the generator.
    pub lr_gen: Option<f64>,
    /// Adam's β₁ and β₂ (RMSProp's α is β₂), both networks.
    pub beta1: Option<f64>,
    pub beta2: Option<f64>,
    pub lr_decay: Option<u64>,
    /// A length curriculum: one more character every this many iterations; 0: none.
    pub curriculum: Option<u64>,
    /// The temperature of the critic's Gumbel-softmax view of the fakes; 0: none.
    pub gumbel: Option<f64>,
    /// Decay of the generator's weight average; 0 turns it off.
    pub ema: Option<f64>,
    /// The noise samples are read at ([`crate::data::batches::sample_noise`]); 1: as drawn.
    pub truncation: Option<f64>,
    /// The hand-written step's matrix-product inputs (may change on resume: weights are f32).
    pub precision: Option<Precision>,
    pub lipschitz: Option<Lipschitz>,
    pub lambda: Option<f64>,
    pub clip: Option<f64>,
    pub critic_norm: Option<CriticNorm>,
    pub seed: Option<u64>,
    pub max_vocab: Option<usize>,
    pub save_every: Option<u64>,
    pub eval_every: Option<u64>,
    pub resume: bool,
    pub force: bool,
}

impl TrainOptions {
    /// Refuse what no run can use, named as the user typed it (the config can only name the
    /// rate it ended up with).
    pub fn check(&self) -> Result<()> {
        if self.resume && self.force {
            return Err(Error::Config(
                "--resume and --force contradict each other: pick one".into(),
            ));
        }
        for (flag, lr) in [
            ("--lr", self.lr),
            ("--lr-critic", self.lr_critic),
            ("--lr-gen", self.lr_gen),
        ] {
            if let Some(lr) = lr.filter(|l| !(l.is_finite() && *l > 0.0)) {
                return Err(Error::Config(format!(
                    "{flag} must be a positive number, got {lr}"
                )));
            }
        }
        Ok(())
    }

    /// The settings of a new run: every option given, the rest from the preset (`preset` when
    /// none is asked for). The vocabulary size and corpus fingerprint are filled in later,
    /// from the corpus.
    pub fn new_config(&self, corpus: PathBuf, preset: Preset, device: String) -> Result<RunConfig> {
        let preset = self.preset.unwrap_or(preset);
        let p = preset.values_for(self.minutes);
        let lipschitz = self.lipschitz.unwrap_or(p.lipschitz);
        // Clipping comes with the original WGAN's optimiser (RMSProp, a constant 5e-5); the
        // penalties with the paper's Adam at the preset's rates and decay.
        let (base, lr_critic, lr_gen, lr_decay) = if lipschitz == Lipschitz::Clip {
            let wgan = OptimConfig::wgan();
            (wgan, wgan.lr, wgan.lr, 0)
        } else {
            let adam = OptimConfig {
                beta1: p.betas.0,
                beta2: p.betas.1,
                ..OptimConfig::paper()
            };
            (adam, p.lr_critic, p.lr_gen, p.lr_decay)
        };
        let with_lr = |specific: Option<f64>, preset_lr: f64| OptimConfig {
            lr: specific.or(self.lr).unwrap_or(preset_lr),
            beta1: self.beta1.unwrap_or(base.beta1),
            beta2: self.beta2.unwrap_or(base.beta2),
            ..base
        };
        let config = RunConfig {
            textgan_version: env!("CARGO_PKG_VERSION").to_string(),
            corpus,
            corpus_hash: String::new(),
            preset,
            model: ModelShape {
                critic_dim: self.critic_dim,
                local_critic: Some(self.local_critic.unwrap_or(p.local_critic)).filter(|&n| n > 0),
                attention: Some(self.attention.unwrap_or(p.attention)).filter(|&n| n > 0),
                autoregressive: Some(self.autoregressive.unwrap_or(p.autoregressive))
                    .filter(|&k| k > 0),
                kernel: self.kernel.unwrap_or(p.kernel),
                ..ModelShape::new(
                    0,
                    self.dim.unwrap_or(p.dim),
                    self.res_blocks.unwrap_or(p.res_blocks),
                    self.critic_norm.unwrap_or_default(),
                )
            },
            max_vocab: self.max_vocab.unwrap_or(MAX_VOCAB),
            batch: self.batch.unwrap_or(p.batch),
            critic_iters: self.critic_iters.unwrap_or(p.critic_iters),
            lipschitz,
            lambda: self.lambda.unwrap_or(p.lambda),
            clip: self.clip.unwrap_or(p.clip),
            optim_generator: with_lr(self.lr_gen, lr_gen),
            optim_critic: with_lr(self.lr_critic, lr_critic),
            lr_decay: self.lr_decay.unwrap_or(lr_decay),
            curriculum: self.curriculum.unwrap_or(p.curriculum),
            gumbel: self.gumbel.unwrap_or(p.gumbel),
            ema: self.ema.unwrap_or(p.ema),
            truncation: self.truncation.unwrap_or(p.truncation),
            precision: self.precision.unwrap_or(p.precision),
            seed: self.seed.unwrap_or(DEFAULT_SEED),
            iters: self.iters.unwrap_or(DEFAULT_ITERS),
            minutes: self.minutes,
            save_every: self.save_every.unwrap_or(DEFAULT_SAVE_EVERY),
            eval_every: self.eval_every.unwrap_or(DEFAULT_EVAL_EVERY),
            device,
            dtype: "f32".into(),
        };
        config.validate()?;
        self.check_beta1(&config)?;
        Ok(config)
    }

    /// The saved settings of a run being resumed, with the changes a resumed run may make:
    /// budget, learning rates and their decay, Adam's β, λ, c, batch, critic iterations,
    /// intervals, the samples' truncation, device. A setting that defines the model or the data split and differs from
    /// the saved one is refused (`run` names the run in the message).
    pub fn resumed_config(
        &self,
        mut config: RunConfig,
        run: &str,
        device: String,
    ) -> Result<RunConfig> {
        let fixed = |flag: &str, given: Option<String>, saved: String| -> Result<()> {
            match given {
                Some(g) if g != saved => Err(Error::Config(format!(
                    "{flag} {g}: the run in {run} was started with {saved}, which a resumed run cannot change (start a new run with --out)"
                ))),
                _ => Ok(()),
            }
        };
        let text = |v: Option<usize>| v.map(|v| v.to_string());
        fixed("--dim", text(self.dim), config.model.dim.to_string())?;
        fixed(
            "--critic-dim",
            text(self.critic_dim),
            config.model.critic_width().to_string(),
        )?;
        fixed(
            "--res-blocks",
            text(self.res_blocks),
            config.model.res_blocks.to_string(),
        )?;
        fixed(
            "--kernel",
            text(self.kernel),
            config.model.kernel.to_string(),
        )?;
        fixed(
            "--local-critic",
            text(self.local_critic),
            config.model.local_critic.unwrap_or(0).to_string(),
        )?;
        fixed(
            "--attention",
            text(self.attention),
            config.model.attention.unwrap_or(0).to_string(),
        )?;
        fixed(
            "--autoregressive",
            text(self.autoregressive),
            config.model.autoregressive.unwrap_or(0).to_string(),
        )?;
        fixed(
            "--max-vocab",
            text(self.max_vocab),
            config.max_vocab.to_string(),
        )?;
        fixed(
            "--seed",
            self.seed.map(|s| s.to_string()),
            config.seed.to_string(),
        )?;
        fixed(
            "--lipschitz",
            self.lipschitz.map(|l| l.name().to_string()),
            config.lipschitz.name().to_string(),
        )?;
        fixed(
            "--critic-norm",
            self.critic_norm.map(|n| n.name().to_string()),
            config.model.critic_norm.name().to_string(),
        )?;
        fixed(
            "--preset",
            self.preset.map(|p| p.name().to_string()),
            config.preset.name().to_string(),
        )?;
        if let Some(n) = self.iters {
            config.iters = n;
        }
        config.minutes = self.minutes;
        if let Some(lr) = self.lr_gen.or(self.lr) {
            config.optim_generator.lr = lr;
        }
        if let Some(lr) = self.lr_critic.or(self.lr) {
            config.optim_critic.lr = lr;
        }
        for optim in [&mut config.optim_generator, &mut config.optim_critic] {
            if let Some(b) = self.beta1 {
                optim.beta1 = b;
            }
            if let Some(b) = self.beta2 {
                optim.beta2 = b;
            }
        }
        fn set<T: Copy>(slot: &mut T, v: Option<T>) {
            if let Some(v) = v {
                *slot = v;
            }
        }
        set(&mut config.lr_decay, self.lr_decay);
        set(&mut config.curriculum, self.curriculum);
        set(&mut config.gumbel, self.gumbel);
        set(&mut config.ema, self.ema);
        set(&mut config.truncation, self.truncation);
        set(&mut config.precision, self.precision);
        set(&mut config.batch, self.batch);
        set(&mut config.critic_iters, self.critic_iters);
        set(&mut config.save_every, self.save_every);
        set(&mut config.eval_every, self.eval_every);
        set(&mut config.lambda, self.lambda);
        set(&mut config.clip, self.clip);
        config.device = device;
        config.validate()?;
        self.check_beta1(&config)?;
        Ok(config)
    }

    /// `--beta1` means nothing to RMSProp, the optimiser of weight clipping: refused rather
    /// than recorded and ignored.
    fn check_beta1(&self, config: &RunConfig) -> Result<()> {
        if self.beta1.is_some() && config.optim_critic.rule == Rule::RmsProp {
            return Err(Error::Config(
                "--beta1 has no effect with --lipschitz clip (RMSProp has no β₁)".into(),
            ));
        }
        Ok(())
    }
}

/// Everything that defines a run; saved as `config.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunConfig {
    pub textgan_version: String,
    /// The corpus file as given on the command line.
    pub corpus: PathBuf,
    /// FNV-1a hash of the corpus bytes: a resumed run must train on the same text.
    pub corpus_hash: String,
    pub preset: Preset,
    pub model: ModelShape,
    pub max_vocab: usize,
    pub batch: usize,
    /// Critic updates per generator update.
    pub critic_iters: usize,
    /// How the critic is kept Lipschitz (runs from before this setting used `gp`).
    #[serde(default)]
    pub lipschitz: Lipschitz,
    /// Penalty weight λ (gp, lp, fd).
    pub lambda: f64,
    /// Weight-clipping bound c (clip).
    #[serde(default = "default_clip")]
    pub clip: f64,
    #[serde(alias = "adam_generator")]
    pub optim_generator: OptimConfig,
    #[serde(alias = "adam_critic")]
    pub optim_critic: OptimConfig,
    /// Both learning rates are divided by `1 + t / lr_decay` at generator iteration `t`
    /// ([`lr_scale`]); 0 keeps them constant (the paper, and runs from before this setting).
    #[serde(default)]
    pub lr_decay: u64,
    /// A length curriculum ([`crate::data::batches::curriculum_length`]): the first 4
    /// characters of every line (the rest padding, for real and fake alike), one more every
    /// this many generator iterations; 0: none (the paper, and runs from before this setting).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub curriculum: u64,
    /// The temperature τ of the critic's view of the fakes as Gumbel-softmax samples,
    /// `softmax((logits + g)/τ)` ([`crate::model::FakeView`]); 0: the softmax itself (the paper,
    /// and runs from before this setting). Samples and scores always read the argmax.
    #[serde(default, skip_serializing_if = "is_zero_f64")]
    pub gumbel: f64,
    /// Decay β of the generator's exponential moving average ([`super::ema`]); 0: no average
    /// (runs from before this setting). With an average, samples, evaluation and `generate`
    /// use the averaged generator.
    #[serde(default)]
    pub ema: f64,
    /// The truncation ψ of the noise that samples are read from, in training's evaluations and
    /// previews and in `generate`, `eval` and `interpolate` unless they ask for another
    /// ([`crate::data::batches::sample_noise`]); 1: the noise as drawn (the paper, and runs from
    /// before this setting). Training's own noise is never truncated.
    #[serde(default = "one", skip_serializing_if = "is_one")]
    pub truncation: f64,
    /// The hand-written step's matrix-product inputs, as asked (bf16 runs f32 on a CPU
    /// without AVX-512 BF16; the trainer says so). Runs from before this setting: f32.
    #[serde(default)]
    pub precision: Precision,
    pub seed: u64,
    /// Total generator iterations of the run.
    pub iters: u64,
    /// Wall-clock budget of one invocation, if any.
    pub minutes: Option<f64>,
    /// Checkpoint every this many iterations; [`NEVER`] (written `null`) for never.
    #[serde(with = "never_as_null")]
    pub save_every: u64,
    #[serde(alias = "sample_every")]
    pub eval_every: u64,
    /// Device the run was last trained on.
    pub device: String,
    pub dtype: String,
}

impl RunConfig {
    /// Refuse settings that cannot train, with the flag's name.
    pub fn validate(&self) -> Result<()> {
        let bad = |m: String| Err(Error::Config(m));
        let range = |flag: &str, v: usize, max: usize| -> Result<()> {
            if v == 0 || v > max {
                return Err(Error::Config(format!(
                    "{flag} must be at least 1 and at most {max}, got {v}"
                )));
            }
            Ok(())
        };
        range("--dim", self.model.dim, MAX_DIM)?;
        range("--critic-dim", self.model.critic_width(), MAX_DIM)?;
        range("--res-blocks", self.model.res_blocks, MAX_RES_BLOCKS)?;
        let kernel = self.model.kernel;
        if !kernel_fits(kernel) {
            return bad(format!(
                "--kernel must be odd and at most {MAX_KERNEL} (each window is centred on its character), got {kernel}"
            ));
        }
        range("--batch", self.batch, MAX_BATCH)?;
        range("--critic-iters", self.critic_iters, MAX_CRITIC_ITERS)?;
        if self.max_vocab > MAX_VOCAB_LIMIT {
            return bad(format!(
                "--max-vocab must be at most {MAX_VOCAB_LIMIT}, got {}",
                self.max_vocab
            ));
        }
        for (flag, a) in [
            ("--lr-gen", &self.optim_generator),
            ("--lr-critic", &self.optim_critic),
        ] {
            if !(a.lr.is_finite() && a.lr > 0.0) {
                return bad(format!("{flag} must be a positive number, got {}", a.lr));
            }
            for (flag, beta) in [("--beta1", a.beta1), ("--beta2", a.beta2)] {
                if !(0.0..1.0).contains(&beta) {
                    return bad(format!("{flag} must be at least 0 and below 1, got {beta}"));
                }
            }
        }
        if self.model.critic_norm == CriticNorm::Batch {
            return bad(BATCH_NORM_REFUSED.into());
        }
        self.model.check_local_critic().map_err(Error::Config)?;
        self.model.check_attention().map_err(Error::Config)?;
        self.model.check_autoregressive().map_err(Error::Config)?;
        if !(0.0..1.0).contains(&self.ema) {
            return bad(format!(
                "--ema must be at least 0 (off) and below 1, got {}",
                self.ema
            ));
        }
        if !(self.gumbel == 0.0 || (self.gumbel.is_finite() && self.gumbel >= MIN_GUMBEL)) {
            return bad(format!(
                "--gumbel must be a temperature of at least {MIN_GUMBEL}, or 0 for none, got {}",
                self.gumbel
            ));
        }
        check_truncation(self.truncation)?;
        if !(self.clip.is_finite() && self.clip > 0.0) {
            return bad(format!(
                "--clip must be a positive number, got {}",
                self.clip
            ));
        }
        if let Some(m) = self.minutes {
            if !(m.is_finite() && m > 0.0 && m <= MAX_MINUTES) {
                return bad(format!(
                    "--minutes must be a positive number up to {MAX_MINUTES}, got {m}"
                ));
            }
        }
        if self.iters == 0 {
            return bad("--iters must be at least 1".into());
        }
        if self.save_every == 0 || self.eval_every == 0 {
            return bad("--save-every and --eval-every must be at least 1".into());
        }
        if !(self.lambda.is_finite() && self.lambda >= 0.0) {
            return bad(format!(
                "--lambda must be a non-negative number, got {}",
                self.lambda
            ));
        }
        Ok(())
    }
}

fn is_zero(v: &u64) -> bool {
    *v == 0
}

fn is_zero_f64(v: &f64) -> bool {
    *v == 0.0
}

fn one() -> f64 {
    1.0
}

fn is_one(v: &f64) -> bool {
    *v == 1.0
}

fn default_clip() -> f64 {
    CLIP
}

/// Limits that keep absurd values from exhausting memory instead of failing clearly.
pub const MAX_BATCH: usize = 65_536;
pub const MAX_CRITIC_ITERS: usize = 1000;
/// The lowest `--gumbel` temperature: below it the relaxed sample is a one-hot in f32 and its
/// gradient, scaled by 1/τ, overflows.
pub const MIN_GUMBEL: f64 = 0.01;
/// About two years.
pub const MAX_MINUTES: f64 = 1e6;

/// The factor on both learning rates at generator iteration `t`: `1 / (1 + t / decay)`, or 1
/// with `decay` 0. An inverse-time decay needs no end date (the default run has none): fast
/// steps while the networks are far from anything, smaller ones once the noise of a large
/// step is what limits them — half the rate after `decay` iterations, a third after twice that.
pub fn lr_scale(decay: u64, t: u64) -> f64 {
    if decay == 0 {
        1.0
    } else {
        1.0 / (1.0 + t as f64 / decay as f64)
    }
}

/// `save_every` for a run that never checkpoints on its own (a sweep's runs).
pub const NEVER: u64 = u64::MAX;

/// [`NEVER`] is written `null` in `config.json` (and read back from `null` or, as older files
/// wrote it, from its number).
mod never_as_null {
    use serde::{Deserialize, Deserializer, Serializer};

    // (Named from the crate root: this is a module inside the file.)
    use crate::train::settings::NEVER;

    pub fn serialize<S: Serializer>(v: &u64, s: S) -> Result<S::Ok, S::Error> {
        match *v {
            NEVER => s.serialize_none(),
            v => s.serialize_some(&v),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<u64, D::Error> {
        Ok(Option::<u64>::deserialize(d)?.unwrap_or(NEVER))
    }
}

#[cfg(test)]
mod tests {
    use crate::train::presets::Preset;
    use crate::train::settings::{RunConfig, TrainOptions, NEVER};

    #[test]
    fn never_saving_is_written_null_and_read_back_from_null_or_the_old_number() {
        let opts = TrainOptions {
            save_every: Some(NEVER),
            ..TrainOptions::default()
        };
        let mut config = opts
            .new_config("c.txt".into(), Preset::Cpu, "cpu".into())
            .unwrap();
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["save_every"], serde_json::Value::Null);
        let back: RunConfig = serde_json::from_value(json.clone()).unwrap();
        assert_eq!(back.save_every, NEVER);
        let mut old = json;
        old["save_every"] = serde_json::json!(18446744073709551615u64);
        assert_eq!(
            serde_json::from_value::<RunConfig>(old).unwrap().save_every,
            NEVER
        );
        config.save_every = 500;
        let json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["save_every"], 500);
    }

    #[test]
    fn runs_from_before_the_kernel_setting_have_the_papers_and_a_resumed_run_cannot_change_it() {
        let config = TrainOptions::default()
            .new_config("c.txt".into(), Preset::Cpu, "cpu".into())
            .unwrap();
        let mut json = serde_json::to_value(&config).unwrap();
        assert_eq!(json["model"]["kernel"], 3);
        let model = json["model"].as_object_mut().unwrap();
        assert!(model.remove("kernel").is_some());
        let old: RunConfig = serde_json::from_value(json).unwrap();
        assert_eq!(old.model.kernel, crate::model::PAPER_KERNEL);
        let resume = |kernel: usize| {
            TrainOptions {
                kernel: Some(kernel),
                resume: true,
                ..TrainOptions::default()
            }
            .resumed_config(old.clone(), "models/r", "cpu".into())
        };
        assert_eq!(resume(5).unwrap().model.kernel, 5);
        let e = resume(3).unwrap_err().to_string();
        assert!(
            e.contains("--kernel 3: the run in models/r was started with 5"),
            "{e}"
        );
    }

    #[test]
    fn runs_from_before_the_truncation_read_the_noise_as_drawn_and_a_resumed_run_may_change_it() {
        let config = TrainOptions::default()
            .new_config("c.txt".into(), Preset::Cpu, "cpu".into())
            .unwrap();
        let mut json = serde_json::to_value(&config).unwrap();
        assert!(json.as_object_mut().unwrap().remove("truncation").is_some());
        let old: RunConfig = serde_json::from_value(json).unwrap();
        assert_eq!(old.truncation, 1.0);
        let resume = |psi: f64| {
            TrainOptions {
                truncation: Some(psi),
                resume: true,
                ..TrainOptions::default()
            }
            .resumed_config(old.clone(), "models/r", "cpu".into())
        };
        assert_eq!(resume(0.5).unwrap().truncation, 0.5);
        let e = resume(2.0).unwrap_err().to_string();
        assert!(
            e.contains("--truncation must be above 0 and at most 1 (1: the noise as drawn), got 2"),
            "{e}"
        );
    }
}
