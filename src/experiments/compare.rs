//! `textgan compare`: train one run per Lipschitz strategy with the same seed, width and
//! budget, and write a Markdown report with SVG charts: JSD-4 and the Wasserstein estimate
//! against training time and against generator iterations, seconds per iteration, final
//! metrics and samples, and the critics' weight histograms and layer gradient norms.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::Serialize;

use super::diagnose::{self, Variant};
use super::harness;
use crate::error::{Error, Result};
use crate::experiments::plot::{self, Series};
use crate::model::penalty::Lipschitz;
use crate::model::RES_BLOCKS;
use crate::train::events::{percent, Control, MetricsRecord};
use crate::train::progress::{Part, Progress};
use crate::train::settings::TrainOptions;

#[derive(Debug, Clone)]
pub struct CompareOptions {
    /// Everything but the strategy, the run directory and the budget: corpus, preset, width, seed…
    pub base: TrainOptions,
    pub strategies: Vec<Lipschitz>,
    /// Budget of each run (at least one of the two).
    pub minutes: Option<f64>,
    pub iters: Option<u64>,
    /// Report directory; the runs go to `<out>/runs/<strategy>`.
    pub out: PathBuf,
    /// The command line that asked for this, quoted in the report.
    pub command: String,
}

/// One strategy's run, as the report shows it.
#[derive(Debug, Clone, Serialize)]
pub struct RunSummary {
    pub strategy: String,
    pub iterations: u64,
    pub train_secs: f64,
    /// Median seconds per generator iteration (its critic steps included).
    pub secs_per_iter: f64,
    /// `(iteration, training seconds, W estimate)` after every iteration.
    pub steps: Vec<(u64, f64, f64)>,
    pub metrics: Vec<MetricsRecord>,
    pub samples: Vec<String>,
}

/// What `textgan compare --format json` prints: each strategy's outcome and where the report is.
#[derive(Debug, Clone, Serialize)]
pub struct CompareOutput {
    pub runs: Vec<StrategyResult>,
    /// The report's path, displayed (a path that is not UTF-8 would not serialise).
    pub report: String,
}

/// One strategy in [`CompareOutput`].
#[derive(Debug, Clone, Serialize)]
pub struct StrategyResult {
    pub strategy: String,
    pub iterations: u64,
    pub secs_per_iter: f64,
    /// JSD-1..4 at the last evaluation (`null` if there was none).
    pub js: Option<[f64; 4]>,
}

impl CompareOutput {
    /// The summary of `runs`, whose report is at `report`.
    pub fn new(runs: &[RunSummary], report: String) -> Self {
        CompareOutput {
            runs: runs
                .iter()
                .map(|r| StrategyResult {
                    strategy: r.strategy.clone(),
                    iterations: r.iterations,
                    secs_per_iter: r.secs_per_iter,
                    js: r.metrics.last().map(|m| m.js),
                })
                .collect(),
            report,
        }
    }
}

/// Run every strategy in turn and write the report; `progress` hears about evaluations and
/// the share done (every strategy an equal part).
pub fn compare_strategies(
    opts: &CompareOptions,
    device: &Device,
    control: &Control,
    progress: &mut dyn Progress,
) -> Result<Vec<RunSummary>> {
    if opts.strategies.is_empty() {
        return Err(Error::Config("--lipschitz lists no strategy".into()));
    }
    if opts.minutes.is_none() && opts.iters.is_none() {
        return Err(Error::Config(
            "compare needs a budget for each run: --minutes M or --iters N".into(),
        ));
    }
    // The report directory is this comparison's until it ends (each run's directory inside
    // it is locked by its trainer as well).
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    let _lock = crate::run_dir::lock::RunLock::acquire(&opts.out, "compare")?;
    let mut summaries = Vec::new();
    let mut variants = Vec::new();
    let mut res_blocks = RES_BLOCKS;
    for (index, &strategy) in opts.strategies.iter().enumerate() {
        let mut part = Part::of(progress, index, opts.strategies.len());
        let train = TrainOptions {
            out: Some(opts.out.join("runs").join(strategy.name())),
            lipschitz: Some(strategy),
            minutes: opts.minutes,
            iters: opts.iters,
            force: true,
            resume: false,
            ..opts.base.clone()
        };
        let name = strategy.name().to_string();
        let label = format!("[{name}]");
        let mut run = harness::train_and_record(&train, &[], &label, device, control, &mut part)?;
        if let Some((_, message)) = run.diverged.take() {
            return Err(Error::NonFinite(message));
        }
        res_blocks = run.trainer.config().model.res_blocks;
        let samples = run.trainer.fixed_samples()?.into_iter().take(12).collect();
        let diagnostics = diagnose::inspect(&mut run.trainer)?;
        variants.push(Variant {
            name: name.clone(),
            wasserstein: run.steps.iter().map(|s| s.2).collect(),
            diagnostics,
        });
        summaries.push(RunSummary {
            strategy: name,
            iterations: run.trainer.iteration(),
            train_secs: run.trainer.elapsed_secs(),
            secs_per_iter: run.secs_per_iter(),
            steps: run.steps,
            metrics: run.metrics,
            samples,
        });
        if control.stop_requested() {
            break;
        }
    }
    diagnose::write_figures(&opts.out, &variants, res_blocks)?;
    write_charts(&opts.out, &summaries)?;
    crate::run_dir::atomic::write_json(&opts.out.join("compare.json"), &summaries)?;
    let report = report(opts, &summaries);
    crate::run_dir::atomic::write_atomic(&opts.out.join("report.md"), report.as_bytes())?;
    Ok(summaries)
}

