//! The live dashboard: a consumer of training events, like the plain log. The trainer runs on
//! its own thread ([`TrainingThread`]) and sends events over an unbounded channel, so it never
//! waits for the screen; the dashboard drains them, redraws at most `FPS` times a second, and
//! turns keys into requests on the shared [`Control`].

pub mod render;
pub mod state;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers};

use crate::error::{Error, Result};
use crate::events::{Control, Event, StopReason};
use crate::train::{Trainer, TrainingThread};
use state::Dashboard;

/// Redraws per second, at most.
pub const FPS: u64 = 10;

/// What the dashboard session ended with: the trainer (for its run directory), the training
/// outcome, and the dashboard's last state.
pub struct Outcome {
    pub trainer: Trainer,
    pub result: Result<StopReason>,
    pub dashboard: Dashboard,
}

/// Set by the panic hook: after a panic anywhere the terminal is already restored, and the
/// dashboard must not draw again.
static PANICKED: AtomicBool = AtomicBool::new(false);

/// Show the dashboard for a training thread until it ends. The terminal is restored on every
/// way out: normal end, `q`, an error, and a panic (ratatui's panic hook restores it; ours,
/// running first, stops further drawing).
pub fn show(training: TrainingThread, control: Arc<Control>) -> Result<Outcome> {
    let mut dashboard = Dashboard::default();
    let ui = match ratatui::try_init() {
        Ok(mut terminal) => {
            let restore_hook = std::panic::take_hook();
            std::panic::set_hook(Box::new(move |info| {
                PANICKED.store(true, Ordering::SeqCst);
                restore_hook(info);
            }));
            let r = ui_loop(&mut terminal, &training.events, &control, &mut dashboard);
            ratatui::restore();
            r
        }
        Err(e) => Err(e),
    };
    if ui.is_err() {
        control.request_stop();
    }
    // Drain what is left so the final state (saved, finished) is known.
    while let Ok(e) = training.events.try_recv() {
        dashboard.apply(&e);
    }
    let (trainer, result) = training.join()?;
    ui.map_err(|e| Error::Runtime(format!("terminal error: {e}")))?;
    Ok(Outcome {
        trainer,
        result,
        dashboard,
    })
}

fn ui_loop(
    terminal: &mut ratatui::DefaultTerminal,
    rx: &mpsc::Receiver<Event>,
    control: &Control,
    d: &mut Dashboard,
) -> std::io::Result<()> {
    let frame = Duration::from_millis(1000 / FPS);
    let mut last_draw: Option<Instant> = None;
    loop {
        if PANICKED.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("the training thread panicked"));
        }
        loop {
            match rx.try_recv() {
                Ok(e) => d.apply(&e),
                Err(TryRecvError::Empty) => break,
                Err(TryRecvError::Disconnected) => return Ok(()),
            }
        }
        if last_draw.is_none_or(|t| t.elapsed() >= frame) {
            terminal.draw(|f| render::draw(f, d))?;
            last_draw = Some(Instant::now());
        }
        if !event::poll(Duration::from_millis(30))? {
            continue;
        }
        match event::read()? {
            TermEvent::Key(k) if k.kind == KeyEventKind::Press => {
                let ctrl_c =
                    k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                match k.code {
                    _ if ctrl_c && d.stopping => {
                        // Second Ctrl-C: leave at once; the last complete checkpoint stays.
                        ratatui::restore();
                        eprintln!("interrupted twice: exiting without saving");
                        std::process::exit(130);
                    }
                    _ if ctrl_c => {
                        d.interrupted = true;
                        stop(control, d)
                    }
                    KeyCode::Char('q') => stop(control, d),
                    KeyCode::Char('p') => {
                        d.paused = !d.paused;
                        control.set_paused(d.paused);
                    }
                    KeyCode::Char('s') => control.request_save(),
                    KeyCode::Char('r') => control.request_resample(),
                    KeyCode::Char('?') => d.show_help = !d.show_help,
                    KeyCode::Esc => d.show_help = false,
                    _ => {}
                }
                last_draw = None;
            }
            TermEvent::Resize(..) => last_draw = None,
            _ => {}
        }
    }
}

fn stop(control: &Control, d: &mut Dashboard) {
    d.stopping = true;
    d.paused = false;
    control.set_paused(false);
    control.request_stop();
}
