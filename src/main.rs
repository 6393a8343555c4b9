//! Command line: parses arguments and calls the library.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

use textgan::app::{self, Display, SampleFormat};
use textgan::bench::BenchOptions;
use textgan::compare::CompareOptions;
use textgan::device::DeviceChoice;
use textgan::diagnose::DiagnoseOptions;
use textgan::eval::Source as EvalSource;
use textgan::events::LogFormat;
use textgan::penalty::Lipschitz;
use textgan::run::{HyperArgs, TrainOptions};

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
    /// Score samples against a corpus: n-gram JSD-1..4, valid-word, unique and novelty rates,
    /// next to held-out real text scored the same way.
    ///
    /// The samples come from a model (default: the most recent run), a file (--samples), or a
    /// character Markov chain of the corpus (--baseline markov), for a reference point.
    Eval(EvalArgs),
    /// Reproduce the paper's diagnostics of weight clipping: critics trained with clipping at
    /// c = 0.1, 0.01, 0.001 and with the gradient penalty, against a fixed generator; writes
    /// the histogram of their weights and the gradient norm at each layer (SVG, JSON, CSV).
    Diagnose(DiagnoseArgs),
    /// Train one run per Lipschitz strategy (same seed, width, budget) and write a Markdown
    /// report with SVG charts: JSD-4 and W against time and iterations, s/iteration, final
    /// metrics and samples, weight histograms and layer gradient norms.
    Compare(CompareArgs),
    /// Train a grid of configurations for the same time budget and report the n-gram JSD-4
    /// each reached at fixed minutes (table, charts, final samples): how the cpu preset was
    /// chosen.
    ///
    /// The grid file holds one configuration per line, `name: --flag value …`, with train's
    /// model and optimiser flags and --lipschitz; `[heading]` lines group them (one chart per
    /// group), `#` starts a comment. Finished runs are kept in DIR/results and reused when the
    /// same sweep runs again, so a long sweep can be stopped (Ctrl-C) and continued.
    Sweep(SweepArgs),
    /// Time the training step: seconds per critic step and per generator iteration (one
    /// generator step and its critic steps), achieved GFLOP/s (matrix products counted
    /// analytically) and peak memory.
    ///
    /// With --dim: that one configuration, in this process. Without: the suite, widths 64, 128
    /// and 512 × every --lipschitz strategy, each in its own process. Measure on a quiet
    /// machine: another busy process can double a 2-thread timing.
    Bench(BenchArgs),
}

#[derive(clap::Args)]
struct BenchArgs {
    /// Corpus that sets the vocabulary size V
    #[arg(long, default_value = "corpora/wordnet.txt")]
    corpus: PathBuf,
    /// Width to time [default: the suite's 64, 128 and 512]
    #[arg(long)]
    dim: Option<usize>,
    /// Residual blocks in each network
    #[arg(long, default_value_t = textgan::config::RES_BLOCKS)]
    res_blocks: usize,
    /// Critic steps per generator iteration (the paper's 10)
    #[arg(long, default_value_t = 10)]
    critic_iters: usize,
    /// Samples per batch
    #[arg(long, default_value_t = 64)]
    batch: usize,
    /// Strategies to time, comma-separated [default: gp with --dim; all in the suite]
    #[arg(long, value_enum, value_delimiter = ',')]
    lipschitz: Vec<Lipschitz>,
    /// Untimed generator iterations first
    #[arg(long, default_value_t = 2)]
    warmup: usize,
    /// Timed generator iterations (medians are reported)
    #[arg(long, default_value_t = 5)]
    iters: usize,
    /// Train the critic through candle's autograd instead of the hand-written CPU step
    #[arg(long)]
    autograd: bool,
    /// Print JSON: one object (with --dim and one strategy), or one per line
    #[arg(long)]
    json: bool,
    /// Where to run
    #[arg(long, value_enum, default_value = "auto")]
    device: DeviceChoice,
}

#[derive(clap::Args)]
struct CompareArgs {
    /// Corpus: a UTF-8 text file, one example per line
    corpus: PathBuf,
    /// Strategies to compare, comma-separated
    #[arg(
        long,
        value_enum,
        value_delimiter = ',',
        default_value = "gp,lp,fd,clip"
    )]
    lipschitz: Vec<Lipschitz>,
    /// Training minutes of each run
    #[arg(long, allow_hyphen_values = true)]
    minutes: Option<f64>,
    /// Generator iterations of each run (with --minutes: whichever comes first)
    #[arg(long)]
    iters: Option<u64>,
    /// Report directory (report.md, charts, runs/<strategy>/) [default: compare/<corpus stem>]
    #[arg(long)]
    out: Option<PathBuf>,
    #[command(flatten)]
    hyper: HyperArgs,
    /// Seed shared by all runs
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Evaluate every N generator iterations [default: 100]
    #[arg(long, value_name = "N")]
    eval_every: Option<u64>,
    /// Where to train
    #[arg(long, value_enum, default_value = "auto")]
    device: DeviceChoice,
}

