//! Named bundles of hyper-parameters (`--preset`), and the default of every setting a new run
//! does not set: the one place a default lives. Explicit flags override a preset.

use crate::kernels::Precision;
use serde::{Deserialize, Serialize};

use crate::model::penalty::{Lipschitz, CLIP, LAMBDA};
use crate::model::{PAPER_KERNEL, RES_BLOCKS};

/// Generator iterations when no `--iters` is given (the paper's run length).
pub const DEFAULT_ITERS: u64 = 200_000;
/// A checkpoint every this many generator iterations.
pub const DEFAULT_SAVE_EVERY: u64 = 100;
/// An evaluation every this many generator iterations.
pub const DEFAULT_EVAL_EVERY: u64 = 100;
/// Default vocabulary cap (the paper's code keeps at most 2048 characters).
pub const MAX_VOCAB: usize = 2048;
/// Seed of a run without `--seed`.
pub const DEFAULT_SEED: u64 = 0;

/// From a `--minutes` budget this long on, the `cpu` preset is [`LONG_BUDGET_DIM`] wide
/// ([`Preset::values_for`]): per iteration the wider model learns much faster, per minute it
/// ties at 10 minutes and wins from half an hour on (docs/quality §23; on a CPU that makes a
/// third of those iterations a minute it still ties at half an hour, §38).
pub const LONG_BUDGET_MINUTES: f64 = 30.0;
/// The `cpu` preset's width (both networks) for a budget of [`LONG_BUDGET_MINUTES`] or more.
/// Its convolutions stay the preset's width-3 ones: at width 64 they learn per iteration what
/// the paper's width-5 ones learn, at 1.4 times the iterations a minute (docs/quality §38).
pub const LONG_BUDGET_DIM: usize = 64;

/// Named bundles of hyper-parameters; explicit flags override them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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
    /// Width of the residual blocks' convolutions.
    pub kernel: usize,
    /// The critic's local branch after this many blocks (0: none, the paper's critic).
    pub local_critic: usize,
    /// The generator's self-attention after this many blocks (0: none, the paper's generator).
    pub attention: usize,
    /// Positions the generator's autoregressive read-out looks back (0: none, the paper's).
    pub autoregressive: usize,
    pub critic_iters: usize,
    pub batch: usize,
    /// Adam learning rates of the critic and the generator.
    pub lr_critic: f64,
    pub lr_gen: f64,
    /// Adam's β₁, β₂ for both networks.
    pub betas: (f64, f64),
    /// Iterations over which the learning rates fall to half
    /// ([`lr_scale`](crate::train::settings::lr_scale); 0: constant).
    pub lr_decay: u64,
    /// Generator iterations per added character of a length curriculum (0: none).
    pub curriculum: u64,
    /// Temperature of the critic's Gumbel-softmax view of the fakes (0: none).
    pub gumbel: f64,
    /// Decay of the generator's weight average (0: none).
    pub ema: f64,
    /// Truncation ψ of the noise samples are read from (1: as drawn).
    pub truncation: f64,
    /// The hand-written step's matrix-product inputs.
    pub precision: Precision,
    pub lipschitz: Lipschitz,
    /// Penalty weight λ (gp, lp, fd) and clipping bound c (clip): the paper's for both presets.
    pub lambda: f64,
    pub clip: f64,
}

impl Preset {
    pub const ALL: [Preset; 2] = [Preset::Cpu, Preset::Paper];

    /// What the preset sets for a run with a budget of `minutes` (`None`: no time limit): its
    /// [`values`](Self::values), and for the `cpu` preset from [`LONG_BUDGET_MINUTES`] on, width
    /// [`LONG_BUDGET_DIM`]. A budget in iterations alone keeps the preset's shape: how long
    /// those take depends on the machine.
    pub fn values_for(self, minutes: Option<f64>) -> PresetValues {
        let v = self.values();
        match (self, minutes) {
            (Preset::Cpu, Some(m)) if m >= LONG_BUDGET_MINUTES => PresetValues {
                dim: LONG_BUDGET_DIM,
                ..v
            },
            _ => v,
        }
    }

