//! The paper's language-model networks (SEED-NOTES §5), channels-last `(batch, length, channels)`.

pub mod conv;
pub mod critic;
pub mod generator;
pub mod layernorm;
pub mod linear;
pub mod params;
pub mod resblock;

use serde::{Deserialize, Serialize};

/// Shape of both networks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ModelShape {
    /// Vocabulary size V (one-hot / softmax width).
    pub vocab: usize,
    /// Characters per sample (32 in the paper).
    pub seq_len: usize,
    /// Channels of every hidden layer (the paper's DIM, 512).
    pub dim: usize,
    /// Size of the generator's Gaussian noise input (128).
    pub noise_dim: usize,
    /// Residual blocks in each network (5).
    pub res_blocks: usize,
    /// Normalisation inside the critic's residual blocks (none in the paper's language model).
    #[serde(default)]
    pub critic_norm: CriticNorm,
}

/// `--critic-norm`: what normalises the critic's activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum CriticNorm {
    /// None, as the paper's language model.
    #[default]
    None,
    /// Layer normalisation before each ReLU of a residual block, per sample.
    Layer,
    /// Batch normalisation: refused, it couples the samples the penalty treats one by one.
    Batch,
}
