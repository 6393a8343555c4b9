//! The run directory: what a run leaves on disk (Hugging Face conventions), and how it is
//! written so that a crash never leaves a mix of two checkpoints.
//!
//! ```text
//! config.json  tokenizer.json  generator.safetensors  critic.safetensors
//! optimizer.safetensors  state.json  metrics.jsonl  samples/000100.txt
//! ```
//! [`atomic`] writes one file atomically; [`commit`] replaces a checkpoint's files together;
//! [`lock`] keeps a second trainer out of a directory in use;
//! [`tensors`] reads and checks safetensors files; [`checksums`] fingerprints them. What a
//! trainer puts in these files is [`crate::train::checkpoint`]'s business.

pub mod atomic;
pub mod checksums;
pub mod commit;
pub mod lock;
pub mod tensors;

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

pub const CONFIG: &str = "config.json";
pub const TOKENIZER: &str = "tokenizer.json";
pub const GENERATOR: &str = "generator.safetensors";
/// The generator's weight average (`--ema`).
pub const GENERATOR_EMA: &str = "generator_ema.safetensors";
/// The generator with the lowest JSD-4 seen at an evaluation, and its scores.
pub const BEST_GENERATOR: &str = "best_generator.safetensors";
pub const BEST: &str = "best.json";
pub const CRITIC: &str = "critic.safetensors";
pub const OPTIMIZER: &str = "optimizer.safetensors";
pub const STATE: &str = "state.json";
pub const METRICS: &str = "metrics.jsonl";
pub const SAMPLES: &str = "samples";
/// Left by a run that diverged (NaN or infinite loss): when, and the message; removed when
/// it trains again.
pub const DIVERGED: &str = "diverged.json";

/// Marks a staged checkpoint as complete; lists the staged files, one per line.
pub const COMMIT: &str = ".checkpoint-commit";
/// The files a checkpoint replaces together.
pub const CHECKPOINT_FILES: [&str; 7] = [
    CONFIG,
    TOKENIZER,
    GENERATOR,
    GENERATOR_EMA,
    CRITIC,
    OPTIMIZER,
    STATE,
];
/// The files of the best generator, replaced together.
pub const BEST_FILES: [&str; 2] = [BEST_GENERATOR, BEST];
/// Files whose fingerprints `state.json` records. `config.json` is checked by its contents
/// instead (editing a learning rate there by hand is legitimate).
pub const CHECKSUMMED: [&str; 6] = [
    TOKENIZER,
    GENERATOR,
    GENERATOR_EMA,
    CRITIC,
    OPTIMIZER,
    BEST_GENERATOR,
];
/// Whether a commit may replace `name`: a checkpoint's files and the best generator's.
pub fn committable(name: &str) -> bool {
    CHECKPOINT_FILES.contains(&name) || BEST_FILES.contains(&name)
}

/// Files a run directory may hold; `--force` removes exactly these (and `samples/`), nothing
/// else.
pub fn run_files() -> impl Iterator<Item = &'static str> {
    CHECKPOINT_FILES
        .into_iter()
        .chain(BEST_FILES)
        .chain([METRICS])
}

/// Where `name` is staged before a commit.
pub fn staged(dir: &Path, name: &str) -> PathBuf {
    dir.join(format!("{name}.new"))
}

/// `samples/NNNNNN.txt`: the samples written at an evaluation.
pub fn samples_file(dir: &Path, iteration: u64) -> PathBuf {
    dir.join(SAMPLES).join(format!("{iteration:06}.txt"))
}

/// Whether `dir` holds (part of) a run.
pub fn holds_run(dir: &Path) -> bool {
    run_files().any(|f| dir.join(f).exists()) || dir.join(SAMPLES).exists()
}

/// Remove a run's files (exactly those textgan writes; anything else stays).
pub fn clear(run_dir: &Path) -> Result<()> {
    for f in run_files() {
        let p = run_dir.join(f);
        if p.exists() {
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    // Leftovers of an interrupted save belong to the old run too.
    let staged = CHECKPOINT_FILES
        .iter()
        .chain(&BEST_FILES)
        .map(|f| staged(run_dir, f))
        .collect::<Vec<_>>();
    for p in staged.iter().chain([&run_dir.join(COMMIT)]) {
        if p.exists() {
            std::fs::remove_file(p).map_err(|e| Error::io(p, e))?;
        }
    }
    let samples = run_dir.join(SAMPLES);
    if let Ok(entries) = std::fs::read_dir(&samples) {
        for p in entries.filter_map(|e| e.ok()).map(|e| e.path()) {
            let ours = p.extension().is_some_and(|x| x == "txt")
                && p.file_stem()
                    .and_then(|s| s.to_str())
                    .is_some_and(|s| s.len() == 6 && s.bytes().all(|b| b.is_ascii_digit()));
            if ours {
                std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
            }
        }
        let _ = std::fs::remove_dir(&samples); // only if now empty
    }
    Ok(())
}
