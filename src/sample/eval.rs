//! `textgan eval`: score samples — from a trained model, from any file, or from a Markov
//! baseline — against a corpus, next to the floor (held-out real text scored the same way).

use std::path::{Path, PathBuf};

use candle_core::Device;
use serde::Serialize;

use crate::data::corpus::{self, Corpus};
use crate::error::{Error, Result};
use crate::quality::markov::MarkovChain;
use crate::quality::metrics::{
    missing_characters, MissingCharacters, Reference, Scores, MISSING_EXPECTED,
};
use crate::sample::generate::Reading;
use crate::train::progress::Progress;

/// The most samples `eval` draws (they are all held in memory).
pub const MAX_SAMPLES: usize = 1_000_000;

/// Where the scored samples come from.
#[derive(Debug, Clone)]
pub enum Source {
    /// Sampled from a generator of a run directory, read as `reading` says.
    Model { dir: PathBuf, reading: Reading },
    /// One sample per line of a text file.
    Samples(PathBuf),
    /// Sampled from a character Markov chain of this order, fitted on the corpus's training lines.
    Markov(usize),
}

#[derive(Debug, Clone)]
pub struct EvalOptions {
    pub source: Source,
    /// The reference corpus; for a model, defaults to the corpus it was trained on.
    pub corpus: Option<PathBuf>,
    /// Samples to draw (models and Markov chains).
    pub n: usize,
    pub seed: u64,
}

/// The outcome of one evaluation. Serialised, it is what `textgan eval --format json` prints:
/// the samples' [`Scores`] as top-level keys (`js` is JSD-1..4, the key and shape
/// `metrics.jsonl` uses), the floor's under `floor`.
#[derive(Debug, Clone, Serialize)]
pub struct EvalReport {
    /// What was scored, for people: "model models/x", "samples s.txt", "markov order 4".
    pub source: String,
    /// Displayed: a path that is not UTF-8 would not serialise.
    #[serde(serialize_with = "crate::run_dir::atomic::displayed")]
    pub corpus: PathBuf,
    pub corpus_lines: usize,
    #[serde(flatten)]
    pub scores: Scores,
    /// 640 held-out corpus lines (at most a tenth) against the rest: what real text scores.
    pub floor: Scores,
    /// The corpus's characters the samples never write although they would be expected to.
    pub missing: MissingCharacters,
    /// The first few samples, to look at.
    pub examples: Vec<String>,
}

impl EvalReport {
    /// A table for the terminal: one row per metric, the samples and the floor side by side.
    pub fn to_table(&self) -> String {
        let mut out = format!(
            "{} ({} samples) against {} ({} lines)\n",
            self.source,
            self.scores.n_samples,
            self.corpus.display(),
            self.corpus_lines
        );
        out += &format!(
            "{:<18} {:>9} {:>20}\n",
            "metric", "samples", "held-out real text"
        );
        let rate = |r: Option<f64>| r.map_or("–".to_string(), |x| format!("{x:.3}"));
        for n in 0..4 {
            out += &format!(
                "{:<18} {:>9.3} {:>20.3}\n",
                format!("JSD-{}", n + 1),
                self.scores.js[n],
                self.floor.js[n]
            );
        }
        let rows = [
            (
                "valid-word rate",
                self.scores.valid_word_rate,
                self.floor.valid_word_rate,
            ),
            (
                "unique rate",
                Some(self.scores.unique_rate),
                Some(self.floor.unique_rate),
            ),
            (
                "novelty",
                Some(self.scores.novelty),
                Some(self.floor.novelty),
            ),
        ];
        for (name, s, f) in rows {
            out += &format!("{:<18} {:>9} {:>20}\n", name, rate(s), rate(f));
        }
        let m = &self.missing;
        if !m.chars.is_empty() {
            out += &format!(
                "never written     {} ({:.1}% of the corpus's characters, in {:.1}% of its words; each expected {MISSING_EXPECTED} or more times)\n",
                m.listed(),
                100.0 * m.char_share,
                100.0 * m.word_share
            );
        }
        if !self.examples.is_empty() {
            out += "examples:\n";
            for e in &self.examples {
                out += &format!("  {e}\n");
            }
        }
        out
    }
}

