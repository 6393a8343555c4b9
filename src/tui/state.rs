//! What the dashboard knows: built only from training events, so it can be rendered (and
//! tested) without a trainer or a terminal.

use std::path::PathBuf;

use crate::train::events::{eta_secs, Event, MetricsRecord, RunInfo, StepStats, StopReason};

/// Points kept per chart; older points are thinned out (every other one dropped).
const MAX_POINTS: usize = 2000;

#[derive(Debug, Default)]
pub struct Dashboard {
    pub info: Option<RunInfo>,
    pub last_step: Option<StepStats>,
    /// (iteration, Wasserstein estimate), (iteration, penalty), (iteration, generator loss).
    pub wasserstein: Vec<(f64, f64)>,
    pub penalty: Vec<(f64, f64)>,
    pub gen_loss: Vec<(f64, f64)>,
    pub samples: Vec<String>,
    pub samples_iteration: Option<u64>,
    pub metrics: Vec<MetricsRecord>,
    /// Iteration and training-clock time of the last checkpoint.
    pub last_saved: Option<(u64, f64, PathBuf)>,
    /// Training seconds of this session (sum of iteration times).
    pub session_secs: f64,
    /// Smoothed seconds per iteration.
    pub secs_per_iter: Option<f64>,
    pub paused: bool,
    pub show_help: bool,
    pub stopping: bool,
    /// Stopped by Ctrl-C rather than `q` (the exit status says so).
    pub interrupted: bool,
    pub finished: Option<StopReason>,
}

impl Dashboard {
    pub fn apply(&mut self, event: &Event) {
        match event {
            Event::Started(info) => self.info = Some(info.clone()),
            Event::Step(s) => {
                let x = s.iteration as f64;
                push(&mut self.wasserstein, (x, s.wasserstein));
                push(&mut self.penalty, (x, s.penalty));
                if let Some(g) = s.gen_loss {
                    push(&mut self.gen_loss, (x, g));
                }
                self.session_secs += s.secs;
                // Exponential moving average: steady, but follows a change within ~20 steps.
                self.secs_per_iter = Some(match self.secs_per_iter {
                    None => s.secs,
                    Some(avg) => 0.9 * avg + 0.1 * s.secs,
                });
                self.last_step = Some(s.clone());
            }
            // The panel follows the live preview only (evaluation samples come from the fixed
            // noise and would undo a switch to new random samples).
            Event::Preview { iteration, lines } => {
                self.samples = lines.clone();
                self.samples_iteration = Some(*iteration);
            }
            Event::Samples { .. } => {}
            Event::Metrics(m) => self.metrics.push(m.clone()),
            Event::Saved { iteration, dir } => {
                self.last_saved = Some((*iteration, self.session_secs, dir.clone()))
            }
            Event::Finished { reason, .. } => self.finished = Some(*reason),
        }
    }

    /// Generator iterations completed so far.
    pub fn iteration(&self) -> u64 {
        match (&self.last_step, &self.info) {
            (Some(s), _) => s.iteration,
            (None, Some(i)) => i.start_iteration,
            _ => 0,
        }
    }

    /// Seconds left, from the iteration target and the time budget, whichever ends first.
    pub fn eta_secs(&self) -> Option<f64> {
        let info = self.info.as_ref()?;
        let per = self.secs_per_iter?;
        let left = info.target_iters.saturating_sub(self.iteration());
        Some(eta_secs(left, per, info.minutes, self.session_secs))
    }

    /// Fraction of the run done, 0..=1, by whichever budget ends first.
    pub fn progress(&self) -> f64 {
        let Some(info) = &self.info else { return 0.0 };
        let by_iters = self.iteration() as f64 / info.target_iters.max(1) as f64;
        let by_time = info
            .minutes
            .map(|m| self.session_secs / (m * 60.0))
            .unwrap_or(0.0);
        by_iters.max(by_time).clamp(0.0, 1.0)
    }
}

fn push(series: &mut Vec<(f64, f64)>, point: (f64, f64)) {
    if !point.1.is_finite() {
        return;
    }
    series.push(point);
    if series.len() > MAX_POINTS {
        let mut i = 0;
        series.retain(|_| {
            i += 1;
            i % 2 == 0
        });
    }
}
