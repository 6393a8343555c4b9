//! A `compare` or `sweep` report: its `report.md` and the SVG charts beside it.

use std::path::Path;

use serde::Serialize;

use super::files::{is_plain_file, read_bounded};

/// The file that makes a folder a report.
pub const REPORT: &str = "report.md";
/// A report or chart larger than this is not served.
pub const MAX_REPORT_BYTES: u64 = 8 << 20;

/// A report's text and the names of its charts.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub id: String,
    pub path: String,
    /// `compare` (it has `compare.json`), `sweep` (a `results/` folder) or `report`.
    pub kind: &'static str,
    pub markdown: String,
    /// The `.svg` files beside it, by name.
    pub charts: Vec<String>,
}

/// Read the report in `dir`.
pub fn read_report(id: &str, shown: &str, dir: &Path) -> Result<Report, String> {
    let markdown = read_bounded(&dir.join(REPORT), MAX_REPORT_BYTES)?;
    let kind = if is_plain_file(&dir.join("compare.json")) {
        "compare"
    } else if dir.join("results").is_dir() {
        "sweep"
    } else {
        "report"
    };
    let mut charts: Vec<String> = std::fs::read_dir(dir)
        .map_err(|e| format!("{}: {e}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| is_chart_name(n) && is_plain_file(&dir.join(n)))
        .collect();
    charts.sort();
    Ok(Report {
        id: id.to_string(),
        path: shown.to_string(),
        kind,
        markdown,
        charts,
    })
}

/// A chart's name as a report may have it: `NAME.svg` of letters, digits, `-`, `_`, `.`,
/// not hidden (so a name can never climb out of the folder).
pub fn is_chart_name(name: &str) -> bool {
    name.len() <= 255
        && !name.starts_with('.')
        && name.ends_with(".svg")
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// The chart `name` of the report in `dir`.
pub fn read_chart(dir: &Path, name: &str) -> Result<Option<String>, String> {
    if !is_chart_name(name) {
        return Err(format!("{name:?} is not a chart's name (NAME.svg)"));
    }
    let path = dir.join(name);
    if !path.exists() {
        return Ok(None);
    }
    read_bounded(&path, MAX_REPORT_BYTES).map(Some)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_report_lists_its_charts_and_serves_only_them() {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path();
        std::fs::write(dir.join(REPORT), "# Compared\n").unwrap();
        std::fs::write(dir.join("compare.json"), "[]").unwrap();
        std::fs::write(dir.join("jsd4_time.svg"), "<svg/>").unwrap();
        std::fs::write(dir.join("notes.txt"), "x").unwrap();
        let r = read_report("0/cmp", "models/cmp", dir).unwrap();
        assert_eq!(
            (r.kind, r.charts.as_slice()),
            ("compare", &["jsd4_time.svg".to_string()][..])
        );
        assert_eq!(
            read_chart(dir, "jsd4_time.svg").unwrap().as_deref(),
            Some("<svg/>")
        );
        assert_eq!(read_chart(dir, "gone.svg").unwrap(), None);
        for bad in ["../x.svg", "notes.txt", ".h.svg", "a/b.svg", "%2e.svg"] {
            assert!(read_chart(dir, bad).is_err(), "{bad}");
        }
    }
}
