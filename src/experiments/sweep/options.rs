//! What a sweep is asked: the corpus, the grid, the budget, the marks where scores are read,
//! the seeds, and where the report goes.

use std::path::PathBuf;

use super::grid::FlagParser;
use crate::error::{Error, Result};

/// Where, in minutes of training, a sweep reads its scores unless told otherwise.
pub const DEFAULT_MARKS: [f64; 3] = [2.0, 5.0, 10.0];

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
    /// Reads a grid line's flags.
    pub parse_flags: FlagParser,
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
