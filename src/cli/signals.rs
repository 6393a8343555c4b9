//! Signals and exit statuses: the first Ctrl-C or SIGTERM asks the trainer to save and stop,
//! a second one quits at once; 130/143 after them, 2 for a usage error, as shells expect.

use std::io::Write;
use std::process::ExitCode;
use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::Arc;

use textgan::error::{Error, Result};
use textgan::train::events::Control;

/// Exit status after Ctrl-C (128 + SIGINT), as shells expect.
pub const EXIT_INTERRUPTED: u8 = 130;
/// Exit status after SIGTERM (128 + 15).
pub const EXIT_TERMINATED: u8 = 143;

/// The first stop signal received (2 = SIGINT, 15 = SIGTERM), 0 if none.
static SIGNAL: AtomicI32 = AtomicI32::new(0);

/// The first Ctrl-C or SIGTERM asks the trainer (through `control`) to save and stop; a second
/// one exits at once, leaving the last complete checkpoint.
pub fn on_interrupt(control: &Arc<Control>) -> Result<()> {
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
            // Quit at once, but never leave the terminal in the dashboard's raw mode.
            textgan::tui::restore_terminal();
            let _ = writeln!(std::io::stderr(), "stopped twice: exiting without saving");
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

pub fn interrupted() -> bool {
    SIGNAL.load(Ordering::SeqCst) != 0
}

/// 130 after Ctrl-C, 143 after SIGTERM.
pub fn interrupt_code() -> u8 {
    if SIGNAL.load(Ordering::SeqCst) == 15 {
        EXIT_TERMINATED
    } else {
        EXIT_INTERRUPTED
    }
}

/// Help and version go out as clap prints them; a usage error becomes one `error:` line
/// (with the allowed values, if any) and exit status 2.
pub fn clap_error(e: clap::Error) -> ExitCode {
    use clap::error::ErrorKind;
    if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) {
        let _ = e.print();
        return ExitCode::SUCCESS;
    }
    if e.kind() == ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        // A bare `textgan` (or a command missing its subcommand): the usage, on stderr, and
        // the exit status of a usage error, as clap itself exits.
        let _ = e.print();
        return ExitCode::from(2);
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
