//! The live dashboard: a consumer of training events, like the plain log. It runs on its own
//! thread and receives events over an unbounded channel, so the trainer never waits for the
//! screen; it drains them, redraws at most `FPS` times a second, and turns keys into requests
//! on the shared [`Control`].

pub mod render;
pub mod state;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ratatui::crossterm::event::{self, Event as TermEvent, KeyCode, KeyEventKind, KeyModifiers};

use crate::error::{Error, Result};
use crate::train::events::{Control, Event};
use state::Dashboard;

/// Redraws per second, at most.
pub const FPS: u64 = 4;

/// Set by the panic hook: after a panic anywhere the terminal is already restored, and the
/// dashboard must not draw again.
static PANICKED: AtomicBool = AtomicBool::new(false);

/// Set while the dashboard holds the terminal (raw mode, the alternate screen).
static ACTIVE: AtomicBool = AtomicBool::new(false);

/// Give the terminal back if the dashboard holds it: for every way out, including a process
/// about to exit from elsewhere (a second stop signal).
pub fn restore_terminal() {
    if ACTIVE.swap(false, Ordering::SeqCst) {
        ratatui::restore();
    }
}

/// A running dashboard: send it training events; `finish` closes it and returns its last state.
pub struct DashboardThread {
    pub events: mpsc::Sender<Event>,
    handle: std::thread::JoinHandle<(std::io::Result<()>, Dashboard)>,
}

/// Open the dashboard on its own thread. Training stays on the caller's thread (measured: on
/// a 2-core machine, moving the trainer off the main thread costs it 10-15%); the dashboard
/// only consumes events, so the trainer never waits for the screen. The terminal is restored
/// on every way out: normal end, `q`, an error, and a panic (ratatui's hook restores it; ours,
/// running first, stops further drawing).
pub fn start(control: Arc<Control>) -> Result<DashboardThread> {
    let (events, rx) = mpsc::channel::<Event>();
    let handle = std::thread::Builder::new()
        .name("dashboard".into())
        .spawn(move || {
            let mut dashboard = Dashboard::default();
            let ui = match ratatui::try_init() {
                Ok(mut terminal) => {
                    ACTIVE.store(true, Ordering::SeqCst);
                    let restore_hook = std::panic::take_hook();
                    std::panic::set_hook(Box::new(move |info| {
                        PANICKED.store(true, Ordering::SeqCst);
                        restore_hook(info);
                    }));
                    let r = ui_loop(&mut terminal, &rx, &control, &mut dashboard);
                    restore_terminal();
                    r
                }
                Err(e) => Err(e),
            };
            if ui.is_err() {
                // Without a screen, stop training (it saves a checkpoint first).
                control.request_stop();
            }
            while let Ok(e) = rx.try_recv() {
                dashboard.apply(&e);
            }
            (ui, dashboard)
        })
        .map_err(|e| Error::Runtime(format!("cannot start the dashboard: {e}")))?;
    Ok(DashboardThread { events, handle })
}

impl DashboardThread {
    /// Close the dashboard (once training has ended) and return its final state.
    pub fn finish(self) -> Result<Dashboard> {
        drop(self.events);
        let (ui, dashboard) = self
            .handle
            .join()
            .map_err(|_| Error::Runtime("the dashboard thread panicked".into()))?;
        ui.map_err(|e| Error::Runtime(format!("terminal error: {e}")))?;
        Ok(dashboard)
    }
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
        // Sleep in the poll until the next frame is due (or a key arrives): on a 2-core machine
        // every extra wake-up of this thread takes a core from the trainer's worker threads.
        let until_frame = last_draw.map_or(Duration::ZERO, |t| frame.saturating_sub(t.elapsed()));
        if !event::poll(until_frame.max(Duration::from_millis(5)))? {
            continue;
        }
        match event::read()? {
            TermEvent::Key(k) if k.kind == KeyEventKind::Press => {
                let ctrl_c =
                    k.code == KeyCode::Char('c') && k.modifiers.contains(KeyModifiers::CONTROL);
                match k.code {
                    _ if ctrl_c && d.stopping => {
                        // Second Ctrl-C: leave at once; the last complete checkpoint stays.
                        restore_terminal();
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
