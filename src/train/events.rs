//! What the trainer tells the outside world, and what it can be told. The plain log
//! ([`crate::plain_log`]) and the dashboard ([`crate::tui`]) are two consumers of the same
//! events; the trainer never waits for either.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};

use serde::Serialize;

use crate::run_dir::atomic::displayed;

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
    /// With `--ema`, the scores above are the averaged generator's; these the raw one's, on
    /// the same noise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw: Option<RawScores>,
    /// The losses averaged over the iterations since the previous evaluation (none at
    /// iteration 0; absent in runs saved by versions before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub losses: Option<LossMeans>,
}

/// Each iteration's [`StepStats`] losses averaged over the iterations since the previous
/// evaluation: the curves `metrics.jsonl` keeps of the critic's Wasserstein estimate, its
/// penalty and both losses.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct LossMeans {
    /// Iterations averaged.
    pub iterations: u64,
    pub wasserstein: f64,
    pub penalty: f64,
    pub critic_loss: f64,
    /// Over the iterations with a generator step.
    pub gen_loss: Option<f64>,
}

/// Sums [`StepStats`] until the next evaluation takes their means.
#[derive(Debug, Clone, Default)]
pub struct LossTally {
    iterations: u64,
    wasserstein: f64,
    penalty: f64,
    critic_loss: f64,
    gen_steps: u64,
    gen_loss: f64,
}

impl LossTally {
    pub fn add(&mut self, s: &StepStats) {
        self.iterations += 1;
        self.wasserstein += s.wasserstein;
        self.penalty += s.penalty;
        self.critic_loss += s.critic_loss;
        if let Some(g) = s.gen_loss {
            self.gen_steps += 1;
            self.gen_loss += g;
        }
    }

    /// The means so far (none before the first iteration), and a fresh start.
    pub fn take(&mut self) -> Option<LossMeans> {
        let t = std::mem::take(self);
        let n = t.iterations as f64;
        (t.iterations > 0).then(|| LossMeans {
            iterations: t.iterations,
            wasserstein: t.wasserstein / n,
            penalty: t.penalty / n,
            critic_loss: t.critic_loss / n,
            gen_loss: (t.gen_steps > 0).then(|| t.gen_loss / t.gen_steps as f64),
        })
    }
}

/// The raw (not averaged) generator's JSD-1..4 and valid-word rate at an evaluation.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct RawScores {
    pub js: [f64; 4],
    pub valid_word_rate: Option<f64>,
}

impl MetricsRecord {
    /// "valid words 21.7% · unique 100.0% · novel 100.0%", for the log and the dashboard.
    pub fn rates_summary(&self) -> String {
        format!(
            "valid words {} · unique {} · novel {}",
            percent(self.valid_word_rate),
            percent(self.unique_rate),
            percent(self.novelty),
        )
    }

    /// With `--ema`, "  (raw generator: JSD-4 0.452, valid words 30.1%)", to follow
    /// [`rates_summary`](Self::rates_summary); empty otherwise.
    pub fn raw_summary(&self) -> String {
        match &self.raw {
            Some(r) => format!(
                "  (raw generator: JSD-4 {:.3}, valid words {})",
                r.js[3],
                percent(r.valid_word_rate)
            ),
            None => String::new(),
        }
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
    #[serde(serialize_with = "displayed")]
    pub run_dir: PathBuf,
    #[serde(serialize_with = "displayed")]
    pub corpus: PathBuf,
    pub train_lines: usize,
    pub heldout_lines: usize,
    pub vocab: usize,
    /// The preset the run started from (its explicit flags may override parts of it).
    pub preset: String,
    pub dim: usize,
    pub res_blocks: usize,
    /// Width of the residual blocks' convolutions.
    pub kernel: usize,
    pub critic_iters: usize,
    pub generator_params: usize,
    pub critic_params: usize,
    pub device: String,
    /// The execution path of the training steps ("hand-written CPU step", or "autograd (why)").
    pub engine: String,
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
        #[serde(serialize_with = "displayed")]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_tally_averages_since_it_was_last_taken() {
        let step = |w: f64, g: Option<f64>| StepStats {
            iteration: 0,
            wasserstein: w,
            penalty: w / 10.0,
            grad_norm: None,
            critic_loss: -w,
            gen_loss: g,
            secs: 0.0,
        };
        let mut t = LossTally::default();
        assert_eq!(t.take(), None, "nothing trained yet");
        t.add(&step(1.0, None));
        t.add(&step(2.0, Some(-4.0)));
        t.add(&step(6.0, Some(2.0)));
        let m = t.take().unwrap();
        assert_eq!(m.iterations, 3);
        assert_eq!(m.wasserstein, 3.0);
        assert_eq!(m.penalty, 0.3);
        assert_eq!(m.critic_loss, -3.0);
        assert_eq!(m.gen_loss, Some(-1.0), "over the two generator steps only");
        t.add(&step(5.0, None));
        let m = t.take().unwrap();
        assert_eq!((m.iterations, m.wasserstein, m.gen_loss), (1, 5.0, None));
    }

    /// A run directory whose name is not UTF-8 still gets its `saved` line in the JSON log
    /// (serde's own path serialiser refuses it, and the line would be lost).
    #[cfg(unix)]
    #[test]
    fn events_with_a_non_utf8_path_serialise() {
        use std::os::unix::ffi::OsStrExt;
        let dir = PathBuf::from(std::ffi::OsStr::from_bytes(b"runs/caf\xe9"));
        let line = serde_json::to_string(&Event::Saved { iteration: 3, dir }).unwrap();
        assert_eq!(line, r#"{"event":"saved","iteration":3,"dir":"runs/caf�"}"#);
    }
}
