//! `textgan bench`: the speed of one training step, measured the way training runs it.
//!
//! One configuration (`--dim`, `--critic-iters`, `--lipschitz`, …) is timed in this process:
//! warm-up iterations first, then per generator iteration the generator step and each critic
//! step; medians are reported with the achieved GFLOP/s (matrix-product FLOPs counted
//! analytically, [`Flops`]) and the process's peak resident memory. The suite (no `--dim`)
//! runs every width × strategy in its own process, so that each peak memory is its own.

use std::path::{Path, PathBuf};
use std::time::Instant;

use candle_core::Device;
use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};
use crate::kernels::Precision;
use crate::model::penalty::Lipschitz;
use crate::model::ModelShape;
use crate::train::presets::Preset;
use crate::train::settings::TrainOptions;
use crate::train::start;
use crate::train::trainer::Trainer;

/// Widths of the suite: the cpu range, a middle one, and the paper's.
pub const SUITE_DIMS: [usize; 3] = [64, 128, 512];

/// One benchmark configuration.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub corpus: PathBuf,
    pub dim: usize,
    pub res_blocks: usize,
    /// Width of the residual blocks' convolutions.
    pub kernel: usize,
    pub critic_iters: usize,
    pub batch: usize,
    pub lipschitz: Lipschitz,
    /// Untimed generator iterations first (buffers sized, caches warm).
    pub warmup: usize,
    /// Timed generator iterations.
    pub iters: usize,
    /// Train the critic through candle's autograd instead of the hand-written step.
    pub autograd: bool,
    /// The hand-written step's matrix-product inputs.
    pub precision: Precision,
    /// Decay of the generator's weight average updated after every generator step (0: none).
    pub ema: f64,
    /// Positions the generator's autoregressive read-out looks back (0: none, the paper's).
    pub autoregressive: usize,
}

/// What one configuration measured. Times are medians over the timed iterations.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BenchResult {
    pub dim: usize,
    pub res_blocks: usize,
    /// Width of the residual blocks' convolutions (the paper's 5 in results from before it
    /// could be set).
    #[serde(default = "crate::model::paper_kernel")]
    pub kernel: usize,
    pub critic_iters: usize,
    pub batch: usize,
    pub vocab: usize,
    pub seq_len: usize,
    pub lipschitz: String,
    /// "hand-written", "hand-written bf16" (bf16 products) or "autograd".
    pub critic_engine: String,
    pub threads: usize,
    /// Decay of the generator's weight average updated in the timed steps (0: none).
    #[serde(default)]
    pub ema: f64,
    /// Positions the generator's read-out looks back in the timed steps (0: none).
    #[serde(default)]
    pub autoregressive: usize,
    /// Seconds per critic step (generator forward for its fake batch included).
    pub critic_step_s: f64,
    /// Seconds per generator step alone.
    pub generator_step_s: f64,
    /// Seconds per generator iteration: one generator step and its `critic_iters` critic steps.
    pub generator_iteration_s: f64,
    /// Matrix-product GFLOP of one generator iteration, and the rate achieved.
    pub gflop_per_iteration: f64,
    pub gflops: f64,
    /// Peak resident memory of the process (Linux; `null` elsewhere).
    pub peak_rss_mb: Option<f64>,
    pub timed_iterations: usize,
}

/// Matrix-product FLOPs (2·m·n·k each) of the training step, counted from the shapes. Counts
/// the products the maths needs; element-wise work is not counted.
pub struct Flops {
    shape: ModelShape,
    batch: usize,
}

impl Flops {
    pub fn new(shape: ModelShape, batch: usize) -> Self {
        Flops { shape, batch }
    }

    /// One `(samples·L, k·d) × (k·d, d)` residual convolution product.
    fn conv(&self, samples: usize) -> f64 {
        let s = self.shape;
        2.0 * (samples * s.seq_len) as f64 * (s.kernel * s.dim * s.dim) as f64
    }

    /// The input (critic) or output (generator) 1×1 convolution between V and d channels.
    fn edge(&self, samples: usize) -> f64 {
        let s = self.shape;
        2.0 * (samples * s.seq_len * s.vocab * s.dim) as f64
    }

