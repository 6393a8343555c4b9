//! The run directory (Hugging Face conventions) and its atomic writes.
//!
//! ```text
//! config.json  tokenizer.json  generator.safetensors  critic.safetensors
//! optimizer.safetensors  state.json  metrics.jsonl  samples/000100.txt
//! ```
//! Every file is written to a temporary file in the same directory, fsynced, then renamed over
//! the old one, so a crash never leaves a half-written file. A checkpoint is several files, and
//! they are replaced together: each new file is first staged as `<name>.new`; a commit marker
//! (itself written atomically) then declares the staged set complete, and only then are the
//! files moved into place. A crash before the marker leaves the previous checkpoint untouched
//! (the staged files are discarded on the next load); a crash after it is finished on the next
//! load ([`recover`]). So a run directory always holds one whole checkpoint, never a mix.

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
    /// FNV-1a fingerprints of the checkpoint's tokenizer and tensor files, checked on loading:
    /// a damaged or swapped file is refused instead of silently giving a different model.
    /// (Empty in runs saved before they were recorded.)
    #[serde(default)]
    pub checksums: std::collections::BTreeMap<String, String>,
}

/// Files whose fingerprints `state.json` records. `config.json` is checked by its contents
/// instead (editing a learning rate there by hand is legitimate).
pub const CHECKSUMMED: [&str; 4] = [TOKENIZER, GENERATOR, CRITIC, OPTIMIZER];

/// Fingerprints of the staged [`CHECKSUMMED`] files of a save in progress.
pub fn staged_checksums(dir: &Path) -> Result<std::collections::BTreeMap<String, String>> {
    CHECKSUMMED
        .iter()
        .map(|name| {
            let p = staged(dir, name);
            let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
            Ok((name.to_string(), crate::config::fingerprint(&bytes)))
        })
        .collect()
}

