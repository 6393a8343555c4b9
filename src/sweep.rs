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

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use candle_core::Device;
use clap::Parser;
use serde::{Deserialize, Serialize};

use crate::checkpoint;
use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::events::{percent, Control, Event, MetricsRecord};
use crate::penalty::Lipschitz;
use crate::plot::{self, Series};
use crate::run::{self, HyperArgs, TrainOptions};

/// Where, in minutes of training, a sweep reads its scores unless told otherwise.
pub const DEFAULT_MARKS: [f64; 3] = [2.0, 5.0, 10.0];

/// One line of the grid.
#[derive(Debug, Clone)]
pub struct GridEntry {
    pub name: String,
    /// Its line in the grid file.
    pub line: usize,
    /// The `[heading]` above it ("" before the first heading).
    pub group: String,
    /// The flags as written.
    pub flags: String,
    pub hyper: HyperArgs,
    pub lipschitz: Option<Lipschitz>,
}

/// The flags a grid line may use: `train`'s model and optimiser flags and `--lipschitz`.
#[derive(Parser)]
#[command(no_binary_name = true)]
struct GridLine {
    #[command(flatten)]
    hyper: HyperArgs,
    #[arg(long, value_enum)]
    lipschitz: Option<Lipschitz>,
}

/// Parse a grid file; an error names the file and line.
pub fn read_grid(path: &Path) -> Result<Vec<GridEntry>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_grid(path, &text)
}

fn parse_grid(path: &Path, text: &str) -> Result<Vec<GridEntry>> {
    let bad = |n: usize, msg: String| Error::Config(format!("{}:{n}: {msg}", path.display()));
    let mut entries: Vec<GridEntry> = Vec::new();
    let mut group = String::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(heading) = line.strip_prefix('[') {
            group = heading
                .strip_suffix(']')
                .ok_or_else(|| bad(n, "a group heading is written [name]".into()))?
                .trim()
                .to_string();
            continue;
        }
        let (name, flags) = line
            .split_once(':')
            .ok_or_else(|| bad(n, "expected `name: --flag value …`".into()))?;
        let name = name.trim();
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !name_ok {
            return Err(bad(
                n,
                format!(
                    "configuration name {name:?} may only use letters, digits, '-', '_' and '.'"
                ),
            ));
        }
        if entries.iter().any(|e| e.name == name) {
            return Err(bad(n, format!("configuration {name:?} is named twice")));
        }
        let flags = flags.split_whitespace().collect::<Vec<_>>().join(" ");
        let parsed = GridLine::try_parse_from(flags.split_whitespace()).map_err(|e| {
            let first = e.render().to_string();
            let first = first.lines().next().unwrap_or_default().trim().to_string();
            bad(
                n,
                first.strip_prefix("error: ").unwrap_or(&first).to_string(),
            )
        })?;
        entries.push(GridEntry {
            name: name.to_string(),
            line: n,
            group: group.clone(),
            flags,
            hyper: parsed.hyper,
            lipschitz: parsed.lipschitz,
        });
    }
    if entries.is_empty() {
        return Err(Error::Config(format!(
            "{}: the grid lists no configuration (lines are `name: --flag value …`)",
            path.display()
        )));
    }
    Ok(entries)
}

#[derive(Debug, Clone)]
pub struct SweepOptions {
    pub corpus: PathBuf,
    pub grid: PathBuf,
    /// Training minutes of every run.
    pub minutes: f64,
    /// Minutes at which scores are read (the budget itself is always one); `None`: those of
    /// [`DEFAULT_MARKS`] within the budget.
    pub marks: Option<Vec<f64>>,
    pub seeds: Vec<u64>,
    /// Evaluate every N iterations as well, for the curves [default: 100].
    pub eval_every: Option<u64>,
    /// Report directory; runs in `<out>/runs/<name>/seed<S>`, results in `<out>/results`.
    pub out: PathBuf,
    /// Train again even where a result for the same line and budget exists.
    pub redo: bool,
    /// The command line, quoted in the report.
    pub command: String,
}

/// What one configuration reached at one mark.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarkScore {
    pub minutes: f64,
    pub iteration: u64,
    pub js: [f64; 4],
    pub valid_word_rate: Option<f64>,
}