    /// A product of `samples` rows of `L·d` with a vector or the generator's input matrix.
    fn dense(&self, samples: usize, width: usize) -> f64 {
        2.0 * (samples * self.shape.seq_len * self.shape.dim * width) as f64
    }

    fn blocks(&self) -> f64 {
        self.shape.res_blocks as f64
    }

    /// Forward pass of the generator's read-out over `samples`: per position `t`, its look-back
    /// `(min(t, K)·V)` times `E` and `u_t` `(d)` times `M` (`cpu_step/readout.rs`).
    fn readout_forward(&self, samples: usize) -> f64 {
        let s = self.shape;
        let Some(k) = s.autoregressive else {
            return 0.0;
        };
        let read: usize = (0..s.seq_len).map(|t| t.min(k)).sum();
        2.0 * (samples * (read + s.seq_len) * s.vocab * s.dim) as f64
    }

    /// Forward pass of the critic over `samples`.
    fn critic_forward(&self, samples: usize) -> f64 {
        self.edge(samples) + 2.0 * self.blocks() * self.conv(samples) + self.dense(samples, 1)
    }

    /// Forward pass of the generator over `samples`.
    fn generator_forward(&self, samples: usize) -> f64 {
        self.dense(samples, self.shape.noise_dim)
            + 2.0 * self.blocks() * self.conv(samples)
            + self.edge(samples)
            + self.readout_forward(samples)
    }

    /// One critic step of `strategy`, including the generator forward for its fake batch.
    pub fn critic_step(&self, strategy: Lipschitz) -> f64 {
        let b = self.batch;
        // Weight gradients and input-gradients of every layer (two products per conv).
        let backward = |samples: usize| {
            2.0 * 2.0 * self.blocks() * self.conv(samples)
                + 2.0 * self.edge(samples)
                + self.dense(samples, 1)
        };
        let generator = self.generator_forward(b);
        match strategy {
            Lipschitz::Clip => generator + self.critic_forward(2 * b) + backward(2 * b),
            Lipschitz::Fd => generator + self.critic_forward(4 * b) + backward(4 * b),
            Lipschitz::Gp | Lipschitz::Lp => {
                // The input-gradient chain at x̂ (two products per block and the input conv),
                // then its reverse pass (four per block, two at the input conv).
                let chain = 2.0 * self.blocks() * self.conv(b) + self.edge(b);
                let reverse = 4.0 * self.blocks() * self.conv(b) + 2.0 * self.edge(b);
                generator + self.critic_forward(3 * b) + backward(2 * b) + chain + reverse
            }
        }
    }

    /// One generator step: generator and critic forward, the critic's input-gradient, the
    /// generator's backward pass.
    pub fn generator_step(&self) -> f64 {
        let b = self.batch;
        let critic_input_grad = 2.0 * self.blocks() * self.conv(b) + self.edge(b);
        // The read-out's backward: each of its two products gives a weight and an input gradient.
        let generator_backward = 4.0 * self.blocks() * self.conv(b)
            + 2.0 * self.edge(b)
            + 2.0 * self.readout_forward(b)
            + self.dense(b, self.shape.noise_dim);
        self.generator_forward(b) + self.critic_forward(b) + critic_input_grad + generator_backward
    }
}

/// The median (the mean of the middle two for an even count; NaN if empty).
pub fn median(v: &mut [f64]) -> f64 {
    v.sort_by(f64::total_cmp);
    let n = v.len();
    if n == 0 {
        f64::NAN
    } else if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}

/// Peak resident set size of this process in MB (`VmHWM`), where the OS tells it.
pub fn peak_rss_mb() -> Option<f64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

