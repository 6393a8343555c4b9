//! The command line's vocabulary: every subcommand's flags as clap types; the library's own
//! types (which know nothing of clap) are parsed by [`super::choice`].

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

use textgan::device::DeviceChoice;
use textgan::kernels::Precision;
use textgan::model::penalty::Lipschitz;
use textgan::sample::generate::Reading;
use textgan::train::checkpoint::Which;

use super::choice::choice;
use super::hyper_args::HyperArgs;

#[derive(Parser)]
#[command(
    name = "textgan",
    version,
    about = "Train a character-level WGAN-GP text generator (Gulrajani et al., 2017) and sample from it"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
    /// Threads that compute (rayon's pool; below width 256 the hand-written step runs one
    /// shard of the batch per thread, from 256 on it splits each product across them)
    /// [default: RAYON_NUM_THREADS if set, else every logical CPU]
    #[arg(long, global = true, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

#[derive(Subcommand)]
pub enum Command {
    /// Train on a UTF-8 text file, one example per line (lines are cut to 32 characters).
    Train(TrainArgs),
    /// Print samples from a trained model, one per line.
    Generate(GenerateArgs),
    /// Walk through the generator's noise space from one sample to another and print the text
    /// at every step (`--from 7 --to 8`: from the first sample of `generate --seed 7` to the
    /// first of `--seed 8`; `7:3` is its fourth).
    Interpolate(InterpolateArgs),
    /// Score samples against a corpus: n-gram JSD-1..4, valid-word, unique and novelty rates,
    /// next to held-out real text scored the same way.
    ///
    /// The samples come from a model (default: the most recent run), a file (--samples), or a
    /// character Markov chain of the corpus (--baseline markov), for a reference point. Also
    /// names the corpus's characters that no sample writes although each would be expected 5
    /// or more times (a generator can stop writing a character for good).
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
    /// Look at runs in a web browser: a local, read-only page over every run directory and
    /// compare/sweep report under DIR (default models/) — their curves overlaid, the
    /// fixed-noise samples at each evaluation on a slider, generating text and walking between
    /// two samples with a trained generator. Prints the page's address; Ctrl-C stops it.
    ///
    /// It listens on 127.0.0.1 (this machine only) unless --bind says otherwise; the page has
    /// no authentication, so another address shows your runs to whoever can reach it.
    Serve(ServeArgs),
    /// Print a completion script for SHELL, e.g. `textgan completions bash >
    /// ~/.local/share/bash-completion/completions/textgan`, or for zsh into a directory of
    /// your $fpath as `_textgan`
    Completions(CompletionsArgs),
}

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Corpus that sets the vocabulary size V
    #[arg(long, default_value = "corpora/wordnet.txt")]
    pub corpus: PathBuf,
    /// Width to time [default: the suite's 64, 128 and 512]
    #[arg(long)]
    pub dim: Option<usize>,
    /// Residual blocks in each network
    #[arg(long, default_value_t = textgan::model::RES_BLOCKS)]
    pub res_blocks: usize,
    /// Width of the residual blocks' convolutions (the paper's 5; the cpu preset's 3)
    #[arg(long, value_name = "K", default_value_t = textgan::model::PAPER_KERNEL)]
    pub kernel: usize,
    /// Critic steps per generator iteration (the paper's 10)
    #[arg(long, default_value_t = 10)]
    pub critic_iters: usize,
    /// Samples per batch
    #[arg(long, default_value_t = 64)]
    pub batch: usize,
    /// Strategies to time, comma-separated [default: gp with --dim; all in the suite]
    #[arg(long, value_parser = choice::<Lipschitz>(), value_delimiter = ',')]
    pub lipschitz: Vec<Lipschitz>,
    /// Untimed generator iterations first
    #[arg(long, default_value_t = 2)]
    pub warmup: usize,
    /// Timed generator iterations (medians are reported)
    #[arg(long, default_value_t = 5)]
    pub iters: usize,
    /// Inputs of the hand-written step's matrix products (bf16: AVX-512 BF16 CPUs)
    #[arg(long, value_parser = choice::<Precision>(), default_value = "f32")]
    pub precision: Precision,
    /// Train the critic through candle's autograd instead of the hand-written CPU step
    #[arg(long)]
    pub autograd: bool,
    /// Decay of the generator's weight average, updated after every generator step as
    /// training with --ema does; the default is the cpu preset's (what the default command
    /// trains), 0 times the step without it
    #[arg(long, default_value_t = textgan::train::presets::Preset::Cpu.values().ema)]
    pub ema: f64,
    /// Positions the generator's autoregressive read-out looks back in the timed steps; the
    /// default is the cpu preset's, 0 times the paper's generator without it
    #[arg(
        long,
        value_name = "K",
        default_value_t = textgan::train::presets::Preset::Cpu.values().autoregressive
    )]
    pub autoregressive: usize,
    /// Output: a Markdown table (text), or JSON (one object with --dim and one strategy, or
    /// one per line)
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// The same as --format json
    #[arg(long, hide = true)]
    pub json: bool,
    /// Where to run
    #[arg(long, value_parser = choice::<DeviceChoice>(), default_value = "auto")]
    pub device: DeviceChoice,
}

