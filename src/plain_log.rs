//! The plain display of training: a line every few iterations (or one JSON object per event),
//! samples and metrics as they come — what `train` prints without the dashboard.

use crate::train::events::{eta_secs, format_duration, Event};

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
                    "model: preset {}, dim {}, {} residual blocks of width-{} convolutions, {} critic iters, generator {} / critic {} parameters, device {} ({}); iteration {} of {}{}",
                    i.preset,
                    i.dim,
                    i.res_blocks,
                    i.kernel,
                    i.critic_iters,
                    i.generator_params,
                    i.critic_params,
                    i.device,
                    i.engine,
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
                "eval  iter {:>6}  JSD-1..4 {:.3} {:.3} {:.3} {:.3}  (held-out floor {:.3} {:.3} {:.3} {:.3})  {}{}",
                m.iteration, m.js[0], m.js[1], m.js[2], m.js[3], m.floor_js[0], m.floor_js[1], m.floor_js[2], m.floor_js[3],
                m.rates_summary(),
                m.raw_summary()
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
