//! What the trainer tells the outside world, and what it can be told. The plain logger here and
//! the dashboard are two consumers of the same events; the trainer never waits for either.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

/// One generator iteration's numbers (the last critic step's losses).
#[derive(Debug, Clone, Serialize)]
pub struct StepStats {
    pub iteration: u64,
    /// `mean D(real) − mean D(fake)`, the critic's Wasserstein estimate.
    pub wasserstein: f64,
    /// The Lipschitz penalty, e.g. `λ · mean((‖∇D(x̂)‖ − 1)²)` (0 with weight clipping).
    pub penalty: f64,
    /// Mean `‖∇D(x̂)‖` (the chord slope with `fd`; not measured with clipping).
    pub grad_norm: Option<f64>,
    /// Critic loss `−wasserstein + penalty`.
    pub critic_loss: f64,
    /// `−mean D(G(z))`; none at iteration 0, which has no generator step.
    pub gen_loss: Option<f64>,
    /// Seconds this iteration took.
    pub secs: f64,
}

impl StepStats {
    /// The gradient norm with three decimals, or "–" when not measured.
    pub fn grad_norm_text(&self) -> String {
        self.grad_norm
            .map_or_else(|| "–".to_string(), |g| format!("{g:.3}"))
    }
}

/// One evaluation, as written to `metrics.jsonl`.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct MetricsRecord {
    pub iteration: u64,
    pub elapsed_secs: f64,
    /// JSD of n-gram distributions, n = 1..4, 640 samples vs the training lines.
    pub js: [f64; 4],
    /// The same for 640 held-out real lines: the floor a perfect generator would reach.
    pub floor_js: [f64; 4],
    /// Share of generated words found in the corpus (none if no words were generated; absent
    /// in runs saved by versions before it was measured).
    #[serde(default)]
    pub valid_word_rate: Option<f64>,
    /// Distinct samples / samples.
    #[serde(default)]
    pub unique_rate: Option<f64>,
    /// Share of samples that are not training lines.
    #[serde(default)]
    pub novelty: Option<f64>,
}

impl MetricsRecord {
    /// "valid words 21.7% · unique 100.0% · novel 100.0%", for the log and the dashboard.
    pub fn rates_summary(&self) -> String {
        format!(
            "valid words {} · unique {} · novel {}",
            percent(self.valid_word_rate),
            percent(self.unique_rate),
            percent(self.novelty)
        )
    }
}