#[derive(clap::Args)]
pub struct CompareArgs {
    /// Corpus: a UTF-8 text file, one example per line
    pub corpus: PathBuf,
    /// Strategies to compare, comma-separated
    #[arg(
        long,
        value_parser = choice::<Lipschitz>(),
        value_delimiter = ',',
        default_value = "gp,lp,fd,clip"
    )]
    pub lipschitz: Vec<Lipschitz>,
    /// Training minutes of each run
    #[arg(long, allow_hyphen_values = true)]
    pub minutes: Option<f64>,
    /// Generator iterations of each run (with --minutes: whichever comes first)
    #[arg(long)]
    pub iters: Option<u64>,
    /// Report directory (report.md, charts, runs/<strategy>/) [default: compare/<corpus stem>]
    #[arg(long)]
    pub out: Option<PathBuf>,
    #[command(flatten)]
    pub hyper: HyperArgs,
    /// Seed shared by all runs
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Evaluate every N generator iterations [default: 100]
    #[arg(long, value_name = "N")]
    pub eval_every: Option<u64>,
    /// Where to train
    #[arg(long, value_parser = choice::<DeviceChoice>(), default_value = "auto")]
    pub device: DeviceChoice,
    /// Output on stdout: lines for people (text) or one JSON object (json); progress stays on stderr
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(clap::Args)]
pub struct SweepArgs {
    /// Corpus: a UTF-8 text file, one example per line
    pub corpus: PathBuf,
    /// The grid: one configuration per line, `name: --flag value …`
    #[arg(long)]
    pub grid: PathBuf,
    /// Training minutes of every run (evaluations excluded)
    #[arg(long, default_value_t = 10.0, allow_hyphen_values = true)]
    pub minutes: f64,
    /// Minutes of training at which the scores are read, comma-separated (the budget is always
    /// one) [default: 2,5,10, those within the budget]
    #[arg(long, value_delimiter = ',', allow_hyphen_values = true)]
    pub marks: Option<Vec<f64>>,
    /// Seeds: every configuration trains once with each
    #[arg(long, value_delimiter = ',', default_value = "0")]
    pub seeds: Vec<u64>,
    /// Evaluate every N generator iterations as well, for the curves [default: 100]
    #[arg(long, value_name = "N")]
    pub eval_every: Option<u64>,
    /// Report directory (report.md, charts, results/, runs/) [default: sweep/<corpus stem>]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Train every run again, even those with a result for the same line and budget
    #[arg(long)]
    pub redo: bool,
    /// Where to train
    #[arg(long, value_parser = choice::<DeviceChoice>(), default_value = "auto")]
    pub device: DeviceChoice,
    /// Output on stdout: lines for people (text) or one JSON object (json); progress stays on stderr
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(clap::Args)]
pub struct DiagnoseArgs {
    /// Corpus (not needed with --model: the run's corpus is used)
    pub corpus: Option<PathBuf>,
    /// Train the critics against this run's generator [default: a new generator]
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Output directory [default: <model>/diagnostics, or diagnostics/<corpus stem>]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Critic steps per variant
    #[arg(long, default_value_t = 200)]
    pub steps: usize,
    /// Width of the networks, without --model [default: the cpu preset's]
    #[arg(long)]
    pub dim: Option<usize>,
    /// Seed of the new networks, the data order and the noise
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Where to train
    #[arg(long, value_parser = choice::<DeviceChoice>(), default_value = "auto")]
    pub device: DeviceChoice,
    /// Output on stdout: lines for people (text) or one JSON object (json); progress stays on stderr
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
}