/// JSD-4 and W against training minutes and against iterations.
fn write_charts(out: &Path, runs: &[RunSummary]) -> Result<()> {
    let jsd = |time: bool| -> Vec<Series> {
        runs.iter()
            .map(|r| Series {
                name: r.strategy.clone(),
                points: r
                    .metrics
                    .iter()
                    .map(|m| {
                        let x = if time {
                            m.elapsed_secs / 60.0
                        } else {
                            m.iteration as f64
                        };
                        (x, m.js[3])
                    })
                    .collect(),
            })
            .collect()
    };
    let w = |time: bool| -> Vec<Series> {
        runs.iter()
            .map(|r| Series {
                name: r.strategy.clone(),
                points: smooth(&r.steps)
                    .into_iter()
                    .map(|(i, t, w)| (if time { t / 60.0 } else { i as f64 }, w))
                    .collect(),
            })
            .collect()
    };
    let charts = [
        (
            "jsd4_time.svg",
            "JSD-4 vs training time",
            "minutes",
            "JSD-4",
            jsd(true),
        ),
        (
            "jsd4_iters.svg",
            "JSD-4 vs generator iterations",
            "iteration",
            "JSD-4",
            jsd(false),
        ),
        (
            "wasserstein_time.svg",
            "Critic's Wasserstein estimate vs training time (moving average)",
            "minutes",
            "W estimate",
            w(true),
        ),
        (
            "wasserstein_iters.svg",
            "Critic's Wasserstein estimate vs generator iterations (moving average)",
            "iteration",
            "W estimate",
            w(false),
        ),
    ];
    for (file, title, x, y, series) in charts {
        plot::line_chart(&out.join(file), title, x, y, &series, false)?;
    }
    Ok(())
}

/// Moving average of W over windows of 1/50 of the run, one point per window.
fn smooth(steps: &[(u64, f64, f64)]) -> Vec<(u64, f64, f64)> {
    let window = (steps.len() / 50).max(1);
    steps
        .chunks(window)
        .map(|c| {
            let last = c[c.len() - 1];
            let mean = c.iter().map(|s| s.2).sum::<f64>() / c.len() as f64;
            (last.0, last.1, mean)
        })
        .collect()
}

fn report(opts: &CompareOptions, runs: &[RunSummary]) -> String {
    let mut md = String::new();
    let _ = writeln!(md, "# Lipschitz strategies compared\n");
    let _ = writeln!(md, "Made by:\n\n```\n{}\n```\n", opts.command);
    let _ = writeln!(
        md,
        "Machine: {} ({} threads). textgan {}. Each run: the same seed, width and budget ({}); \
         times are training time only (evaluations excluded).\n",
        crate::device::cpu_model(),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        env!("CARGO_PKG_VERSION"),
        match (opts.minutes, opts.iters) {
            (Some(m), Some(i)) => format!("{m} minutes or {i} iterations"),
            (Some(m), None) => format!("{m} minutes"),
            (None, Some(i)) => format!("{i} iterations"),
            (None, None) => String::new(),
        }
    );
    let _ = writeln!(md, "## Final numbers\n");
    let _ = writeln!(
        md,
        "| strategy | iterations | s / iteration | JSD-1 | JSD-2 | JSD-3 | JSD-4 | valid words | unique | novel |"
    );
    let _ = writeln!(md, "|---|---|---|---|---|---|---|---|---|---|");
    for r in runs {
        if let Some(m) = r.metrics.last() {
            let _ = writeln!(
                md,
                "| {} | {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {} | {} | {} |",
                r.strategy,
                r.iterations,
                r.secs_per_iter,
                m.js[0],
                m.js[1],
                m.js[2],
                m.js[3],
                percent(m.valid_word_rate),
                percent(m.unique_rate),
                percent(m.novelty)
            );
        }
    }
    if let Some(m) = runs.first().and_then(|r| r.metrics.last()) {
        let _ = writeln!(
            md,
            "| held-out real text (floor) | | | {:.3} | {:.3} | {:.3} | {:.3} | | | |",
            m.floor_js[0], m.floor_js[1], m.floor_js[2], m.floor_js[3]
        );
    }
    let _ = writeln!(md, "\n## Curves\n");
    for (file, alt) in [
        ("jsd4_time.svg", "JSD-4 vs training time"),
        ("jsd4_iters.svg", "JSD-4 vs iterations"),
        ("wasserstein_time.svg", "W estimate vs training time"),
        ("wasserstein_iters.svg", "W estimate vs iterations"),
    ] {
        let _ = writeln!(md, "![{alt}]({file})\n");
    }
    let _ = writeln!(
        md,
        "## The critics at the end\n\nWeights (clipping piles them at ±c) and the gradient norm \
         of the score w.r.t. each layer's activations at real–fake interpolates (log scale):\n"
    );
    let _ = writeln!(
        md,
        "![weights]({})\n\n![layer gradients]({})\n",
        diagnose::WEIGHTS_SVG,
        diagnose::LAYER_GRADS_SVG
    );
    let _ = writeln!(md, "## Final samples (fixed noise)\n");
    for r in runs {
        let _ = writeln!(md, "**{}**\n\n```", r.strategy);
        for s in &r.samples {
            let _ = writeln!(md, "{s}");
        }
        let _ = writeln!(md, "```\n");
    }
    let _ = writeln!(
        md,
        "Numbers behind the charts: `compare.json` (every step and evaluation), `{}`; \
         the runs themselves: `runs/<strategy>/`.",
        diagnose::LAYER_GRADS_CSV
    );
    md
}
