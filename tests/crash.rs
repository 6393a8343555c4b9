//! Runs survive: SIGKILL at random moments (many of them while a checkpoint is being written)
//! never leaves a run directory that fails to load, and SIGTERM saves and exits 143.

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use rand::{Rng, SeedableRng};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_textgan"))
}

fn tiny_corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/tiny.txt")
}

/// `train` arguments for the tiny corpus, a very small model, into `run`, checkpointing every
/// iteration (so a good share of the time is spent saving), without the dashboard.
fn tiny_train(run: &Path) -> Vec<String> {
    let corpus = tiny_corpus();
    [
        "train",
        corpus.to_str().unwrap(),
        "--out",
        run.to_str().unwrap(),
        "--dim",
        "4",
        "--batch",
        "8",
        "--critic-iters",
        "1",
        "--save-every",
        "1",
        "--no-tui",
        "--quiet",
    ]
    .map(String::from)
    .to_vec()
}

fn start_training(run: &Path, resume: bool) -> Child {
    // With a weight average, and an evaluation (which may keep a new best generator) every
    // third iteration: kills land in those saves too.
    let mut args = vec!["--iters", "1000000", "--eval-every", "3", "--ema", "0.9"];
    if resume {
        args.push("--resume");
    }
    spawn_train(run, &args)
}

fn iteration(run: &Path) -> u64 {
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("state.json")).unwrap()).unwrap();
    state["iteration"].as_u64().unwrap()
}

fn leftovers(run: &Path) -> Vec<String> {
    std::fs::read_dir(run)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".new") || n.ends_with(".tmp") || n == ".checkpoint-commit")
        .collect()
}