#[derive(clap::Args)]
pub struct TrainArgs {
    /// Corpus: a UTF-8 text file, one example per line. With --resume it defaults to the run's.
    pub corpus: Option<PathBuf>,
    /// Run directory [default: models/<corpus file stem>]
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Stop when the run has done this many generator iterations in total [default: 200000]
    #[arg(long)]
    pub iters: Option<u64>,
    /// Stop after this many minutes of this session (a checkpoint is saved) [default: no limit]
    #[arg(long, allow_hyphen_values = true)]
    pub minutes: Option<f64>,
    #[command(flatten)]
    pub hyper: HyperArgs,
    /// How the critic is kept 1-Lipschitz [default: from preset]
    #[arg(long, value_parser = choice::<Lipschitz>())]
    pub lipschitz: Option<Lipschitz>,
    /// Seed of weights, data order, noise and the held-out split [default: 0]
    #[arg(long)]
    pub seed: Option<u64>,
    /// Largest vocabulary, pad and unknown included; rarer characters become unknown [default: 2048]
    #[arg(long)]
    pub max_vocab: Option<usize>,
    /// Where to train
    #[arg(long, value_parser = choice::<DeviceChoice>(), default_value = "auto")]
    pub device: DeviceChoice,
    /// Save a checkpoint every N generator iterations (and always at the end) [default: 100]
    #[arg(long, value_name = "N")]
    pub save_every: Option<u64>,
    /// Write samples and metrics (JSD-1..4 of 640 samples, valid-word, unique and novelty
    /// rates) to metrics.jsonl every N generator iterations [default: 100]
    #[arg(long, value_name = "N", alias = "sample-every")]
    pub eval_every: Option<u64>,
    /// Continue the run in the run directory from its last checkpoint
    #[arg(long)]
    pub resume: bool,
    /// Replace an existing run in the run directory
    #[arg(long)]
    pub force: bool,
    /// Plain log lines instead of the dashboard (the default when stdout is not a terminal)
    #[arg(long)]
    pub no_tui: bool,
    /// Print nothing but errors (implies --no-tui)
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Plain log format: `text` lines (progress, on stderr) or `json` (one object per event,
    /// on stdout; implies --no-tui). Also spelled --log-format
    #[arg(
        long = "format",
        alias = "log-format",
        value_enum,
        default_value = "text"
    )]
    pub log_format: LogFormatArg,
    /// In plain mode, a log line every N iterations
    #[arg(long, value_name = "N", default_value_t = 10)]
    pub log_every: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormatArg {
    Text,
    Json,
}

/// `--format` of the commands that print results.
#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    /// For people: lines and tables
    Text,
    /// For programs: JSON
    Json,
}

/// Which of a run's generators speaks, and the noise it reads (generate, eval, interpolate).
#[derive(clap::Args)]
pub struct GeneratorArg {
    /// Which generator of the run: the one with the lowest JSD-4 seen at an evaluation, or
    /// the latest checkpoint's
    #[arg(long, value_parser = choice::<Which>(), default_value = "best")]
    pub checkpoint: Which,
    /// Read samples from the noise scaled by ψ, N(0, ψ²·I): below 1, fewer oddities for a
    /// little less variety (the truncation trick); 1: the noise as drawn [default: the run's,
    /// as trained (config.json's truncation; 0.7 for the cpu preset, 1 for the paper's)]
    #[arg(long, value_name = "PSI", allow_hyphen_values = true)]
    pub truncation: Option<f64>,
}

impl GeneratorArg {
    /// These choices, with samples read at `temperature` (0: argmax).
    pub fn reading(&self, temperature: f64) -> Reading {
        Reading {
            which: self.checkpoint,
            temperature,
            truncation: self.truncation,
        }
    }
}

/// Which of a run's generators speaks, and how its samples are read (generate, eval).
#[derive(clap::Args)]
pub struct ReadoutArgs {
    #[command(flatten)]
    pub generator: GeneratorArg,
    /// Read each position by argmax (0, the paper's) or draw it from the softmax at this
    /// temperature (1: the generator's own distribution; lower: sharper)
    #[arg(long, default_value_t = 0.0, allow_hyphen_values = true)]
    pub temperature: f64,
}

impl ReadoutArgs {
    pub fn reading(&self) -> Reading {
        self.generator.reading(self.temperature)
    }
}

