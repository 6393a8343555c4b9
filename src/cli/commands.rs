//! One function per command, as the command line runs it: choosing how training is shown,
//! printing results, writing samples to a stream. The library does the work.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use textgan::device::{self, DeviceChoice};
use textgan::error::{Error, Result};
use textgan::experiments::{bench, compare, diagnose, sweep};
use textgan::model::penalty::Lipschitz;
use textgan::plain_log::{LogFormat, PlainLog};
use textgan::sample::eval::{EvalOptions, Source};
use textgan::sample::generate::{Reading, Sampler};
use textgan::sample::interpolate::{NoisePoint, Path as WalkPath, MAX_STEPS};
use textgan::train::checkpoint::latest_run;
use textgan::train::events::{Control, StopReason};
use textgan::train::settings::TrainOptions;
use textgan::train::start;
use textgan::tui;

use super::progress_bar::Reporter;
use super::signals::{interrupt_code, interrupted, on_interrupt, EXIT_INTERRUPTED};

/// How training is shown.
#[derive(Debug, Clone, Copy)]
pub struct Display {
    /// Use the dashboard when stdout and stdin are a terminal (false: `--no-tui`).
    pub dashboard: bool,
    pub log_format: LogFormat,
    pub log_every: u64,
}

/// `textgan train`: returns the exit status.
pub fn train(opts: &TrainOptions, device: DeviceChoice, display: Display) -> Result<u8> {
    let device = device::select(device)?;
    let mut trainer = start::prepare(opts, &device)?;
    let control = Arc::new(Control::default());
    on_interrupt(&control)?;

    let dashboard = display.dashboard
        && display.log_format == LogFormat::Text
        && std::io::stdout().is_terminal()
        && std::io::stdin().is_terminal();
    if dashboard {
        trainer.send_previews(true);
        let ui = tui::start(Arc::clone(&control))?;
        let tx = ui.events.clone();
        // The receiver only goes away if the terminal failed; training then stops anyway.
        let result = trainer.train(&control, &mut |e| {
            let _ = tx.send(e);
        });
        drop(tx);
        let dashboard = ui.finish();
        let reason = result?;
        let dashboard = dashboard?;
        // What the dashboard showed last, left on the terminal (stderr: status, not data).
        let mut err = std::io::stderr();
        let _ = writeln!(
            err,
            "finished at iteration {} ({}); checkpoint in {}",
            trainer.iteration(),
            reason.describe(),
            trainer.run_dir().display()
        );
        if let Some(m) = dashboard.metrics.last() {
            let _ = writeln!(
                err,
                "last evaluation (iteration {}): JSD-1..4 {:.3} {:.3} {:.3} {:.3}",
                m.iteration, m.js[0], m.js[1], m.js[2], m.js[3]
            );
        }
        let code = if interrupted() {
            interrupt_code()
        } else if dashboard.interrupted {
            EXIT_INTERRUPTED
        } else {
            0
        };
        return Ok(code);
    }
    // Data on stdout, progress on stderr: the JSON event stream is data (for a program to
    // read), the text log is progress.
    let out: Box<dyn Write> = match display.log_format {
        LogFormat::Json => Box::new(std::io::stdout()),
        _ => Box::new(std::io::stderr()),
    };
    let mut log = PlainLog::new(out, display.log_every, display.log_format);
    let reason = trainer.train(&control, &mut |e| log.handle(&e))?;
    if reason == StopReason::Stopped && interrupted() {
        let _ = writeln!(
            std::io::stderr(),
            "checkpoint saved in {}",
            trainer.run_dir().display()
        );
        return Ok(interrupt_code());
    }
    Ok(0)
}

/// Output of `textgan generate`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SampleFormat {
    /// One sample per line.
    Text,
    /// A JSON array of strings.
    Json,
}

