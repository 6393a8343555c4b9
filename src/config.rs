//! Run settings: presets, and the `config.json` of a run directory, which records every
//! setting actually used.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

use crate::corpus::SEQ_LEN;
use crate::error::{Error, Result};
use crate::nn::critic::BATCH_NORM_REFUSED;
use crate::nn::CriticNorm;
use crate::nn::ModelShape;
use crate::optim::OptimConfig;
use crate::penalty::{Lipschitz, CLIP};

/// Noise dimension of the paper's generator.
pub const NOISE_DIM: usize = 128;
/// Residual blocks per network in the paper.
pub const RES_BLOCKS: usize = 5;
/// Most residual blocks a network may have (the paper trained up to a 101-layer ResNet).
pub const MAX_RES_BLOCKS: usize = 64;
/// Default vocabulary cap (the paper's code keeps at most 2048 characters).
pub const MAX_VOCAB: usize = 2048;

/// Named bundles of hyper-parameters; explicit flags override them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Sized for a CPU: the settings that reached the lowest n-gram JSD after 10 minutes on two
    /// cores in a measured sweep (docs/sweep)
    Cpu,
    /// The paper's exact settings (its public code's language model)
    Paper,
}

/// The hyper-parameters a preset stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PresetValues {
    pub dim: usize,
    pub res_blocks: usize,
    pub critic_iters: usize,
    pub batch: usize,
    /// Adam learning rates of the critic and the generator.
    pub lr_critic: f64,
    pub lr_gen: f64,
    /// Adam's β₁, β₂ for both networks.
    pub betas: (f64, f64),
    /// Iterations over which the learning rates fall to half ([`lr_scale`]; 0: constant).
    pub lr_decay: u64,
    pub lipschitz: Lipschitz,
}

impl Preset {
    pub fn values(self) -> PresetValues {
        match self {
            Preset::Paper => PresetValues {
                dim: 512,
                res_blocks: RES_BLOCKS,
                critic_iters: 10,
                batch: 64,
                lr_critic: 1e-4,
                lr_gen: 1e-4,
                betas: (0.5, 0.9),
                lr_decay: 0,
                lipschitz: Lipschitz::Gp,
            },
            // The sweep's choice (docs/sweep/README.md): the lowest JSD-4 after 10 minutes on
            // 2 cores and the lowest at 2 and 5; a narrow, shallow model takes many steps, and
            // the decay lets a fast start settle instead of plateauing.
            Preset::Cpu => PresetValues {
                dim: 32,
                res_blocks: 3,
                critic_iters: 5,
                batch: 64,
                lr_critic: 2e-3,
                lr_gen: 2e-3,
                betas: (0.5, 0.9),
                lr_decay: 2000,
                lipschitz: Lipschitz::Gp,
            },
        }
    }

    /// The preset a new run gets without `--preset`: `cpu` on the CPU, the paper's on a GPU.
    pub fn default_for(device: &candle_core::Device) -> Preset {
        if device.is_cpu() {
            Preset::Cpu
        } else {
            Preset::Paper
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Cpu => "cpu",
            Preset::Paper => "paper",
        }
    }

    /// What the preset sets, for help texts and reports.
    pub fn describe(self) -> String {
        let v = self.values();
        let lr = if v.lr_critic == v.lr_gen {
            format!("Adam {:e}", v.lr_critic)
        } else {
            format!("Adam {:e} critic / {:e} generator", v.lr_critic, v.lr_gen)
        };
        let decay = match v.lr_decay {
            0 => String::new(),
            n => format!(" ÷ (1 + t/{n})"),
        };
        format!(
            "dim {}, {} residual blocks, {} critic iterations, batch {}, {lr}{decay}, β = ({}, {}), {}",
            v.dim,
            v.res_blocks,
            v.critic_iters,
            v.batch,
            v.betas.0,
            v.betas.1,
            v.lipschitz.name()
        )
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
    pub seed: u64,
    /// Total generator iterations of the run.
    pub iters: u64,
    /// Wall-clock budget of one invocation, if any.
    pub minutes: Option<f64>,
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
        range("--res-blocks", self.model.res_blocks, MAX_RES_BLOCKS)?;
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

    pub fn shape_for(
        vocab: usize,
        dim: usize,
        res_blocks: usize,
        critic_norm: CriticNorm,
    ) -> ModelShape {
        ModelShape {
            vocab,
            seq_len: SEQ_LEN,
            dim,
            noise_dim: NOISE_DIM,
            res_blocks,
            critic_norm,
        }
    }
}

fn default_clip() -> f64 {
    CLIP
}

/// Limits that keep absurd values from exhausting memory instead of failing clearly.
pub const MAX_DIM: usize = 8192;
pub const MAX_BATCH: usize = 65_536;
pub const MAX_CRITIC_ITERS: usize = 1000;
pub const MAX_VOCAB_LIMIT: usize = 1 << 20;
/// About two years.
pub const MAX_MINUTES: f64 = 1e6;

impl ModelShape {
    /// A shape textgan can have built: fixed sequence length and noise size; bounded width,
    /// depth and vocabulary. Checked when a `config.json` is read, so a hand-edited file cannot
    /// ask for terabytes.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.seq_len != SEQ_LEN || self.noise_dim != NOISE_DIM {
            return Err(format!(
                "model shape must have seq_len {SEQ_LEN} and noise_dim {NOISE_DIM} (has {}, {})",
                self.seq_len, self.noise_dim
            ));
        }
        if self.res_blocks == 0 || self.res_blocks > MAX_RES_BLOCKS {
            return Err(format!(
                "model res_blocks must be 1..={MAX_RES_BLOCKS}, has {}",
                self.res_blocks
            ));
        }
        if self.dim == 0 || self.dim > MAX_DIM {
            return Err(format!("model dim must be 1..={MAX_DIM}, has {}", self.dim));
        }
        if self.critic_norm == CriticNorm::Batch {
            return Err(BATCH_NORM_REFUSED.into());
        }
        if self.vocab < 3 || self.vocab > MAX_VOCAB_LIMIT {
            return Err(format!(
                "model vocab must be 3..={MAX_VOCAB_LIMIT}, has {}",
                self.vocab
            ));
        }
        Ok(())
    }
}

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

/// FNV-1a 64-bit, as hex: a cheap fingerprint of the corpus (not a security hash).
pub fn fingerprint(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
