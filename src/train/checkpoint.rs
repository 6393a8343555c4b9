//! A trainer's checkpoint: what goes into the run directory's files and how a run is read
//! back — `state.json` (where training stands), the weights, the optimiser moments, the
//! settings and the vocabulary — for `--resume`, `generate` and `eval`. The files are written
//! through [`crate::run_dir`]: staged, then committed together.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::draws::DrawPosition;
use super::ema;
use super::events::MetricsRecord;
use super::settings::RunConfig;
use super::trainer::Trainer;
use crate::data::corpus::Corpus;
use crate::data::vocab::Vocab;
use crate::error::{Error, Result};
use crate::run_dir::atomic::{read_json, write_atomic, write_json};
use crate::run_dir::checksums::{digest, verify};
use crate::run_dir::commit::{commit, recover};
use crate::run_dir::tensors::{all_finite, load_params, load_tensors, reject_extra, save_tensors};
use crate::run_dir::{
    staged, BEST, BEST_FILES, BEST_GENERATOR, CONFIG, CRITIC, GENERATOR, GENERATOR_EMA, METRICS,
    OPTIMIZER, STATE, TOKENIZER,
};

/// Where training stands; with the weights and optimizer moments, enough to resume exactly.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainState {
    /// Generator iterations completed.
    pub iteration: u64,
    /// Training seconds over all sessions of the run.
    pub elapsed_secs: f64,
    /// Adam step counts (generator, critic).
    pub adam_steps: (u64, u64),
    /// Position in the training RNG's stream (ChaCha8 seeded by the run's seed), as a decimal string.
    pub rng_word_pos: String,
    /// Data order: epoch number and position in that epoch's shuffled order.
    pub data_epoch: u64,
    pub data_pos: usize,
    /// Unix time of the save, seconds: `generate` picks the most recent run by it.
    pub saved_at: f64,
    /// FNV-1a fingerprints of the checkpoint's tokenizer and tensor files, checked on loading:
    /// a damaged or swapped file is refused instead of silently giving a different model.
    /// (Empty in runs saved before they were recorded.)
    #[serde(default)]
    pub checksums: std::collections::BTreeMap<String, String>,
}

/// The run's `tokenizer.json`, checked against the vocabulary size in its `config.json`.
pub fn read_vocab(run_dir: &Path, config: &RunConfig) -> Result<Vocab> {
    let path = run_dir.join(TOKENIZER);
    let vocab = Vocab::load(&path)?;
    if vocab.len() != config.model.vocab {
        return Err(Error::checkpoint(
            path,
            format!(
                "has {} tokens but config.json says {} (files from different runs?)",
                vocab.len(),
                config.model.vocab
            ),
        ));
    }
    Ok(vocab)
}

/// Check that `dir` is a run directory and read its `config.json`, first finishing or undoing
/// a checkpoint a crash interrupted ([`recover`]) — unless a live trainer holds the directory:
/// its files being written are not leftovers.
pub fn read_config(dir: &Path) -> Result<RunConfig> {
    if dir.is_dir() && crate::run_dir::lock::live_holder(dir).is_none() {
        recover(dir)?;
    }
    read_config_only(dir)
}

/// [`read_config`] without touching the directory (no recovery): for readers that must
/// never write, such as `textgan serve`.
pub fn read_config_only(dir: &Path) -> Result<RunConfig> {
    if !dir.is_dir() {
        return Err(Error::checkpoint(
            dir,
            "not a directory (expected a textgan run directory)",
        ));
    }
    let path = dir.join(CONFIG);
    if !path.is_file() {
        return Err(Error::checkpoint(
            dir,
            "not a textgan run directory (no config.json)",
        ));
    }
    let config: RunConfig = read_json(&path)?;
    config
        .model
        .check()
        .map_err(|m| Error::checkpoint(&path, m))?;
    Ok(config)
}

/// The run directory under `models_dir` whose last checkpoint is the most recent (by
/// `state.json`'s `saved_at`), if any.
pub fn latest_run(models_dir: &Path) -> Option<PathBuf> {
    let entries = std::fs::read_dir(models_dir).ok()?;
    entries
        .filter_map(|e| e.ok())
        .map(|e| e.path())
        .filter(|p| p.join(GENERATOR).is_file())
        .filter_map(|p| {
            let state: TrainState = read_json(&p.join(STATE)).ok()?;
            Some((state.saved_at, p))
        })
        .max_by(|a, b| a.0.total_cmp(&b.0).then_with(|| a.1.cmp(&b.1)))
        .map(|(_, p)| p)
}