/// `textgan generate`: `n` samples from `model` (default: the most recent run under `models/`)
/// to stdout.
pub fn generate(
    n: i64,
    model: Option<PathBuf>,
    reading: Reading,
    seed: u64,
    format: SampleFormat,
    device: DeviceChoice,
) -> Result<()> {
    if n < 1 {
        return Err(Error::Config(format!(
            "-n {n}: the number of samples must be at least 1"
        )));
    }
    let device = device::select(device)?;
    let dir = model_dir(model)?;
    let sampler = reading.load(&dir, &device)?;
    // Which generator speaks goes to stderr: stdout holds only the samples.
    let _ = writeln!(std::io::stderr(), "using {}", sampler.what);
    let stdout = std::io::stdout();
    write_samples(
        &sampler,
        n as usize,
        seed,
        format,
        &mut std::io::BufWriter::new(stdout.lock()),
    )
}

/// `textgan interpolate`: the text at every step of a walk between two samples, to stdout.
pub fn interpolate(
    model: Option<PathBuf>,
    reading: Reading,
    (from, to): (&str, &str),
    steps: i64,
    path: WalkPath,
    json: bool,
    device: DeviceChoice,
) -> Result<()> {
    // "--from 7:x: expected SEED or SEED:INDEX …": the flag named in the message.
    let end = |flag: &str, s: &str| {
        s.parse::<NoisePoint>().map_err(|e| match e {
            Error::Config(m) => Error::Config(format!("{flag} {m}")),
            other => other,
        })
    };
    let ends = (end("--from", from)?, end("--to", to)?);
    let steps = usize::try_from(steps)
        .ok()
        .filter(|s| (1..=MAX_STEPS).contains(s))
        .ok_or_else(|| {
            Error::Config(format!(
                "--steps {steps}: a walk takes 1 to {MAX_STEPS} steps"
            ))
        })?;
    let device = device::select(device)?;
    let dir = model_dir(model)?;
    let sampler = reading.load(&dir, &device)?;
    let _ = writeln!(std::io::stderr(), "using {}", sampler.what);
    let walk = textgan::sample::interpolate::interpolate(&sampler, ends, steps, path)?;
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    // A closed stdout (`| head`) ends the output, not the program with a panic.
    let _ = if json {
        serde_json::to_writer_pretty(&mut out, &walk)
            .map_err(std::io::Error::from)
            .and_then(|()| writeln!(out))
    } else {
        walk.points
            .iter()
            .try_for_each(|p| writeln!(out, "{}", p.text))
    }
    .and_then(|()| out.flush());
    Ok(())
}

/// `--model DIR`, or the most recently saved run under `models/`.
fn model_dir(model: Option<PathBuf>) -> Result<PathBuf> {
    match model {
        Some(d) => Ok(d),
        None => latest_run(Path::new("models")).ok_or_else(|| {
            Error::Config(
                "no trained model under models/: train one with `textgan train CORPUS.txt` or pass --model DIR".into(),
            )
        }),
    }
}

/// What `textgan eval` was asked.
pub struct EvalRequest {
    /// A samples file or a baseline; `None`: the model.
    pub source: Option<Source>,
    /// The run to sample from; `None`: the most recent one.
    pub model: Option<PathBuf>,
    pub corpus: Option<PathBuf>,
    pub n: i64,
    pub seed: u64,
    pub json: bool,
    /// Which of the model's generators, and how its samples are read.
    pub reading: Reading,
}

