//! Turning command-line options into a ready trainer: a new run, a resumed one, or a refusal
//! that explains itself. Nothing on disk is touched until the options are known to be good.

use std::path::{Path, PathBuf};

use candle_core::Device;

use crate::checkpoint;
use crate::config::{fingerprint, Preset, RunConfig, MAX_VOCAB};
use crate::corpus::{self, Corpus};
use crate::device;
use crate::error::{Error, Result};
use crate::nn::CriticNorm;
use crate::optim::OptimConfig;
use crate::penalty::{Lipschitz, CLIP, LAMBDA};
use crate::train::Trainer;
use crate::vocab::Vocab;

/// Generator iterations when no `--iters` is given (the paper's run length).
pub const DEFAULT_ITERS: u64 = 200_000;
pub const DEFAULT_SAVE_EVERY: u64 = 100;
pub const DEFAULT_EVAL_EVERY: u64 = 100;

/// `textgan train` options; `None` means "the preset's value" (new run) or "as saved" (resume).
#[derive(Debug, Clone, Default)]
pub struct TrainOptions {
    pub corpus: Option<PathBuf>,
    pub out: Option<PathBuf>,
    pub preset: Option<Preset>,
    pub iters: Option<u64>,
    pub minutes: Option<f64>,
    pub dim: Option<usize>,
    pub res_blocks: Option<usize>,
    pub critic_iters: Option<usize>,
    pub batch: Option<usize>,
    pub lr: Option<f64>,
    /// Overrides `lr` for the critic.
    pub lr_critic: Option<f64>,
    /// Overrides `lr` for the generator.
    pub lr_gen: Option<f64>,
    /// Adam's β₁ and β₂ (RMSProp's α is β₂), both networks.
    pub beta1: Option<f64>,
    pub beta2: Option<f64>,
    pub lr_decay: Option<u64>,
    pub lipschitz: Option<Lipschitz>,
    pub lambda: Option<f64>,
    pub clip: Option<f64>,
    pub critic_norm: Option<CriticNorm>,
    pub seed: Option<u64>,
    pub max_vocab: Option<usize>,
    pub save_every: Option<u64>,
    pub eval_every: Option<u64>,
    pub resume: bool,
    pub force: bool,
}

/// The model and optimiser flags of `train`, `compare` and a sweep's grid lines.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct HyperArgs {
    /// Hyper-parameter bundle; the flags below override it [default: cpu on the CPU, paper on
    /// a GPU]
    #[arg(long, value_enum, long_help = preset_help())]
    pub preset: Option<Preset>,
    /// Width (channels) of every hidden layer; the paper used 512 [default: from preset]
    #[arg(long)]
    pub dim: Option<usize>,
    /// Residual blocks in each network; the paper used 5 [default: from preset]
    #[arg(long)]
    pub res_blocks: Option<usize>,
    /// Critic steps per generator step [default: from preset]
    #[arg(long)]
    pub critic_iters: Option<usize>,
    /// Samples per batch [default: from preset]
    #[arg(long)]
    pub batch: Option<usize>,
    /// Learning rate of both networks: Adam, or RMSProp with --lipschitz clip [default: from
    /// preset; 5e-5 with clip]
    #[arg(long, allow_hyphen_values = true)]
    pub lr: Option<f64>,
    /// Learning rate of the critic (overrides --lr) [default: from preset]
    #[arg(long, allow_hyphen_values = true)]
    pub lr_critic: Option<f64>,
    /// Learning rate of the generator (overrides --lr) [default: from preset]
    #[arg(long, allow_hyphen_values = true)]
    pub lr_gen: Option<f64>,
    /// Adam's β₁ for both networks (refused with --lipschitz clip: RMSProp has none)
    /// [default: from preset]
    #[arg(long, allow_hyphen_values = true)]
    pub beta1: Option<f64>,
    /// Adam's β₂ for both networks (RMSProp's α with --lipschitz clip) [default: from preset;
    /// 0.99 with clip]
    #[arg(long, allow_hyphen_values = true)]
    pub beta2: Option<f64>,
    /// Divide both learning rates by 1 + t/N at generator iteration t: half the rate after N
    /// iterations, a third after 2N; 0 keeps them constant (the paper) [default: from preset]
    #[arg(long, value_name = "N")]
    pub lr_decay: Option<u64>,
    /// Penalty weight λ of gp, lp and fd [default: 10]
    #[arg(long, allow_hyphen_values = true)]
    pub lambda: Option<f64>,
    /// Weight-clipping bound c of --lipschitz clip [default: 0.01]
    #[arg(long, allow_hyphen_values = true)]
    pub clip: Option<f64>,
    /// Normalisation in the critic's residual blocks (`batch` is refused with a penalty)
    /// [default: none]
    #[arg(long, value_enum)]
    pub critic_norm: Option<CriticNorm>,
}