/// Score the samples of `opts.source` against the corpus; `progress` hears each stage and the
/// share done.
pub fn evaluate(
    opts: &EvalOptions,
    device: &Device,
    progress: &mut dyn Progress,
) -> Result<EvalReport> {
    if opts.n == 0 || opts.n > MAX_SAMPLES {
        return Err(Error::Config(format!(
            "-n {}: the number of samples must be 1..={MAX_SAMPLES}",
            opts.n
        )));
    }
    if let Source::Model { reading, .. } = &opts.source {
        reading.check()?;
    }
    let (corpus_path, seed) = match (&opts.source, &opts.corpus) {
        (_, Some(c)) => (c.clone(), 0),
        (Source::Model { dir, .. }, None) => {
            let config = crate::train::checkpoint::read_config(dir)?;
            if !config.corpus.is_file() {
                return Err(Error::Config(format!(
                    "{}: the run's corpus {} is not there; pass --corpus FILE",
                    dir.display(),
                    config.corpus.display()
                )));
            }
            (config.corpus, config.seed)
        }
        _ => {
            return Err(Error::Config(
                "no corpus to score against: pass --corpus FILE".into(),
            ))
        }
    };
    progress.stage("reading the corpus");
    let corpus = Corpus::load(&corpus_path, seed, 1)?;
    let all: Vec<&String> = corpus.all_lines().collect();
    let reference = Reference::new(&all, corpus.words.clone());
    progress.done(0.2);
    progress.stage("sampling");
    let (source, samples) = match &opts.source {
        Source::Model { dir, reading } => {
            let sampler = reading.load(dir, device)?;
            let mut lines = Vec::with_capacity(opts.n);
            sampler.generate(opts.n, opts.seed, true, |l| {
                lines.push(l);
                progress.done(0.2 + 0.4 * lines.len() as f64 / opts.n as f64);
                true
            })?;
            (format!("model {}", dir.display()), lines)
        }
        Source::Samples(path) => (format!("samples {}", path.display()), read_samples(path)?),
        Source::Markov(order) => {
            progress.stage(&format!("fitting the order-{order} chain"));
            let chain = MarkovChain::fit(&corpus.train, *order);
            progress.stage("sampling");
            (
                format!("markov order {order}"),
                chain.sample(opts.n, opts.seed),
            )
        }
    };
    progress.done(0.6);
    progress.stage("scoring the samples");
    let scores = reference.score(&samples);
    let missing = missing_characters(&all, &samples);
    progress.done(0.8);
    progress.stage("scoring held-out text (the floor)");
    let floor = Reference::new(&corpus.train, corpus.words.clone()).score(&corpus.heldout);
    progress.done(1.0);
    Ok(EvalReport {
        source,
        corpus: corpus_path,
        corpus_lines: all.len(),
        scores,
        floor,
        missing,
        examples: samples
            .iter()
            .take(8)
            .map(|s| {
                s.trim_end_matches(crate::quality::metrics::PAD_CHAR)
                    .to_string()
            })
            .collect(),
    })
}

/// The lines of a samples file, one sample per line (an empty line is an empty sample; a final
/// line end does not start another).
pub fn read_samples(path: &Path) -> Result<Vec<String>> {
    let bytes = corpus::read_bytes(path)?;
    let text = std::str::from_utf8(&bytes).map_err(|e| {
        let line = corpus::line_of(&bytes, e.valid_up_to());
        Error::corpus(path, format!("invalid UTF-8 on line {line}"))
    })?;
    let text = text.strip_suffix('\n').unwrap_or(text);
    if text.is_empty() {
        return Err(Error::corpus(path, "has no samples (the file is empty)"));
    }
    Ok(text
        .split('\n')
        .map(|l| l.strip_suffix('\r').unwrap_or(l).to_string())
        .collect())
}