/// `textgan eval`: score the samples and print a table, or JSON.
pub fn eval(args: EvalRequest, device: DeviceChoice) -> Result<()> {
    let n = usize::try_from(args.n).map_err(|_| {
        Error::Config(format!(
            "-n {}: the number of samples must be at least 1",
            args.n
        ))
    })?;
    let source = match args.source {
        Some(s) => s,
        None => Source::Model {
            dir: model_dir(args.model)?,
            reading: args.reading,
        },
    };
    let device = device::select(device)?;
    let opts = EvalOptions {
        source,
        corpus: args.corpus,
        n,
        seed: args.seed,
    };
    let report = textgan::sample::eval::evaluate(&opts, &device, &mut Reporter::new("eval"))?;
    if args.json {
        print_json(&report)?;
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}

/// A study that Ctrl-C stops between runs (compare, sweep): `run` on the chosen device with a
/// stop flag and a progress bar named `what`; then its runs, the report's path (displayed: a
/// path that is not UTF-8 would not serialise) and the exit status (130 if interrupted: the
/// report then covers the runs finished so far).
fn stoppable_study<T>(
    what: &str,
    device: DeviceChoice,
    out: &Path,
    run: impl FnOnce(&candle_core::Device, &Control, &mut Reporter) -> Result<T>,
) -> Result<(T, String, u8)> {
    let device = device::select(device)?;
    let control = Arc::new(Control::default());
    on_interrupt(&control)?;
    let runs = run(&device, &control, &mut Reporter::new(what))?;
    let report = out.join("report.md").display().to_string();
    Ok((
        runs,
        report,
        if interrupted() { interrupt_code() } else { 0 },
    ))
}

/// `textgan compare`: one run per strategy, then the report; returns the exit status.
pub fn compare(opts: &compare::CompareOptions, device: DeviceChoice, json: bool) -> Result<u8> {
    let (runs, report, status) = stoppable_study("compare", device, &opts.out, |d, c, r| {
        compare::compare_strategies(opts, d, c, r)
    })?;
    if json {
        print_json(&compare::CompareOutput::new(&runs, report))?;
    } else {
        for r in &runs {
            println!(
                "{}: {} iterations, {:.3} s/iteration",
                r.strategy, r.iterations, r.secs_per_iter
            );
        }
        println!("report: {report}");
    }
    Ok(status)
}

/// `textgan sweep`: every configuration × seed without a result, then the report; returns
/// the exit status.
pub fn sweep(opts: &sweep::options::SweepOptions, device: DeviceChoice, json: bool) -> Result<u8> {
    let (runs, report, status) = stoppable_study("sweep", device, &opts.out, |d, c, r| {
        sweep::run_sweep(opts, d, c, r)
    })?;
    if json {
        print_json(&sweep::results::SweepOutput::new(&runs, report))?;
    } else {
        println!("{} runs; report: {report}", runs.len());
    }
    Ok(status)
}

/// `textgan diagnose`: train the critic variants, print where the figures are (the variants'
/// lines went to stderr as they finished).
pub fn diagnose(opts: &diagnose::DiagnoseOptions, device: DeviceChoice, json: bool) -> Result<()> {
    let device = device::select(device)?;
    let variants = diagnose::diagnose(opts, &device, &mut Reporter::new("diagnose"))?;
    if json {
        print_json(&diagnose::DiagnoseOutput::new(&variants, &opts.out))?;
    } else {
        println!(
            "figures in {}: {}, {} (numbers: {}, {})",
            opts.out.display(),
            diagnose::WEIGHTS_SVG,
            diagnose::LAYER_GRADS_SVG,
            diagnose::DIAGNOSTICS_JSON,
            diagnose::LAYER_GRADS_CSV
        );
    }
    Ok(())
}

/// `textgan bench`: one configuration (`dims` of one width, one strategy) timed here, or the
/// suite of every width × strategy in child processes; a Markdown table or JSON.
pub fn bench(
    opts: &bench::BenchOptions,
    dims: Option<&[usize]>,
    strategies: &[Lipschitz],
    json: bool,
    device: DeviceChoice,
) -> Result<()> {
    match dims {
        None => {
            let device = device::select(device)?;
            let r = bench::time_one(opts, &device)?;
            if json {
                print_json(&r)?;
            } else {
                println!("{}\n{}", bench::TABLE_HEADER, bench::table_row(&r));
                print_bench_setup(&r);
            }
        }
        Some(dims) => {
            let exe = std::env::current_exe()
                .map_err(|e| Error::Runtime(format!("cannot find this program: {e}")))?;
            if !json {
                println!("{}", bench::TABLE_HEADER);
            }
            let results = bench::suite(&exe, opts, dims, strategies, &mut |r| {
                if json {
                    // The callback cannot fail: a result (numbers and strings) always serialises.
                    let _ = print_json(r);
                } else {
                    println!("{}", bench::table_row(r));
                }
            })?;
            if let (false, Some(r)) = (json, results.first()) {
                print_bench_setup(r);
            }
        }
    }
    Ok(())
}

/// One JSON object on a line of stdout: a result of the library's, serialised as it is.
fn print_json(value: &impl Serialize) -> Result<()> {
    let text = serde_json::to_string(value)
        .map_err(|e| Error::Runtime(format!("cannot write the result as JSON: {e}")))?;
    println!("{text}");
    Ok(())
}

fn print_bench_setup(r: &bench::BenchResult) {
    let average = if r.ema > 0.0 {
        format!("weight average {}", r.ema)
    } else {
        "no weight average".to_string()
    };
    let readout = match r.autoregressive {
        0 => "no read-out".to_string(),
        k => format!("read-out looking back {k}"),
    };
    println!(
        "batch {}, {} residual blocks of width-{} convolutions, {} critic steps per generator iteration, L {}, V {}, {average}, {readout}, {} threads; medians of {} iterations after warm-up",
        r.batch, r.res_blocks, r.kernel, r.critic_iters, r.seq_len, r.vocab, r.threads, r.timed_iterations
    );
}

/// Stream samples to `out`. A closed pipe (`| head`) ends the output quietly: the first write
/// error stops generation, and is not an error.
pub fn write_samples(
    sampler: &Sampler,
    n: usize,
    seed: u64,
    format: SampleFormat,
    out: &mut impl Write,
) -> Result<()> {
    let mut ok = format != SampleFormat::Json || out.write_all(b"[").is_ok();
    let mut first = true;
    sampler.generate(n, seed, false, |line| {
        if !ok {
            return false;
        }
        ok = match format {
            SampleFormat::Text => writeln!(out, "{line}").is_ok(),
            SampleFormat::Json => {
                let sep = if first { "\n  " } else { ",\n  " };
                first = false;
                let json = serde_json::Value::String(line).to_string();
                write!(out, "{sep}{json}").is_ok()
            }
        };
        ok
    })?;
    if ok {
        if format == SampleFormat::Json {
            let _ = out.write_all(b"\n]\n");
        }
        let _ = out.flush();
    }
    Ok(())
}

/// `textgan serve`: the page's address on stdout (alone on its line, for a program to read),
/// what is served and how to stop on stderr; serves until Ctrl-C or SIGTERM (exit status 0).
pub fn serve(dirs: Vec<PathBuf>, bind: std::net::IpAddr, port: u16, open: bool) -> Result<u8> {
    use textgan::serve::{serve, ServeOptions};
    let dirs = if dirs.is_empty() {
        vec![PathBuf::from("models")]
    } else {
        dirs
    };
    let shown: Vec<String> = dirs.iter().map(|d| d.display().to_string()).collect();
    let opts = ServeOptions { dirs, bind, port };
    serve(
        &opts,
        |addr| {
            let url = if addr.ip().is_unspecified() {
                format!("http://127.0.0.1:{}/", addr.port())
            } else {
                format!("http://{addr}/")
            };
            let mut err = std::io::stderr();
            if !addr.ip().is_loopback() {
                let _ = writeln!(
                    err,
                    "warning: listening on {addr}: the page has no authentication, so anyone who can reach this address can read these runs and use this machine to generate text"
                );
            }
            let _ = writeln!(
                err,
                "serving the runs under {} (read-only); press Ctrl-C to stop",
                shown.join(", ")
            );
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "{url}").and_then(|()| out.flush());
            if open {
                open_in_browser(&url);
            }
        },
        stop_signal(),
    )?;
    let _ = writeln!(std::io::stderr(), "stopped");
    Ok(0)
}

/// Resolves on Ctrl-C or SIGTERM.
async fn stop_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

/// Ask the desktop to open `url`; a failure is a note, not an error (the address is printed).
fn open_in_browser(url: &str) {
    let opener: &[&str] = if cfg!(target_os = "macos") {
        &["open"]
    } else if cfg!(windows) {
        &["cmd", "/C", "start", ""]
    } else {
        &["xdg-open"]
    };
    let spawned = std::process::Command::new(opener[0])
        .args(&opener[1..])
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn();
    if let Err(e) = spawned {
        let _ = writeln!(
            std::io::stderr(),
            "note: could not open a browser ({}: {e}); open {url} yourself",
            opener[0]
        );
    }
}
