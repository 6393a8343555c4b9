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
/// Default vocabulary cap (the paper's code keeps at most 2048 characters).
pub const MAX_VOCAB: usize = 2048;

/// Named bundles of hyper-parameters; explicit flags override them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Preset {
    /// Sized for a CPU, learning shows within minutes: DIM 32, 5 critic iterations, Adam 5e-4.
    Cpu,
    /// The paper's exact settings (DIM 512, 10 critic iterations, Adam 1e-4, β = (0.5, 0.9)).
    Paper,
}

/// The hyper-parameters a preset stands for.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct PresetValues {
    pub dim: usize,
    pub critic_iters: usize,
    pub batch: usize,
    pub lr: f64,
}

impl Preset {
    pub fn values(self) -> PresetValues {
        match self {
            Preset::Paper => PresetValues {
                dim: 512,
                critic_iters: 10,
                batch: 64,
                lr: 1e-4,
            },
            // Measured on a 2-core CPU (README, "Choosing the cpu preset"): at equal wall time
            // DIM 32 with 5 critic steps and Adam 5e-4 reaches a lower n-gram JSD in the first
            // minutes than DIM 64, or than the paper's 1e-4.
            Preset::Cpu => PresetValues {
                dim: 32,
                critic_iters: 5,
                batch: 64,
                lr: 5e-4,
            },
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Preset::Cpu => "cpu",
            Preset::Paper => "paper",
        }
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

    pub fn shape_for(vocab: usize, dim: usize, critic_norm: CriticNorm) -> ModelShape {
        ModelShape {
            vocab,
            seq_len: SEQ_LEN,
            dim,
            noise_dim: NOISE_DIM,
            res_blocks: RES_BLOCKS,
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
    /// A shape textgan can have built: fixed sequence length, noise size and depth; bounded
    /// width and vocabulary. Checked when a `config.json` is read, so a hand-edited file cannot
    /// ask for terabytes.
    pub fn check(&self) -> std::result::Result<(), String> {
        if self.seq_len != SEQ_LEN || self.noise_dim != NOISE_DIM || self.res_blocks != RES_BLOCKS {
            return Err(format!(
                "model shape must have seq_len {SEQ_LEN}, noise_dim {NOISE_DIM}, res_blocks {RES_BLOCKS} (has {}, {}, {})",
                self.seq_len, self.noise_dim, self.res_blocks
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

/// FNV-1a 64-bit, as hex: a cheap fingerprint of the corpus (not a security hash).
pub fn fingerprint(bytes: &[u8]) -> String {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in bytes {
        h ^= b as u64;
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{h:016x}")
}
