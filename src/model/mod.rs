//! Stage 2, the model: the paper's language-model networks (Gulrajani et al. 2017, appendix;
//! its code's `gan_language.py`), channels-last `(batch, length, channels)`.
//!
//! [`ModelShape`] and every shape constant live here; [`schema`] states every parameter's
//! name, shape and order once, for both execution paths: the autograd reference networks in
//! [`autograd`] (any candle device) and the hand-written CPU step in [`crate::cpu_step`].
//! [`penalty`] holds the critic's loss and the Lipschitz strategies.

pub mod autograd;
pub mod params;
pub mod penalty;
pub mod schema;

use serde::{Deserialize, Serialize};

use crate::data::corpus::SEQ_LEN;

/// Noise dimension of the paper's generator.
pub const NOISE_DIM: usize = 128;
/// Residual blocks per network in the paper.
pub const RES_BLOCKS: usize = 5;
/// Width of every residual block's convolutions in the paper, "same" padding.
pub const PAPER_KERNEL: usize = 5;
/// Widest convolution a model may have (odd: "same" padding centres each window).
pub const MAX_KERNEL: usize = 15;

/// Whether `kernel` is a width a model may have: odd and at most [`MAX_KERNEL`]. The one rule
/// behind both the flag's check and a `config.json`'s, which word their errors differently.
pub fn kernel_fits(kernel: usize) -> bool {
    !kernel.is_multiple_of(2) && kernel <= MAX_KERNEL
}
/// Scale `s` of the residual branch, `x + s·f(x)`: 0.3, the paper's code's value (its
/// `ResBlock` returns `inputs + (0.3*output)`). Everything else names it instead of the number.
pub const RESIDUAL_SCALE: f64 = 0.3;
/// Most residual blocks a network may have (the paper trained up to a 101-layer ResNet).
pub const MAX_RES_BLOCKS: usize = 64;
/// Widest hidden layer: keeps absurd values from exhausting memory instead of failing clearly.
pub const MAX_DIM: usize = 8192;
/// Largest vocabulary a model may have.
pub const MAX_VOCAB_LIMIT: usize = 1 << 20;

/// Why `--critic-norm batch` is refused.
pub const BATCH_NORM_REFUSED: &str = "--critic-norm batch is refused: batch normalisation makes each sample's score depend on the rest of the batch, but the gradient penalty constrains the gradient of each sample's score w.r.t. that sample alone (Gulrajani et al. 2017, §4); use --critic-norm layer";

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
    /// Width of the residual blocks' convolutions in both networks (`--kernel`; the paper's
    /// 5, which runs from before this setting have).
    #[serde(default = "paper_kernel", skip_serializing_if = "is_paper_kernel")]
    pub kernel: usize,
    /// Normalisation inside the critic's residual blocks (none in the paper's language model).
    #[serde(default)]
    pub critic_norm: CriticNorm,
    /// Channels of the critic's hidden layers where they differ from the generator's
    /// (`--critic-dim`); none: `dim`, as the paper (and runs from before this setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub critic_dim: Option<usize>,
    /// The critic's local branch (`--local-critic N`): a score at every position read from the
    /// output of its first `N` residual blocks ([`receptive_field`]`(N, kernel)` characters:
    /// about a word for `N` = 1 at the paper's kernel), their mean added to the global score. None: the paper's critic (and runs
    /// from before this setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub local_critic: Option<usize>,
    /// Self-attention in the generator after its first `N` residual blocks (`--attention N`;
    /// [`autograd::attention`]). None: the paper's generator (and runs from before this
    /// setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub attention: Option<usize>,
    /// The generator's autoregressive read-out (`--autoregressive K`;
    /// [`autograd::readout`]): each position also reads the generator's output at the `K`
    /// positions before it. None: the paper's one-shot read-out (and runs from before this
    /// setting).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub autoregressive: Option<usize>,
}

/// What the critic is shown of the generator's output in training, the same for both execution
/// paths (`G` the Gumbel noise: a tensor, or a slice on the hand-written path).
#[derive(Debug, Clone, Copy)]
pub struct FakeView<G> {
    /// Positions shown; from here on, the pad token's one-hot (a length curriculum,
    /// `--curriculum`; `seq_len` for all).
    pub visible: usize,
    /// Gumbel noise `g` `(B, L, V)` and a temperature τ (`--gumbel`): the critic sees the
    /// relaxed sample `softmax((logits + g)/τ)` (Jang et al. 2017; Maddison et al. 2017)
    /// instead of `softmax(logits)`.
    pub gumbel: Option<(G, f64)>,
}

impl<G> FakeView<G> {
    /// The whole softmax output, as the paper.
    pub fn all(seq_len: usize) -> Self {
        FakeView {
            visible: seq_len,
            gumbel: None,
        }
    }
}

/// The weight of each position's score in the critic's local branch, `1/L`: the branch adds
/// the mean of its scores.
pub fn local_position_weight(seq_len: usize) -> f64 {
    1.0 / seq_len as f64
}

