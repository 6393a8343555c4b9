//! `textgan sweep`: train a grid of configurations for the same wall-clock budget and compare
//! what each reached at fixed minutes — the measurement behind the `cpu` preset.
//!
//! The grid is a text file, one configuration per line, written with `train`'s own flags:
//!
//! ```text
//! # comments and blank lines are ignored; a [heading] starts a group (one chart per group)
//! [depth]
//! d64-b3: --dim 64 --res-blocks 3 --critic-iters 2 --lr-critic 4e-4 --lr-gen 1e-4
//! ```
//!
//! Every configuration trains once per seed for `--minutes` of training time (evaluations
//! excluded, as `train --minutes`), with extra evaluations when the training time first reaches
//! each mark (2, 5, 10 minutes by default). Each finished run leaves its numbers in
//! `results/<name>.seed<S>.json` (every evaluation, the settings, the last samples); running the
//! same sweep again reuses them (unless the line or the budget changed), so a long sweep can be
//! stopped and continued. The report (`report.md`, one SVG chart per group and one of the best)
//! is written from the results of the grid's lines.

pub mod grid;
pub mod options;
pub mod report;
pub mod results;

use candle_core::Device;

use super::harness::{self, Recorded};
use crate::error::{Error, Result};
use crate::run_dir::atomic::{read_json, write_json};
use crate::train::events::Control;
use crate::train::progress::{Part, Progress};
use crate::train::settings::{RunConfig, TrainOptions};
use crate::train::start;
use grid::{read_grid, GridEntry};
use options::{marks_within, SweepOptions, DEFAULT_MARKS};
use results::{result_path, stale, MarkScore, SweepRun};

/// Train every configuration × seed that has no result yet, then write the report from all
/// results. `progress` hears a line per evaluation and per finished run, and the share of the
/// sweep done (every run an equal part). After a stop request
/// the remaining lines are only looked up, so the report still shows every finished result.
pub fn run_sweep(
    opts: &SweepOptions,
    device: &Device,
    control: &Control,
    progress: &mut dyn Progress,
) -> Result<Vec<SweepRun>> {
    if !(opts.minutes.is_finite() && opts.minutes > 0.0) {
        return Err(Error::Config(format!(
            "--minutes must be a positive number, got {}",
            opts.minutes
        )));
    }
    if opts.seeds.is_empty() {
        return Err(Error::Config("--seeds lists no seed".into()));
    }
    if let Some(s) = (1..opts.seeds.len())
        .map(|i| opts.seeds[i])
        .find(|s| opts.seeds.iter().filter(|t| *t == s).count() > 1)
    {
        return Err(Error::Config(format!("--seeds lists seed {s} twice")));
    }
    let marks = match &opts.marks {
        Some(m) => marks_within(m, opts.minutes)?,
        // The default marks that fall within the budget.
        None => {
            let inside: Vec<f64> = DEFAULT_MARKS
                .into_iter()
                .filter(|&m| m <= opts.minutes)
                .collect();
            marks_within(&inside, opts.minutes)?
        }
    };
    let grid = read_grid(&opts.grid, opts.parse_flags)?;
    // Every line must make a valid run before hours are spent on the first ones.
    let mut configs = Vec::with_capacity(grid.len());
    for entry in &grid {
        let train = train_options(opts, entry, opts.seeds[0]);
        let (config, _, _) = start::new_run(&train, device).map_err(|e| match e {
            Error::Config(m) => Error::Config(format!(
                "{}:{}: {}: {m}",
                opts.grid.display(),
                entry.line,
                entry.name
            )),
            other => other,
        })?;
        configs.push(config);
    }
    // The sweep's directory is this sweep's until it ends.
    std::fs::create_dir_all(&opts.out).map_err(|e| Error::io(&opts.out, e))?;
    let _lock = crate::run_dir::lock::RunLock::acquire(&opts.out, "sweep")?;
    let mut results = Vec::new();
    // Every run is an equal part of the sweep (a stored result is a part done at once).
    let runs = grid.len() * opts.seeds.len();
    let mut index = 0;
    for (entry, config) in grid.iter().zip(&configs) {
        for &seed in &opts.seeds {
            index += 1;
            let mut part = Part::of(progress, index - 1, runs);
            let label = format!("[{} seed {seed}]", entry.name);
            let path = result_path(&opts.out, &entry.name, seed);
            let config = RunConfig {
                seed,
                ..config.clone()
            };
            let stored = match read_json::<SweepRun>(&path) {
                Ok(r) => match stale(&r, entry, &config, &marks) {
                    None => Some(r),
                    Some(why) => {
                        part.line(&format!("{label} stored result not reused: {why}"));
                        None
                    }
                },
                Err(_) if !path.exists() => None,
                Err(e) => {
                    part.line(&format!("{label} stored result not reused: {e}"));
                    None
                }
            };
            match stored {
                Some(r) if !opts.redo => {
                    part.done(1.0);
                    results.push(r);
                    continue;
                }
                _ if control.stop_requested() => continue,
                _ => {}
            }
            let r = train_one(opts, entry, seed, &marks, device, control, &mut part)?;
            if control.stop_requested() {
                part.line(&format!("{label} stopped: not recorded"));
                continue;
            }
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            write_json(&path, &r)?;
            let scores = r
                .marks
                .iter()
                .map(|m| format!("{:.3} @ {} min", m.js[3], m.minutes))
                .collect::<Vec<_>>()
                .join(", ");
            part.line(&match r.diverged_at {
                Some(t) => format!("{label} diverged at {t:.2} min; JSD-4 {scores}"),
                None => format!(
                    "{label} done: {} iterations, {:.3} s/iteration, JSD-4 {scores}",
                    r.iterations, r.secs_per_iter
                ),
            });
            results.push(r);
        }
    }
    report::write_report(opts, &grid, &marks, &results)?;
    Ok(results)
}

