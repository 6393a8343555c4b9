//! A run's evaluations (`metrics.jsonl`) and fixed-noise samples (`samples/NNNNNN.txt`),
//! read while the run may still be writing them.

use std::path::Path;

use serde::Serialize;

use super::files::{is_plain_file, read_bounded, MAX_METRICS_BYTES, MAX_SAMPLES_BYTES};
use crate::run_dir::{METRICS, SAMPLES};
use crate::train::events::MetricsRecord;

/// Evaluations from `from` on, with how many complete ones the file holds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Metrics {
    /// Complete lines in the file: a reader that has `total` is up to date.
    pub total: usize,
    /// Lines `from..total`.
    pub records: Vec<MetricsRecord>,
    /// Set when the file cannot be read or a complete line is not an evaluation.
    pub problem: Option<String>,
}

/// The evaluations of the run in `dir` from the `from`-th on. A last line without its newline
/// is being written by the trainer (appended in one write, but read at any moment) and is
/// left for the next read; no file yet is no evaluations.
pub fn read_metrics(dir: &Path, from: usize) -> Metrics {
    let path = dir.join(METRICS);
    let mut out = Metrics::default();
    if !path.exists() {
        return out;
    }
    let text = match read_bounded(&path, MAX_METRICS_BYTES) {
        Ok(t) => t,
        Err(problem) => {
            out.problem = Some(problem);
            return out;
        }
    };
    let complete = match text.rfind('\n') {
        Some(end) => &text[..end],
        None => "",
    };
    for (i, line) in complete.lines().enumerate() {
        out.total = i + 1;
        if i < from || out.problem.is_some() {
            continue;
        }
        match serde_json::from_str::<MetricsRecord>(line) {
            Ok(r) => out.records.push(r),
            Err(e) => {
                out.problem = Some(format!("{}: line {}: {e}", path.display(), i + 1));
            }
        }
    }
    out
}

/// The iterations that have a samples file, in order.
pub fn sample_iterations(dir: &Path) -> Vec<u64> {
    let Ok(entries) = std::fs::read_dir(dir.join(SAMPLES)) else {
        return Vec::new();
    };
    let mut its: Vec<u64> = entries
        .filter_map(|e| e.ok())
        .filter_map(|e| {
            let name = e.file_name().into_string().ok()?;
            let digits = name.strip_suffix(".txt")?;
            if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
                return None;
            }
            digits.parse().ok()
        })
        .collect();
    its.sort_unstable();
    its.dedup();
    its
}

/// The fixed-noise samples written at `iteration`, one per line; `None` if there are none.
pub fn read_samples(dir: &Path, iteration: u64) -> Result<Option<Vec<String>>, String> {
    let path = crate::run_dir::samples_file(dir, iteration);
    if !path.exists() {
        return Ok(None);
    }
    if !is_plain_file(&path) {
        return Err(format!("{} is not a plain file", path.display()));
    }
    let text = read_bounded(&path, MAX_SAMPLES_BYTES)?;
    Ok(Some(text.lines().map(str::to_string).collect()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const LINE: &str = r#"{"iteration":100,"elapsed_secs":4.7,"js":[0.1,0.3,0.6,0.7],"floor_js":[0.0,0.0,0.06,0.2],"valid_word_rate":0.15,"unique_rate":1.0,"novelty":1.0}"#;

    #[test]
    fn a_line_being_written_is_left_for_later_and_a_bad_line_is_a_problem() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        assert_eq!(read_metrics(dir, 0).total, 0, "no file yet: no evaluations");
        let path = dir.join(METRICS);
        let second = LINE.replace(":100,", ":200,");
        std::fs::write(&path, format!("{LINE}\n{}", &second[..40])).unwrap();
        let m = read_metrics(dir, 0);
        assert_eq!((m.total, m.records.len(), m.problem), (1, 1, None));
        std::fs::write(&path, format!("{LINE}\n{second}\n")).unwrap();
        let m = read_metrics(dir, 1);
        assert_eq!(m.total, 2);
        assert_eq!(m.records.len(), 1, "only the lines from 1 on");
        assert_eq!(m.records[0].iteration, 200);
        std::fs::write(&path, format!("{LINE}\nnot json\n{second}\n")).unwrap();
        let m = read_metrics(dir, 0);
        assert_eq!(m.records.len(), 1);
        let problem = m.problem.unwrap();
        assert!(problem.contains("metrics.jsonl: line 2: "), "{problem}");
    }

    #[test]
    fn samples_are_listed_by_iteration_and_read_by_line() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        assert!(sample_iterations(dir).is_empty());
        let s = dir.join(SAMPLES);
        std::fs::create_dir_all(&s).unwrap();
        for name in [
            "000200.txt",
            "000000.txt",
            "000100.txt",
            "notes.txt",
            ".x.tmp",
        ] {
            std::fs::write(s.join(name), "a b\nc\n").unwrap();
        }
        assert_eq!(sample_iterations(dir), [0, 100, 200]);
        assert_eq!(
            read_samples(dir, 100).unwrap(),
            Some(vec!["a b".to_string(), "c".to_string()])
        );
        assert_eq!(read_samples(dir, 300).unwrap(), None);
        std::fs::write(s.join("000300.txt"), [0xff, 0xfe]).unwrap();
        assert!(read_samples(dir, 300).unwrap_err().contains("not UTF-8"));
    }
}