/// The paper's kernel, as serde's default for a record from before the kernel could be set.
pub fn paper_kernel() -> usize {
    PAPER_KERNEL
}

fn is_paper_kernel(k: &usize) -> bool {
    *k == PAPER_KERNEL
}

/// Characters of the input one position sees after `blocks` residual blocks of width-`kernel`
/// convolutions: each block's two widen the window by `kernel − 1` each (the critic's input
/// layer is 1×1). One block of the paper's width 5: 9 characters, about a word.
pub fn receptive_field(blocks: usize, kernel: usize) -> usize {
    1 + 2 * (kernel - 1) * blocks
}

/// `--critic-norm`: what normalises the critic's activations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
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

impl CriticNorm {
    pub const ALL: [CriticNorm; 3] = [CriticNorm::None, CriticNorm::Layer, CriticNorm::Batch];

    pub fn name(self) -> &'static str {
        match self {
            CriticNorm::None => "none",
            CriticNorm::Layer => "layer",
            CriticNorm::Batch => "batch",
        }
    }

    /// What the choice means, for help texts.
    pub fn help(self) -> &'static str {
        match self {
            CriticNorm::None => "None, as the paper's language model",
            CriticNorm::Layer => {
                "Layer normalisation before each ReLU of a residual block, per sample"
            }
            CriticNorm::Batch => {
                "Batch normalisation: refused, it couples the samples the penalty treats one by one"
            }
        }
    }
}

impl ModelShape {
    /// Both networks' shape with the paper's sequence length and noise size.
    pub fn new(vocab: usize, dim: usize, res_blocks: usize, critic_norm: CriticNorm) -> Self {
        ModelShape {
            vocab,
            seq_len: SEQ_LEN,
            dim,
            noise_dim: NOISE_DIM,
            res_blocks,
            kernel: PAPER_KERNEL,
            critic_norm,
            critic_dim: None,
            local_critic: None,
            attention: None,
            autoregressive: None,
        }
    }

    /// The critic's width: `critic_dim`, or the generator's `dim`.
    pub fn critic_width(&self) -> usize {
        self.critic_dim.unwrap_or(self.dim)
    }

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
        if !kernel_fits(self.kernel) {
            return Err(format!(
                "model kernel must be odd and 1..={MAX_KERNEL} (\"same\" padding centres each window), has {}",
                self.kernel
            ));
        }
        if self.dim == 0 || self.dim > MAX_DIM {
            return Err(format!("model dim must be 1..={MAX_DIM}, has {}", self.dim));
        }
        if let Some(d) = self.critic_dim.filter(|&d| d == 0 || d > MAX_DIM) {
            return Err(format!("model critic_dim must be 1..={MAX_DIM}, has {d}"));
        }
        if self.critic_norm == CriticNorm::Batch {
            return Err(BATCH_NORM_REFUSED.into());
        }
        self.check_local_critic()?;
        self.check_attention()?;
        self.check_autoregressive()?;
        if self.vocab < 3 || self.vocab > MAX_VOCAB_LIMIT {
            return Err(format!(
                "model vocab must be 3..={MAX_VOCAB_LIMIT}, has {}",
                self.vocab
            ));
        }
        Ok(())
    }

    /// The local branch reads a block the critic has, and sees less than the whole sequence
    /// (a branch as wide as the sequence is a second global critic, not a local one).
    pub fn check_local_critic(&self) -> std::result::Result<(), String> {
        let Some(n) = self.local_critic else {
            return Ok(());
        };
        if n == 0 || n > self.res_blocks {
            return Err(format!(
                "--local-critic {n}: the local branch reads the output of residual block 1 to {} of the critic (--res-blocks {})",
                self.res_blocks, self.res_blocks
            ));
        }
        let field = receptive_field(n, self.kernel);
        if field >= self.seq_len {
            return Err(format!(
                "--local-critic {n}: after {n} residual blocks of width-{} convolutions each position sees {field} characters, not less than the whole {}-character sequence; use at most {}",
                self.kernel,
                self.seq_len,
                (self.seq_len - 2) / (2 * (self.kernel - 1))
            ));
        }
        Ok(())
    }

    /// The generator's self-attention follows a residual block it has.
    pub fn check_attention(&self) -> std::result::Result<(), String> {
        match self.attention {
            Some(n) if n == 0 || n > self.res_blocks => Err(format!(
                "--attention {n}: the self-attention follows residual block 1 to {} of the generator (--res-blocks {})",
                self.res_blocks, self.res_blocks
            )),
            _ => Ok(()),
        }
    }

    /// The read-out looks back at least one position and less than the whole sequence.
    pub fn check_autoregressive(&self) -> std::result::Result<(), String> {
        match self.autoregressive {
            Some(k) if k == 0 || k >= self.seq_len => Err(format!(
                "--autoregressive {k}: the read-out looks back 1 to {} characters of the {}-character sequence",
                self.seq_len - 1,
                self.seq_len
            )),
            _ => Ok(()),
        }
    }
}
