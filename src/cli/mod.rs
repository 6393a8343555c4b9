//! The command line: clap types ([`args`]), one function per command ([`commands`]), the long
//! commands' progress bars ([`progress_bar`]), signals and exit statuses ([`signals`]). It parses and calls the library; the library does the work.

mod args;
mod choice;
mod commands;
mod hyper_args;
mod progress_bar;
mod signals;

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

use args::{Baseline, Cli, Command, Format, LogFormatArg};
use commands::{Display, SampleFormat};
use textgan::error::Result;
use textgan::experiments::bench::BenchOptions;
use textgan::experiments::compare::CompareOptions;
use textgan::experiments::diagnose::DiagnoseOptions;
use textgan::model::penalty::Lipschitz;
use textgan::plain_log::LogFormat;
use textgan::sample::eval::Source as EvalSource;
use textgan::train::settings::TrainOptions;

/// Parse the command line, run the command, and turn its outcome into an exit status.
pub fn main() -> ExitCode {
    textgan::device::tune_host_allocator();
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => return signals::clap_error(e),
    };
    if let Some(n) = cli.threads {
        // The environment too, so that the processes `bench` starts use the same number.
        std::env::set_var("RAYON_NUM_THREADS", n.to_string());
        if let Err(e) = rayon::ThreadPoolBuilder::new()
            .num_threads(n.into())
            .build_global()
        {
            let _ = writeln!(std::io::stderr(), "error: --threads {n}: {e}");
            return ExitCode::FAILURE;
        }
    }
    let result = match cli.command {
        Command::Train(a) => train(a),
        Command::Generate(a) => generate(a),
        Command::Interpolate(a) => interpolate(a),
        Command::Compare(a) => compare(a),
        Command::Sweep(a) => sweep(a),
        Command::Diagnose(a) => diagnose(a),
        Command::Bench(a) => bench(a),
        Command::Completions(a) => completions(a),
        Command::Eval(a) => eval(a),
        Command::Serve(a) => commands::serve(a.dirs, a.bind, a.port, a.open),
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

/// `textgan train`: its flags mapped onto the library's options, then run.
fn train(a: args::TrainArgs) -> Result<u8> {
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
    commands::train(&opts, a.device, display)
}

/// `textgan generate`: its flags mapped onto the library's options, then run.
fn generate(a: args::GenerateArgs) -> Result<u8> {
    let format = match a.format {
        Format::Text => SampleFormat::Text,
        Format::Json => SampleFormat::Json,
    };
    commands::generate(a.n, a.model, a.readout.reading(), a.seed, format, a.device).map(|()| 0)
}

/// `textgan interpolate`: its flags mapped onto the library's, then run.
fn interpolate(a: args::InterpolateArgs) -> Result<u8> {
    let path = match a.path {
        args::WalkPath::Spherical => textgan::sample::interpolate::Path::Spherical,
        args::WalkPath::Linear => textgan::sample::interpolate::Path::Linear,
    };
    commands::interpolate(
        a.model,
        a.generator.reading(0.0),
        (&a.from, &a.to),
        a.steps,
        path,
        a.format == Format::Json,
        a.device,
    )
    .map(|()| 0)
}

/// `textgan compare`: its flags mapped onto the library's options, then run.
fn compare(a: args::CompareArgs) -> Result<u8> {
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
    commands::compare(&opts, a.device, a.format == Format::Json)
}

/// `textgan sweep`: its flags mapped onto the library's options, then run.
fn sweep(a: args::SweepArgs) -> Result<u8> {
    let out = a.out.unwrap_or_else(|| report_dir("sweep", &a.corpus));
    let opts = textgan::experiments::sweep::options::SweepOptions {
        corpus: a.corpus,
        grid: a.grid,
        minutes: a.minutes,
        marks: a.marks,
        seeds: a.seeds,
        eval_every: a.eval_every,
        out,
        redo: a.redo,
        command: command_line(),
        parse_flags: hyper_args::parse_grid_flags,
    };
    commands::sweep(&opts, a.device, a.format == Format::Json)
}

/// `textgan diagnose`: its flags mapped onto the library's options, then run.
fn diagnose(a: args::DiagnoseArgs) -> Result<u8> {
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
    commands::diagnose(&opts, a.device, a.format == Format::Json).map(|()| 0)
}

/// `textgan bench`: its flags mapped onto the library's options, then run.
fn bench(a: args::BenchArgs) -> Result<u8> {
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
        kernel: a.kernel,
        critic_iters: a.critic_iters,
        batch: a.batch,
        lipschitz: strategies[0],
        warmup: a.warmup,
        iters: a.iters,
        autograd: a.autograd,
        precision: a.precision,
        ema: a.ema,
        autoregressive: a.autoregressive,
    };
    // One width and one strategy run here; anything more is a suite of child processes.
    let dims = match a.dim {
        Some(_) if strategies.len() == 1 => None,
        Some(d) => Some(vec![d]),
        None => Some(textgan::experiments::bench::SUITE_DIMS.to_vec()),
    };
    let json = a.json || a.format == args::Format::Json;
    commands::bench(&opts, dims.as_deref(), &strategies, json, a.device).map(|()| 0)
}

/// `textgan eval`: its flags mapped onto the library's options, then run.
fn eval(a: args::EvalArgs) -> Result<u8> {
    let source = match (a.samples, a.baseline) {
        (Some(path), _) => Some(EvalSource::Samples(path)),
        (None, Some(Baseline::Markov)) => Some(EvalSource::Markov(a.order as usize)),
        (None, None) => None,
    };
    let opts = commands::EvalRequest {
        source,
        model: a.model,
        corpus: a.corpus,
        n: a.n,
        seed: a.seed,
        json: a.json || a.format == args::Format::Json,
        reading: a.readout.reading(),
    };
    commands::eval(opts, a.device).map(|()| 0)
}

/// `textgan completions SHELL`: the completion script clap derives from the commands above.
fn completions(a: args::CompletionsArgs) -> Result<u8> {
    use clap::CommandFactory;
    clap_complete::generate(
        a.shell,
        &mut Cli::command(),
        "textgan",
        &mut std::io::stdout(),
    );
    Ok(0)
}
