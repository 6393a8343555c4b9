//! Command line: parses arguments and calls the library.

use std::io::{IsTerminal, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use anyhow::{bail, Context};
use clap::{Parser, Subcommand, ValueEnum};

use textgan::config::Preset;
use textgan::device::{self, DeviceChoice};
use textgan::events::{Control, LogFormat, PlainLog, StopReason};
use textgan::generate::Sampler;
use textgan::run::{self, TrainOptions};
use textgan::tui;
use textgan::{checkpoint, Error};

#[derive(Parser)]
#[command(
    name = "textgan",
    version,
    about = "Train a character-level WGAN-GP text generator (Gulrajani et al., 2017) and sample from it"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Train on a UTF-8 text file, one example per line (lines are cut to 32 characters).
    Train(TrainArgs),
    /// Print samples from a trained model, one per line.
    Generate(GenerateArgs),
}

#[derive(clap::Args)]
struct TrainArgs {
    /// Corpus: a UTF-8 text file, one example per line. With --resume it defaults to the run's.
    corpus: Option<PathBuf>,
    /// Run directory [default: models/<corpus file stem>]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Stop when the run has done this many generator iterations in total [default: 200000]
    #[arg(long)]
    iters: Option<u64>,
    /// Stop after this many minutes of this session (a checkpoint is saved) [default: no limit]
    #[arg(long, allow_hyphen_values = true)]
    minutes: Option<f64>,
    /// Hyper-parameter bundle: `cpu` (dim 32, 5 critic iterations, lr 5e-4) or `paper`
    /// (dim 512, 10 critic iterations, lr 1e-4); the flags below override it [default: cpu]
    #[arg(long, value_enum)]
    preset: Option<Preset>,
    /// Width (channels) of every hidden layer; the paper used 512 [default: from preset]
    #[arg(long)]
    dim: Option<usize>,
    /// Critic steps per generator step [default: from preset]
    #[arg(long)]
    critic_iters: Option<usize>,
    /// Samples per batch [default: 64]
    #[arg(long)]
    batch: Option<usize>,
    /// Adam learning rate of both networks (β = 0.5, 0.9) [default: from preset]
    #[arg(long, allow_hyphen_values = true)]
    lr: Option<f64>,
    /// Seed of weights, data order, noise and the held-out split [default: 0]
    #[arg(long)]
    seed: Option<u64>,
    /// Largest vocabulary, pad and unknown included; rarer characters become unknown [default: 2048]
    #[arg(long)]
    max_vocab: Option<usize>,
    /// Where to train
    #[arg(long, value_enum, default_value = "auto")]
    device: DeviceChoice,
    /// Save a checkpoint every N generator iterations (and always at the end) [default: 100]
    #[arg(long, value_name = "N")]
    save_every: Option<u64>,
    /// Write samples and n-gram JSD metrics every N generator iterations [default: 100]
    #[arg(long, value_name = "N")]
    sample_every: Option<u64>,
    /// Continue the run in the run directory from its last checkpoint
    #[arg(long)]
    resume: bool,
    /// Replace an existing run in the run directory
    #[arg(long)]
    force: bool,
    /// Plain log lines instead of the dashboard (the default when stdout is not a terminal)
    #[arg(long)]
    no_tui: bool,
    /// Print nothing but errors (implies --no-tui)
    #[arg(long, short = 'q')]
    quiet: bool,
    /// Plain log format: `text` lines or `json` (one object per event; implies --no-tui)
    #[arg(long, value_enum, default_value = "text")]
    log_format: LogFormatArg,
    /// In plain mode, a log line every N iterations
    #[arg(long, value_name = "N", default_value_t = 10)]
    log_every: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum LogFormatArg {
    Text,
    Json,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// One sample per line
    Text,
    /// A JSON array of strings
    Json,
}

#[derive(clap::Args)]
struct GenerateArgs {
    /// Number of samples
    #[arg(
        short = 'n',
        long = "num",
        default_value_t = 10,
        allow_hyphen_values = true
    )]
    n: i64,
    /// Run directory [default: the most recently saved run under models/]
    #[arg(long)]
    model: Option<PathBuf>,
    /// Seed of the noise; the same seed gives the same samples
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Output format
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
    /// Where to run the generator
    #[arg(long, value_enum, default_value = "auto")]
    device: DeviceChoice,
}

/// Ctrl-C presses so far: the first asks the trainer to save and stop, the second exits at once.
static INTERRUPTS: AtomicUsize = AtomicUsize::new(0);

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Train(a) => train(a),
        Command::Generate(a) => generate(a),
    };
    match result {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {}", one_line(&e));
            ExitCode::FAILURE
        }
    }
}

