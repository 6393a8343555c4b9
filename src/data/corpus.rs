//! Corpus: read a UTF-8 text file (one example per line), validate it, truncate every line to
//! the model's sequence length, and split off a held-out set that is never trained on.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use rand::seq::SliceRandom;

use crate::error::{Error, Result};
use crate::streams::Stream;

/// Characters per sample, as in the paper's language model.
pub const SEQ_LEN: usize = 32;
/// Held-out lines, as many as the paper's monitoring uses (10 batches of 64).
pub const HELDOUT_MAX: usize = 640;

#[derive(Debug, Clone)]
pub struct Corpus {
    pub path: PathBuf,
    /// The whitespace-separated words of the whole corpus, lines uncut: what a generated word
    /// is checked against for the valid-word rate.
    pub words: HashSet<String>,
    /// Lines used for training, each at most `SEQ_LEN` characters.
    pub train: Vec<String>,
    /// Lines kept aside for evaluation (chosen by the seed).
    pub heldout: Vec<String>,
}

impl Corpus {
    /// Read and split a corpus file. `min_train` is the least number of training lines
    /// accepted (one batch).
    pub fn load(path: &Path, seed: u64, min_train: usize) -> Result<Self> {
        let lines = read_lines(path)?;
        Self::split(path, lines, seed, min_train)
    }

    /// Split lines as [`read_lines`] gives them: each is cut to `SEQ_LEN` characters, and a
    /// tenth of them, at most `HELDOUT_MAX`, go to the held-out set.
    pub fn split(path: &Path, lines: Vec<String>, seed: u64, min_train: usize) -> Result<Self> {
        let words = words_of_lines(&lines);
        let mut lines: Vec<String> = lines.iter().map(|l| cut(l)).collect();
        let n_held = (lines.len() / 10).min(HELDOUT_MAX);
        let n_train = lines.len() - n_held;
        if n_train < min_train.max(1) {
            return Err(Error::corpus(
                path,
                format!(
                    "only {} usable lines ({} for training after holding out {}); need at least {} (one batch)",
                    lines.len(),
                    n_train,
                    n_held,
                    min_train
                ),
            ));
        }
        // A stream of its own, so the split depends on the seed only.
        let mut rng = Stream::HeldOut.rng(seed);
        lines.shuffle(&mut rng);
        let heldout = lines.split_off(n_train);
        Ok(Corpus {
            path: path.to_path_buf(),
            words,
            train: lines,
            heldout,
        })
    }

    /// Every line, training and held-out (the vocabulary is built from both, so held-out text
    /// is not full of unknown characters).
    pub fn all_lines(&self) -> impl Iterator<Item = &String> {
        self.train.iter().chain(self.heldout.iter())
    }
}

/// Read the usable lines of a text file: UTF-8, `\n` or `\r\n` line ends, blank lines skipped.
/// Lines are whole here; [`Corpus::split`] cuts them to `SEQ_LEN` characters (as the paper does).
pub fn read_lines(path: &Path) -> Result<Vec<String>> {
    parse_lines(path, &read_bytes(path)?)
}

/// The raw bytes of a corpus file (a directory is refused by name).
pub fn read_bytes(path: &Path) -> Result<Vec<u8>> {
    let meta = std::fs::metadata(path).map_err(|e| Error::io(path, e))?;
    if meta.is_dir() {
        return Err(Error::corpus(path, "is a directory, not a text file"));
    }
    std::fs::read(path).map_err(|e| Error::io(path, e))
}

/// The pure part of [`read_lines`]: validate bytes and cut them into lines.
pub fn parse_lines(path: &Path, bytes: &[u8]) -> Result<Vec<String>> {
    if bytes.is_empty() {
        return Err(Error::corpus(path, "is empty"));
    }
    if let Some(pos) = bytes.iter().position(|&b| b == 0) {
        return Err(Error::corpus(
            path,
            format!(
                "looks like a binary file (NUL byte on line {})",
                line_of(bytes, pos)
            ),
        ));
    }
    let text = std::str::from_utf8(bytes).map_err(|e| {
        Error::corpus(
            path,
            format!("invalid UTF-8 on line {}", line_of(bytes, e.valid_up_to())),
        )
    })?;
    let lines: Vec<String> = text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l))
        .filter(|l| !l.trim().is_empty())
        .map(str::to_string)
        .collect();
    if lines.is_empty() {
        return Err(Error::corpus(
            path,
            "has no usable line (every line is blank)",
        ));
    }
    Ok(lines)
}

