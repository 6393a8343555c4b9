//! Starting a run from [`TrainOptions`]: a new one, a resumed one, or a refusal that explains
//! itself. Nothing on disk is touched until the options are known to be good.

use std::path::{Path, PathBuf};

use candle_core::Device;

use super::checkpoint::read_config;
use super::presets::Preset;
use super::settings::{RunConfig, TrainOptions};
use super::trainer::Trainer;
use crate::data::corpus::{self, Corpus};
use crate::data::vocab::Vocab;
use crate::device;
use crate::error::{Error, Result};
use crate::run_dir::lock::RunLock;
use crate::run_dir::{self, checksums::fingerprint, STATE};

/// The trainer `opts` ask for: a new run, or (with `resume`) the run in its directory.
pub fn prepare(opts: &TrainOptions, device: &Device) -> Result<Trainer> {
    opts.check()?;
    if opts.resume {
        prepare_resume(opts, device)
    } else {
        prepare_new(opts, device)
    }
}

fn prepare_new(opts: &TrainOptions, device: &Device) -> Result<Trainer> {
    let (config, corpus, vocab) = new_run(opts, device)?;
    let run_dir = opts
        .out
        .clone()
        .unwrap_or_else(|| corpus::default_run_dir(&config.corpus));
    check_run_dir_free(&run_dir, opts.force)?;
    let mut trainer = Trainer::new(config, corpus, vocab, &run_dir, device)?;
    // The directory is this trainer's from here on: a second one is refused.
    std::fs::create_dir_all(&run_dir).map_err(|e| Error::io(&run_dir, e))?;
    trainer.lock = Some(RunLock::acquire(&run_dir, "train")?);
    // Only now that the new run is built (and the directory held) is the old one removed;
    // checked again under the lock, against a run started meanwhile.
    check_run_dir_free(&run_dir, opts.force)?;
    if opts.force {
        run_dir::clear(&run_dir)?;
    }
    Ok(trainer)
}

/// The settings, corpus and vocabulary of a new run from `opts` (nothing is written).
pub fn new_run(opts: &TrainOptions, device: &Device) -> Result<(RunConfig, Corpus, Vocab)> {
    let corpus_path = opts
        .corpus
        .clone()
        .ok_or_else(|| Error::Config("no corpus given: `textgan train CORPUS.txt`".into()))?;
    let mut config = opts.new_config(
        corpus_path.clone(),
        Preset::default_for(device),
        device::name(device),
    )?;
    let bytes = corpus::read_bytes(&corpus_path)?;
    let lines = corpus::parse_lines(&corpus_path, &bytes)?;
    let corpus = Corpus::split(&corpus_path, lines, config.seed, config.batch)?;
    let vocab = Vocab::build(corpus.all_lines(), config.max_vocab)?;
    config.model.vocab = vocab.len();
    config.corpus_hash = fingerprint(&bytes);
    Ok((config, corpus, vocab))
}

/// A new run may only write into a directory with no run in it, unless `--force`.
fn check_run_dir_free(run_dir: &Path, force: bool) -> Result<()> {
    if run_dir.exists() && !run_dir.is_dir() {
        return Err(Error::checkpoint(run_dir, "exists and is not a directory"));
    }
    if run_dir::holds_run(run_dir) && !force {
        return Err(Error::checkpoint(
            run_dir,
            "already holds a run; use --resume to continue it, --force to replace it, or --out to train elsewhere",
        ));
    }
    Ok(())
}

/// The run directory `--resume` means: `--out`, or the corpus's default.
fn resume_dir(opts: &TrainOptions) -> Result<PathBuf> {
    match (&opts.out, &opts.corpus) {
        (Some(d), _) => Ok(d.clone()),
        (None, Some(c)) => Ok(corpus::default_run_dir(c)),
        (None, None) => Err(Error::Config(
            "--resume needs the run: give the corpus or --out DIR".into(),
        )),
    }
}

fn prepare_resume(opts: &TrainOptions, device: &Device) -> Result<Trainer> {
    let run_dir = resume_dir(opts)?;
    let saved = read_config(&run_dir)?;
    // Held before the checkpoint is read: no other process writes it from here on.
    let lock = RunLock::acquire(&run_dir, "train")?;
    if !run_dir.join(STATE).is_file() {
        return Err(Error::checkpoint(
            &run_dir,
            "has no state.json: nothing to resume",
        ));
    }
    let corpus_path = opts.corpus.clone().unwrap_or_else(|| saved.corpus.clone());
    let mut config =
        opts.resumed_config(saved, &run_dir.display().to_string(), device::name(device))?;
    let bytes = corpus::read_bytes(&corpus_path)?;
    if fingerprint(&bytes) != config.corpus_hash {
        return Err(Error::corpus(
            &corpus_path,
            format!(
                "is not the corpus the run in {} was trained on (its contents differ)",
                run_dir.display()
            ),
        ));
    }
    config.corpus = corpus_path.clone();
    let lines = corpus::parse_lines(&corpus_path, &bytes)?;
    let corpus = Corpus::split(&corpus_path, lines, config.seed, config.batch)?;
    let mut trainer = Trainer::resume(config, corpus, &run_dir, device)?;
    trainer.lock = Some(lock);
    Ok(trainer)
}