    /// What the preset is for, for help texts.
    pub fn help(self) -> &'static str {
        match self {
            Preset::Cpu => "Sized for a CPU: the settings that reached the lowest n-gram JSD after 10 minutes on two cores in measured sweeps (docs/sweep, docs/quality), wider for a --minutes budget of 30 or more",
            Preset::Paper => "The paper's exact settings (its public code's language model)",
        }
    }

    pub fn values(self) -> PresetValues {
        match self {
            Preset::Paper => PresetValues {
                dim: 512,
                res_blocks: RES_BLOCKS,
                kernel: PAPER_KERNEL,
                local_critic: 0,
                attention: 0,
                autoregressive: 0,
                critic_iters: 10,
                batch: 64,
                lr_critic: 1e-4,
                lr_gen: 1e-4,
                betas: (0.5, 0.9),
                lr_decay: 0,
                curriculum: 0,
                gumbel: 0.0,
                ema: 0.0,
                truncation: 1.0,
                precision: Precision::F32,
                lipschitz: Lipschitz::Gp,
                lambda: LAMBDA,
                clip: CLIP,
            },
            // The sweep's choice (docs/sweep/README.md): a narrow, shallow model takes many
            // steps, and the decay lets a fast start settle instead of plateauing. Then the
            // quality study's (docs/quality/README.md): the generator's weight average, which
            // lets twice the step pay (JSD-4 after 10 minutes 0.377 against 0.412). Then the
            // generator's autoregressive read-out, the first change to the model that won at
            // equal time on every corpus measured (docs/quality §20). For a budget of half an
            // hour or more, `values_for` widens it to 64 (§23, §26). bf16 products: the same
            // curve per iteration, 1.2-1.3 times the iterations a minute where the CPU has AVX-512
            // BF16, and f32 (the same step) where it has not (§25). Samples read from noise
            // truncated to 0.7: lower JSD-4 and more real words from every model measured (§32).
            // Width-3 convolutions: the curve per iteration of the paper's kernel 5 at 1.4 times
            // its iterations a minute, so 10 minutes end lower at width 48 (§36) and 30 at
            // width 64 (§38).
            Preset::Cpu => PresetValues {
                dim: 48,
                res_blocks: 3,
                kernel: 3,
                local_critic: 0,
                attention: 0,
                autoregressive: 3,
                critic_iters: 5,
                batch: 64,
                lr_critic: 4e-3,
                lr_gen: 4e-3,
                betas: (0.5, 0.9),
                lr_decay: 2000,
                curriculum: 0,
                gumbel: 0.0,
                ema: 0.999,
                truncation: 0.7,
                precision: Precision::Bf16,
                lipschitz: Lipschitz::Gp,
                lambda: LAMBDA,
                clip: CLIP,
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
        // What the preset adds to the residual blocks, and after the Lipschitz strategy.
        let mut beside_blocks = String::new();
        if v.local_critic > 0 {
            beside_blocks += &format!(" (critic's local branch after {})", v.local_critic);
        }
        if v.attention > 0 {
            beside_blocks += &format!(" (generator's self-attention after {})", v.attention);
        }
        if v.autoregressive > 0 {
            beside_blocks += &format!(" (generator's read-out looking back {})", v.autoregressive);
        }
        let mut extras = String::new();
        if v.ema != 0.0 {
            extras += &format!(", generator weight average {}", v.ema);
        }
        if v.precision != Precision::F32 {
            extras += &format!(
                ", {} products (f32 on CPUs without AVX-512 BF16)",
                v.precision.name()
            );
        }
        if v.curriculum > 0 {
            extras += &format!(
                ", length curriculum +1 character every {} iterations",
                v.curriculum
            );
        }
        if v.gumbel != 0.0 {
            extras += &format!(", Gumbel-softmax fakes at τ = {}", v.gumbel);
        }
        if v.truncation != 1.0 {
            extras += &format!(", samples read at noise truncation {}", v.truncation);
        }
        // The width a long budget gets, as `values_for` gives it.
        let long = self.values_for(Some(LONG_BUDGET_MINUTES)).dim;
        let wider = match long != v.dim {
            true => format!(" ({long} with --minutes {LONG_BUDGET_MINUTES} or more)"),
            false => String::new(),
        };
        format!(
            "dim {}{wider}, {} residual blocks of width-{} convolutions{beside_blocks}, {} critic iterations, batch {}, {lr}{decay}, β = ({}, {}), {}{extras}",
            v.dim,
            v.res_blocks,
            v.kernel,
            v.critic_iters,
            v.batch,
            v.betas.0,
            v.betas.1,
            v.lipschitz.name()
        )
    }
}
