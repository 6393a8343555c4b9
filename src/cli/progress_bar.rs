//! The long commands' progress on stderr (stdout holds their results): a bar with the share
//! done, the time taken and an estimate of the time left when stderr is a terminal; the lines
//! worth keeping printed above it, or alone, one per line, when stderr is a file or a pipe.

use std::io::{IsTerminal, Write};
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use textgan::train::progress::Progress;

/// Resolution of the bar: the share done in steps of 1/10 000.
const STEPS: u64 = 10_000;

/// What `sweep`, `compare`, `diagnose` and `eval` report to; clears its bar when dropped.
pub struct Reporter {
    bar: Option<ProgressBar>,
}

impl Reporter {
    /// A reporter for the command `what`; with a bar only when stderr is a terminal.
    pub fn new(what: &str) -> Reporter {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = ProgressBar::with_draw_target(Some(STEPS), ProgressDrawTarget::stderr());
            let style = ProgressStyle::with_template(
                "{prefix} [{bar:30}] {percent:>3}%  {elapsed_precise} taken, ETA {eta_precise}  {msg}",
            )
            .expect("the template is valid")
            .progress_chars("=> ");
            bar.set_style(style);
            bar.set_prefix(what.to_string());
            // The clock and the estimate move during evaluations too, when no share is told.
            bar.enable_steady_tick(Duration::from_millis(500));
            bar
        });
        Reporter { bar }
    }
}

impl Progress for Reporter {
    fn line(&mut self, line: &str) {
        match &self.bar {
            Some(bar) => bar.println(line),
            // A closed stderr does not stop the work.
            None => {
                let _ = writeln!(std::io::stderr(), "{line}");
            }
        }
    }

    fn done(&mut self, share: f64) {
        if let Some(bar) = &self.bar {
            let share = if share.is_finite() {
                share.clamp(0.0, 1.0)
            } else {
                0.0
            };
            bar.set_position((share * STEPS as f64).round() as u64);
        }
    }

    fn stage(&mut self, what: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(what.to_string());
        }
    }
}

impl Drop for Reporter {
    fn drop(&mut self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