#[derive(clap::Args)]
pub struct GenerateArgs {
    /// Number of samples
    #[arg(
        short = 'n',
        long = "num",
        default_value_t = 10,
        allow_hyphen_values = true
    )]
    pub n: i64,
    /// Run directory [default: the most recently saved run under models/]
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Seed of the noise; the same seed gives the same samples
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub readout: ReadoutArgs,
    /// Output: one sample per line (text) or a JSON array of strings (json)
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Where to run the generator
    #[arg(long, value_parser = choice::<DeviceChoice>(), default_value = "auto")]
    pub device: DeviceChoice,
}

#[derive(clap::Args)]
pub struct InterpolateArgs {
    /// Run directory [default: the most recently saved run under models/]
    #[arg(long)]
    pub model: Option<PathBuf>,
    /// Where the walk starts: SEED (the first sample of `generate --seed SEED`) or SEED:INDEX
    /// (its sample INDEX, from 0)
    #[arg(long, value_name = "SEED[:INDEX]")]
    pub from: String,
    /// Where the walk ends, as --from
    #[arg(long, value_name = "SEED[:INDEX]")]
    pub to: String,
    /// Steps from one end to the other: the text of steps + 1 points is printed (1 to 1000)
    #[arg(long, default_value_t = 8, allow_hyphen_values = true)]
    pub steps: i64,
    /// The path between the ends
    #[arg(long, value_enum, default_value = "spherical")]
    pub path: WalkPath,
    #[command(flatten)]
    pub generator: GeneratorArg,
    /// Output: one line per step (text) or one JSON object with every step (json)
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// Where to run the generator
    #[arg(long, value_parser = choice::<DeviceChoice>(), default_value = "auto")]
    pub device: DeviceChoice,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum WalkPath {
    /// Along the great circle (slerp): every point has the norm of the ends, as the noise the
    /// generator was trained on
    Spherical,
    /// A straight line: points near the middle are shorter than any noise seen in training
    Linear,
}

#[derive(Clone, Copy, ValueEnum)]
pub enum Baseline {
    /// A character n-gram (Markov) chain of the corpus, with back-off (see --order)
    Markov,
}

#[derive(clap::Args)]
pub struct EvalArgs {
    /// Run directory to sample from [default: the most recently saved run under models/]
    #[arg(long, conflicts_with_all = ["samples", "baseline"])]
    pub model: Option<PathBuf>,
    /// Score this file instead, one sample per line (needs --corpus)
    #[arg(long, conflicts_with = "baseline")]
    pub samples: Option<PathBuf>,
    /// Score a baseline instead of a model (needs --corpus)
    #[arg(long, value_enum)]
    pub baseline: Option<Baseline>,
    /// Context characters of the Markov baseline
    #[arg(long, default_value_t = 4, value_parser = clap::value_parser!(u64).range(0..=16))]
    pub order: u64,
    /// Corpus to score against [default: the corpus the model was trained on]
    #[arg(long)]
    pub corpus: Option<PathBuf>,
    /// Samples to draw from the model or baseline
    #[arg(
        short = 'n',
        long = "num",
        default_value_t = textgan::train::evaluation::EVAL_SAMPLES as i64,
        allow_hyphen_values = true
    )]
    pub n: i64,
    /// Seed of the samples drawn
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    #[command(flatten)]
    pub readout: ReadoutArgs,
    /// Output: a table (text), or one JSON object (json: keys js [JSD-1..4, as in
    /// metrics.jsonl], valid_word_rate, unique_rate, novelty, n_samples, floor)
    #[arg(long, value_enum, default_value = "text")]
    pub format: Format,
    /// The same as --format json
    #[arg(long, hide = true)]
    pub json: bool,
    /// Where to run the generator
    #[arg(long, value_parser = choice::<DeviceChoice>(), default_value = "auto")]
    pub device: DeviceChoice,
}

#[derive(clap::Args)]
pub struct ServeArgs {
    /// Folders to look in for run directories and reports (at most four levels down; links
    /// are not followed) [default: models]
    #[arg(value_name = "DIR")]
    pub dirs: Vec<PathBuf>,
    /// Port to listen on (0: any free port, printed)
    #[arg(long, default_value_t = textgan::serve::DEFAULT_PORT)]
    pub port: u16,
    /// Address to listen on. Anything but a loopback address (127.0.0.1, ::1) makes the page
    /// reachable from other machines, without authentication
    #[arg(long, default_value = "127.0.0.1")]
    pub bind: std::net::IpAddr,
    /// Open the page in the default web browser once it is served
    #[arg(long)]
    pub open: bool,
}

#[derive(clap::Args)]
pub struct CompletionsArgs {
    /// The shell to complete in
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}
