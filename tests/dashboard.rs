//! The dashboard: rendered from events into ratatui's `TestBackend`, and driven for real in a
//! terminal (tmux) — samples appear, `q` stops, the process exits 0 with a loadable checkpoint.
//! In the same real terminal, a long command's progress bar (share done and ETA).

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use ratatui::backend::TestBackend;
use ratatui::Terminal;
use textgan::train::events::{Event, MetricsRecord, RunInfo, StepStats};
use textgan::tui::render::{draw, KEYS};
use textgan::tui::state::Dashboard;

fn screen(d: &Dashboard, w: u16, h: u16) -> String {
    let mut terminal = Terminal::new(TestBackend::new(w, h)).unwrap();
    terminal.draw(|f| draw(f, d)).unwrap();
    let buf = terminal.backend().buffer().clone();
    (0..h)
        .map(|y| {
            (0..w)
                .map(|x| buf[(x, y)].symbol().to_string())
                .collect::<String>()
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn info() -> RunInfo {
    RunInfo {
        run_dir: PathBuf::from("models/wordnet"),
        corpus: PathBuf::from("corpora/wordnet.txt"),
        train_lines: 47584,
        heldout_lines: 640,
        vocab: 83,
        dim: 32,
        preset: "cpu".into(),
        res_blocks: 5,
        kernel: 5,
        critic_iters: 5,
        generator_params: 186355,
        critic_params: 55233,
        device: "cpu".into(),
        engine: "hand-written CPU step".into(),
        start_iteration: 0,
        target_iters: 100,
        minutes: None,
        resumed: false,
    }
}

fn step(i: u64) -> Event {
    Event::Step(StepStats {
        iteration: i,
        wasserstein: 1.0 + i as f64 * 0.01,
        penalty: 0.2,
        grad_norm: Some(1.1),
        critic_loss: -0.8,
        gen_loss: Some(-0.5),
        secs: 0.5,
    })
}

fn trained_dashboard() -> Dashboard {
    let mut d = Dashboard::default();
    d.apply(&Event::Started(info()));
    for i in 1..=12 {
        d.apply(&step(i));
    }
    d.apply(&Event::Preview {
        iteration: 10,
        lines: vec!["the cat sat on the mat".into(), "a dog".into()],
    });
    d.apply(&Event::Metrics(MetricsRecord {
        iteration: 10,
        elapsed_secs: 5.0,
        js: [0.2, 0.5, 0.7, 0.8],
        floor_js: [0.001, 0.01, 0.06, 0.2],
        valid_word_rate: Some(0.25),
        unique_rate: Some(1.0),
        novelty: Some(0.875),
        raw: None,
        losses: None,
    }));
    d.apply(&Event::Saved {
        iteration: 10,
        dir: PathBuf::from("models/wordnet"),
    });
    d
}

#[test]
fn the_dashboard_shows_samples_progress_metrics_and_keys() {
    let d = trained_dashboard();
    let s = screen(&d, 110, 32);
    assert!(s.contains("the cat sat on the mat"), "{s}");
    assert!(s.contains("a dog···"), "padding shown as faint dots: {s}");
    assert!(s.contains("samples @ 10"), "{s}");
    assert!(s.contains("iteration 12 / 100"), "{s}");
    assert!(s.contains("2.00 it/s"), "{s}");
    assert!(s.contains("ETA 44s"), "88 iterations left at 0.5 s: {s}");
    assert!(s.contains("corpora/wordnet.txt"), "{s}");
    assert!(s.contains("G 186k / D 55k params"), "{s}");
    assert!(s.contains("checkpoint @ 10"), "{s}");
    assert!(
        s.contains("0.200 0.500 0.700 0.800"),
        "latest JSD in the chart title: {s}"
    );
    assert!(
        s.contains("valid words 25.0% · unique 100.0% · novel 87.5%"),
        "word, unique and novelty rates under the chart: {s}"
    );
    assert!(s.contains(KEYS), "{s}");
}

#[test]
fn pause_and_help_are_visible() {
    let mut d = trained_dashboard();
    d.paused = true;
    d.show_help = true;
    let s = screen(&d, 110, 32);
    assert!(s.contains("PAUSED"), "{s}");
    assert!(s.contains("show samples from new random noise"), "{s}");
}

#[test]
fn a_tiny_terminal_gets_a_message_not_garbage() {
    let d = trained_dashboard();
    let s = screen(&d, 40, 10);
    assert!(s.contains("terminal too small (40x10)"), "{s}");
    assert!(!s.contains("the cat"), "{s}");
}

fn tmux(args: &[&str]) -> std::process::Output {
    Command::new("tmux").args(args).output().expect("tmux runs")
}

/// Kills the tmux session however the test ends.
struct Session(String);
impl Drop for Session {
    fn drop(&mut self) {
        let _ = tmux(&["kill-session", "-t", &self.0]);
    }
}

fn wait_for(what: &str, timeout: Duration, mut check: impl FnMut() -> bool) {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < timeout,
            "timed out after {timeout:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// `textgan ARGS` started in a detached 100×30 tmux session: the session (killed on drop) and
/// the file its exit status is written to. `None` (the test skips) where tmux is not
/// installed, outside CI.
fn textgan_in_tmux(tmp: &Path, tag: &str, args: &str) -> Option<(Session, PathBuf)> {
    if Command::new("tmux").arg("-V").output().is_err() {
        assert!(
            std::env::var_os("CI").is_none(),
            "tmux is required in CI (.ci/run installs it)"
        );
        eprintln!("skipped: tmux is not installed");
        return None;
    }
    let exit_file = tmp.join("exit");
    let cmd = format!(
        "'{}' {args}; echo $? > '{}'; sleep 60",
        env!("CARGO_BIN_EXE_textgan"),
        exit_file.display()
    );
    let name = format!("textgan-{tag}-{}", std::process::id());
    let out = tmux(&[
        "new-session",
        "-d",
        "-s",
        &name,
        "-x",
        "100",
        "-y",
        "30",
        &cmd,
    ]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some((Session(name), exit_file))
}

fn tiny_corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/tiny.txt")
}

/// A tiny training run (dim 8, a million iterations) in tmux: the session, the run directory
/// and the file its exit status is written to.
fn train_in_tmux(tmp: &Path, tag: &str) -> Option<(Session, PathBuf, PathBuf)> {
    let run = tmp.join("run");
    let args = format!(
        "train '{}' --out '{}' --dim 8 --batch 16 --critic-iters 2 --iters 1000000",
        tiny_corpus().display(),
        run.display()
    );
    let (session, exit_file) = textgan_in_tmux(tmp, tag, &args)?;
    Some((session, run, exit_file))
}

/// What the session's pane shows now.
fn capture(session: &Session) -> String {
    String::from_utf8_lossy(&tmux(&["capture-pane", "-t", &session.0, "-p"]).stdout).into_owned()
}

#[test]
fn in_a_real_terminal_samples_appear_and_q_saves_and_exits_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((session, run, exit_file)) = train_in_tmux(tmp.path(), "q") else {
        return;
    };
    let capture = || capture(&session);
    let name = session.0.clone();
    // The dashboard is up once the samples panel has drawn from a preview after iteration 0.
    wait_for("samples on screen", Duration::from_secs(60), || {
        let s = capture();
        s.contains("samples @") && !s.contains("samples @ 0 ") && s.contains(KEYS)
    });
    tmux(&["send-keys", "-t", &name, "q"]);
    wait_for("the process to exit", Duration::from_secs(60), || {
        exit_file.exists()
    });
    let code = std::fs::read_to_string(&exit_file).unwrap();
    assert_eq!(code.trim(), "0", "exit status");
    let screen = capture();
    assert!(
        screen.contains("finished at iteration"),
        "terminal restored with a summary: {screen}"
    );
    let sampler = textgan::sample::generate::Sampler::load(
        &run,
        textgan::train::checkpoint::Which::Last,
        &candle_core::Device::Cpu,
    )
    .expect("a loadable checkpoint");
    let state: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("state.json")).unwrap()).unwrap();
    assert!(state["iteration"].as_u64().unwrap() >= 5, "{state}");
    let mut n = 0;
    sampler
        .generate(3, 0, false, |_| {
            n += 1;
            true
        })
        .unwrap();
    assert_eq!(n, 3);
}

#[test]
fn the_header_says_when_training_takes_the_slower_autograd_path_and_why() {
    let mut d = Dashboard::default();
    let mut slow = info();
    slow.engine = "autograd (the hand-written step has no normalisation layers)".into();
    d.apply(&Event::Started(slow));
    let s = screen(&d, 160, 32);
    assert!(
        s.contains("cpu · autograd (the hand-written step has no normalisation layers)"),
        "{s}"
    );
    let mut fast = Dashboard::default();
    fast.apply(&Event::Started(info()));
    assert!(!screen(&fast, 160, 32).contains("autograd"));
}

#[test]
fn with_a_weight_average_the_dashboard_shows_both_generators_scores() {
    let mut d = trained_dashboard();
    d.apply(&Event::Metrics(MetricsRecord {
        iteration: 12,
        elapsed_secs: 6.0,
        js: [0.1, 0.3, 0.5, 0.6],
        floor_js: [0.001, 0.01, 0.06, 0.2],
        valid_word_rate: Some(0.5),
        unique_rate: Some(1.0),
        novelty: Some(1.0),
        raw: Some(textgan::train::events::RawScores {
            js: [0.2, 0.5, 0.7, 0.85],
            valid_word_rate: Some(0.2),
        }),
        losses: None,
    }));
    let s = screen(&d, 130, 32);
    assert!(
        s.contains("n-gram JSD (averaged G): 0.100 0.300 0.500 0.600 · raw G 0.850"),
        "{s}"
    );
    assert!(s.contains("valid words 50.0%"), "{s}");
    assert!(s.contains("(raw G 20.0%)"), "{s}");
}

#[test]
fn a_second_stop_signal_quits_at_once_and_gives_the_terminal_back() {
    let tmp = tempfile::tempdir().unwrap();
    let Some((session, _run, exit_file)) = train_in_tmux(tmp.path(), "signal") else {
        return;
    };
    let capture = || capture(&session);
    let name = session.0.clone();
    let alternate = || {
        let out = tmux(&["display-message", "-p", "-t", &name, "#{alternate_on}"]);
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    wait_for("the dashboard", Duration::from_secs(60), || {
        capture().contains(KEYS)
    });
    assert_eq!(
        alternate(),
        "1",
        "the dashboard draws on the alternate screen"
    );
    // The trainer is the shell's child in the pane.
    let shell = String::from_utf8_lossy(
        &tmux(&["display-message", "-p", "-t", &name, "#{pane_pid}"]).stdout,
    )
    .trim()
    .to_string();
    let pids = Command::new("pgrep").args(["-P", &shell]).output().unwrap();
    let pid = String::from_utf8_lossy(&pids.stdout)
        .lines()
        .next()
        .expect("the trainer's pid")
        .to_string();
    // Two stop signals back to back (the shell's builtin `kill`, microseconds apart): the
    // second arrives while the first is still stopping and saving.
    let twice = format!("kill -INT {pid}; kill -INT {pid}");
    assert!(Command::new("sh")
        .args(["-c", &twice])
        .status()
        .unwrap()
        .success());
    wait_for("the process to exit", Duration::from_secs(60), || {
        exit_file.exists()
    });
    assert_eq!(std::fs::read_to_string(&exit_file).unwrap().trim(), "130");
    assert_eq!(
        alternate(),
        "0",
        "the terminal is left on the alternate screen"
    );
}

#[test]
fn in_a_real_terminal_a_sweep_shows_a_bar_with_an_eta_and_its_lines_above_it() {
    let tmp = tempfile::tempdir().unwrap();
    let grid = tmp.path().join("grid.txt");
    std::fs::write(&grid, "tiny: --dim 8 --batch 16 --critic-iters 2\n").unwrap();
    let args = format!(
        "sweep '{}' --grid '{}' --minutes 0.25 --marks 0.1 --eval-every 20 --out '{}'",
        tiny_corpus().display(),
        grid.display(),
        tmp.path().join("sweep").display()
    );
    let Some((session, exit_file)) = textgan_in_tmux(tmp.path(), "bar", &args) else {
        return;
    };
    let capture = || capture(&session);
    // The bar, with the share done and the estimate, under an evaluation's line.
    wait_for(
        "the bar and a line above it",
        Duration::from_secs(60),
        || {
            let s = capture();
            s.contains("ETA") && s.contains("%") && s.contains("[tiny seed 0]")
        },
    );
    wait_for("the sweep to end", Duration::from_secs(120), || {
        exit_file.exists()
    });
    let code = std::fs::read_to_string(&exit_file).unwrap();
    assert_eq!(code.trim(), "0", "exit status");
    let screen = capture();
    assert!(
        !screen.contains("ETA"),
        "the bar is cleared at the end: {screen}"
    );
    assert!(screen.contains("done:"), "the lines stay: {screen}");
    assert!(screen.contains("report:"), "the result on stdout: {screen}");
}