/// `best.json`: where the run's best generator (`best_generator.safetensors`) comes from.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Best {
    /// The evaluation it won: iteration, training seconds, JSD-1..4, valid-word rate.
    pub iteration: u64,
    pub elapsed_secs: f64,
    pub js: [f64; 4],
    pub valid_word_rate: Option<f64>,
    /// Whether it is the weight average (`--ema`) or the trained generator itself.
    pub averaged: bool,
    /// The fingerprint of `best_generator.safetensors`.
    pub checksums: BTreeMap<String, String>,
}

/// The run's `best.json`, if it has one.
pub fn read_best(run_dir: &Path) -> Result<Option<Best>> {
    let path = run_dir.join(BEST);
    if !path.is_file() {
        return Ok(None);
    }
    read_json(&path).map(Some)
}

/// Which of a run's generators to load.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The one with the lowest JSD-4 seen at an evaluation (the latest if none was kept).
    Best,
    /// The latest checkpoint's (its weight average with `--ema`).
    Last,
}

impl Which {
    pub const ALL: [Which; 2] = [Which::Best, Which::Last];

    pub fn name(self) -> &'static str {
        match self {
            Which::Best => "best",
            Which::Last => "last",
        }
    }

    pub fn help(self) -> &'static str {
        match self {
            Which::Best => "The generator with the lowest JSD-4 seen at an evaluation",
            Which::Last => "The latest checkpoint's generator (its weight average with --ema)",
        }
    }
}