/// `--preset`'s long help: what each preset sets, from the presets themselves.
fn preset_help() -> String {
    format!(
        "Hyper-parameter bundle; the flags below override it. Default: cpu on the CPU, paper on a GPU.\n  \
         cpu:   {}\n  \
         paper: {}\n\
         Both: λ = 10, noise dimension 128.",
        Preset::Cpu.describe(),
        Preset::Paper.describe()
    )
}

impl HyperArgs {
    /// `opts` with these settings filled in.
    pub fn apply(self, opts: TrainOptions) -> TrainOptions {
        TrainOptions {
            preset: self.preset,
            dim: self.dim,
            res_blocks: self.res_blocks,
            critic_iters: self.critic_iters,
            batch: self.batch,
            lr: self.lr,
            lr_critic: self.lr_critic,
            lr_gen: self.lr_gen,
            beta1: self.beta1,
            beta2: self.beta2,
            lr_decay: self.lr_decay,
            lambda: self.lambda,
            clip: self.clip,
            critic_norm: self.critic_norm,
            ..opts
        }
    }
}

/// Files a run directory may hold; `--force` removes exactly these, nothing else.
const RUN_FILES: [&str; 7] = [
    checkpoint::CONFIG,
    checkpoint::TOKENIZER,
    checkpoint::GENERATOR,
    checkpoint::CRITIC,
    checkpoint::OPTIMIZER,
    checkpoint::STATE,
    checkpoint::METRICS,
];

pub fn prepare(opts: &TrainOptions, device: &Device) -> Result<Trainer> {
    if opts.resume && opts.force {
        return Err(Error::Config(
            "--resume and --force contradict each other: pick one".into(),
        ));
    }
    // Named as the user typed them (the config can only name the rate it ended up with).
    for (flag, lr) in [
        ("--lr", opts.lr),
        ("--lr-critic", opts.lr_critic),
        ("--lr-gen", opts.lr_gen),
    ] {
        if let Some(lr) = lr.filter(|l| !(l.is_finite() && *l > 0.0)) {
            return Err(Error::Config(format!(
                "{flag} must be a positive number, got {lr}"
            )));
        }
    }
    if opts.resume {
        prepare_resume(opts, device)
    } else {
        prepare_new(opts, device)
    }
}

/// `--beta1` means nothing to RMSProp, the optimiser of weight clipping: refused rather than
/// recorded and ignored.
fn check_beta1(opts: &TrainOptions, config: &RunConfig) -> Result<()> {
    if opts.beta1.is_some() && config.optim_critic.rule == crate::optim::Rule::RmsProp {
        return Err(Error::Config(
            "--beta1 has no effect with --lipschitz clip (RMSProp has no β₁)".into(),
        ));
    }
    Ok(())
}

fn prepare_new(opts: &TrainOptions, device: &Device) -> Result<Trainer> {
    let (config, corpus, vocab) = new_run(opts, device)?;
    let run_dir = opts
        .out
        .clone()
        .unwrap_or_else(|| corpus::default_run_dir(&config.corpus));
    check_run_dir_free(&run_dir, opts.force)?;
    let trainer = Trainer::new(config, corpus, vocab, &run_dir, device)?;
    // Only now that the new run is built is the old one removed.
    if opts.force {
        clear_run(&run_dir)?;
    }
    Ok(trainer)
}