#[test]
fn sigkill_at_random_moments_never_breaks_the_run() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(7);
    let mut child = start_training(&run, false);
    let mut last = 0;
    let mut kills_mid_save = 0;
    for round in 0..25 {
        // Let it get going (the first round needs a first checkpoint and the best generator
        // of its first evaluation, which follows it), then kill it.
        let wait = Duration::from_millis(rng.random_range(150..600));
        let started = Instant::now();
        let ready = || run.join("state.json").exists() && run.join("best.json").exists();
        while started.elapsed() < wait || (round == 0 && !ready()) {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap(); // SIGKILL: no handler, no cleanup
        child.wait().unwrap();
        if !leftovers(&run).is_empty() {
            kills_mid_save += 1;
        }
        // It loads: generate reads the checkpoint (finishing or discarding a cut-off save),
        // the best generator and the latest average alike …
        for which in ["best", "last"] {
            let out = bin()
                .args(["generate", "--model", run.to_str().unwrap(), "-n", "2"])
                .args(["--checkpoint", which])
                .output()
                .unwrap();
            assert!(
                out.status.success(),
                "round {round}, {which}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        assert!(run.join("best.json").is_file() && run.join("generator_ema.safetensors").is_file());
        assert!(
            leftovers(&run).is_empty(),
            "round {round}: {:?}",
            leftovers(&run)
        );
        let now = iteration(&run);
        assert!(now >= last, "round {round}: went back from {last} to {now}");
        last = now;
        // … and training resumes from it.
        child = start_training(&run, true);
    }
    child.kill().unwrap();
    child.wait().unwrap();
    eprintln!("25 kills, {kills_mid_save} of them in the middle of a save; last checkpoint at iteration {last}");
    assert!(last > 0);
}

/// The iteration of the checkpoint in `run`, if one is there to read now.
fn saved_iteration(run: &Path) -> Option<u64> {
    let state: serde_json::Value =
        serde_json::from_slice(&std::fs::read(run.join("state.json")).ok()?).ok()?;
    state["iteration"].as_u64()
}

/// Sends SIGTERM to a training process once it has checkpointed a trained iteration (it saves
/// every iteration): waiting for that, not for a fixed time, keeps the test right on a busy
/// machine, where the first evaluation can take longer than any fixed wait.
fn terminate_after_first_save(run: &Path, child: &Child) {
    let deadline = Instant::now() + Duration::from_secs(120);
    while saved_iteration(run).is_none_or(|i| i == 0) {
        assert!(
            Instant::now() < deadline,
            "no trained checkpoint after two minutes"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let status = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(status.success());
}

#[test]
fn sigterm_saves_a_checkpoint_and_exits_143() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let child = start_training(&run, false);
    terminate_after_first_save(&run, &child);
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(143), "{stderr}");
    assert!(
        stderr.contains("terminated: saving a checkpoint"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!("checkpoint saved in {}", run.display())),
        "{stderr}"
    );
    assert!(leftovers(&run).is_empty());
    assert!(iteration(&run) > 0);
}

#[test]
fn sigterm_stops_training_even_when_stderr_is_a_closed_pipe() {
    // A supervisor that died (or `2>&1 | head` that ended) leaves stderr closed: telling the
    // user must not be what decides whether the run stops.
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut child = start_training(&run, false);
    drop(child.stderr.take());
    terminate_after_first_save(&run, &child);
    let deadline = Instant::now() + Duration::from_secs(60);
    let code = loop {
        if let Some(s) = child.try_wait().unwrap() {
            break s.code();
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("still training a minute after SIGTERM");
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    assert_eq!(code, Some(143));
    assert!(leftovers(&run).is_empty());
    assert!(iteration(&run) > 0);
}

#[test]
fn a_save_that_fails_midway_keeps_the_previous_checkpoint() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let train = |extra: &[&str]| {
        let mut args = tiny_train(&run);
        args.extend(extra.iter().map(|s| s.to_string()));
        bin().args(&args).output().unwrap()
    };
    assert!(train(&["--iters", "1"]).status.success());
    let generator = std::fs::read(run.join("generator.safetensors")).unwrap();
    let state = std::fs::read(run.join("state.json")).unwrap();
    // Something in the way of the critic's staged file (a directory where it goes): writing
    // it fails, as on a full disk or a read-only directory, after the generator's staged file
    // was already written. (A real full disk: the next test.)
    let blocker = run.join("critic.safetensors.new");
    std::fs::create_dir(&blocker).unwrap();
    let out = train(&["--iters", "3", "--resume"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.contains("could not save the checkpoint of iteration 2"),
        "{stderr}"
    );
    assert!(
        stderr.contains("the last complete checkpoint stays in place"),
        "{stderr}"
    );
    std::fs::remove_dir(&blocker).unwrap();
    assert_eq!(
        std::fs::read(run.join("generator.safetensors")).unwrap(),
        generator
    );
    assert_eq!(std::fs::read(run.join("state.json")).unwrap(), state);
    assert!(leftovers(&run).is_empty(), "{:?}", leftovers(&run));
    assert!(train(&["--iters", "2", "--resume"]).status.success());
    assert_eq!(iteration(&run), 2);
}

#[test]
fn divergence_stops_before_saving_anything_non_finite() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    // An absurd learning rate: the weights blow up within a few steps.
    let mut args = tiny_train(&run);
    args.extend(["--iters", "200", "--lr", "1e30"].map(String::from));
    let out = bin().args(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.contains("NaN or infinite") && stderr.contains("Try a lower --lr"),
        "{stderr}"
    );
    // What is on disk is the last good checkpoint: it loads, and every weight is finite.
    let gen = bin()
        .args(["generate", "--model", run.to_str().unwrap(), "-n", "3"])
        .output()
        .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    let tensors =
        candle_core::safetensors::load(run.join("critic.safetensors"), &candle_core::Device::Cpu)
            .unwrap();
    for (name, t) in tensors {
        let v = t.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        assert!(v.iter().all(|x| x.is_finite()), "{name}");
    }
}

/// `train` on `run` with `extra` arguments, stderr captured.
fn spawn_train(run: &Path, extra: &[&str]) -> Child {
    let mut args = tiny_train(run);
    args.extend(extra.iter().map(|s| s.to_string()));
    bin()
        .args(&args)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("textgan starts")
}

/// The one `error:` line of a refused trainer.
fn refusal(child: Child) -> String {
    let out = child.wait_with_output().unwrap();
    assert!(!out.status.success(), "the second trainer was not refused");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && !stderr.contains("panicked"),
        "{stderr}"
    );
    stderr
}

#[test]
fn a_run_directory_has_one_writer_and_a_killed_ones_lock_is_taken_over() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    // Two trainers started together on one new directory: one trains, the other is refused,
    // naming it.
    let a = spawn_train(&run, &["--iters", "1000000", "--force"]);
    let b = spawn_train(&run, &["--iters", "1000000", "--force"]);
    let started = Instant::now();
    let (mut a, mut b) = (Some(a), Some(b));
    let (loser, mut winner) = loop {
        if a.as_mut().unwrap().try_wait().unwrap().is_some() {
            break (a.take().unwrap(), b.take().unwrap());
        }
        if b.as_mut().unwrap().try_wait().unwrap().is_some() {
            break (b.take().unwrap(), a.take().unwrap());
        }
        assert!(
            started.elapsed() < Duration::from_secs(60),
            "neither was refused"
        );
        std::thread::sleep(Duration::from_millis(10));
    };
    let message = refusal(loser);
    // Named, or (started in the instant between the winner's creating the lock and writing its
    // name into it) told that another process is taking it: never taken over.
    let holder = format!("in use by textgan train (PID {}", winner.id());
    assert!(
        message.contains(&holder) || message.contains("another process is taking"),
        "{message}"
    );
    while !run.join("state.json").exists() {
        std::thread::sleep(Duration::from_millis(10));
    }
    // Neither --force nor --resume gets past a live trainer, and nothing of its run goes.
    for extra in [["--iters", "5", "--force"], ["--iters", "5", "--resume"]] {
        let message = refusal(spawn_train(&run, &extra));
        assert!(message.contains(&holder), "{message}");
        assert!(run.join("state.json").is_file() && run.join("generator.safetensors").is_file());
    }
    // SIGKILL leaves the lock behind, naming a process that is gone: the next trainer takes
    // it over, resumes, and removes it when it ends.
    winner.kill().unwrap();
    winner.wait().unwrap();
    assert!(run.join("textgan.lock").is_file());
    let target = (iteration(&run) + 2).to_string();
    let out = spawn_train(&run, &["--iters", target.as_str(), "--resume"])
        .wait_with_output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(iteration(&run).to_string(), target);
    assert!(
        !run.join("textgan.lock").exists(),
        "the lock outlived its trainer"
    );
}

/// Unmounts on drop, however the test ends.
struct Mounted(PathBuf);

impl Drop for Mounted {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

#[test]
fn a_full_disk_keeps_the_previous_checkpoint_and_says_so_in_one_line() {
    let tmp = tempfile::tempdir().unwrap();
    let disk = tmp.path().join("disk");
    std::fs::create_dir(&disk).unwrap();
    // A real full disk: a 2 MB tmpfs (root may mount one; elsewhere this test is skipped).
    let mounted = Command::new("mount")
        .args(["-t", "tmpfs", "-o", "size=2m", "tmpfs"])
        .arg(&disk)
        .output()
        .is_ok_and(|o| o.status.success());
    if !mounted {
        eprintln!("skipped: cannot mount a tmpfs here (needs root and permission to mount)");
        return;
    }
    let _mounted = Mounted(disk.clone());
    let run = disk.join("run");
    // Saving and evaluating every iteration (samples and metrics grow) until the disk is full.
    let mut args = tiny_train(&run);
    args.extend(["--iters", "1000000", "--eval-every", "1"].map(String::from));
    let out = bin().args(&args).output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(
        stderr.starts_with("error: ") && !stderr.contains("panicked"),
        "{stderr}"
    );
    assert!(stderr.contains("No space left on device"), "{stderr}");
    // The last complete checkpoint is there and loads.
    let saved = iteration(&run);
    assert!(saved > 0);
    let gen = bin()
        .args([
            "generate",
            "--model",
            run.to_str().unwrap(),
            "-n",
            "2",
            "--checkpoint",
            "last",
        ])
        .output()
        .unwrap();
    assert!(
        gen.status.success(),
        "{}",
        String::from_utf8_lossy(&gen.stderr)
    );
    assert!(leftovers(&run).is_empty(), "{:?}", leftovers(&run));
}
