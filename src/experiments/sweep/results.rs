//! A sweep's results: one JSON file per configuration and seed (`results/<name>.seed<S>.json`)
//! with every evaluation, the settings and the machine, and when a stored one may stand for a
//! run asked for again.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::grid::GridEntry;
use crate::train::events::MetricsRecord;
use crate::train::settings::RunConfig;

/// What one configuration reached at one mark.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MarkScore {
    pub minutes: f64,
    pub iteration: u64,
    pub js: [f64; 4],
    pub valid_word_rate: Option<f64>,
}

/// One finished run of the sweep (`results/<name>.seed<S>.json`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SweepRun {
    pub name: String,
    pub group: String,
    pub flags: String,
    pub seed: u64,
    /// The budget the run had, and the corpus's fingerprint.
    pub budget_minutes: f64,
    pub corpus_hash: String,
    /// Every setting the run used (a result is reused only for the same settings).
    pub config: RunConfig,
    /// Where it ran: the CPU model and the number of threads (a result is reused only on the
    /// same).
    pub machine: String,
    pub threads: usize,
    /// Training minutes at which a loss became NaN or infinite, if it did: the marks after it
    /// have no score.
    #[serde(default)]
    pub diverged_at: Option<f64>,
    pub iterations: u64,
    pub train_secs: f64,
    /// Median seconds per generator iteration.
    pub secs_per_iter: f64,
    pub marks: Vec<MarkScore>,
    pub metrics: Vec<MetricsRecord>,
    /// The last fixed-noise samples.
    pub samples: Vec<String>,
}

/// What `textgan sweep --format json` prints: each run's outcome and where the report is.
#[derive(Debug, Clone, Serialize)]
pub struct SweepOutput {
    pub runs: Vec<SweepRunResult>,
    /// The report's path, displayed (a path that is not UTF-8 would not serialise).
    pub report: String,
}

/// One configuration and seed in [`SweepOutput`]: its [`SweepRun`] without the settings, the
/// evaluations and the samples.
#[derive(Debug, Clone, Serialize)]
pub struct SweepRunResult {
    pub name: String,
    pub seed: u64,
    pub iterations: u64,
    pub secs_per_iter: f64,
    /// Training minutes at which it diverged (`null`: it did not).
    pub diverged_at: Option<f64>,
    pub marks: Vec<MarkScore>,
}

impl SweepOutput {
    /// The summary of `runs`, whose report is at `report`.
    pub fn new(runs: &[SweepRun], report: String) -> Self {
        SweepOutput {
            runs: runs
                .iter()
                .map(|r| SweepRunResult {
                    name: r.name.clone(),
                    seed: r.seed,
                    iterations: r.iterations,
                    secs_per_iter: r.secs_per_iter,
                    diverged_at: r.diverged_at,
                    marks: r.marks.clone(),
                })
                .collect(),
            report,
        }
    }
}

impl SweepRun {
    pub fn at(&self, minutes: f64) -> Option<&MarkScore> {
        self.marks.iter().find(|m| m.minutes == minutes)
    }
}

/// The same run as far as the sweep is concerned: equal settings, whatever the corpus file was
/// called and however often it was evaluated in between.
fn same_settings(a: &RunConfig, b: &RunConfig) -> bool {
    let norm = |c: &RunConfig| RunConfig {
        corpus: PathBuf::new(),
        eval_every: 0,
        ..c.clone()
    };
    norm(a) == norm(b)
}

/// Why a stored result cannot stand for the run `config` asks for, if it cannot.
pub fn stale(r: &SweepRun, entry: &GridEntry, config: &RunConfig, marks: &[f64]) -> Option<String> {
    let machine = crate::device::cpu_model();
    let threads = rayon::current_num_threads();
    if r.flags != entry.flags {
        Some("its line changed".into())
    } else if r.corpus_hash != config.corpus_hash {
        Some("the corpus changed".into())
    } else if !same_settings(&r.config, config) {
        Some("its settings changed (budget, preset or textgan version)".into())
    } else if r.machine != machine || r.threads != threads {
        Some(format!(
            "it ran on {} with {} threads, this is {machine} with {threads}",
            r.machine, r.threads
        ))
    } else if r.diverged_at.is_none() && marks.iter().any(|&m| r.at(m).is_none()) {
        Some("it was not scored at every mark".into())
    } else {
        None
    }
}

pub fn result_path(out: &Path, name: &str, seed: u64) -> PathBuf {
    out.join("results").join(format!("{name}.seed{seed}.json"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::train::settings::TrainOptions;
    use crate::train::start;
    use candle_core::Device;

    #[test]
    fn a_stored_result_stands_only_for_the_same_line_settings_corpus_and_machine() {
        let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/tiny.txt");
        let opts = TrainOptions {
            corpus: Some(corpus),
            dim: Some(8),
            ..TrainOptions::default()
        };
        let (config, _, _) = start::new_run(&opts, &Device::Cpu).unwrap();
        let entry = GridEntry {
            name: "a".into(),
            line: 1,
            group: String::new(),
            flags: "--dim 8".into(),
            options: TrainOptions::default(),
        };
        let score = MarkScore {
            minutes: 1.0,
            iteration: 10,
            js: [0.5; 4],
            valid_word_rate: None,
        };
        let stored = SweepRun {
            name: "a".into(),
            group: String::new(),
            flags: "--dim 8".into(),
            seed: 0,
            budget_minutes: 1.0,
            corpus_hash: config.corpus_hash.clone(),
            config: config.clone(),
            machine: crate::device::cpu_model(),
            threads: rayon::current_num_threads(),
            diverged_at: None,
            iterations: 10,
            train_secs: 60.0,
            secs_per_iter: 6.0,
            marks: vec![score],
            metrics: Vec::new(),
            samples: Vec::new(),
        };
        assert_eq!(stale(&stored, &entry, &config, &[1.0]), None);
        // Where the corpus file is and how often it was evaluated do not matter.
        let elsewhere = RunConfig {
            corpus: PathBuf::from("copy/of/tiny.txt"),
            eval_every: 7,
            ..config.clone()
        };
        assert_eq!(stale(&stored, &entry, &elsewhere, &[1.0]), None);
        let why = |r: &SweepRun, e: &GridEntry, c: &RunConfig, marks: &[f64]| {
            stale(r, e, c, marks).unwrap_or_else(|| panic!("reused"))
        };
        let edited = GridEntry {
            flags: "--dim 8 --lr 1e-3".into(),
            ..entry.clone()
        };
        assert!(why(&stored, &edited, &config, &[1.0]).contains("line changed"));
        // The same line under another preset or textgan version means other settings.
        let mut moved = config.clone();
        moved.optim_critic.lr *= 2.0;
        assert!(why(&stored, &entry, &moved, &[1.0]).contains("settings changed"));
        let other_text = RunConfig {
            corpus_hash: "0".into(),
            ..config.clone()
        };
        assert!(why(&stored, &entry, &other_text, &[1.0]).contains("corpus changed"));
        let away = SweepRun {
            machine: "another CPU".into(),
            ..stored.clone()
        };
        assert!(why(&away, &entry, &config, &[1.0]).contains("another CPU"));
        // A new mark needs a new run, unless the run diverged before it.
        assert!(why(&stored, &entry, &config, &[0.5, 1.0]).contains("every mark"));
        let diverged = SweepRun {
            diverged_at: Some(0.7),
            ..stored
        };
        assert_eq!(stale(&diverged, &entry, &config, &[0.5, 1.0]), None);
    }
}