/// Time one configuration in this process.
pub fn time_one(opts: &BenchOptions, device: &Device) -> Result<BenchResult> {
    if opts.iters == 0 {
        return Err(Error::Config("--iters must be at least 1".into()));
    }
    let train = TrainOptions {
        corpus: Some(opts.corpus.clone()),
        preset: Some(Preset::Paper),
        ema: Some(opts.ema),
        autoregressive: Some(opts.autoregressive),
        dim: Some(opts.dim),
        res_blocks: Some(opts.res_blocks),
        kernel: Some(opts.kernel),
        critic_iters: Some(opts.critic_iters),
        batch: Some(opts.batch),
        lipschitz: Some(opts.lipschitz),
        precision: Some(opts.precision),
        ..TrainOptions::default()
    };
    let (config, corpus, vocab) = start::new_run(&train, device)?;
    // Nothing is saved: the run directory is never created.
    let nowhere = std::env::temp_dir().join("textgan-bench-unused");
    let mut trainer = Trainer::new(config, corpus, vocab, &nowhere, device)?;
    if opts.autograd {
        trainer.use_autograd();
    }
    let mut critic_times = Vec::new();
    let mut gen_times = Vec::new();
    let mut iter_times = Vec::new();
    for i in 0..opts.warmup + opts.iters {
        let start = Instant::now();
        trainer.generator_step()?;
        let gen = start.elapsed().as_secs_f64();
        let mut critic = Vec::with_capacity(opts.critic_iters);
        for _ in 0..opts.critic_iters {
            let t = Instant::now();
            trainer.critic_step()?;
            critic.push(t.elapsed().as_secs_f64());
        }
        if i >= opts.warmup {
            gen_times.push(gen);
            critic_times.extend(critic);
            iter_times.push(start.elapsed().as_secs_f64());
        }
    }
    let shape = trainer.config().model;
    let flops = Flops::new(shape, opts.batch);
    let gflop = (flops.generator_step()
        + opts.critic_iters as f64 * flops.critic_step(opts.lipschitz))
        / 1e9;
    let generator_iteration_s = median(&mut iter_times);
    Ok(BenchResult {
        dim: shape.dim,
        res_blocks: shape.res_blocks,
        kernel: shape.kernel,
        critic_iters: opts.critic_iters,
        batch: opts.batch,
        vocab: shape.vocab,
        seq_len: shape.seq_len,
        lipschitz: opts.lipschitz.name().to_string(),
        critic_engine: match trainer.precision() {
            None => "autograd",
            Some(Precision::F32) => "hand-written",
            Some(Precision::Bf16) => "hand-written bf16",
        }
        .to_string(),
        threads: rayon::current_num_threads(),
        ema: opts.ema,
        autoregressive: opts.autoregressive,
        critic_step_s: median(&mut critic_times),
        generator_step_s: median(&mut gen_times),
        generator_iteration_s,
        gflop_per_iteration: gflop,
        gflops: gflop / generator_iteration_s,
        peak_rss_mb: peak_rss_mb(),
        timed_iterations: opts.iters,
    })
}

/// The suite: every width of `dims` × every strategy, each in a child process running
/// `exe bench … --json`; `progress` hears each result as it comes.
pub fn suite(
    exe: &Path,
    base: &BenchOptions,
    dims: &[usize],
    strategies: &[Lipschitz],
    progress: &mut dyn FnMut(&BenchResult),
) -> Result<Vec<BenchResult>> {
    let mut results = Vec::new();
    for &dim in dims {
        for &strategy in strategies {
            let mut cmd = std::process::Command::new(exe);
            cmd.arg("bench")
                .arg("--corpus")
                .arg(&base.corpus)
                .args(["--dim", &dim.to_string()])
                .args(["--res-blocks", &base.res_blocks.to_string()])
                .args(["--kernel", &base.kernel.to_string()])
                .args(["--critic-iters", &base.critic_iters.to_string()])
                .args(["--batch", &base.batch.to_string()])
                .args(["--lipschitz", strategy.name()])
                .args(["--warmup", &base.warmup.to_string()])
                .args(["--iters", &base.iters.to_string()])
                .args(["--precision", base.precision.name()])
                .args(["--ema", &base.ema.to_string()])
                .args(["--autoregressive", &base.autoregressive.to_string()])
                .arg("--json");
            if base.autograd {
                cmd.arg("--autograd");
            }
            let out = cmd
                .output()
                .map_err(|e| Error::Runtime(format!("cannot run {}: {e}", exe.display())))?;
            if !out.status.success() {
                return Err(Error::Runtime(format!(
                    "bench at --dim {dim} --lipschitz {} failed: {}",
                    strategy.name(),
                    String::from_utf8_lossy(&out.stderr).trim()
                )));
            }
            let r: BenchResult = serde_json::from_slice(&out.stdout)
                .map_err(|e| Error::Runtime(format!("bench child printed no result: {e}")))?;
            progress(&r);
            results.push(r);
        }
    }
    Ok(results)
}