/// One finished run of the sweep (`results/<name>.seed<S>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepRun {
    pub name: String,
    pub group: String,
    pub flags: String,
    pub seed: u64,
    /// The budget the run had, and the corpus's fingerprint.
    pub budget_minutes: f64,
    pub corpus_hash: String,
    /// Every setting the run used (a result is reused only for the same settings).
    pub config: RunConfig,
    /// Where it ran: the CPU model and the number of threads (a result is reused only on the
    /// same).
    pub machine: String,
    pub threads: usize,
    /// Training minutes at which a loss became NaN or infinite, if it did: the marks after it
    /// have no score.
    #[serde(default)]
    pub diverged_at: Option<f64>,
    pub iterations: u64,
    pub train_secs: f64,
    /// Median seconds per generator iteration.
    pub secs_per_iter: f64,
    pub marks: Vec<MarkScore>,
    pub metrics: Vec<MetricsRecord>,
    /// The last fixed-noise samples.
    pub samples: Vec<String>,
}

impl SweepRun {
    fn at(&self, minutes: f64) -> Option<&MarkScore> {
        self.marks.iter().find(|m| m.minutes == minutes)
    }
}

/// The marks of a budget, ascending, ending with the budget itself; a mark outside the budget
/// is refused (it could never be scored).
pub fn marks_within(marks: &[f64], minutes: f64) -> Result<Vec<f64>> {
    if let Some(bad) = marks
        .iter()
        .find(|&&t| !(t.is_finite() && t > 0.0 && t <= minutes))
    {
        return Err(Error::Config(format!(
            "--marks {bad}: every mark must be a positive number of minutes within the budget (--minutes {minutes})"
        )));
    }
    let mut m = marks.to_vec();
    m.push(minutes);
    m.sort_by(f64::total_cmp);
    m.dedup();
    Ok(m)
}

/// The same run as far as the sweep is concerned: equal settings, whatever the corpus file was
/// called and however often it was evaluated in between.
fn same_settings(a: &RunConfig, b: &RunConfig) -> bool {
    let norm = |c: &RunConfig| RunConfig {
        corpus: PathBuf::new(),
        eval_every: 0,
        ..c.clone()
    };
    norm(a) == norm(b)
}

/// Why a stored result cannot stand for the run `config` asks for, if it cannot.
fn stale(r: &SweepRun, entry: &GridEntry, config: &RunConfig, marks: &[f64]) -> Option<String> {
    let machine = crate::device::cpu_model();
    let threads = rayon::current_num_threads();
    if r.flags != entry.flags {
        Some("its line changed".into())
    } else if r.corpus_hash != config.corpus_hash {
        Some("the corpus changed".into())
    } else if !same_settings(&r.config, config) {
        Some("its settings changed (budget, preset or textgan version)".into())
    } else if r.machine != machine || r.threads != threads {
        Some(format!(
            "it ran on {} with {} threads, this is {machine} with {threads}",
            r.machine, r.threads
        ))
    } else if r.diverged_at.is_none() && marks.iter().any(|&m| r.at(m).is_none()) {
        Some("it was not scored at every mark".into())
    } else {
        None
    }
}

fn result_path(out: &Path, name: &str, seed: u64) -> PathBuf {
    out.join("results").join(format!("{name}.seed{seed}.json"))
}

