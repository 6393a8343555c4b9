//! The run directory (Hugging Face conventions) and its atomic writes.
//!
//! ```text
//! config.json  tokenizer.json  generator.safetensors  critic.safetensors
//! optimizer.safetensors  state.json  metrics.jsonl  samples/000100.txt
//! ```
//! Every file is written to a temporary file in the same directory, fsynced, then renamed over
//! the old one, so a crash never leaves a half-written file.

use std::collections::HashMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use candle_core::{DType, Device, Tensor};
use serde::{Deserialize, Serialize};

use crate::config::RunConfig;
use crate::error::{Error, Result};
use crate::nn::params::Params;

pub const CONFIG: &str = "config.json";
pub const TOKENIZER: &str = "tokenizer.json";
pub const GENERATOR: &str = "generator.safetensors";
pub const CRITIC: &str = "critic.safetensors";
pub const OPTIMIZER: &str = "optimizer.safetensors";
pub const STATE: &str = "state.json";
pub const METRICS: &str = "metrics.jsonl";
pub const SAMPLES: &str = "samples";

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
}

/// Write `bytes` to `path` atomically (temp file in the same directory, fsync, rename).
pub fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    write_atomic_with(path, |tmp| {
        let mut f = std::fs::File::create(tmp).map_err(|e| Error::io(tmp, e))?;
        f.write_all(bytes).map_err(|e| Error::io(tmp, e))
    })
}

/// Run `write` on a temporary path beside `path`, fsync the result, and rename it over `path`.
pub fn write_atomic_with(path: &Path, write: impl FnOnce(&Path) -> Result<()>) -> Result<()> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.tmp"));
    let result = write(&tmp).and_then(|()| {
        let f = std::fs::File::open(&tmp).map_err(|e| Error::io(&tmp, e))?;
        f.sync_all().map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, path).map_err(|e| Error::io(path, e))
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}

/// Save named tensors as safetensors, atomically.
pub fn save_tensors(path: &Path, tensors: &HashMap<String, Tensor>) -> Result<()> {
    write_atomic_with(path, |tmp| {
        candle_core::safetensors::save(tensors, tmp)
            .map_err(|e| Error::checkpoint(tmp, format!("cannot write: {e}")))
    })
}

/// Read a safetensors file onto `device`.
pub fn load_tensors(path: &Path, device: &Device) -> Result<HashMap<String, Tensor>> {
    if !path.is_file() {
        return Err(Error::checkpoint(path, "missing"));
    }
    candle_core::safetensors::load(path, device)
        .map_err(|e| Error::checkpoint(path, format!("not a readable safetensors file ({e})")))
}

/// Set every parameter from the file at `path`: the names must match exactly, the shapes too,
/// and the dtype must be a float type.
pub fn load_params(params: &Params, path: &Path, device: &Device) -> Result<()> {
    let mut tensors = load_tensors(path, device)?;
    for (name, var) in &params.vars {
        var.set(&take_checked(&mut tensors, name, var.as_tensor(), path)?)?;
    }
    reject_extra(&tensors, path)
}

/// Remove tensor `key` from a loaded file and check it can stand in for `like`: present, the
/// same shape, a float dtype, finite. Returned in `like`'s dtype and on its device.
pub fn take_checked(
    tensors: &mut HashMap<String, Tensor>,
    key: &str,
    like: &Tensor,
    path: &Path,
) -> Result<Tensor> {
    let bad = |msg: String| Error::checkpoint(path, msg);
    let t = tensors
        .remove(key)
        .ok_or_else(|| bad(format!("missing tensor {key}")))?;
    if t.dims() != like.dims() {
        return Err(bad(format!(
            "tensor {key} has shape {:?}, the model expects {:?}",
            t.dims(),
            like.dims()
        )));
    }
    if !matches!(
        t.dtype(),
        DType::F16 | DType::BF16 | DType::F32 | DType::F64
    ) {
        return Err(bad(format!(
            "tensor {key} has dtype {:?}, expected a float type",
            t.dtype()
        )));
    }
    let t = t.to_dtype(like.dtype())?.to_device(like.device())?;
    if !all_finite(&t)? {
        return Err(bad(format!("tensor {key} holds NaN or infinite values")));
    }
    Ok(t)
}

/// Everything in a loaded file must have been taken: an extra tensor means another model.
pub fn reject_extra(tensors: &HashMap<String, Tensor>, path: &Path) -> Result<()> {
    match tensors.keys().min() {
        Some(extra) => Err(Error::checkpoint(
            path,
            format!("unexpected tensor {extra} (a different model?)"),
        )),
        None => Ok(()),
    }
}

/// True when no entry of `t` is NaN or infinite.
pub fn all_finite(t: &Tensor) -> Result<bool> {
    let v = t.to_dtype(DType::F64)?.flatten_all()?.to_vec1::<f64>()?;
    Ok(v.iter().all(|x| x.is_finite()))
}

/// The run's `tokenizer.json`, checked against the vocabulary size in its `config.json`.
pub fn read_vocab(run_dir: &Path, config: &RunConfig) -> Result<crate::vocab::Vocab> {
    let path = run_dir.join(TOKENIZER);
    let vocab = crate::vocab::Vocab::load(&path)?;
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

/// Read a JSON file into `T`.
pub fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<T> {
    let text = std::fs::read_to_string(path).map_err(|e| Error::io(path, e))?;
    serde_json::from_str(&text).map_err(|e| Error::checkpoint(path, format!("invalid: {e}")))
}

/// Write `value` as pretty JSON, atomically.
pub fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<()> {
    let mut text = serde_json::to_string_pretty(value)
        .map_err(|e| Error::checkpoint(path, format!("cannot serialise: {e}")))?;
    text.push('\n');
    write_atomic(path, text.as_bytes())
}

/// Check that `dir` is a run directory and read its `config.json`.
pub fn read_config(dir: &Path) -> Result<RunConfig> {
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

/// Seconds since the Unix epoch.
pub fn unix_now() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0)
}