#[derive(clap::Args)]
struct SweepArgs {
    /// Corpus: a UTF-8 text file, one example per line
    corpus: PathBuf,
    /// The grid: one configuration per line, `name: --flag value …`
    #[arg(long)]
    grid: PathBuf,
    /// Training minutes of every run (evaluations excluded)
    #[arg(long, default_value_t = 10.0, allow_hyphen_values = true)]
    minutes: f64,
    /// Minutes of training at which the scores are read, comma-separated (the budget is always
    /// one) [default: 2,5,10, those within the budget]
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    marks: Option<Vec<f64>>,
    /// Seeds: every configuration trains once with each
    #[arg(long, value_delimiter = ',', default_value = "0")]
    seeds: Vec<u64>,
    /// Evaluate every N generator iterations as well, for the curves [default: 100]
    #[arg(long, value_name = "N")]
    eval_every: Option<u64>,
    /// Report directory (report.md, charts, results/, runs/) [default: sweep/<corpus stem>]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Train every run again, even those with a result for the same line and budget
    #[arg(long)]
    redo: bool,
    /// Where to train
    #[arg(long, value_enum, default_value = "auto")]
    device: DeviceChoice,
}

#[derive(clap::Args)]
struct DiagnoseArgs {
    /// Corpus (not needed with --model: the run's corpus is used)
    corpus: Option<PathBuf>,
    /// Train the critics against this run's generator [default: a new generator]
    #[arg(long)]
    model: Option<PathBuf>,
    /// Output directory [default: <model>/diagnostics, or diagnostics/<corpus stem>]
    #[arg(long)]
    out: Option<PathBuf>,
    /// Critic steps per variant
    #[arg(long, default_value_t = 200)]
    steps: usize,
    /// Width of the networks, without --model [default: the cpu preset's]
    #[arg(long)]
    dim: Option<usize>,
    /// Seed of the new networks, the data order and the noise
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Where to train
    #[arg(long, value_enum, default_value = "auto")]
    device: DeviceChoice,
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
    #[command(flatten)]
    hyper: HyperArgs,
    /// How the critic is kept 1-Lipschitz [default: from preset]
    #[arg(long, value_enum)]
    lipschitz: Option<Lipschitz>,
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
    /// Write samples and metrics (JSD-1..4 of 640 samples, valid-word, unique and novelty
    /// rates) to metrics.jsonl every N generator iterations [default: 100]
    #[arg(long, value_name = "N", alias = "sample-every")]
    eval_every: Option<u64>,
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

#[derive(Clone, Copy, ValueEnum)]
enum Baseline {
    /// A character n-gram (Markov) chain of the corpus, with back-off (see --order)
    Markov,
}

#[derive(clap::Args)]
struct EvalArgs {
    /// Run directory to sample from [default: the most recently saved run under models/]
    #[arg(long, conflicts_with_all = ["samples", "baseline"])]
    model: Option<PathBuf>,
    /// Score this file instead, one sample per line (needs --corpus)
    #[arg(long, conflicts_with = "baseline")]
    samples: Option<PathBuf>,
    /// Score a baseline instead of a model (needs --corpus)
    #[arg(long, value_enum)]
    baseline: Option<Baseline>,
    /// Context characters of the Markov baseline
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(0..=16))]
    order: u64,
    /// Corpus to score against [default: the corpus the model was trained on]
    #[arg(long)]
    corpus: Option<PathBuf>,
    /// Samples to draw from the model or baseline
    #[arg(
        short = 'n',
        long = "num",
        default_value_t = textgan::train::EVAL_SAMPLES as i64,
        allow_hyphen_values = true
    )]
    n: i64,
    /// Seed of the samples drawn
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Print one JSON object (keys js1..js4, valid_word_rate, unique_rate, novelty, floor)
    #[arg(long)]
    json: bool,
    /// Where to run the generator
    #[arg(long, value_enum, default_value = "auto")]
    device: DeviceChoice,
}