/// Header of [`table_row`]'s Markdown table.
pub const TABLE_HEADER: &str = "| width | lipschitz | critic | critic step s | generator iteration s | GFLOP/s | peak RSS MB |\n|---|---|---|---|---|---|---|";

/// One result as a row of a Markdown table.
pub fn table_row(r: &BenchResult) -> String {
    format!(
        "| {} | {} | {} | {:.4} | {:.3} | {:.1} | {} |",
        r.dim,
        r.lipschitz,
        r.critic_engine,
        r.critic_step_s,
        r.generator_iteration_s,
        r.gflops,
        r.peak_rss_mb
            .map(|m| format!("{m:.0}"))
            .unwrap_or_else(|| "–".into())
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flops_of_the_paper_shape_by_hand() {
        let shape = ModelShape {
            vocab: 80,
            seq_len: 32,
            dim: 128,
            noise_dim: 128,
            res_blocks: 5,
            kernel: 5,
            critic_norm: crate::model::CriticNorm::None,
            critic_dim: None,
            local_critic: None,
            attention: None,
            autoregressive: None,
        };
        let f = Flops::new(shape, 64);
        // One residual conv over 64 samples: 2 · 2048 rows · 640 · 128.
        let conv = 2.0 * 2048.0 * 640.0 * 128.0;
        assert_eq!(f.conv(64), conv);
        // Width-3 convolutions: windows of 3 · 128 inputs, 3/5 of the products.
        let narrow = Flops::new(ModelShape { kernel: 3, ..shape }, 64);
        assert_eq!(narrow.conv(64), 2.0 * 2048.0 * 384.0 * 128.0);
        // gp: per block 6 (forward of 3B) + 8 (backward of 2B) + 2 (chain) + 4 (reverse)
        // B-sized convolutions in the critic, and 2 in the generator's forward.
        let per_block = (6.0 + 8.0 + 2.0 + 4.0 + 2.0) * conv;
        let blocks = 5.0 * per_block;
        let gp = f.critic_step(Lipschitz::Gp);
        assert!(gp > blocks && gp < blocks * 1.05, "{gp} vs {blocks}");
        // clip: 4 forward + 8 backward + 2 generator.
        let clip = f.critic_step(Lipschitz::Clip);
        assert!(clip > 5.0 * 14.0 * conv && clip < 5.0 * 14.0 * conv * 1.05);
    }

    #[test]
    fn flops_of_the_read_out_by_hand() {
        let shape = |autoregressive| ModelShape {
            vocab: 80,
            seq_len: 32,
            dim: 32,
            noise_dim: 128,
            res_blocks: 3,
            kernel: 5,
            critic_norm: crate::model::CriticNorm::None,
            critic_dim: None,
            local_critic: None,
            attention: None,
            autoregressive,
        };
        let (with, without) = (Flops::new(shape(Some(3)), 64), Flops::new(shape(None), 64));
        // Positions 0, 1, 2 read 0, 1, 2 positions back, the other 29 read 3: 90 look-back rows
        // of V against E, and 32 rows of u against M, per sample.
        let forward = 2.0 * 64.0 * (90.0 + 32.0) * 80.0 * 32.0;
        // A critic step draws one fake batch; a generator step runs the read-out forward and
        // back (two products for each forward one).
        let critic = with.critic_step(Lipschitz::Gp) - without.critic_step(Lipschitz::Gp);
        assert_eq!(critic, forward);
        assert_eq!(
            with.generator_step() - without.generator_step(),
            3.0 * forward
        );
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(&mut [3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&mut [4.0, 1.0, 2.0, 3.0]), 2.5);
    }
}