/// Train every configuration × seed that has no result yet, then write the report from all
/// results. `progress` hears a line per evaluation and per finished run. After a stop request
/// the remaining lines are only looked up, so the report still shows every finished result.
pub fn run(
    opts: &SweepOptions,
    device: &Device,
    control: &Control,
    progress: &mut dyn FnMut(&str),
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
    let grid = read_grid(&opts.grid)?;
    // Every line must make a valid run before hours are spent on the first ones.
    let mut configs = Vec::with_capacity(grid.len());
    for entry in &grid {
        let train = train_options(opts, entry, opts.seeds[0]);
        let (config, _, _) = run::new_run(&train, device).map_err(|e| match e {
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
    let mut results = Vec::new();
    for (entry, config) in grid.iter().zip(&configs) {
        for &seed in &opts.seeds {
            let label = format!("[{} seed {seed}]", entry.name);
            let path = result_path(&opts.out, &entry.name, seed);
            let config = RunConfig {
                seed,
                ..config.clone()
            };
            let stored = match checkpoint::read_json::<SweepRun>(&path) {
                Ok(r) => match stale(&r, entry, &config, &marks) {
                    None => Some(r),
                    Some(why) => {
                        progress(&format!("{label} stored result not reused: {why}"));
                        None
                    }
                },
                Err(_) if !path.exists() => None,
                Err(e) => {
                    progress(&format!("{label} stored result not reused: {e}"));
                    None
                }
            };
            match stored {
                Some(r) if !opts.redo => {
                    results.push(r);
                    continue;
                }
                _ if control.stop_requested() => continue,
                _ => {}
            }
            let r = train_one(opts, entry, seed, &marks, device, control, progress)?;
            if control.stop_requested() {
                progress(&format!("{label} stopped: not recorded"));
                continue;
            }
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
            }
            checkpoint::write_json(&path, &r)?;
            let scores = r
                .marks
                .iter()
                .map(|m| format!("{:.3} @ {} min", m.js[3], m.minutes))
                .collect::<Vec<_>>()
                .join(", ");
            progress(&match r.diverged_at {
                Some(t) => format!("{label} diverged at {t:.2} min; JSD-4 {scores}"),
                None => format!(
                    "{label} done: {} iterations, {:.3} s/iteration, JSD-4 {scores}",
                    r.iterations, r.secs_per_iter
                ),
            });
            results.push(r);
        }
    }
    write_report(opts, &grid, &marks, &results)?;
    Ok(results)
}

fn train_options(opts: &SweepOptions, entry: &GridEntry, seed: u64) -> TrainOptions {
    entry.hyper.clone().apply(TrainOptions {
        corpus: Some(opts.corpus.clone()),
        out: Some(
            opts.out
                .join("runs")
                .join(&entry.name)
                .join(format!("seed{seed}")),
        ),
        lipschitz: entry.lipschitz,
        seed: Some(seed),
        minutes: Some(opts.minutes),
        eval_every: opts.eval_every,
        // Only the final checkpoint is of interest.
        save_every: Some(u64::MAX),
        force: true,
        ..TrainOptions::default()
    })
}

fn train_one(
    opts: &SweepOptions,
    entry: &GridEntry,
    seed: u64,
    marks: &[f64],
    device: &Device,
    control: &Control,
    progress: &mut dyn FnMut(&str),
) -> Result<SweepRun> {
    let mut trainer = run::prepare(&train_options(opts, entry, seed), device)?;
    trainer.eval_marks = marks.iter().map(|m| m * 60.0).collect();
    let mut metrics: Vec<MetricsRecord> = Vec::new();
    let mut secs = Vec::new();
    let label = format!("[{} seed {seed}]", entry.name);
    let outcome = trainer.run(control, &mut |e| match e {
        Event::Step(s) => secs.push(s.secs),
        Event::Metrics(m) => {
            progress(&format!(
                "{label} {:>5.2} min  iteration {:>6}  JSD-4 {:.3}  {}",
                m.elapsed_secs / 60.0,
                m.iteration,
                m.js[3],
                m.rates_summary()
            ));
            metrics.push(m);
        }
        _ => {}
    });
    // A run that diverged is a result too (the rate was too high): it keeps the scores of the
    // marks it reached.
    let diverged_at = match outcome {
        Ok(_) => None,
        Err(Error::NonFinite(_)) => Some(trainer.elapsed_secs / 60.0),
        Err(e) => return Err(e),
    };
    if diverged_at.is_none() && metrics.last().map(|m| m.iteration) != Some(trainer.iteration) {
        metrics.push(trainer.evaluate()?);
    }
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
        corpus_hash: trainer.config.corpus_hash.clone(),
        config: trainer.config.clone(),
        machine: crate::device::cpu_model(),
        threads: rayon::current_num_threads(),
        diverged_at,
        iterations: trainer.iteration,
        train_secs: trainer.elapsed_secs,
        secs_per_iter: crate::bench::median(&mut secs),
        marks: scores,
        metrics,
        samples: if diverged_at.is_some() {
            Vec::new()
        } else {
            trainer.fixed_samples()?.into_iter().take(8).collect()
        },
    })
}

/// One configuration's runs (one per seed) and their means.
struct Summary<'a> {
    entry: &'a GridEntry,
    runs: Vec<&'a SweepRun>,
    /// How many seeds the sweep asked for.
    seeds: usize,
}