/// Check the files named in `state.checksums` against their fingerprints.
pub fn verify(dir: &Path, state: &TrainState) -> Result<()> {
    for (name, expected) in &state.checksums {
        if !CHECKSUMMED.contains(&name.as_str()) {
            return Err(Error::checkpoint(
                dir.join(STATE),
                format!("names an unknown file {name:?} in its checksums"),
            ));
        }
        let p = dir.join(name);
        let bytes = std::fs::read(&p).map_err(|e| Error::io(&p, e))?;
        if &crate::config::fingerprint(&bytes) != expected {
            return Err(Error::checkpoint(
                p,
                "does not match the checksum recorded in state.json (changed or damaged since it was saved)",
            ));
        }
    }
    Ok(())
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

/// Marks a staged checkpoint as complete; lists the staged files, one per line.
pub const COMMIT: &str = ".checkpoint-commit";
/// The files a checkpoint replaces together.
pub const CHECKPOINT_FILES: [&str; 6] = [CONFIG, TOKENIZER, GENERATOR, CRITIC, OPTIMIZER, STATE];

/// Where `name` is staged before a commit.
pub fn staged(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.new"))
}

/// Make the files staged for `names` (all complete and fsynced) the run's checkpoint.
pub fn commit(dir: &Path, names: &[&str]) -> Result<()> {
    write_atomic(&dir.join(COMMIT), names.join("\n").as_bytes())?;
    roll_forward(dir, names)
}

/// Move each staged file over its live one (those already moved are skipped), then remove the
/// commit marker.
fn roll_forward(dir: &Path, names: &[&str]) -> Result<()> {
    for name in names {
        let from = staged(dir, name);
        if from.is_file() {
            let to = dir.join(name);
            std::fs::rename(&from, &to).map_err(|e| Error::io(&to, e))?;
        }
    }
    sync_dir(dir)?;
    let marker = dir.join(COMMIT);
    std::fs::remove_file(&marker).map_err(|e| Error::io(&marker, e))?;
    sync_dir(dir)
}

/// Finish or undo a checkpoint interrupted by a crash: with a commit marker every staged file
/// is complete, so they are moved into place; without one, staged files are leftovers of an
/// unfinished save and are removed, as are temporary files of cut-off writes. Nothing to do in
/// a clean directory (no write is attempted).
pub fn recover(dir: &Path) -> Result<()> {
    let marker = dir.join(COMMIT);
    if marker.is_file() {
        let text = std::fs::read_to_string(&marker).map_err(|e| Error::io(&marker, e))?;
        let names: Vec<&str> = text.lines().collect();
        if names.is_empty() || names.iter().any(|n| !CHECKPOINT_FILES.contains(n)) {
            return Err(Error::checkpoint(
                &marker,
                "is damaged (it must list checkpoint files); remove it to keep the previous checkpoint",
            ));
        }
        roll_forward(dir, &names).map_err(|e| {
            Error::checkpoint(
                dir,
                format!("holds an interrupted checkpoint that could not be finished ({e}); make the directory writable and retry"),
            )
        })?;
    }
    // Staged files, and the temporary files of writes that were cut off (see write_atomic).
    let mut leftovers = Vec::new();
    for name in CHECKPOINT_FILES {
        leftovers.push(staged(dir, name));
        leftovers.push(dir.join(format!(".{name}.new.tmp")));
        leftovers.push(dir.join(format!(".{name}.tmp")));
    }
    leftovers.push(dir.join(format!(".{COMMIT}.tmp")));
    leftovers.push(dir.join(format!(".{METRICS}.tmp")));
    // Best effort: leftovers never affect loading, so a read-only directory still loads.
    for p in leftovers {
        if p.is_file() {
            let _ = std::fs::remove_file(&p);
        }
    }
    Ok(())
}

/// fsync a directory, so the renames in it survive a power cut (no-op where unsupported).
fn sync_dir(dir: &Path) -> Result<()> {
    #[cfg(unix)]
    {
        let d = std::fs::File::open(dir).map_err(|e| Error::io(dir, e))?;
        d.sync_all().map_err(|e| Error::io(dir, e))?;
    }
    #[cfg(not(unix))]
    let _ = dir;
    Ok(())
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

#[cfg(test)]
mod tests {
    use super::*;

    fn files(dir: &Path) -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn a_save_interrupted_before_its_commit_leaves_the_old_checkpoint() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write_atomic(&d.join(STATE), b"old").unwrap();
        write_atomic(&d.join(GENERATOR), b"old").unwrap();
        // The crash came after staging two files, before the commit marker.
        write_atomic(&staged(d, GENERATOR), b"new").unwrap();
        write_atomic(&staged(d, STATE), b"new").unwrap();
        recover(d).unwrap();
        assert_eq!(files(d), [GENERATOR, STATE]);
        assert_eq!(std::fs::read(d.join(GENERATOR)).unwrap(), b"old");
        assert_eq!(std::fs::read(d.join(STATE)).unwrap(), b"old");
    }

    #[test]
    fn a_save_interrupted_after_its_commit_is_finished() {
        let tmp = tempfile::tempdir().unwrap();
        let d = tmp.path();
        write_atomic(&d.join(STATE), b"old").unwrap();
        write_atomic(&d.join(GENERATOR), b"old").unwrap();
        write_atomic(&staged(d, STATE), b"new").unwrap();
        // The marker was written and the generator already moved when the crash came.
        write_atomic(&d.join(COMMIT), format!("{GENERATOR}\n{STATE}").as_bytes()).unwrap();
        write_atomic(&d.join(GENERATOR), b"new").unwrap();
        recover(d).unwrap();
        assert_eq!(files(d), [GENERATOR, STATE]);
        assert_eq!(std::fs::read(d.join(GENERATOR)).unwrap(), b"new");
        assert_eq!(std::fs::read(d.join(STATE)).unwrap(), b"new");
        // A marker naming anything else is refused, not followed.
        write_atomic(&d.join(COMMIT), b"../../etc/passwd").unwrap();
        let err = recover(d).unwrap_err().to_string();
        assert!(err.contains(".checkpoint-commit: is damaged"), "{err}");
    }
}
