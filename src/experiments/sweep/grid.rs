//! A sweep's grid file: one configuration per line, `name: --flag value …` with `train`'s model
//! and optimiser flags, `[heading]` lines starting groups, `#` comments. Errors name the file
//! and line.

use std::path::Path;

use crate::error::{Error, Result};
use crate::train::settings::TrainOptions;

/// One line of the grid.
#[derive(Debug, Clone)]
pub struct GridEntry {
    pub name: String,
    /// Its line in the grid file.
    pub line: usize,
    /// The `[heading]` above it ("" before the first heading).
    pub group: String,
    /// The flags as written.
    pub flags: String,
    /// The settings the flags ask for.
    pub options: TrainOptions,
}

/// Turns a grid line's flags (split at whitespace) into settings, or a one-line message: the
/// command line supplies it, with `train`'s own flag parser.
pub type FlagParser = fn(&[&str]) -> std::result::Result<TrainOptions, String>;

/// Parse a grid file; an error names the file and line.
pub fn read_grid(path: &Path, parse_flags: FlagParser) -> Result<Vec<GridEntry>> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    parse_grid(path, &text, parse_flags)
}

pub fn parse_grid(path: &Path, text: &str, parse_flags: FlagParser) -> Result<Vec<GridEntry>> {
    let bad = |n: usize, msg: String| Error::Config(format!("{}:{n}: {msg}", path.display()));
    let mut entries: Vec<GridEntry> = Vec::new();
    let mut group = String::new();
    for (i, raw) in text.lines().enumerate() {
        let n = i + 1;
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(heading) = line.strip_prefix('[') {
            group = heading
                .strip_suffix(']')
                .ok_or_else(|| bad(n, "a group heading is written [name]".into()))?
                .trim()
                .to_string();
            continue;
        }
        let (name, flags) = line
            .split_once(':')
            .ok_or_else(|| bad(n, "expected `name: --flag value …`".into()))?;
        let name = name.trim();
        let name_ok = !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c));
        if !name_ok {
            return Err(bad(
                n,
                format!(
                    "configuration name {name:?} may only use letters, digits, '-', '_' and '.'"
                ),
            ));
        }
        if entries.iter().any(|e| e.name == name) {
            return Err(bad(n, format!("configuration {name:?} is named twice")));
        }
        let flags = flags.split_whitespace().collect::<Vec<_>>().join(" ");
        let words: Vec<&str> = flags.split_whitespace().collect();
        let options = parse_flags(&words).map_err(|m| bad(n, m))?;
        entries.push(GridEntry {
            name: name.to_string(),
            line: n,
            group: group.clone(),
            flags,
            options,
        });
    }
    if entries.is_empty() {
        return Err(Error::Config(format!(
            "{}: the grid lists no configuration (lines are `name: --flag value …`)",
            path.display()
        )));
    }
    Ok(entries)
}