fn main() -> ExitCode {
    textgan::device::tune_host_allocator();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return clap_error(e),
    };
    let result = match cli.command {
        Command::Train(a) => {
            let display = Display {
                dashboard: !a.no_tui && !a.quiet,
                log_format: match (a.quiet, a.log_format) {
                    (true, _) => LogFormat::Quiet,
                    (false, LogFormatArg::Json) => LogFormat::Json,
                    (false, LogFormatArg::Text) => LogFormat::Text,
                },
                log_every: a.log_every,
            };
            let opts = a.hyper.apply(TrainOptions {
                corpus: a.corpus,
                out: a.out,
                iters: a.iters,
                minutes: a.minutes,
                lipschitz: a.lipschitz,
                seed: a.seed,
                max_vocab: a.max_vocab,
                save_every: a.save_every,
                eval_every: a.eval_every,
                resume: a.resume,
                force: a.force,
                ..TrainOptions::default()
            });
            app::train(&opts, a.device, display)
        }
        Command::Generate(a) => {
            let format = match a.format {
                Format::Text => SampleFormat::Text,
                Format::Json => SampleFormat::Json,
            };
            app::generate(a.n, a.model, a.seed, format, a.device).map(|()| 0)
        }
        Command::Compare(a) => {
            let out = a.out.unwrap_or_else(|| report_dir("compare", &a.corpus));
            let command = command_line();
            let opts = CompareOptions {
                base: a.hyper.apply(TrainOptions {
                    corpus: Some(a.corpus),
                    seed: Some(a.seed),
                    eval_every: a.eval_every,
                    ..TrainOptions::default()
                }),
                strategies: a.lipschitz,
                minutes: a.minutes,
                iters: a.iters,
                out,
                command,
            };
            app::compare(&opts, a.device)
        }
        Command::Sweep(a) => {
            let out = a.out.unwrap_or_else(|| report_dir("sweep", &a.corpus));
            let opts = textgan::sweep::SweepOptions {
                corpus: a.corpus,
                grid: a.grid,
                minutes: a.minutes,
                marks: a.marks,
                seeds: a.seeds,
                eval_every: a.eval_every,
                out,
                redo: a.redo,
                command: command_line(),
            };
            app::sweep(&opts, a.device)
        }
        Command::Diagnose(a) => {
            let out = a.out.unwrap_or_else(|| match (&a.model, &a.corpus) {
                (Some(m), _) => m.join("diagnostics"),
                (None, Some(c)) => PathBuf::from("diagnostics")
                    .join(c.file_stem().map(|s| s.to_os_string()).unwrap_or_default()),
                (None, None) => PathBuf::from("diagnostics"),
            });
            let opts = DiagnoseOptions {
                corpus: a.corpus,
                model: a.model,
                out,
                steps: a.steps,
                dim: a.dim,
                seed: a.seed,
            };
            app::diagnose(&opts, a.device).map(|()| 0)
        }
        Command::Bench(a) => {
            let all = [Lipschitz::Gp, Lipschitz::Lp, Lipschitz::Fd, Lipschitz::Clip];
            let strategies = match (a.lipschitz.is_empty(), a.dim) {
                (false, _) => a.lipschitz.clone(),
                (true, Some(_)) => vec![Lipschitz::Gp],
                (true, None) => all.to_vec(),
            };
            let opts = BenchOptions {
                corpus: a.corpus,
                dim: a.dim.unwrap_or(0),
                res_blocks: a.res_blocks,
                critic_iters: a.critic_iters,
                batch: a.batch,
                lipschitz: strategies[0],
                warmup: a.warmup,
                iters: a.iters,
                autograd: a.autograd,
            };
            // One width and one strategy run here; anything more is a suite of child processes.
            let dims = match a.dim {
                Some(_) if strategies.len() == 1 => None,
                Some(d) => Some(vec![d]),
                None => Some(textgan::bench::SUITE_DIMS.to_vec()),
            };
            app::bench(&opts, dims.as_deref(), &strategies, a.json, a.device).map(|()| 0)
        }
        Command::Eval(a) => {
            let source = match (a.samples, a.baseline) {
                (Some(path), _) => Some(EvalSource::Samples(path)),
                (None, Some(Baseline::Markov)) => Some(EvalSource::Markov(a.order as usize)),
                (None, None) => None,
            };
            let opts = app::EvalRequest {
                source,
                model: a.model,
                corpus: a.corpus,
                n: a.n,
                seed: a.seed,
                json: a.json,
            };
            app::eval(opts, a.device).map(|()| 0)
        }
    };
    match result {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            // (A closed stderr must not turn an error into a panic.)
            let _ = writeln!(
                std::io::stderr(),
                "error: {}",
                e.to_string().replace('\n', " ")
            );
            ExitCode::FAILURE
        }
    }
}

/// `<kind>/<corpus file stem>`: where a report goes without `--out`.
fn report_dir(kind: &str, corpus: &std::path::Path) -> PathBuf {
    PathBuf::from(kind).join(corpus.file_stem().unwrap_or_default())
}

/// This invocation as a shell line, for reports.
fn command_line() -> String {
    std::iter::once("textgan".to_string())
        .chain(std::env::args().skip(1))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Help and version go out as clap prints them; a usage error becomes one `error:` line
/// (with the allowed values, if any) and exit status 2.
fn clap_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(
        e.kind(),
        ErrorKind::DisplayHelp
            | ErrorKind::DisplayVersion
            | ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand
    ) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    let text = e.render().to_string();
    let parts: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|l| {
            !l.is_empty() && !l.starts_with("Usage:") && !l.starts_with("For more information")
        })
        .collect();
    let line = parts.join("; ");
    let line = line.strip_prefix("error: ").unwrap_or(&line);
    let _ = writeln!(std::io::stderr(), "error: {line} (see --help)");
    ExitCode::from(2)
}
