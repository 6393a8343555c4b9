//! The two commands end to end, as the command line runs them: choosing how training is shown,
//! Ctrl-C, exit statuses, and writing samples to a stream. `main.rs` only parses arguments.

use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use crate::checkpoint;
use crate::device::{self, DeviceChoice};
use crate::error::{Error, Result};
use crate::eval::{EvalOptions, Source};
use crate::events::{Control, LogFormat, PlainLog, StopReason};
use crate::generate::Sampler;
use crate::run::{self, TrainOptions};
use crate::tui;

/// Exit status after Ctrl-C (128 + SIGINT), as shells expect.
pub const EXIT_INTERRUPTED: u8 = 130;
/// Exit status after SIGTERM (128 + 15).
pub const EXIT_TERMINATED: u8 = 143;

/// How training is shown.
#[derive(Debug, Clone, Copy)]
pub struct Display {
    /// Use the dashboard when stdout and stdin are a terminal (false: `--no-tui`).
    pub dashboard: bool,
    pub log_format: LogFormat,
    pub log_every: u64,
}

/// The first stop signal received (2 = SIGINT, 15 = SIGTERM), 0 if none.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The first Ctrl-C or SIGTERM asks the trainer (through `control`) to save and stop; a second
/// one exits at once, leaving the last complete checkpoint.
fn on_interrupt(control: &Arc<Control>) -> Result<()> {
    let c = Arc::clone(control);
    let first_or_exit = move |sig: i32| {
        if SIGNAL
            .compare_exchange(0, sig, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            let what = if sig == 15 {
                "terminated"
            } else {
                "interrupted"
            };
            // Stop first: telling it must not be able to prevent it. (`eprintln!` panics when
            // stderr is a closed pipe, which would kill this thread before the request.)
            c.request_stop();
            let _ = writeln!(
                std::io::stderr(),
                "\n{what}: saving a checkpoint (press Ctrl-C again to quit without saving)"
            );
        } else {
            std::process::exit(128 + SIGNAL.load(Ordering::SeqCst));
        }
    };
    #[cfg(unix)]
    {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM])
            .map_err(|e| Error::Runtime(format!("cannot install the signal handlers: {e}")))?;
        std::thread::spawn(move || {
            for sig in signals.forever() {
                first_or_exit(sig);
            }
        });
        Ok(())
    }
    #[cfg(not(unix))]
    ctrlc::set_handler(move || first_or_exit(2))
        .map_err(|e| Error::Runtime(format!("cannot install the Ctrl-C handler: {e}")))
}

fn interrupted() -> bool {
    SIGNAL.load(Ordering::SeqCst) != 0
}

/// 130 after Ctrl-C, 143 after SIGTERM.
fn interrupt_code() -> u8 {
    if SIGNAL.load(Ordering::SeqCst) == 15 {
        EXIT_TERMINATED
    } else {
        EXIT_INTERRUPTED
    }
}

