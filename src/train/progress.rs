//! How far a long job has come: what the studies (sweep, compare, diagnose) and `eval` tell
//! their caller as they go — lines worth keeping (an evaluation, a finished run) and the share
//! of the whole job done, from which a display estimates the time left.

/// Listens to a long job. A closure over lines (`|line: &str| …`) is a listener that ignores
/// the share done.
pub trait Progress {
    /// A line worth keeping.
    fn line(&mut self, line: &str);
    /// The share of the whole job done, 0 to 1 (by training time where the job has a time
    /// budget, else by iterations or steps). Calls only move forward.
    fn done(&mut self, _share: f64) {}
    /// What the job is doing now, where that is not a line worth keeping ("scoring").
    fn stage(&mut self, _what: &str) {}
}

impl<F: FnMut(&str)> Progress for F {
    fn line(&mut self, line: &str) {
        self(line)
    }
}

/// One part of a job: its own share done, 0 to 1, is `[start, start + size]` of the whole.
pub struct Part<'a> {
    whole: &'a mut dyn Progress,
    start: f64,
    size: f64,
}

impl<'a> Part<'a> {
    /// Part `index` of `count` equal parts.
    pub fn of(whole: &'a mut dyn Progress, index: usize, count: usize) -> Part<'a> {
        let count = count.max(1) as f64;
        Part {
            whole,
            start: index as f64 / count,
            size: 1.0 / count,
        }
    }
}

impl Progress for Part<'_> {
    fn line(&mut self, line: &str) {
        self.whole.line(line)
    }
    fn done(&mut self, share: f64) {
        let share = if share.is_finite() {
            share.clamp(0.0, 1.0)
        } else {
            0.0
        };
        self.whole.done(self.start + self.size * share)
    }
    fn stage(&mut self, what: &str) {
        self.whole.stage(what)
    }
}

/// The share of a training budget used: the larger of the time and iteration shares (training
/// stops at whichever budget ends first).
pub fn budget_share(secs: f64, minutes: Option<f64>, iteration: u64, iters: u64) -> f64 {
    let by_time = minutes.map_or(0.0, |m| secs / (m * 60.0));
    let by_iters = if iters == 0 {
        0.0
    } else {
        iteration as f64 / iters as f64
    };
    by_time.max(by_iters).clamp(0.0, 1.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Records what it hears.
    #[derive(Default)]
    struct Heard {
        lines: Vec<String>,
        shares: Vec<f64>,
        stages: Vec<String>,
    }
    impl Progress for Heard {
        fn line(&mut self, line: &str) {
            self.lines.push(line.to_string());
        }
        fn done(&mut self, share: f64) {
            self.shares.push(share);
        }
        fn stage(&mut self, what: &str) {
            self.stages.push(what.to_string());
        }
    }

    #[test]
    fn a_part_maps_its_share_onto_its_slice_of_the_whole() {
        let mut heard = Heard::default();
        {
            let mut part = Part::of(&mut heard, 2, 4);
            part.done(0.0);
            part.done(0.5);
            part.done(1.0);
            part.done(7.0); // out of range: clamped to the part's end
            part.done(f64::NAN);
            part.line("kept");
            part.stage("scoring");
        }
        assert_eq!(heard.shares, vec![0.5, 0.625, 0.75, 0.75, 0.5]);
        assert_eq!(heard.lines, vec!["kept"]);
        assert_eq!(heard.stages, vec!["scoring"]);
        // Parts nest: the second half of the first of two parts is its last quarter.
        let mut heard = Heard::default();
        {
            let mut outer = Part::of(&mut heard, 0, 2);
            let mut inner = Part::of(&mut outer, 1, 2);
            inner.done(1.0);
        }
        assert_eq!(heard.shares, vec![0.5]);
    }

    #[test]
    fn a_budget_is_used_up_by_whichever_of_time_and_iterations_ends_first() {
        assert_eq!(budget_share(30.0, Some(1.0), 10, 1000), 0.5);
        assert_eq!(budget_share(30.0, Some(1.0), 900, 1000), 0.9);
        assert_eq!(budget_share(30.0, None, 250, 1000), 0.25);
        assert_eq!(budget_share(600.0, Some(1.0), 0, 0), 1.0);
        assert_eq!(budget_share(0.0, None, 0, 0), 0.0);
    }

    #[test]
    fn a_closure_over_lines_is_a_listener() {
        let mut lines = Vec::new();
        {
            let mut listener = |l: &str| lines.push(l.to_string());
            let p: &mut dyn Progress = &mut listener;
            p.line("one");
            p.done(0.5);
        }
        assert_eq!(lines, vec!["one"]);
    }
}
