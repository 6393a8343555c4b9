//! A trainer's checkpoint: what goes into the run directory's files and how a run is read
//! back — `state.json` (where training stands), the weights, the optimiser moments, the
//! settings and the vocabulary — for `--resume`, `generate` and `eval`. The files are written
//! through [`crate::run_dir`]: staged, then committed together.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use candle_core::{Device, Tensor};
use serde::{Deserialize, Serialize};

use super::events::MetricsRecord;
use super::settings::RunConfig;
use super::trainer::Trainer;
use crate::data::batches::DataOrder;
use crate::data::corpus::Corpus;
use crate::data::vocab::Vocab;
use crate::error::{Error, Result};
use crate::run_dir::atomic::{read_json, write_atomic, write_json};
use crate::run_dir::checksums::{staged_checksums, verify};
use crate::run_dir::commit::{commit, recover};
use crate::run_dir::tensors::{all_finite, load_params, load_tensors, reject_extra, save_tensors};
use crate::run_dir::{
    staged, CHECKPOINT_FILES, CONFIG, CRITIC, GENERATOR, METRICS, OPTIMIZER, STATE, TOKENIZER,
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

/// Check that `dir` is a run directory and read its `config.json`.
pub fn read_config(dir: &Path) -> Result<RunConfig> {
    if !dir.is_dir() {
        return Err(Error::checkpoint(
            dir,
            "not a directory (expected a textgan run directory)",
        ));
    }
    recover(dir)?;
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
        load_params(&t.gen_params, &run_dir.join(GENERATOR), device)?;
        load_params(&t.critic_params, &run_dir.join(CRITIC), device)?;
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
        verify(run_dir, &state.checksums)?;
        // Evaluations written after the last checkpoint (a crash between the two) would be
        // written again: keep only those up to the checkpoint's iteration.
        truncate_metrics(&run_dir.join(METRICS), state.iteration)?;
        let word_pos: u128 = state
            .rng_word_pos
            .parse()
            .map_err(|_| Error::checkpoint(run_dir.join(STATE), "rng_word_pos is not a number"))?;
        t.rng.set_word_pos(word_pos);
        if state.data_pos > t.train_ids.len() {
            return Err(Error::checkpoint(
                run_dir.join(STATE),
                "data_pos is beyond the corpus",
            ));
        }
        t.data = DataOrder::new(
            t.config.seed,
            t.train_ids.len(),
            state.data_epoch,
            state.data_pos,
        );
        t.iteration = state.iteration;
        t.elapsed_secs = state.elapsed_secs;
        t.resumed = true;
        Ok(t)
    }

    /// Write the whole checkpoint. State goes last, so it never points past the weights.
    pub fn save(&self) -> Result<()> {
        for (name, p) in [
            ("generator", &self.gen_params),
            ("critic", &self.critic_params),
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
        let tokenizer = staged(TOKENIZER);
        write_atomic(&tokenizer, self.vocab.to_json(&tokenizer)?.as_bytes())?;
        save_tensors(&staged(GENERATOR), &self.gen_params.tensors())?;
        save_tensors(&staged(CRITIC), &self.critic_params.tensors())?;
        let mut moments = HashMap::new();
        for (k, v) in self.opt_g.state_tensors() {
            moments.insert(format!("generator.{k}"), v);
        }
        for (k, v) in self.opt_d.state_tensors() {
            moments.insert(format!("critic.{k}"), v);
        }
        save_tensors(&staged(OPTIMIZER), &moments)?;
        let state = TrainState {
            iteration: self.iteration,
            elapsed_secs: self.elapsed_secs,
            adam_steps: (self.opt_g.t, self.opt_d.t),
            rng_word_pos: self.rng.get_word_pos().to_string(),
            data_epoch: self.data.epoch,
            data_pos: self.data.pos,
            saved_at: unix_now(),
            checksums: staged_checksums(dir)?,
        };
        write_json(&staged(STATE), &state)?;
        commit(dir, &CHECKPOINT_FILES)
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