/// `textgan train`: returns the exit status.
pub fn train(opts: &TrainOptions, device: DeviceChoice, display: Display) -> Result<u8> {
    let device = device::select(device)?;
    let mut trainer = run::prepare(opts, &device)?;
    let control = Arc::new(Control::default());
    on_interrupt(&control)?;

    let dashboard = display.dashboard
        && display.log_format == LogFormat::Text
        && std::io::stdout().is_terminal()
        && std::io::stdin().is_terminal();
    if dashboard {
        trainer.previews = true;
        let ui = tui::start(Arc::clone(&control))?;
        let tx = ui.events.clone();
        // The receiver only goes away if the terminal failed; training then stops anyway.
        let result = trainer.run(&control, &mut |e| {
            let _ = tx.send(e);
        });
        drop(tx);
        let dashboard = ui.finish();
        let reason = result?;
        let dashboard = dashboard?;
        println!(
            "finished at iteration {} ({}); checkpoint in {}",
            trainer.iteration,
            reason.describe(),
            trainer.run_dir.display()
        );
        if let Some(m) = dashboard.metrics.last() {
            println!(
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
    let mut log = PlainLog::new(std::io::stdout(), display.log_every, display.log_format);
    let reason = trainer.run(&control, &mut |e| log.handle(&e))?;
    if reason == StopReason::Stopped && interrupted() {
        let _ = writeln!(
            std::io::stderr(),
            "checkpoint saved in {}",
            trainer.run_dir.display()
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
    let sampler = Sampler::load(&dir, &device)?;
    let stdout = std::io::stdout();
    write_samples(
        &sampler,
        n as usize,
        seed,
        format,
        &mut std::io::BufWriter::new(stdout.lock()),
    )
}

/// `--model DIR`, or the most recently saved run under `models/`.
fn model_dir(model: Option<PathBuf>) -> Result<PathBuf> {
    match model {
        Some(d) => Ok(d),
        None => checkpoint::latest_run(Path::new("models")).ok_or_else(|| {
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
        None => Source::Model(model_dir(args.model)?),
    };
    let device = device::select(device)?;
    let opts = EvalOptions {
        source,
        corpus: args.corpus,
        n,
        seed: args.seed,
    };
    let report = crate::eval::evaluate(&opts, &device)?;
    if args.json {
        println!("{}", report.to_json());
    } else {
        print!("{}", report.to_table());
    }
    Ok(())
}

/// `textgan compare`: one run per strategy, then the report; returns the exit status (130 if
/// interrupted: the report then covers the runs done so far).
pub fn compare(opts: &crate::compare::CompareOptions, device: DeviceChoice) -> Result<u8> {
    let device = device::select(device)?;
    let control = Arc::new(Control::default());
    on_interrupt(&control)?;
    let runs = crate::compare::run(opts, &device, &control, &mut |line| println!("{line}"))?;
    for r in &runs {
        println!(
            "{}: {} iterations, {:.3} s/iteration",
            r.strategy, r.iterations, r.secs_per_iter
        );
    }
    println!("report: {}", opts.out.join("report.md").display());
    Ok(if interrupted() { interrupt_code() } else { 0 })
}

/// `textgan sweep`: every configuration × seed without a result, then the report; returns
/// the exit status (130 if interrupted: the report then covers the runs finished so far).
pub fn sweep(opts: &crate::sweep::SweepOptions, device: DeviceChoice) -> Result<u8> {
    let device = device::select(device)?;
    let control = Arc::new(Control::default());
    on_interrupt(&control)?;
    let runs = crate::sweep::run(opts, &device, &control, &mut |line| println!("{line}"))?;
    println!(
        "{} runs; report: {}",
        runs.len(),
        opts.out.join("report.md").display()
    );
    Ok(if interrupted() { interrupt_code() } else { 0 })
}

/// `textgan diagnose`: train the critic variants, print a line for each, and where the
/// figures are.
pub fn diagnose(opts: &crate::diagnose::DiagnoseOptions, device: DeviceChoice) -> Result<()> {
    let device = device::select(device)?;
    crate::diagnose::run(opts, &device, &mut |line| println!("{line}"))?;
    println!(
        "figures in {}: weights.svg, layer_grads.svg (numbers: diagnostics.json, layer_grads.csv)",
        opts.out.display()
    );
    Ok(())
}

/// `textgan bench`: one configuration (`dims` of one width, one strategy) timed here, or the
/// suite of every width × strategy in child processes; a Markdown table or JSON.
pub fn bench(
    opts: &crate::bench::BenchOptions,
    dims: Option<&[usize]>,
    strategies: &[crate::penalty::Lipschitz],
    json: bool,
    device: DeviceChoice,
) -> Result<()> {
    use crate::bench;
    match dims {
        None => {
            let device = device::select(device)?;
            let r = bench::run(opts, &device)?;
            if json {
                println!("{}", serde_json::to_string(&r).unwrap_or_default());
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
                    println!("{}", serde_json::to_string(r).unwrap_or_default());
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

fn print_bench_setup(r: &crate::bench::BenchResult) {
    println!(
        "batch {}, {} critic steps per generator iteration, L {}, V {}, {} threads; medians of {} iterations after warm-up",
        r.batch, r.critic_iters, r.seq_len, r.vocab, r.threads, r.timed_iterations
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