/// The settings, corpus and vocabulary of a new run from `opts` (nothing is written).
pub fn new_run(opts: &TrainOptions, device: &Device) -> Result<(RunConfig, Corpus, Vocab)> {
    let corpus_path = opts
        .corpus
        .clone()
        .ok_or_else(|| Error::Config("no corpus given: `textgan train CORPUS.txt`".into()))?;
    let preset = opts.preset.unwrap_or_else(|| Preset::default_for(device));
    let p = preset.values();
    let lipschitz = opts.lipschitz.unwrap_or(p.lipschitz);
    // Clipping comes with the original WGAN's optimiser (RMSProp, a constant 5e-5); the
    // penalties with the paper's Adam at the preset's rates and decay.
    let (base, lr_critic, lr_gen, lr_decay) = if lipschitz == Lipschitz::Clip {
        let wgan = OptimConfig::wgan();
        (wgan, wgan.lr, wgan.lr, 0)
    } else {
        let adam = OptimConfig {
            beta1: p.betas.0,
            beta2: p.betas.1,
            ..OptimConfig::paper()
        };
        (adam, p.lr_critic, p.lr_gen, p.lr_decay)
    };
    let with_lr = |specific: Option<f64>, preset_lr: f64| OptimConfig {
        lr: specific.or(opts.lr).unwrap_or(preset_lr),
        beta1: opts.beta1.unwrap_or(base.beta1),
        beta2: opts.beta2.unwrap_or(base.beta2),
        ..base
    };
    let mut config = RunConfig {
        textgan_version: env!("CARGO_PKG_VERSION").to_string(),
        corpus: corpus_path.clone(),
        corpus_hash: String::new(),
        preset,
        model: RunConfig::shape_for(
            0,
            opts.dim.unwrap_or(p.dim),
            opts.res_blocks.unwrap_or(p.res_blocks),
            opts.critic_norm.unwrap_or_default(),
        ),
        max_vocab: opts.max_vocab.unwrap_or(MAX_VOCAB),
        batch: opts.batch.unwrap_or(p.batch),
        critic_iters: opts.critic_iters.unwrap_or(p.critic_iters),
        lipschitz,
        lambda: opts.lambda.unwrap_or(LAMBDA),
        clip: opts.clip.unwrap_or(CLIP),
        optim_generator: with_lr(opts.lr_gen, lr_gen),
        optim_critic: with_lr(opts.lr_critic, lr_critic),
        lr_decay: opts.lr_decay.unwrap_or(lr_decay),
        seed: opts.seed.unwrap_or(0),
        iters: opts.iters.unwrap_or(DEFAULT_ITERS),
        minutes: opts.minutes,
        save_every: opts.save_every.unwrap_or(DEFAULT_SAVE_EVERY),
        eval_every: opts.eval_every.unwrap_or(DEFAULT_EVAL_EVERY),
        device: device::name(device),
        dtype: "f32".into(),
    };
    config.validate()?;
    check_beta1(opts, &config)?;
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
    let has_run = RUN_FILES.iter().any(|f| run_dir.join(f).exists())
        || run_dir.join(checkpoint::SAMPLES).exists();
    if !has_run {
        return Ok(());
    }
    if !force {
        return Err(Error::checkpoint(
            run_dir,
            "already holds a run; use --resume to continue it, --force to replace it, or --out to train elsewhere",
        ));
    }
    Ok(())
}