/// A rate as "21.7%", or "–" when it was not measured.
pub fn percent(rate: Option<f64>) -> String {
    rate.map_or_else(|| "–".to_string(), |x| format!("{:.1}%", 100.0 * x))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StopReason {
    /// `--iters` reached.
    Done,
    /// `--minutes` ran out.
    TimeUp,
    /// Asked to stop (Ctrl-C, `q`).
    Stopped,
}

impl StopReason {
    /// For "finished at iteration N (…)".
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::Done => "reached --iters",
            StopReason::TimeUp => "--minutes ran out",
            StopReason::Stopped => "stopped",
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct RunInfo {
    pub run_dir: PathBuf,
    pub corpus: PathBuf,
    pub train_lines: usize,
    pub heldout_lines: usize,
    pub vocab: usize,
    /// The preset the run started from (its explicit flags may override parts of it).
    pub preset: String,
    pub dim: usize,
    pub res_blocks: usize,
    pub critic_iters: usize,
    pub generator_params: usize,
    pub critic_params: usize,
    pub device: String,
    pub start_iteration: u64,
    pub target_iters: u64,
    pub minutes: Option<f64>,
    pub resumed: bool,
}

#[derive(Debug, Clone, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
pub enum Event {
    Started(RunInfo),
    Step(StepStats),
    /// Samples from the fixed noise batch at an evaluation (also written to `samples/`).
    Samples {
        iteration: u64,
        lines: Vec<String>,
    },
    /// Samples for a live view, more often than evaluations (the fixed noise, or fresh noise
    /// after a request to resample).
    Preview {
        iteration: u64,
        lines: Vec<String>,
    },
    Metrics(MetricsRecord),
    Saved {
        iteration: u64,
        dir: PathBuf,
    },
    Finished {
        iteration: u64,
        reason: StopReason,
    },
}

/// Requests to a running trainer, set from any thread.
#[derive(Debug, Default)]
pub struct Control {
    stop: AtomicBool,
    save: AtomicBool,
    paused: AtomicBool,
    resample: AtomicBool,
}

impl Control {
    pub fn request_stop(&self) {
        self.stop.store(true, Ordering::SeqCst);
    }
    pub fn stop_requested(&self) -> bool {
        self.stop.load(Ordering::SeqCst)
    }
    pub fn request_save(&self) {
        self.save.store(true, Ordering::SeqCst);
    }
    /// True once per request.
    pub fn take_save_request(&self) -> bool {
        self.save.swap(false, Ordering::SeqCst)
    }
    pub fn set_paused(&self, paused: bool) {
        self.paused.store(paused, Ordering::SeqCst);
    }
    pub fn paused(&self) -> bool {
        self.paused.load(Ordering::SeqCst)
    }
    pub fn request_resample(&self) {
        self.resample.store(true, Ordering::SeqCst);
    }
    /// True once per request.
    pub fn take_resample_request(&self) -> bool {
        self.resample.swap(false, Ordering::SeqCst)
    }
}

/// How the plain (non-dashboard) consumer writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per event (`{"event": "step", ...}`), steps every `every` iterations.
    Json,
    /// Nothing (errors still reach stderr).
    Quiet,
}

/// Plain consumer: one line per `every` iterations, samples and metrics as they come.
pub struct PlainLog<W: std::io::Write> {
    out: W,
    every: u64,
    format: LogFormat,
    target: u64,
    minutes: Option<f64>,
    session_secs: f64,
    recent_secs: Vec<f64>,
}

impl<W: std::io::Write> PlainLog<W> {
    pub fn new(out: W, every: u64, format: LogFormat) -> Self {
        PlainLog {
            out,
            every: every.max(1),
            format,
            target: 0,
            minutes: None,
            session_secs: 0.0,
            recent_secs: Vec::new(),
        }
    }

    pub fn handle(&mut self, event: &Event) {
        // A closed pipe must not stop training: write errors are ignored.
        let _ = match self.format {
            LogFormat::Quiet => Ok(()),
            LogFormat::Json => self.write_json(event),
            LogFormat::Text => self.write(event),
        };
    }

    fn write_json(&mut self, event: &Event) -> std::io::Result<()> {
        match event {
            Event::Preview { .. } => return Ok(()),
            Event::Step(s) if !(s.iteration % self.every == 0 || s.iteration == 1) => return Ok(()),
            _ => {}
        }
        serde_json::to_writer(&mut self.out, event)?;
        writeln!(self.out)?;
        self.out.flush()
    }

    fn write(&mut self, event: &Event) -> std::io::Result<()> {
        let out = &mut self.out;
        match event {
            Event::Preview { .. } => return Ok(()),
            Event::Started(i) => {
                self.target = i.target_iters;
                self.minutes = i.minutes;
                writeln!(
                    out,
                    "{} {} ({} train / {} held-out lines, vocab {}) -> {}",
                    if i.resumed { "resuming" } else { "training on" },
                    i.corpus.display(),
                    i.train_lines,
                    i.heldout_lines,
                    i.vocab,
                    i.run_dir.display()
                )?;
                writeln!(
                    out,
                    "model: preset {}, dim {}, {} residual blocks, {} critic iters, generator {} / critic {} parameters, device {}; iteration {} of {}{}",
                    i.preset,
                    i.dim,
                    i.res_blocks,
                    i.critic_iters,
                    i.generator_params,
                    i.critic_params,
                    i.device,
                    i.start_iteration,
                    i.target_iters,
                    i.minutes.map(|m| format!(", at most {m} min")).unwrap_or_default()
                )?;
            }
            Event::Step(s) => {
                self.recent_secs.push(s.secs);
                self.session_secs += s.secs;
                if s.iteration % self.every == 0 || s.iteration == 1 {
                    let mean = self.recent_secs.iter().sum::<f64>() / self.recent_secs.len() as f64;
                    self.recent_secs.clear();
                    let left = self.target.saturating_sub(s.iteration);
                    let eta = eta_secs(left, mean, self.minutes, self.session_secs);
                    writeln!(
                        out,
                        "iter {:>6}  W {:+.4}  penalty {:.4}  |grad| {}  G {}  {:.2} it/s  eta {}",
                        s.iteration,
                        s.wasserstein,
                        s.penalty,
                        s.grad_norm_text(),
                        s.gen_loss.map(|g| format!("{g:+.4}")).unwrap_or_else(|| "-".into()),
                        if mean > 0.0 { 1.0 / mean } else { 0.0 },
                        format_duration(eta)
                    )?;
                }
            }
            Event::Samples { iteration, lines } => {
                writeln!(out, "samples at iteration {iteration}:")?;
                for l in lines.iter().take(8) {
                    writeln!(out, "  | {l}")?;
                }
            }
            Event::Metrics(m) => writeln!(
                out,
                "eval  iter {:>6}  JSD-1..4 {:.3} {:.3} {:.3} {:.3}  (held-out floor {:.3} {:.3} {:.3} {:.3})  {}",
                m.iteration, m.js[0], m.js[1], m.js[2], m.js[3], m.floor_js[0], m.floor_js[1], m.floor_js[2], m.floor_js[3],
                m.rates_summary()
            )?,
            Event::Saved { iteration, dir } => {
                writeln!(out, "saved checkpoint at iteration {iteration} in {}", dir.display())?
            }
            Event::Finished { iteration, reason } => {
                writeln!(out, "finished at iteration {iteration} ({})", reason.describe())?
            }
        }
        out.flush()
    }
}

/// Seconds until training stops: whichever budget ends first, the iterations left at
/// `secs_per_iter`, or what is left of `minutes` after `session_secs` of training.
pub fn eta_secs(
    iters_left: u64,
    secs_per_iter: f64,
    minutes: Option<f64>,
    session_secs: f64,
) -> f64 {
    let by_iters = iters_left as f64 * secs_per_iter;
    match minutes {
        Some(m) => by_iters.min((m * 60.0 - session_secs).max(0.0)),
        None => by_iters,
    }
}

/// `1h02m`, `3m05s`, `12s`.
pub fn format_duration(secs: f64) -> String {
    if !secs.is_finite() {
        return "?".into();
    }
    let s = secs.max(0.0).round() as u64;
    match s {
        0..=59 => format!("{s}s"),
        60..=3599 => format!("{}m{:02}s", s / 60, s % 60),
        _ => format!("{}h{:02}m", s / 3600, (s % 3600) / 60),
    }
}