impl Summary<'_> {
    /// JSD-4 at a mark over the seeds scored there: mean, lowest, highest, how many.
    fn jsd4(&self, minutes: f64) -> Option<(f64, f64, f64, usize)> {
        let v: Vec<f64> = self
            .runs
            .iter()
            .filter_map(|r| r.at(minutes).map(|m| m.js[3]))
            .collect();
        if v.is_empty() {
            return None;
        }
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let lo = v.iter().copied().fold(f64::INFINITY, f64::min);
        let hi = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some((mean, lo, hi, v.len()))
    }

    fn diverged(&self) -> usize {
        self.runs.iter().filter(|r| r.diverged_at.is_some()).count()
    }

    /// Every seed asked for was scored at the budget.
    fn complete(&self, budget: f64) -> bool {
        self.jsd4(budget).is_some_and(|j| j.3 == self.seeds)
    }

    /// "3", or "2 of 3 (1 diverged)" when some seed has no score at the budget.
    fn runs_cell(&self, budget: f64) -> String {
        let scored = self.jsd4(budget).map_or(0, |j| j.3);
        if scored == self.seeds {
            return scored.to_string();
        }
        match self.diverged() {
            0 => format!("{scored} of {}", self.seeds),
            d => format!("{scored} of {} ({d} diverged)", self.seeds),
        }
    }

    fn cell(&self, minutes: f64) -> String {
        match self.jsd4(minutes) {
            Some((mean, lo, hi, n)) if n > 1 => format!("{mean:.3} ({lo:.3}–{hi:.3})"),
            Some((mean, ..)) => format!("{mean:.3}"),
            None if self.diverged() > 0 => "diverged".into(),
            None => "–".into(),
        }
    }

    fn mean(&self, f: impl Fn(&SweepRun) -> Option<f64>) -> Option<f64> {
        let v: Vec<f64> = self.runs.iter().filter_map(|r| f(r)).collect();
        (!v.is_empty()).then(|| v.iter().sum::<f64>() / v.len() as f64)
    }

    /// The JSD-4 curve against training minutes, averaged over the seeds that did not diverge
    /// (all of them if every one did) on a common grid of times, each seed's curve interpolated
    /// linearly between its evaluations.
    fn curve(&self) -> Vec<(f64, f64)> {
        let finished: Vec<&&SweepRun> = self
            .runs
            .iter()
            .filter(|r| r.diverged_at.is_none())
            .collect();
        let runs = if finished.is_empty() {
            self.runs.iter().collect()
        } else {
            finished
        };
        let curves: Vec<Vec<(f64, f64)>> = runs
            .iter()
            .map(|r| {
                r.metrics
                    .iter()
                    .map(|m| (m.elapsed_secs / 60.0, m.js[3]))
                    .collect()
            })
            .collect();
        if curves.len() == 1 {
            return curves.into_iter().next().unwrap_or_default();
        }
        let end = curves
            .iter()
            .filter_map(|c| c.last().map(|p| p.0))
            .fold(f64::INFINITY, f64::min);
        if !end.is_finite() {
            return Vec::new();
        }
        (0..=100)
            .map(|i| end * i as f64 / 100.0)
            .map(|t| {
                let ys: Vec<f64> = curves.iter().filter_map(|c| interpolate(c, t)).collect();
                (t, ys.iter().sum::<f64>() / ys.len().max(1) as f64)
            })
            .collect()
    }
}

/// `y` at `x` on a polyline with ascending `x`, clamped to its ends.
fn interpolate(points: &[(f64, f64)], x: f64) -> Option<f64> {
    let first = points.first()?;
    if x <= first.0 {
        return Some(first.1);
    }
    for w in points.windows(2) {
        let ((x0, y0), (x1, y1)) = (w[0], w[1]);
        if x <= x1 {
            let f = if x1 > x0 { (x - x0) / (x1 - x0) } else { 1.0 };
            return Some(y0 + f * (y1 - y0));
        }
    }
    points.last().map(|p| p.1)
}

fn slug(group: &str) -> String {
    let s: String = group
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s.trim_matches('-').to_string();
    if s.is_empty() {
        "all".into()
    } else {
        s
    }
}