/// Remove a run's files (exactly those textgan writes; anything else stays).
fn clear_run(run_dir: &Path) -> Result<()> {
    for f in RUN_FILES {
        let p = run_dir.join(f);
        if p.exists() {
            std::fs::remove_file(&p).map_err(|e| Error::io(&p, e))?;
        }
    }
    // Leftovers of an interrupted save belong to the old run too.
    let staged = checkpoint::CHECKPOINT_FILES.map(|f| checkpoint::staged(run_dir, f));
    for p in staged.iter().chain([&run_dir.join(checkpoint::COMMIT)]) {
        if p.exists() {
            std::fs::remove_file(p).map_err(|e| Error::io(p, e))?;
        }
    }
    let samples = run_dir.join(checkpoint::SAMPLES);
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

fn prepare_resume(opts: &TrainOptions, device: &Device) -> Result<Trainer> {
    let run_dir = match (&opts.out, &opts.corpus) {
        (Some(d), _) => d.clone(),
        (None, Some(c)) => corpus::default_run_dir(c),
        (None, None) => {
            return Err(Error::Config(
                "--resume needs the run: give the corpus or --out DIR".into(),
            ))
        }
    };
    let mut config = checkpoint::read_config(&run_dir)?;
    if !run_dir.join(checkpoint::STATE).is_file() {
        return Err(Error::checkpoint(
            &run_dir,
            "has no state.json: nothing to resume",
        ));
    }
    // Settings that define the model or the data split cannot change mid-run.
    let fixed = |flag: &str, given: Option<String>, saved: String| -> Result<()> {
        match given {
            Some(g) if g != saved => Err(Error::Config(format!(
                "{flag} {g}: the run in {} was started with {saved}, which a resumed run cannot change (start a new run with --out)",
                run_dir.display()
            ))),
            _ => Ok(()),
        }
    };
    fixed(
        "--dim",
        opts.dim.map(|d| d.to_string()),
        config.model.dim.to_string(),
    )?;
    fixed(
        "--res-blocks",
        opts.res_blocks.map(|d| d.to_string()),
        config.model.res_blocks.to_string(),
    )?;
    fixed(
        "--max-vocab",
        opts.max_vocab.map(|d| d.to_string()),
        config.max_vocab.to_string(),
    )?;
    fixed(
        "--seed",
        opts.seed.map(|d| d.to_string()),
        config.seed.to_string(),
    )?;
    fixed(
        "--lipschitz",
        opts.lipschitz.map(|l| l.name().to_string()),
        config.lipschitz.name().to_string(),
    )?;
    fixed(
        "--critic-norm",
        opts.critic_norm.map(|n| format!("{n:?}").to_lowercase()),
        format!("{:?}", config.model.critic_norm).to_lowercase(),
    )?;
    fixed(
        "--preset",
        opts.preset.map(|p| p.name().to_string()),
        config.preset.name().to_string(),
    )?;
    let corpus_path = opts.corpus.clone().unwrap_or_else(|| config.corpus.clone());
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
    // Safe changes: budget, learning rates and their decay, Adam's β, λ, c, batch, critic iterations, intervals, device.
    if let Some(n) = opts.iters {
        config.iters = n;
    }
    config.minutes = opts.minutes;
    if let Some(lr) = opts.lr_gen.or(opts.lr) {
        config.optim_generator.lr = lr;
    }
    if let Some(lr) = opts.lr_critic.or(opts.lr) {
        config.optim_critic.lr = lr;
    }
    for optim in [&mut config.optim_generator, &mut config.optim_critic] {
        if let Some(b) = opts.beta1 {
            optim.beta1 = b;
        }
        if let Some(b) = opts.beta2 {
            optim.beta2 = b;
        }
    }
    if let Some(d) = opts.lr_decay {
        config.lr_decay = d;
    }
    if let Some(l) = opts.lambda {
        config.lambda = l;
    }
    if let Some(c) = opts.clip {
        config.clip = c;
    }
    if let Some(b) = opts.batch {
        config.batch = b;
    }
    if let Some(c) = opts.critic_iters {
        config.critic_iters = c;
    }
    if let Some(s) = opts.save_every {
        config.save_every = s;
    }
    if let Some(s) = opts.eval_every {
        config.eval_every = s;
    }
    config.device = device::name(device);
    config.corpus = corpus_path.clone();
    config.validate()?;
    check_beta1(opts, &config)?;
    let lines = corpus::parse_lines(&corpus_path, &bytes)?;
    let corpus = Corpus::split(&corpus_path, lines, config.seed, config.batch)?;
    Trainer::resume(config, corpus, &run_dir, device)
}