/// One of a run's generator files, what it is in words, and the recorded fingerprints of what
/// loading it reads (the file and the tokenizer).
pub struct GeneratorFile {
    pub path: PathBuf,
    pub what: String,
    /// Fingerprints to check once the files have parsed, each with the file that records it.
    checks: Vec<(BTreeMap<String, String>, &'static str)>,
}

impl GeneratorFile {
    /// A file that parses can still be damaged or swapped: check the fingerprints too.
    pub fn verify(&self, run_dir: &Path) -> Result<()> {
        for (checksums, record) in &self.checks {
            verify(run_dir, checksums, record)?;
        }
        Ok(())
    }
}

/// The entries of `checksums` for `names`.
fn only(checksums: &BTreeMap<String, String>, names: &[&str]) -> BTreeMap<String, String> {
    checksums
        .iter()
        .filter(|(k, _)| names.contains(&k.as_str()))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The generator file of `run_dir` that `which` means.
pub fn generator_file(run_dir: &Path, config: &RunConfig, which: Which) -> Result<GeneratorFile> {
    let state: Option<TrainState> = {
        let p = run_dir.join(STATE);
        if p.is_file() {
            Some(read_json(&p)?)
        } else {
            None
        }
    };
    let recorded = |names: &[&str]| {
        state
            .as_ref()
            .map(|s| only(&s.checksums, names))
            .unwrap_or_default()
    };
    if which == Which::Best {
        if let Some(best) = read_best(run_dir)? {
            let what = format!(
                "the best generator{} of {} (iteration {}, JSD-4 {:.3}); --checkpoint last for the latest",
                if best.averaged { " (weight average)" } else { "" },
                run_dir.display(),
                best.iteration,
                best.js[3]
            );
            return Ok(GeneratorFile {
                path: run_dir.join(BEST_GENERATOR),
                what,
                checks: vec![
                    (only(&best.checksums, &[BEST_GENERATOR]), BEST),
                    (recorded(&[TOKENIZER]), STATE),
                ],
            });
        }
    }
    let averaged = config.ema > 0.0
        && state
            .as_ref()
            .is_some_and(|s| s.checksums.contains_key(GENERATOR_EMA));
    let name = if averaged { GENERATOR_EMA } else { GENERATOR };
    let what = format!(
        "the latest generator{} of {}{}",
        if averaged { " (weight average)" } else { "" },
        run_dir.display(),
        state
            .as_ref()
            .map(|s| format!(" (iteration {})", s.iteration))
            .unwrap_or_default()
    );
    Ok(GeneratorFile {
        path: run_dir.join(name),
        what,
        checks: vec![(recorded(&[name, TOKENIZER]), STATE)],
    })
}

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}

impl Trainer {
    /// Continue the run saved in `run_dir`. `config` is the saved config with the safe changes
    /// (budget, learning rate, intervals, device) already applied by the caller; `corpus` must
    /// be the run's corpus, read with the run's seed.
    pub fn resume(
        config: RunConfig,
        corpus: Corpus,
        run_dir: &Path,
        device: &Device,
    ) -> Result<Self> {
        let vocab = read_vocab(run_dir, &config)?;
        let state: TrainState = read_json(&run_dir.join(STATE))?;
        let mut t = Trainer::new(config, corpus, vocab, run_dir, device)?;
        load_params(t.nets.gen_params(), &run_dir.join(GENERATOR), device)?;
        load_params(t.nets.critic_params(), &run_dir.join(CRITIC), device)?;
        if let Some(avg) = t.nets.average() {
            // The saved average, or (averaging turned on at this resume) the weights as they are.
            if state.checksums.contains_key(GENERATOR_EMA) {
                load_params(avg, &run_dir.join(GENERATOR_EMA), device)?;
            } else {
                ema::copy(avg, t.nets.gen_params())?;
            }
        }
        let opt_path = run_dir.join(OPTIMIZER);
        let mut moments = load_tensors(&opt_path, device)?;
        let take = |prefix: &str, all: &mut HashMap<String, Tensor>| {
            let keys: Vec<String> = all
                .keys()
                .filter(|k| k.starts_with(prefix))
                .cloned()
                .collect();
            keys.into_iter()
                .filter_map(|k| all.remove(&k).map(|v| (k[prefix.len()..].to_string(), v)))
                .collect::<HashMap<_, _>>()
        };
        let g = take("generator.", &mut moments);
        let c = take("critic.", &mut moments);
        reject_extra(&moments, &opt_path)?;
        t.opt_g.load_state(g, state.adam_steps.0, &opt_path)?;
        t.opt_d.load_state(c, state.adam_steps.1, &opt_path)?;
        // Every file parsed and fits; the fingerprints catch a damaged or swapped one that does.
        verify(run_dir, &state.checksums, STATE)?;
        // Evaluations written after the last checkpoint (a crash between the two) would be
        // written again: keep only those up to the checkpoint's iteration.
        truncate_metrics(&run_dir.join(METRICS), state.iteration)?;
        let word_pos: u128 = state
            .rng_word_pos
            .parse()
            .map_err(|_| Error::checkpoint(run_dir.join(STATE), "rng_word_pos is not a number"))?;
        if state.data_pos > t.draws.line_count() {
            return Err(Error::checkpoint(
                run_dir.join(STATE),
                "data_pos is beyond the corpus",
            ));
        }
        t.draws.restore(DrawPosition {
            word_pos,
            epoch: state.data_epoch,
            pos: state.data_pos,
        });
        t.continue_from(state.iteration);
        t.elapsed_secs = state.elapsed_secs;
        t.show.best_js4 = read_best(run_dir)?.map(|b| b.js[3]);
        t.resumed = true;
        Ok(t)
    }

    /// Write the whole checkpoint. State goes last, so it never points past the weights.
    pub fn save(&self) -> Result<()> {
        for (name, p) in [
            ("generator", self.nets.gen_params()),
            ("critic", self.nets.critic_params()),
        ] {
            for (pname, var) in &p.vars {
                if !all_finite(var.as_tensor())? {
                    return Err(Error::NonFinite(format!(
                        "{name} weight {pname} is NaN or infinite at iteration {}; not saved, the last checkpoint is intact. Try a lower --lr.",
                        self.iteration
                    )));
                }
            }
        }
        self.write_checkpoint().map_err(|e| {
            // Discard what was staged (or finish a committed save); either way one whole
            // checkpoint remains.
            let _ = recover(&self.run_dir);
            Error::checkpoint(
                &self.run_dir,
                format!(
                    "could not save the checkpoint of iteration {} ({e}); the last complete checkpoint stays in place",
                    self.iteration
                ),
            )
        })
    }