/// `report.md` and the charts, from the results of the grid's lines.
fn write_report(
    opts: &SweepOptions,
    grid: &[GridEntry],
    marks: &[f64],
    results: &[SweepRun],
) -> Result<()> {
    let summaries: Vec<Summary> = grid
        .iter()
        .map(|entry| Summary {
            entry,
            runs: results.iter().filter(|r| r.name == entry.name).collect(),
            seeds: opts.seeds.len(),
        })
        .filter(|s| !s.runs.is_empty())
        .collect();
    let last = marks.last().copied().unwrap_or(opts.minutes);
    let mut groups: BTreeMap<usize, (&str, Vec<&Summary>)> = BTreeMap::new();
    for s in &summaries {
        // Groups in the order the grid first names them.
        let order = grid
            .iter()
            .position(|e| e.group == s.entry.group)
            .unwrap_or(0);
        groups
            .entry(order)
            .or_insert((&s.entry.group, Vec::new()))
            .1
            .push(s);
    }
    let mut charts = Vec::new();
    // One file per group, whatever their names: `[a b]` and `[a-b]` have the same slug.
    let mut taken = vec!["best".to_string()];
    for (group, members) in groups.values() {
        let base = slug(group);
        let name = (1..)
            .map(|i| {
                if i == 1 {
                    base.clone()
                } else {
                    format!("{base}-{i}")
                }
            })
            .find(|n| !taken.contains(n))
            .unwrap_or(base);
        taken.push(name.clone());
        let file = format!("jsd4_{name}.svg");
        let series: Vec<Series> = members
            .iter()
            .map(|s| Series {
                name: s.entry.name.clone(),
                points: s.curve(),
            })
            .collect();
        let title = if group.is_empty() {
            "JSD-4 vs training time".to_string()
        } else {
            format!("JSD-4 vs training time: {group}")
        };
        plot::line_chart(
            &opts.out.join(&file),
            &title,
            "minutes",
            "JSD-4",
            &series,
            false,
        )?;
        charts.push((group.to_string(), file));
    }
    // Complete configurations first (every seed scored at the budget), by mean JSD-4.
    let mut ranked: Vec<&Summary> = summaries.iter().collect();
    ranked.sort_by(|a, b| {
        let key = |s: &Summary| {
            let mean = s.jsd4(last).map_or(f64::INFINITY, |j| j.0);
            (!s.complete(last), mean)
        };
        let (ka, kb) = (key(a), key(b));
        ka.0.cmp(&kb.0).then(ka.1.total_cmp(&kb.1))
    });
    let best: Vec<Series> = ranked
        .iter()
        .take(6)
        .map(|s| Series {
            name: s.entry.name.clone(),
            points: s.curve(),
        })
        .collect();
    plot::line_chart(
        &opts.out.join("jsd4_best.svg"),
        "JSD-4 vs training time: the six lowest at the end",
        "minutes",
        "JSD-4",
        &best,
        false,
    )?;
    let md = report(opts, marks, &summaries, &ranked, &charts);
    checkpoint::write_atomic(&opts.out.join("report.md"), md.as_bytes())
}

