//! Train one run and record it: what `compare` and `sweep` both need of a run — every
//! iteration's W estimate and time, every evaluation (one more at the end if the last
//! iteration was not evaluated), the median seconds per iteration, and divergence kept as a
//! result rather than an error.

use candle_core::Device;

use super::bench::median;
use crate::error::{Error, Result};
use crate::train::events::{Control, Event, MetricsRecord};
use crate::train::progress::{budget_share, Progress};
use crate::train::settings::TrainOptions;
use crate::train::start;
use crate::train::Trainer;

/// One run, trained and recorded.
pub struct Recorded {
    /// The trainer as training left it (for its samples and diagnostics).
    pub trainer: Trainer,
    /// `(iteration, training seconds, W estimate)` after every iteration.
    pub steps: Vec<(u64, f64, f64)>,
    /// Every evaluation, the last at the final iteration (unless the run diverged).
    pub metrics: Vec<MetricsRecord>,
    /// Training minutes at which a loss became NaN or infinite, and the message, if it did.
    pub diverged: Option<(f64, String)>,
    secs: Vec<f64>,
}

impl Recorded {
    /// Median seconds per generator iteration (its critic steps included).
    pub fn secs_per_iter(&self) -> f64 {
        median(&mut self.secs.clone())
    }
}

/// Train the run `opts` asks for (a new one) with extra evaluations at `marks` (seconds of
/// training), telling `progress` a line per evaluation, prefixed with `label`, and the share of
/// the run's budget used after every iteration.
pub fn train_and_record(
    opts: &TrainOptions,
    marks: &[f64],
    label: &str,
    device: &Device,
    control: &Control,
    progress: &mut dyn Progress,
) -> Result<Recorded> {
    let mut trainer = start::prepare(opts, device)?;
    trainer.evaluate_at_secs(marks.to_vec());
    let (minutes, iters) = (trainer.config().minutes, trainer.config().iters);
    let mut steps = Vec::new();
    let mut metrics: Vec<MetricsRecord> = Vec::new();
    let mut secs = Vec::new();
    let mut elapsed = 0.0;
    let outcome = trainer.train(control, &mut |e| match e {
        Event::Step(s) => {
            elapsed += s.secs;
            secs.push(s.secs);
            steps.push((s.iteration, elapsed, s.wasserstein));
            progress.done(budget_share(elapsed, minutes, s.iteration, iters));
        }
        Event::Metrics(m) => {
            progress.line(&format!(
                "{label} {:>5.2} min  iteration {:>6}  JSD-4 {:.3}  {}{}",
                m.elapsed_secs / 60.0,
                m.iteration,
                m.js[3],
                m.rates_summary(),
                m.raw_summary()
            ));
            metrics.push(m);
        }
        _ => {}
    });
    // A run that diverged is a result too (the rate was too high): it keeps the scores it
    // reached.
    let diverged = match outcome {
        Ok(_) => None,
        Err(Error::NonFinite(m)) => Some((trainer.elapsed_secs() / 60.0, m)),
        Err(e) => return Err(e),
    };
    if diverged.is_none() && metrics.last().map(|m| m.iteration) != Some(trainer.iteration()) {
        metrics.push(trainer.evaluate()?);
    }
    Ok(Recorded {
        trainer,
        steps,
        metrics,
        diverged,
        secs,
    })
}