    fn write_checkpoint(&self) -> Result<()> {
        let dir = &self.run_dir;
        std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        // Every file is staged, then all are committed together (see `checkpoint`).
        let staged = |name| staged(dir, name);
        write_json(&staged(CONFIG), &self.config)?;
        // Each file's checksum from the bytes as they are written (never read back).
        let mut checksums = BTreeMap::new();
        let tokenizer = staged(TOKENIZER);
        let json = self.vocab.to_json(&tokenizer)?;
        write_atomic(&tokenizer, json.as_bytes())?;
        checksums.insert(TOKENIZER.to_string(), digest(json.as_bytes()));
        let mut save = |name: &'static str, tensors: &HashMap<String, Tensor>| -> Result<()> {
            checksums.insert(name.to_string(), save_tensors(&staged(name), tensors)?);
            Ok(())
        };
        save(GENERATOR, &self.nets.gen_params().tensors())?;
        let mut names = vec![CONFIG, TOKENIZER, GENERATOR, CRITIC, OPTIMIZER];
        if let Some(avg) = self.nets.average() {
            save(GENERATOR_EMA, &avg.tensors())?;
            names.push(GENERATOR_EMA);
        }
        save(CRITIC, &self.nets.critic_params().tensors())?;
        let mut moments = HashMap::new();
        for (k, v) in self.opt_g.state_tensors() {
            moments.insert(format!("generator.{k}"), v);
        }
        for (k, v) in self.opt_d.state_tensors() {
            moments.insert(format!("critic.{k}"), v);
        }
        save(OPTIMIZER, &moments)?;
        let at = self.draws.position();
        let state = TrainState {
            iteration: self.iteration,
            elapsed_secs: self.elapsed_secs,
            adam_steps: (self.opt_g.t, self.opt_d.t),
            rng_word_pos: at.word_pos.to_string(),
            data_epoch: at.epoch,
            data_pos: at.pos,
            saved_at: unix_now(),
            checksums,
        };
        write_json(&staged(STATE), &state)?;
        names.push(STATE);
        commit(dir, &names)?;
        // An average left by an earlier session that averaged is not this checkpoint's.
        let stale = dir.join(GENERATOR_EMA);
        if self.nets.average().is_none() && stale.is_file() {
            std::fs::remove_file(&stale).map_err(|e| Error::io(&stale, e))?;
        }
        Ok(())
    }

    /// Keep the shown generator as the run's best if `m` (its evaluation just now) has the
    /// lowest JSD-4 so far: `best_generator.safetensors` and `best.json` replaced together.
    pub(super) fn keep_if_best(&mut self, m: &MetricsRecord) -> Result<()> {
        if self.show.best_js4.is_some_and(|b| b <= m.js[3]) || !m.js[3].is_finite() {
            return Ok(());
        }
        let dir = &self.run_dir;
        let written = (|| {
            let checksum = save_tensors(
                &staged(dir, BEST_GENERATOR),
                &self.shown_generator().1.tensors(),
            )?;
            let best = Best {
                iteration: m.iteration,
                elapsed_secs: m.elapsed_secs,
                js: m.js,
                valid_word_rate: m.valid_word_rate,
                averaged: self.nets.average().is_some(),
                checksums: BTreeMap::from([(BEST_GENERATOR.to_string(), checksum)]),
            };
            write_json(&staged(dir, BEST), &best)?;
            commit(dir, &BEST_FILES)
        })();
        written.map_err(|e| {
            let _ = recover(dir);
            Error::checkpoint(
                dir,
                format!(
                    "could not keep the best generator of iteration {} ({e}); the previous best stays in place",
                    m.iteration
                ),
            )
        })?;
        self.show.best_js4 = Some(m.js[3]);
        Ok(())
    }
}

/// Keep the lines of `metrics.jsonl` whose iteration is at most `iteration`.
fn truncate_metrics(path: &Path, iteration: u64) -> Result<()> {
    let Ok(text) = std::fs::read_to_string(path) else {
        return Ok(());
    };
    let keep: Vec<&str> = text
        .lines()
        .filter(|l| {
            serde_json::from_str::<MetricsRecord>(l).is_ok_and(|m| m.iteration <= iteration)
        })
        .collect();
    if keep.len() != text.lines().count() {
        let mut out = keep.join("\n");
        if !out.is_empty() {
            out.push('\n');
        }
        write_atomic(path, out.as_bytes())?;
    }
    Ok(())
}