fn report(
    opts: &SweepOptions,
    marks: &[f64],
    summaries: &[Summary],
    ranked: &[&Summary],
    charts: &[(String, String)],
) -> String {
    let last = marks.last().copied().unwrap_or(opts.minutes);
    let mut md = String::new();
    let _ = writeln!(
        md,
        "# Sweep: JSD-4 after {} minutes of training\n",
        opts.minutes
    );
    let _ = writeln!(md, "Made by:\n\n```\n{}\n```\n", opts.command);
    let seeds = opts
        .seeds
        .iter()
        .map(|s| s.to_string())
        .collect::<Vec<_>>()
        .join(", ");
    let _ = writeln!(
        md,
        "Machine: {} ({} threads). textgan {}. Corpus `{}`. Every configuration trains for {} \
         minutes of training time (evaluations excluded) with seed{} {seeds}; the score at a \
         mark is the JSD-4 of {} samples at the first evaluation once training time reached \
         it (n-gram Jensen–Shannon divergence against the training lines, n = 4; 0 identical, \
         1 disjoint). With several seeds: their mean, and the lowest–highest in brackets.\n",
        crate::device::cpu_model(),
        rayon::current_num_threads(),
        env!("CARGO_PKG_VERSION"),
        opts.corpus.display(),
        opts.minutes,
        if opts.seeds.len() > 1 { "s" } else { "" },
        crate::train::EVAL_SAMPLES,
    );
    if let Some(floor) = summaries
        .first()
        .and_then(|s| s.runs.first())
        .and_then(|r| r.metrics.first())
    {
        let _ = writeln!(
            md,
            "Held-out real text scores JSD-4 {:.3} against the same lines (the floor).\n",
            floor.floor_js[3]
        );
    }
    let mark_cols: String = marks
        .iter()
        .map(|m| format!(" JSD-4 @ {m} min |"))
        .collect();
    let header = format!(
        "| configuration | flags | seeds | s / iteration | iterations |{mark_cols} valid words @ {last} min |"
    );
    let rule = format!("|---|---|---|---|---|{}---|", "---|".repeat(marks.len()));
    let row = |s: &Summary| -> String {
        let cells: String = marks.iter().map(|&m| format!(" {} |", s.cell(m))).collect();
        format!(
            "| {} | `{}` | {} | {:.4} | {:.0} |{cells} {} |",
            s.entry.name,
            s.entry.flags,
            s.runs_cell(last),
            s.mean(|r| Some(r.secs_per_iter)).unwrap_or(f64::NAN),
            s.mean(|r| Some(r.iterations as f64)).unwrap_or(f64::NAN),
            percent(s.mean(|r| r.at(last).and_then(|m| m.valid_word_rate)))
        )
    };
    let _ = writeln!(md, "## Ranking at {last} minutes\n\n{header}\n{rule}");
    for s in ranked {
        let _ = writeln!(md, "{}", row(s));
    }
    let _ = writeln!(md, "\n![the six lowest](jsd4_best.svg)\n");
    for (group, file) in charts {
        let title = if group.is_empty() {
            "All configurations"
        } else {
            group
        };
        let _ = writeln!(md, "## {title}\n\n{header}\n{rule}");
        for s in summaries.iter().filter(|s| &s.entry.group == group) {
            let _ = writeln!(md, "{}", row(s));
        }
        let _ = writeln!(md, "\n![{title}]({file})\n");
    }
    let _ = writeln!(
        md,
        "## Final samples (fixed noise, seed {})\n",
        opts.seeds[0]
    );
    for s in ranked.iter().take(6) {
        if let Some(r) = s.runs.first() {
            let _ = writeln!(md, "**{}**\n\n```", s.entry.name);
            for line in &r.samples {
                let _ = writeln!(md, "{line}");
            }
            let _ = writeln!(md, "```\n");
        }
    }
    let _ = writeln!(
        md,
        "Numbers behind the tables and charts: `results/<configuration>.seed<S>.json` (every \
         evaluation of every run, its settings and last samples); the runs themselves: \
         `runs/<configuration>/seed<S>/`."
    );
    md
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grid_lines_parse_with_train_flags_and_groups() {
        let text = "# a comment\n\nbase: --dim 32\n[depth]\nd64-b3: --dim 64  --res-blocks 3 --lr-critic 4e-4 --lipschitz lp\n";
        let g = parse_grid(Path::new("grid.txt"), text).unwrap();
        assert_eq!(g.len(), 2);
        assert_eq!((g[0].name.as_str(), g[0].group.as_str()), ("base", ""));
        assert_eq!(g[0].hyper.dim, Some(32));
        assert_eq!(g[1].group, "depth");
        assert_eq!(
            g[1].flags,
            "--dim 64 --res-blocks 3 --lr-critic 4e-4 --lipschitz lp"
        );
        assert_eq!(g[1].hyper.res_blocks, Some(3));
        assert_eq!(g[1].hyper.lr_critic, Some(4e-4));
        assert_eq!(g[1].lipschitz, Some(Lipschitz::Lp));
    }

    #[test]
    fn bad_grid_lines_name_the_file_and_line() {
        for (text, needle) in [
            (
                "a: --dim 32\nb --dim 64\n",
                "grid.txt:2: expected `name: --flag value",
            ),
            (
                "a: --dim 32\na: --dim 64\n",
                "grid.txt:2: configuration \"a\" is named twice",
            ),
            ("a b: --dim 32\n", "grid.txt:1: configuration name"),
            ("a: --dimm 32\n", "grid.txt:1: unexpected argument '--dimm'"),
            ("a: --dim x\n", "grid.txt:1: invalid value 'x'"),
            ("[depth\na: --dim 3\n", "grid.txt:1: a group heading"),
            ("# nothing\n", "lists no configuration"),
        ] {
            let e = parse_grid(Path::new("grid.txt"), text)
                .unwrap_err()
                .to_string();
            assert!(e.contains(needle), "{text:?}: {e}");
            assert!(!e.contains('\n'), "{e}");
        }
    }

    #[test]
    fn marks_end_with_the_budget_and_stay_inside_it() {
        let ok = |m: &[f64], budget| marks_within(m, budget).unwrap();
        assert_eq!(ok(&[2.0, 5.0, 10.0], 10.0), vec![2.0, 5.0, 10.0]);
        assert_eq!(ok(&[5.0, 2.0, 5.0], 6.0), vec![2.0, 5.0, 6.0]);
        assert_eq!(ok(&[], 3.0), vec![3.0]);
        for bad in [[2.0, 11.0], [0.0, 2.0], [-1.0, 2.0], [f64::NAN, 2.0]] {
            let e = marks_within(&bad, 10.0).unwrap_err().to_string();
            assert!(
                e.contains("--marks") && e.contains("within the budget"),
                "{e}"
            );
        }
    }

    #[test]
    fn a_stored_result_stands_only_for_the_same_line_settings_corpus_and_machine() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/tiny.txt");
        let opts = TrainOptions {
            corpus: Some(corpus),
            dim: Some(8),
            ..TrainOptions::default()
        };
        let (config, _, _) = run::new_run(&opts, &Device::Cpu).unwrap();
        let entry = GridEntry {
            name: "a".into(),
            line: 1,
            group: String::new(),
            flags: "--dim 8".into(),
            hyper: HyperArgs::default(),
            lipschitz: None,
        };
        let score = MarkScore {
            minutes: 1.0,
            iteration: 10,
            js: [0.5; 4],
            valid_word_rate: None,
        };
        let stored = SweepRun {
            name: "a".into(),
            group: String::new(),
            flags: "--dim 8".into(),
            seed: 0,
            budget_minutes: 1.0,
            corpus_hash: config.corpus_hash.clone(),
            config: config.clone(),
            machine: crate::device::cpu_model(),
            threads: rayon::current_num_threads(),
            diverged_at: None,
            iterations: 10,
            train_secs: 60.0,
            secs_per_iter: 6.0,
            marks: vec![score],
            metrics: Vec::new(),
            samples: Vec::new(),
        };
        assert_eq!(stale(&stored, &entry, &config, &[1.0]), None);
        // Where the corpus file is and how often it was evaluated do not matter.
        let elsewhere = RunConfig {
            corpus: PathBuf::from("copy/of/tiny.txt"),
            eval_every: 7,
            ..config.clone()
        };
        assert_eq!(stale(&stored, &entry, &elsewhere, &[1.0]), None);
        let why = |r: &SweepRun, e: &GridEntry, c: &RunConfig, marks: &[f64]| {
            stale(r, e, c, marks).unwrap_or_else(|| panic!("reused"))
        };
        let edited = GridEntry {
            flags: "--dim 8 --lr 1e-3".into(),
            ..entry.clone()
        };
        assert!(why(&stored, &edited, &config, &[1.0]).contains("line changed"));
        // The same line under another preset or textgan version means other settings.
        let mut moved = config.clone();
        moved.optim_critic.lr *= 2.0;
        assert!(why(&stored, &entry, &moved, &[1.0]).contains("settings changed"));
        let other_text = RunConfig {
            corpus_hash: "0".into(),
            ..config.clone()
        };
        assert!(why(&stored, &entry, &other_text, &[1.0]).contains("corpus changed"));
        let away = SweepRun {
            machine: "another CPU".into(),
            ..stored.clone()
        };
        assert!(why(&away, &entry, &config, &[1.0]).contains("another CPU"));
        // A new mark needs a new run, unless the run diverged before it.
        assert!(why(&stored, &entry, &config, &[0.5, 1.0]).contains("every mark"));
        let diverged = SweepRun {
            diverged_at: Some(0.7),
            ..stored
        };
        assert_eq!(stale(&diverged, &entry, &config, &[0.5, 1.0]), None);
    }

    #[test]
    fn curves_interpolate_between_evaluations_and_clamp_at_the_ends() {
        let pts = [(0.0, 1.0), (2.0, 0.5), (4.0, 0.25)];
        assert_eq!(interpolate(&pts, -1.0), Some(1.0));
        assert_eq!(interpolate(&pts, 1.0), Some(0.75));
        assert_eq!(interpolate(&pts, 3.0), Some(0.375));
        assert_eq!(interpolate(&pts, 9.0), Some(0.25));
        assert_eq!(interpolate(&[], 1.0), None);
    }
}