/// The first `SEQ_LEN` characters of a line.
pub fn cut(line: &str) -> String {
    line.chars().take(SEQ_LEN).collect()
}

/// Every whitespace-separated word of some lines.
pub fn words_of_lines<S: AsRef<str>>(lines: &[S]) -> HashSet<String> {
    lines
        .iter()
        .flat_map(|l| l.as_ref().split_whitespace())
        .map(str::to_string)
        .collect()
}

/// 1-based line number of byte offset `pos`.
pub fn line_of(bytes: &[u8], pos: usize) -> usize {
    bytes[..pos].iter().filter(|&&b| b == b'\n').count() + 1
}

/// The default run directory for a corpus: `models/<corpus stem>`.
pub fn default_run_dir(corpus: &Path) -> PathBuf {
    let stem = corpus
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "run".to_string());
    PathBuf::from("models").join(stem)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(b: &[u8]) -> Result<Vec<String>> {
        parse_lines(Path::new("c.txt"), b)
    }

    #[test]
    fn blank_lines_are_skipped_and_split_cuts_lines_but_keeps_whole_words() {
        let long = format!("{} tail", "x".repeat(40));
        let text = format!("hello\r\n\n   \n{long}\nworld");
        let lines = parse(text.as_bytes()).unwrap();
        assert_eq!(
            lines,
            vec!["hello".to_string(), long.clone(), "world".to_string()]
        );
        let c = Corpus::split(Path::new("c"), lines, 0, 1).unwrap();
        let mut all: Vec<&String> = c.all_lines().collect();
        all.sort();
        assert_eq!(all, vec!["hello", "world", &"x".repeat(32)]);
        assert!(c.words.contains("tail") && c.words.contains(&"x".repeat(40)));
        assert!(!c.words.contains(&"x".repeat(32)));
    }

    #[test]
    fn truncation_counts_characters_not_bytes() {
        assert_eq!(cut(&"é".repeat(40)).chars().count(), 32);
    }

    #[test]
    fn invalid_utf8_names_the_line() {
        let err = parse(b"ok\nok\n\xff bad\n").unwrap_err().to_string();
        assert_eq!(err, "c.txt: invalid UTF-8 on line 3");
    }

    #[test]
    fn binary_and_empty_files_are_refused() {
        assert!(parse(b"a\nb\x00c")
            .unwrap_err()
            .to_string()
            .contains("binary file (NUL byte on line 2)"));
        assert_eq!(parse(b"").unwrap_err().to_string(), "c.txt: is empty");
        assert!(parse(b"\n \n\t\n")
            .unwrap_err()
            .to_string()
            .contains("no usable line"));
    }

    #[test]
    fn split_is_fixed_by_seed_and_disjoint() {
        let lines: Vec<String> = (0..1000).map(|i| format!("line {i}")).collect();
        let a = Corpus::split(Path::new("c"), lines.clone(), 7, 64).unwrap();
        let b = Corpus::split(Path::new("c"), lines.clone(), 7, 64).unwrap();
        let c = Corpus::split(Path::new("c"), lines, 8, 64).unwrap();
        assert_eq!(a.heldout.len(), 100);
        assert_eq!(a.train.len(), 900);
        assert_eq!(a.heldout, b.heldout);
        assert_ne!(a.heldout, c.heldout);
        for h in &a.heldout {
            assert!(!a.train.contains(h));
        }
    }

    #[test]
    fn too_few_lines_for_a_batch_is_an_error() {
        let lines: Vec<String> = (0..20).map(|i| format!("l{i}")).collect();
        let err = Corpus::split(Path::new("c.txt"), lines, 1, 64)
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("c.txt: only 20 usable lines"), "{err}");
    }
}