fn train_options(opts: &SweepOptions, entry: &GridEntry, seed: u64) -> TrainOptions {
    TrainOptions {
        corpus: Some(opts.corpus.clone()),
        out: Some(
            opts.out
                .join("runs")
                .join(&entry.name)
                .join(format!("seed{seed}")),
        ),
        seed: Some(seed),
        minutes: Some(opts.minutes),
        eval_every: opts.eval_every,
        // Only the final checkpoint is of interest.
        save_every: Some(crate::train::settings::NEVER),
        force: true,
        ..entry.options.clone()
    }
}

fn train_one(
    opts: &SweepOptions,
    entry: &GridEntry,
    seed: u64,
    marks: &[f64],
    device: &Device,
    control: &Control,
    progress: &mut dyn Progress,
) -> Result<SweepRun> {
    let label = format!("[{} seed {seed}]", entry.name);
    let marks_secs: Vec<f64> = marks.iter().map(|m| m * 60.0).collect();
    let train = train_options(opts, entry, seed);
    let run = harness::train_and_record(&train, &marks_secs, &label, device, control, progress)?;
    let Recorded {
        trainer,
        metrics,
        diverged,
        ..
    } = &run;
    let diverged_at = diverged.as_ref().map(|d| d.0);
    // A mark's score is the first evaluation at or after it (made when the training time
    // crossed it; the budget's is the final one).
    let scores = marks
        .iter()
        .filter_map(|&m| {
            metrics
                .iter()
                .find(|r| r.elapsed_secs >= m * 60.0 - 1e-9)
                .map(|r| MarkScore {
                    minutes: m,
                    iteration: r.iteration,
                    js: r.js,
                    valid_word_rate: r.valid_word_rate,
                })
        })
        .collect();
    Ok(SweepRun {
        name: entry.name.clone(),
        group: entry.group.clone(),
        flags: entry.flags.clone(),
        seed,
        budget_minutes: opts.minutes,
        corpus_hash: trainer.config().corpus_hash.clone(),
        config: trainer.config().clone(),
        machine: crate::device::cpu_model(),
        threads: rayon::current_num_threads(),
        diverged_at,
        iterations: trainer.iteration(),
        train_secs: trainer.elapsed_secs(),
        secs_per_iter: run.secs_per_iter(),
        marks: scores,
        metrics: metrics.clone(),
        samples: if diverged_at.is_some() {
            Vec::new()
        } else {
            trainer.fixed_samples()?.into_iter().take(8).collect()
        },
    })
}