fn one_line(e: &anyhow::Error) -> String {
    format!("{e:#}").replace('\n', " ")
}

fn train(a: TrainArgs) -> anyhow::Result<ExitCode> {
    let device = device::select(a.device)?;
    let opts = TrainOptions {
        corpus: a.corpus,
        out: a.out,
        preset: a.preset,
        iters: a.iters,
        minutes: a.minutes,
        dim: a.dim,
        critic_iters: a.critic_iters,
        batch: a.batch,
        lr: a.lr,
        seed: a.seed,
        max_vocab: a.max_vocab,
        save_every: a.save_every,
        sample_every: a.sample_every,
        resume: a.resume,
        force: a.force,
    };
    let mut trainer = run::prepare(&opts, &device)?;
    let control = Arc::new(Control::default());
    let c = Arc::clone(&control);
    ctrlc::set_handler(move || {
        if INTERRUPTS.fetch_add(1, Ordering::SeqCst) == 0 {
            eprintln!(
                "\ninterrupted: saving a checkpoint (press Ctrl-C again to quit without saving)"
            );
            c.request_stop();
        } else {
            std::process::exit(130);
        }
    })
    .context("cannot install the Ctrl-C handler")?;
    let dashboard = !a.no_tui
        && !a.quiet
        && a.log_format == LogFormatArg::Text
        && std::io::stdout().is_terminal()
        && std::io::stdin().is_terminal();
    if dashboard {
        let out = tui::train_with_dashboard(trainer, control)?;
        let reason = out.result?;
        let it = out.trainer.iteration;
        println!(
            "finished at iteration {it} ({}); checkpoint in {}",
            describe(reason),
            out.trainer.run_dir.display()
        );
        if let Some(m) = out.dashboard.metrics.last() {
            println!(
                "last evaluation (iteration {}): JSD-1..4 {:.3} {:.3} {:.3} {:.3}",
                m.iteration, m.js[0], m.js[1], m.js[2], m.js[3]
            );
        }
        let interrupted = out.dashboard.interrupted || INTERRUPTS.load(Ordering::SeqCst) > 0;
        return Ok(if interrupted {
            ExitCode::from(130)
        } else {
            ExitCode::SUCCESS
        });
    }
    let format = match (a.quiet, a.log_format) {
        (true, _) => LogFormat::Quiet,
        (false, LogFormatArg::Json) => LogFormat::Json,
        (false, LogFormatArg::Text) => LogFormat::Text,
    };
    let mut log = PlainLog::new(std::io::stdout(), a.log_every, format);
    let reason = trainer.run(&control, &mut |e| log.handle(&e))?;
    if reason == StopReason::Stopped && INTERRUPTS.load(Ordering::SeqCst) > 0 {
        eprintln!("checkpoint saved in {}", trainer.run_dir.display());
        return Ok(ExitCode::from(130));
    }
    Ok(ExitCode::SUCCESS)
}

fn describe(reason: StopReason) -> &'static str {
    match reason {
        StopReason::Done => "reached --iters",
        StopReason::TimeUp => "--minutes ran out",
        StopReason::Stopped => "stopped",
    }
}

fn generate(a: GenerateArgs) -> anyhow::Result<ExitCode> {
    if a.n < 1 {
        bail!("-n {}: the number of samples must be at least 1", a.n);
    }
    let n = a.n as usize;
    let device = device::select(a.device)?;
    let dir = match a.model {
        Some(d) => d,
        None => checkpoint::latest_run(std::path::Path::new("models")).ok_or_else(|| {
            Error::Config("no trained model under models/: train one with `textgan train CORPUS.txt` or pass --model DIR".into())
        })?,
    };
    let sampler = Sampler::load(&dir, &device)?;
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    // A closed pipe (`| head`) ends output quietly: every write error just stops generation.
    let mut ok = true;
    let mut first = true;
    if let Format::Json = a.format {
        ok = out.write_all(b"[").is_ok();
    }
    sampler.generate(n, a.seed, |line| {
        if !ok {
            return false;
        }
        ok = match a.format {
            Format::Text => writeln!(out, "{line}").is_ok(),
            Format::Json => {
                let sep = if first { "\n  " } else { ",\n  " };
                first = false;
                let json = serde_json::to_string(&line).unwrap_or_default();
                write!(out, "{sep}{json}").is_ok()
            }
        };
        ok
    })?;
    if ok {
        if let Format::Json = a.format {
            let _ = out.write_all(b"\n]\n");
        }
        let _ = out.flush();
    }
    Ok(ExitCode::SUCCESS)
}
