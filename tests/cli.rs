//! The command line as a user meets it: bad input gets one clear line and a non-zero exit,
//! never a panic; a run directory is never overwritten by accident; training writes the run
//! directory docs/usage.md describes; generate is repeatable, streams, and speaks JSON.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use textgan::train::presets::Preset;

fn textgan(args: &[&str], cwd: &Path) -> Output {
    textgan_env(args, cwd, &[])
}

/// [`textgan`] with extra environment variables.
fn textgan_env(args: &[&str], cwd: &Path, env: &[(&str, &str)]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args(args)
        .current_dir(cwd)
        .env("RUST_BACKTRACE", "1")
        .envs(env.iter().copied())
        .output()
        .expect("textgan runs")
}

fn tiny_corpus() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/tiny.txt")
}

/// Exit code non-zero, one line on stderr starting with `error:` that contains `needle`,
/// and no panic.
fn assert_clean_error(out: &Output, needle: &str) {
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("(os error 2): "),
        "cause printed twice: {stderr}"
    );
    assert!(
        !out.status.success(),
        "expected failure, got success; stderr: {stderr}"
    );
    assert!(!stderr.contains("panicked"), "panic: {stderr}");
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "expected one line, got: {stderr}");
    assert!(lines[0].starts_with("error: "), "{stderr}");
    assert!(stderr.contains(needle), "expected {needle:?} in: {stderr}");
}

/// The command succeeded; otherwise show what it said.
/// Every one of `names` is a file in `dir`.
fn assert_files(dir: &Path, names: &[&str]) {
    for f in names {
        assert!(dir.join(f).is_file(), "{f} missing in {}", dir.display());
    }
}

/// A JSON file of a run or report.
fn read_json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Train a tiny run (2 iterations, dim 8) into `dir`.
fn train_tiny(dir: &Path, extra: &[&str]) -> Output {
    train_tiny_env(dir, extra, &[])
}

/// [`train_tiny`] with extra environment variables.
fn train_tiny_env(dir: &Path, extra: &[&str], env: &[(&str, &str)]) -> Output {
    let corpus = tiny_corpus();
    let mut args = vec![
        "train",
        corpus.to_str().unwrap(),
        "--out",
        dir.to_str().unwrap(),
        "--dim",
        "8",
        "--batch",
        "16",
        "--critic-iters",
        "2",
        "--no-tui",
    ];
    args.extend_from_slice(extra);
    textgan_env(&args, dir.parent().unwrap(), env)
}

#[test]
fn unusable_corpora_are_refused_with_the_file_and_the_reason() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::write(d.join("empty.txt"), b"").unwrap();
    std::fs::write(d.join("blank.txt"), b"\n  \n\n").unwrap();
    std::fs::write(d.join("latin1.txt"), b"fine\nstill fine\ncaf\xe9\n").unwrap();
    std::fs::write(d.join("binary.bin"), [0x7f, b'E', b'L', b'F', 0, 1, 2, 3]).unwrap();
    std::fs::write(d.join("short.txt"), "one\ntwo\nthree\n").unwrap();
    std::fs::create_dir(d.join("adir")).unwrap();
    let cases: [(&str, &str); 7] = [
        (
            "missing.txt",
            "error: missing.txt: No such file or directory (os error 2)\n",
        ),
        ("adir", "adir: is a directory"),
        ("empty.txt", "empty.txt: is empty"),
        ("blank.txt", "blank.txt: has no usable line"),
        ("latin1.txt", "latin1.txt: invalid UTF-8 on line 3"),
        ("binary.bin", "binary.bin: looks like a binary file"),
        ("short.txt", "short.txt: only 3 usable lines"),
    ];
    for (file, needle) in cases {
        let out = textgan(&["train", file, "--out", "run", "--no-tui"], d);
        assert_clean_error(&out, needle);
        assert!(
            !d.join("run").exists(),
            "{file}: a run directory was created for a bad corpus"
        );
    }
}

#[test]
fn absurd_flag_values_are_explained() {
    let tmp = tempfile::tempdir().unwrap();
    let c = tiny_corpus();
    let c = c.to_str().unwrap();
    let shipped = Path::new(env!("CARGO_MANIFEST_DIR")).join("models/wordnet-small");
    let shipped = shipped.to_str().unwrap();
    for (args, needle) in [
        (vec!["train", c, "--dim", "0"], "--dim must be at least 1"),
        (
            vec!["train", c, "--batch", "0"],
            "--batch must be at least 1",
        ),
        (
            vec!["train", c, "--lr", "-1"],
            "--lr must be a positive number",
        ),
        (
            vec!["train", c, "--minutes", "-5"],
            "--minutes must be a positive number",
        ),
        (
            vec!["train", c, "--iters", "0"],
            "--iters must be at least 1",
        ),
        (vec!["train", c, "--max-vocab", "1"], "--max-vocab 1"),
        (vec!["generate", "-n", "0"], "at least 1"),
        (
            vec!["train", c, "--lr-critic", "0"],
            "--lr-critic must be a positive number",
        ),
        (
            vec!["train", c, "--clip", "-0.1"],
            "--clip must be a positive",
        ),
        (
            vec!["train", c, "--lambda", "-1"],
            "--lambda must be a non-negative",
        ),
        (
            vec!["train", c, "--critic-norm", "batch"],
            "batch normalisation makes each sample's score depend on the rest of the batch",
        ),
        (
            vec!["eval", "--samples", "missing.txt", "--corpus", c],
            "missing.txt",
        ),
        (vec!["eval", "--samples", c], "pass --corpus FILE"),
        (vec!["eval", "--baseline", "markov"], "pass --corpus FILE"),
        (
            vec!["eval", "--baseline", "markov", "--corpus", c, "-n", "-3"],
            "-n -3",
        ),
        (vec!["eval", "--model", "nowhere"], "nowhere"),
        // The critic's local branch sees at most the whole sequence less one character, and
        // reads a block the critic has.
        (
            vec!["train", c, "--local-critic", "4", "--res-blocks", "5", "--kernel", "5"],
            "--local-critic 4: after 4 residual blocks of width-5 convolutions each position sees 33 characters, not less than the whole 32-character sequence; use at most 3",
        ),
        // Narrower convolutions see less per block: the branch may read a later one.
        (
            vec!["train", c, "--local-critic", "8", "--res-blocks", "8"],
            "--local-critic 8: after 8 residual blocks of width-3 convolutions each position sees 33 characters, not less than the whole 32-character sequence; use at most 7",
        ),
        // A convolution's window is centred on its character: an odd width, and a bounded one.
        (
            vec!["train", c, "--kernel", "4"],
            "--kernel must be odd and at most 15 (each window is centred on its character), got 4",
        ),
        (vec!["train", c, "--kernel", "0"], "--kernel must be odd"),
        (vec!["train", c, "--kernel", "17"], "--kernel must be odd and at most 15"),
        (
            vec!["train", c, "--local-critic", "3", "--res-blocks", "2"],
            "--local-critic 3: the local branch reads the output of residual block 1 to 2",
        ),
        // The generator's self-attention follows a block it has.
        (
            vec!["train", c, "--attention", "4", "--res-blocks", "3"],
            "--attention 4: the self-attention follows residual block 1 to 3 of the generator",
        ),
        // The read-out looks back less than the sequence.
        (
            vec!["train", c, "--autoregressive", "32"],
            "--autoregressive 32: the read-out looks back 1 to 31 characters of the 32-character sequence",
        ),
        (
            vec!["train", c, "--gumbel", "-1"],
            "--gumbel must be a temperature of at least 0.01",
        ),
        (
            vec!["train", c, "--truncation", "1.5"],
            "--truncation must be above 0 and at most 1 (1: the noise as drawn), got 1.5",
        ),
        (
            vec!["generate", "--model", shipped, "--truncation", "0"],
            "--truncation must be above 0 and at most 1",
        ),
        (
            vec!["eval", "--model", shipped, "--truncation", "nan"],
            "--truncation must be above 0 and at most 1",
        ),
    ] {
        let out = textgan(&args, tmp.path());
        assert_clean_error(&out, needle);
    }
    // A length curriculum on a corpus of lines no longer than where it starts.
    let short = tmp.path().join("short.txt");
    std::fs::write(&short, "ab\nabc\nabcd\nxy\n".repeat(40)).unwrap();
    let s = short.to_str().unwrap();
    let out = textgan(
        &["train", s, "--curriculum", "50", "--iters", "1"],
        tmp.path(),
    );
    assert_clean_error(
        &out,
        &format!("--curriculum 50: every line of {s} is at most 4 characters"),
    );
    assert!(!tmp.path().join("models/short").exists(), "nothing written");
    // Usage errors found by the argument parser are one line too, with the allowed values.
    let out = textgan(&["train", c, "--device", "tpu"], tmp.path());
    assert_clean_error(&out, "invalid value 'tpu' for '--device <DEVICE>'");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("cpu"),
        "allowed values listed"
    );
    assert_eq!(out.status.code(), Some(2));
    assert_clean_error(
        &textgan(&["train", c, "--bogus"], tmp.path()),
        "unexpected argument '--bogus'",
    );
    let out = textgan(&["train", c, "--device", "cuda"], tmp.path());
    if !cfg!(feature = "cuda") {
        assert_clean_error(&out, "built without CUDA");
    }
}

#[test]
fn training_writes_the_run_directory_and_generate_reads_it() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let out = train_tiny(&run, &["--iters", "2", "--eval-every", "1"]);
    assert_success(&out);
    assert_files(
        &run,
        &[
            "config.json",
            "tokenizer.json",
            "generator.safetensors",
            "critic.safetensors",
            "optimizer.safetensors",
            "state.json",
            "metrics.jsonl",
            "samples/000000.txt",
            "samples/000002.txt",
        ],
    );
    let config = read_json(&run.join("config.json"));
    assert_eq!(config["model"]["dim"], 8);
    assert_eq!(config["model"]["seq_len"], 32);
    assert_eq!(config["critic_iters"], 2);
    assert_eq!(config["optim_critic"]["beta1"], 0.5);
    assert_eq!(config["lambda"], 10.0);
    assert_eq!(config["lipschitz"], "gp");
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    assert_eq!(metrics.lines().count(), 3, "evaluations at 0, 1, 2");
    for line in metrics.lines() {
        let m: serde_json::Value = serde_json::from_str(line).unwrap();
        for key in ["unique_rate", "novelty"] {
            let v = m[key].as_f64().unwrap_or(-1.0);
            assert!((0.0..=1.0).contains(&v), "{key} in {line}");
        }
        assert!(m.get("valid_word_rate").is_some(), "{line}");
    }

    let r = run.to_str().unwrap();
    let a = textgan(
        &["generate", "--model", r, "-n", "7", "--seed", "3"],
        tmp.path(),
    );
    let b = textgan(
        &["generate", "--model", r, "-n", "7", "--seed", "3"],
        tmp.path(),
    );
    let c = textgan(
        &["generate", "--model", r, "-n", "7", "--seed", "4"],
        tmp.path(),
    );
    assert_success(&a);
    let text = String::from_utf8(a.stdout.clone()).unwrap();
    assert_eq!(text.lines().count(), 7);
    assert!(text
        .lines()
        .all(|l| l.chars().count() <= 32 && !l.contains("<pad>")));
    assert_eq!(a.stdout, b.stdout, "same seed, same samples");
    assert_ne!(a.stdout, c.stdout, "another seed, other samples");

    let j = textgan(
        &[
            "generate", "--model", r, "-n", "5", "--seed", "3", "--format", "json",
        ],
        tmp.path(),
    );
    let parsed: Vec<String> = serde_json::from_slice(&j.stdout).expect("a JSON array of strings");
    assert_eq!(
        parsed,
        text.lines().take(5).map(String::from).collect::<Vec<_>>()
    );

    // eval scores the model against the corpus it was trained on.
    let e = textgan(
        &["eval", "--model", r, "-n", "64", "--format", "json"],
        tmp.path(),
    );
    assert_success(&e);
    let report: serde_json::Value = serde_json::from_slice(&e.stdout).expect("one JSON object");
    assert_eq!(report["n_samples"], 64);
    // The JSD under `js` (JSD-1..4), the key metrics.jsonl uses.
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    let first: serde_json::Value = serde_json::from_str(metrics.lines().next().unwrap()).unwrap();
    assert_eq!(first["js"].as_array().map(Vec::len), Some(4), "{first}");
    assert_eq!(report["js"].as_array().map(Vec::len), Some(4), "{report}");
    for v in report["js"].as_array().unwrap() {
        assert!((0.0..=1.0).contains(&v.as_f64().unwrap()), "{report}");
    }
    for key in ["unique_rate", "novelty"] {
        let v = report[key].as_f64().unwrap_or(-1.0);
        assert!((0.0..=1.0).contains(&v), "{key}: {report}");
    }
    // An untrained-ish model is far from the corpus, real held-out text is close.
    assert!(report["js"][3].as_f64() > report["floor"]["js"][3].as_f64());
    // The older spelling still works: the same object (the JSD sums run in hash order, so
    // their last bits may differ from one process to the next).
    let old = textgan(&["eval", "--model", r, "-n", "64", "--json"], tmp.path());
    let old: serde_json::Value = serde_json::from_slice(&old.stdout).expect("one JSON object");
    assert_eq!(old["examples"], report["examples"]);
    for i in 0..4 {
        let (a, b) = (
            old["js"][i].as_f64().unwrap(),
            report["js"][i].as_f64().unwrap(),
        );
        assert!((a - b).abs() < 1e-12, "{old} vs {report}");
    }
    let table = textgan(&["eval", "--model", r, "-n", "64"], tmp.path());
    assert_success(&table);
    let table = String::from_utf8(table.stdout).unwrap();
    assert!(
        table.contains("JSD-4") && table.contains("held-out real text"),
        "{table}"
    );
}

#[test]
fn an_existing_run_is_never_overwritten_without_resume_or_force() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    assert!(train_tiny(&run, &["--iters", "1"]).status.success());
    let before = std::fs::read(run.join("generator.safetensors")).unwrap();
    let out = train_tiny(&run, &["--iters", "1", "--seed", "5"]);
    assert_clean_error(&out, "already holds a run; use --resume");
    assert_eq!(
        std::fs::read(run.join("generator.safetensors")).unwrap(),
        before
    );
    // --force starts over (a different seed gives different weights).
    let out = train_tiny(&run, &["--iters", "1", "--seed", "5", "--force"]);
    assert_success(&out);
    assert_ne!(
        std::fs::read(run.join("generator.safetensors")).unwrap(),
        before
    );
}

#[test]
fn resume_continues_to_the_total_and_matches_an_uninterrupted_run() {
    let tmp = tempfile::tempdir().unwrap();
    let split = tmp.path().join("split");
    let whole = tmp.path().join("whole");
    // With a decaying learning rate: the rate is a function of the iteration, so the resumed
    // half continues on the schedule (from config.json) rather than restarting it.
    // With a weight average and an evaluation every iteration (each may keep a new best).
    let averaged = ["--lr-decay", "1", "--ema", "0.5", "--eval-every", "1"];
    assert!(
        train_tiny(&split, &[&["--iters", "2"], &averaged[..]].concat())
            .status
            .success()
    );
    let out = train_tiny(&split, &["--iters", "4", "--resume"]);
    assert_success(&out);
    // The text log is progress: on stderr.
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("resuming"), "{log}");
    assert!(
        train_tiny(&whole, &[&["--iters", "4"], &averaged[..]].concat())
            .status
            .success()
    );
    let state = read_json(&split.join("state.json"));
    assert_eq!(state["iteration"], 4);
    // Same seed, same data order, same Adam moments: the same weights, bit for bit on the CPU.
    for f in [
        "generator.safetensors",
        "generator_ema.safetensors",
        "critic.safetensors",
        "optimizer.safetensors",
        "best_generator.safetensors",
    ] {
        assert!(
            std::fs::read(split.join(f)).unwrap() == std::fs::read(whole.join(f)).unwrap(),
            "{f} differs between 2+2 and 4 iterations"
        );
    }
    let (a, b) = (
        read_json(&split.join("best.json")),
        read_json(&whole.join("best.json")),
    );
    assert_eq!(a["iteration"], b["iteration"]);
    // (The same samples; the n-gram sums run in hash order, so the last bits may differ.)
    for n in 0..4 {
        let (x, y) = (a["js"][n].as_f64().unwrap(), b["js"][n].as_f64().unwrap());
        assert!((x - y).abs() < 1e-12, "JSD-{}: {x} vs {y}", n + 1);
    }
    assert_eq!(a["averaged"], true);
    // Changing the model's width on resume is refused.
    let c = tiny_corpus();
    let args = [
        "train",
        c.to_str().unwrap(),
        "--out",
        split.to_str().unwrap(),
        "--resume",
        "--dim",
        "16",
    ];
    let out = textgan(&args, tmp.path());
    assert_clean_error(&out, "--dim 16: the run in");
    let refused = |flag: &str, value: &str, needle: &str| {
        let mut a = args[..5].to_vec();
        a.extend([flag, value]);
        assert_clean_error(&textgan(&a, tmp.path()), needle);
    };
    refused("--max-vocab", "10", "--max-vocab 10: the run in");
    refused("--res-blocks", "2", "--res-blocks 2: the run in");
    refused("--lipschitz", "clip", "--lipschitz clip: the run in");
    refused("--critic-norm", "layer", "--critic-norm layer: the run in");
    // A different critic (its local branch) is a different architecture.
    refused("--local-critic", "1", "--local-critic 1: the run in");
    // So is a generator with self-attention.
    refused("--attention", "1", "--attention 1: the run in");
    // And a generator with an autoregressive read-out.
    refused("--autoregressive", "2", "--autoregressive 2: the run in");
    // And the convolutions' width.
    refused("--kernel", "5", "--kernel 5: the run in");
    // Safe changes are allowed and recorded.
    let mut a = args[..5].to_vec();
    a.extend([
        "--iters",
        "5",
        "--lr",
        "0.002",
        "--beta1",
        "0.25",
        "--lr-decay",
        "7",
        "--no-tui",
    ]);
    assert_success(&textgan(&a, tmp.path()));
    let config = read_json(&split.join("config.json"));
    assert_eq!(config["optim_critic"]["lr"], 0.002);
    assert_eq!(config["optim_generator"]["lr"], 0.002);
    assert_eq!(config["optim_critic"]["beta1"], 0.25);
    assert_eq!(config["optim_generator"]["beta1"], 0.25);
    assert_eq!(config["iters"], 5);
    assert_eq!(config["lr_decay"], 7);
}

#[test]
fn generate_refuses_what_is_not_a_run_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    std::fs::create_dir(d.join("notrun")).unwrap();
    let out = textgan(&["generate", "--model", "notrun"], d);
    assert_clean_error(&out, "notrun: not a textgan run directory");
    let out = textgan(&["generate", "--model", "nowhere"], d);
    assert_clean_error(&out, "nowhere: not a directory");
    // No models/ at all, no --model.
    let out = textgan(&["generate"], d);
    assert_clean_error(&out, "no trained model under models/");
}

#[test]
fn corrupt_or_mismatched_checkpoints_are_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    // Without a weight average, so that the latest generator is generator.safetensors.
    assert!(train_tiny(&run, &["--iters", "1", "--ema", "0"])
        .status
        .success());
    let r = run.to_str().unwrap();
    let gen = run.join("generator.safetensors");
    let good = std::fs::read(&gen).unwrap();

    std::fs::write(&gen, &good[..good.len() / 2]).unwrap();
    assert_clean_error(
        &textgan(
            &["generate", "--model", r, "--checkpoint", "last"],
            tmp.path(),
        ),
        "generator.safetensors: not a readable safetensors file",
    );

    std::fs::write(&gen, b"not a model").unwrap();
    assert_clean_error(
        &textgan(
            &["generate", "--model", r, "--checkpoint", "last"],
            tmp.path(),
        ),
        "generator.safetensors",
    );

    std::fs::write(&gen, &good).unwrap();
    let cfg = run.join("config.json");
    let text = std::fs::read_to_string(&cfg).unwrap();
    std::fs::write(&cfg, text.replace("\"dim\": 8", "\"dim\": 9")).unwrap();
    assert_clean_error(
        &textgan(&["generate", "--model", r], tmp.path()),
        "the model expects",
    );

    // A hand-edited kernel: an even one is refused by the shape check, another odd one by the
    // weights it does not fit.
    assert!(text.contains("\"kernel\": 3"), "{text}");
    std::fs::write(&cfg, text.replace("\"kernel\": 3", "\"kernel\": 4")).unwrap();
    assert_clean_error(
        &textgan(&["generate", "--model", r], tmp.path()),
        "model kernel must be odd",
    );
    std::fs::write(&cfg, text.replace("\"kernel\": 3", "\"kernel\": 5")).unwrap();
    assert_clean_error(
        &textgan(&["generate", "--model", r], tmp.path()),
        "the model expects",
    );

    // A hand-edited shape that would need terabytes is refused before anything is allocated.
    std::fs::write(&cfg, text.replace("\"dim\": 8", "\"dim\": 100000000")).unwrap();
    assert_clean_error(
        &textgan(&["generate", "--model", r], tmp.path()),
        "model dim must be 1..=8192",
    );
    std::fs::write(
        &cfg,
        text.replace("\"seq_len\": 32", "\"seq_len\": 4000000000000"),
    )
    .unwrap();
    assert_clean_error(
        &textgan(&["generate", "--model", r], tmp.path()),
        "seq_len 32",
    );

    std::fs::write(&cfg, "{ this is not json").unwrap();
    assert_clean_error(
        &textgan(&["generate", "--model", r], tmp.path()),
        "config.json: invalid",
    );

    std::fs::write(&cfg, &text).unwrap();
    // One flipped bit in the weights (the file still parses) is caught by the checksum.
    let mut flipped = good.clone();
    let at = flipped.len() - 100;
    flipped[at] ^= 0x10;
    std::fs::write(&gen, &flipped).unwrap();
    assert_clean_error(
        &textgan(
            &["generate", "--model", r, "--checkpoint", "last"],
            tmp.path(),
        ),
        "generator.safetensors: does not match the checksum recorded in state.json",
    );
    std::fs::write(&gen, &good).unwrap();
    assert!(textgan(&["generate", "--model", r], tmp.path())
        .status
        .success());
    // The best generator (generate's default) is checked against best.json the same way.
    let best = run.join("best_generator.safetensors");
    let good_best = std::fs::read(&best).unwrap();
    let mut flipped = good_best.clone();
    let at = flipped.len() - 100;
    flipped[at] ^= 0x10;
    std::fs::write(&best, &flipped).unwrap();
    assert_clean_error(
        &textgan(&["generate", "--model", r], tmp.path()),
        "best_generator.safetensors: does not match the checksum recorded in best.json",
    );
    std::fs::write(&best, &good_best).unwrap();

    let tok = run.join("tokenizer.json");
    std::fs::write(&tok, "[]").unwrap();
    assert_clean_error(
        &textgan(&["generate", "--model", r], tmp.path()),
        "tokenizer.json: not a valid tokenizer.json",
    );

    // And a run from another corpus cannot be resumed on this one.
    std::fs::write(&tok, b"").unwrap();
    let other = tmp.path().join("other.txt");
    std::fs::write(
        &other,
        std::fs::read_to_string(tiny_corpus())
            .unwrap()
            .replace('a', "b"),
    )
    .unwrap();
    let out = textgan(
        &[
            "train",
            other.to_str().unwrap(),
            "--out",
            r,
            "--resume",
            "--no-tui",
        ],
        tmp.path(),
    );
    assert_clean_error(&out, "is not the corpus the run in");
}

#[test]
fn generate_streams_and_stops_quietly_on_a_closed_pipe() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    assert!(train_tiny(&run, &["--iters", "1"]).status.success());
    let mut child = Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args([
            "generate",
            "--model",
            run.to_str().unwrap(),
            "-n",
            "10000000",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    // Read a few lines, then close the pipe like `| head` does.
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = [0u8; 4096];
    let n = std::io::Read::read(&mut stdout, &mut buf).unwrap();
    assert!(n > 0);
    drop(stdout);
    let out = child.wait_with_output().unwrap();
    assert_success(&out);
    // Nothing on stderr but the line saying which generator speaks.
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.lines().count() == 1 && err.starts_with("using the best generator"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn plain_mode_speaks_json_lines_or_stays_quiet() {
    let tmp = tempfile::tempdir().unwrap();
    let out = train_tiny(
        &tmp.path().join("a"),
        &["--iters", "2", "--log-format", "json", "--log-every", "1"],
    );
    assert_success(&out);
    let events: Vec<serde_json::Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).expect("every line is JSON"))
        .collect();
    let kinds: Vec<&str> = events
        .iter()
        .map(|e| e["event"].as_str().unwrap())
        .collect();
    assert_eq!(kinds.first(), Some(&"started"));
    assert_eq!(kinds.last(), Some(&"finished"));
    assert_eq!(kinds.iter().filter(|k| **k == "step").count(), 2);
    assert!(
        kinds.contains(&"metrics") && kinds.contains(&"saved"),
        "{kinds:?}"
    );
    let step = events.iter().find(|e| e["event"] == "step").unwrap();
    assert!(step["wasserstein"].is_number() && step["penalty"].is_number());

    let out = train_tiny(&tmp.path().join("b"), &["--iters", "1", "--quiet"]);
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    // The text log is progress, not data: all of it on stderr, nothing on stdout.
    let out = train_tiny(&tmp.path().join("c"), &["--iters", "1"]);
    assert!(out.status.success());
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("iter") && log.contains("finished"), "{log}");
}

#[test]
fn minutes_budget_stops_training_and_saves() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let out = train_tiny(&run, &["--minutes", "0.005"]);
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stderr).contains("(--minutes ran out)"));
    let state = read_json(&run.join("state.json"));
    assert!(state["iteration"].as_u64().unwrap() >= 1);
    assert!(state["elapsed_secs"].as_f64().unwrap() >= 0.3);
}

#[test]
fn generate_without_model_uses_the_most_recently_saved_run() {
    let tmp = tempfile::tempdir().unwrap();
    let models = tmp.path().join("models");
    std::fs::create_dir(&models).unwrap();
    assert!(
        train_tiny(&models.join("older"), &["--iters", "1", "--seed", "1"])
            .status
            .success()
    );
    assert!(
        train_tiny(&models.join("newer"), &["--iters", "1", "--seed", "2"])
            .status
            .success()
    );
    let default = textgan(&["generate", "-n", "20"], tmp.path());
    assert_success(&default);
    let newer = textgan(
        &["generate", "-n", "20", "--model", "models/newer"],
        tmp.path(),
    );
    let older = textgan(
        &["generate", "-n", "20", "--model", "models/older"],
        tmp.path(),
    );
    assert_eq!(default.stdout, newer.stdout);
    assert_ne!(default.stdout, older.stdout);
}

#[test]
fn force_keeps_files_it_did_not_write() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    assert!(train_tiny(&run, &["--iters", "1"]).status.success());
    std::fs::write(run.join("notes.txt"), "mine").unwrap();
    std::fs::write(run.join("samples/keep-me.txt"), "mine").unwrap();
    // A refused setting with --force leaves the old run alone.
    let out = train_tiny(&run, &["--iters", "1", "--force", "--minutes", "1e18"]);
    assert!(!out.status.success());
    assert!(run.join("generator.safetensors").exists());
    assert!(train_tiny(&run, &["--iters", "1", "--force"])
        .status
        .success());
    assert_eq!(
        std::fs::read_to_string(run.join("notes.txt")).unwrap(),
        "mine"
    );
    assert_eq!(
        std::fs::read_to_string(run.join("samples/keep-me.txt")).unwrap(),
        "mine"
    );
}

#[test]
fn compare_trains_each_strategy_and_writes_a_report() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("cmp");
    let c = tiny_corpus();
    let args = [
        "compare",
        c.to_str().unwrap(),
        "--lipschitz",
        "gp,clip",
        "--iters",
        "3",
        "--dim",
        "8",
        "--batch",
        "16",
        "--critic-iters",
        "2",
        "--eval-every",
        "2",
        "--out",
        out.to_str().unwrap(),
    ];
    let run = textgan(&args, tmp.path());
    assert_success(&run);
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    assert!(
        report.contains("| gp | 3 |") && report.contains("| clip | 3 |"),
        "{report}"
    );
    assert!(report.contains("held-out real text (floor)"), "{report}");
    assert_files(
        &out,
        &[
            "jsd4_time.svg",
            "jsd4_iters.svg",
            "wasserstein_time.svg",
            "weights.svg",
            "layer_grads.svg",
        ],
    );
    let runs = read_json(&out.join("compare.json"));
    assert_eq!(runs.as_array().map(Vec::len), Some(2));
    // Evaluations at 0, 2 and the final one at 3.
    assert_eq!(runs[0]["metrics"].as_array().map(Vec::len), Some(3));
    assert!(out.join("runs/clip/config.json").is_file());
    let config = std::fs::read_to_string(out.join("runs/clip/config.json")).unwrap();
    assert!(
        config.contains("\"lipschitz\": \"clip\"") && config.contains("rmsprop"),
        "{config}"
    );

    // The same with --format json: one object on stdout, a run per strategy, where the report is.
    let json_args: Vec<&str> = args.iter().copied().chain(["--format", "json"]).collect();
    let run = textgan(&json_args, tmp.path());
    assert_success(&run);
    let printed: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let strategies: Vec<&str> = printed["runs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["strategy"].as_str().unwrap())
        .collect();
    assert_eq!(strategies, ["gp", "clip"], "{printed}");
    assert_eq!(printed["runs"][1]["iterations"], 3);
    assert_eq!(printed["runs"][0]["js"].as_array().map(Vec::len), Some(4));
    assert!(printed["report"].as_str().unwrap().ends_with("report.md"));

    let no_budget = textgan(&["compare", c.to_str().unwrap()], tmp.path());
    assert_clean_error(&no_budget, "--minutes M or --iters N");
}

#[test]
fn sweep_trains_every_configuration_scores_the_marks_and_reuses_finished_runs() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let grid = dir.join("grid.txt");
    let write_grid = |second: &str| {
        let text = format!(
            "# two small configurations and one that diverges\n[width]\nnarrow: --dim 8 --res-blocks 1 --batch 16 --critic-iters 1\nwider: {second}\n[rate]\nhot: --dim 8 --batch 16 --critic-iters 1 --lr 1e30\n"
        );
        std::fs::write(&grid, text).unwrap();
    };
    write_grid("--dim 12 --res-blocks 2 --batch 16 --critic-iters 1 --lr-critic 1e-3");
    let c = tiny_corpus();
    let sweep = |minutes: &str, marks: &str, seeds: &str| {
        let args = [
            "sweep",
            c.to_str().unwrap(),
            "--grid",
            grid.to_str().unwrap(),
            "--minutes",
            minutes,
            "--marks",
            marks,
            "--seeds",
            seeds,
            "--eval-every",
            "100000",
            "--out",
            "sw",
        ];
        textgan(&args, dir)
    };
    let first = sweep("0.02", "0.005,0.01", "0,1");
    assert_success(&first);
    // stderr is a pipe here: the progress lines, one per line, and no bar (it is drawn only on
    // a terminal; tests/dashboard.rs checks it there).
    let progress = String::from_utf8_lossy(&first.stderr);
    assert_eq!(progress.matches("done:").count(), 4, "{progress}");
    assert!(
        !progress.contains("ETA") && !progress.contains('\r') && !progress.contains('\x1b'),
        "{progress}"
    );
    let out = dir.join("sw");
    let results = [
        "results/narrow.seed0.json",
        "results/narrow.seed1.json",
        "results/wider.seed0.json",
        "results/wider.seed1.json",
        "results/hot.seed0.json",
        "results/hot.seed1.json",
    ];
    assert_files(&out, &results);
    assert_files(
        &out,
        &[
            "report.md",
            "jsd4_width.svg",
            "jsd4_rate.svg",
            "jsd4_best.svg",
        ],
    );
    let report = std::fs::read_to_string(out.join("report.md")).unwrap();
    for needle in [
        "| narrow | `--dim 8 --res-blocks 1 --batch 16 --critic-iters 1` | 2 |",
        "| wider |",
        "| hot | `--dim 8 --batch 16 --critic-iters 1 --lr 1e30` | 0 of 2 (2 diverged) |",
        "JSD-4 @ 0.005 min | JSD-4 @ 0.01 min | JSD-4 @ 0.02 min |",
        "![width](jsd4_width.svg)",
    ] {
        assert!(report.contains(needle), "{needle:?} not in {report}");
    }
    // The diverged configuration ranks after the ones that finished.
    let ranking = report.split("## width").next().unwrap();
    assert!(
        ranking.find("| hot |") > ranking.find("| wider |"),
        "{ranking}"
    );
    for (name, seed) in [("narrow", 0), ("narrow", 1), ("wider", 0), ("wider", 1)] {
        let run = read_json(&out.join(format!("results/{name}.seed{seed}.json")));
        assert_eq!(
            (run["name"].as_str(), run["seed"].as_u64()),
            (Some(name), Some(seed))
        );
        assert!(run["diverged_at"].is_null());
        // Each mark's score is the first evaluation once training time reached it: evaluations
        // come at the start, at the marks and at the budget (the last mark), nothing else.
        let metrics = run["metrics"].as_array().unwrap();
        let marks = run["marks"].as_array().unwrap();
        assert_eq!(marks.len(), 3);
        assert!((2..=4).contains(&metrics.len()), "{run}");
        for mark in marks {
            let secs = mark["minutes"].as_f64().unwrap() * 60.0;
            let first = metrics
                .iter()
                .find(|m| m["elapsed_secs"].as_f64().unwrap() >= secs)
                .unwrap_or_else(|| panic!("no evaluation after {secs} s: {run}"));
            assert_eq!(mark["iteration"], first["iteration"]);
            assert_eq!(mark["js"], first["js"]);
        }
        assert_eq!(run["iterations"], metrics.last().unwrap()["iteration"]);
        assert!(run["train_secs"].as_f64().unwrap() >= 1.2);
    }
    let hot = read_json(&out.join("results/hot.seed0.json"));
    assert!(hot["diverged_at"].as_f64().unwrap() < 0.02, "{hot}");
    let config = read_json(&out.join("runs/wider/seed1/config.json"));
    assert_eq!(config["model"]["res_blocks"], 2);
    assert_eq!(config["optim_critic"]["lr"], 0.001);
    assert_eq!(config["seed"], 1);

    // Run again: every result is reused (the diverged ones too), nothing trains.
    let stored = |f: &str| std::fs::read(out.join(f)).unwrap();
    let before: Vec<Vec<u8>> = results.iter().map(|f| stored(f)).collect();
    let again = sweep("0.02", "0.005,0.01", "0,1");
    assert_success(&again);
    // (Progress goes to stderr, results to stdout.)
    assert!(!String::from_utf8_lossy(&again.stderr).contains("iteration"));
    let after: Vec<Vec<u8>> = results.iter().map(|f| stored(f)).collect();
    assert!(before == after, "a reused result was rewritten");
    // --format json: the same results as one object on stdout.
    let args = [
        "sweep",
        c.to_str().unwrap(),
        "--grid",
        grid.to_str().unwrap(),
        "--minutes",
        "0.02",
        "--marks",
        "0.005,0.01",
        "--seeds",
        "0,1",
        "--eval-every",
        "100000",
        "--out",
        "sw",
        "--format",
        "json",
    ];
    let json = textgan(&args, dir);
    assert_success(&json);
    let printed: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let runs = printed["runs"].as_array().unwrap();
    assert_eq!(runs.len(), 6, "{printed}");
    assert_eq!(runs[0]["marks"].as_array().map(Vec::len), Some(3));
    assert!(runs.iter().any(|r| r["diverged_at"].is_number()));
    assert!(printed["report"].as_str().unwrap().ends_with("report.md"));
    // A changed line trains again, and only that line.
    write_grid("--dim 12 --res-blocks 2 --batch 16 --critic-iters 1 --lr-critic 2e-3");
    let third = sweep("0.02", "0.005,0.01", "0,1");
    assert_success(&third);
    let log = String::from_utf8_lossy(&third.stderr);
    assert!(
        log.contains("[wider seed 0] stored result not reused: its line changed"),
        "{log}"
    );
    assert!(!log.contains("[narrow seed 0]"), "{log}");
    assert_eq!(stored(results[0]), before[0]);
    assert_ne!(stored(results[2]), before[2]);
    // So does a changed budget.
    let longer = sweep("0.025", "0.005,0.01", "0");
    assert_success(&longer);
    let log = String::from_utf8_lossy(&longer.stderr);
    assert!(
        log.contains("[narrow seed 0] stored result not reused: its settings changed"),
        "{log}"
    );

    // Bad grids, marks, seeds and budgets are refused before anything trains.
    assert_clean_error(
        &sweep("0.02", "0.05", "0"),
        "--marks 0.05: every mark must be",
    );
    assert_clean_error(
        &sweep("0.02", "0.01", "0,1,0"),
        "--seeds lists seed 0 twice",
    );
    assert_clean_error(
        &sweep("0", "0.01", "0"),
        "--minutes must be a positive number",
    );
    std::fs::write(&grid, "ok: --dim 8\nbad: --res-blocks 0\n").unwrap();
    assert_clean_error(
        &sweep("0.02", "0.01", "0"),
        "grid.txt:2: bad: --res-blocks must be at least 1",
    );
    std::fs::write(&grid, "ok: --dim 8\nbad --dim 8\n").unwrap();
    assert_clean_error(
        &sweep("0.02", "0.01", "0"),
        "grid.txt:2: expected `name: --flag",
    );
}

#[test]
fn help_lists_both_presets_with_what_they_set() {
    let out = textgan(&["train", "--help"], Path::new("."));
    assert_success(&out);
    let help = String::from_utf8_lossy(&out.stdout);
    for p in [Preset::Cpu, Preset::Paper] {
        let line = help
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{}: ", p.name())))
            .unwrap_or_else(|| panic!("no line for {} in {help}", p.name()));
        assert!(line.ends_with(&p.describe()), "{line:?}");
    }
    assert!(
        help.contains("--res-blocks") && help.contains("--lr-critic"),
        "{help}"
    );
}

#[test]
fn bench_prints_one_json_object_with_the_timings_and_refuses_bad_settings() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = tiny_corpus();
    let corpus = corpus.to_str().unwrap();
    let args = [
        "bench",
        "--corpus",
        corpus,
        "--dim",
        "8",
        "--critic-iters",
        "2",
        "--warmup",
        "1",
        "--iters",
        "2",
        "--json",
    ];
    // `args` and `extra`, run; its one JSON object.
    let bench = |extra: &[&str]| -> serde_json::Value {
        let mut all = args.to_vec();
        all.extend(extra);
        let out = textgan(&all, dir.path());
        assert_success(&out);
        serde_json::from_slice(&out.stdout).unwrap()
    };
    let r = bench(&[]);
    for key in [
        "critic_step_s",
        "generator_step_s",
        "generator_iteration_s",
        "gflops",
    ] {
        let v = r[key]
            .as_f64()
            .unwrap_or_else(|| panic!("{key} missing: {r}"));
        assert!(v > 0.0 && v.is_finite(), "{key} = {v}");
    }
    // One generator iteration holds its critic steps.
    let (c, g) = (
        r["critic_step_s"].as_f64().unwrap(),
        r["generator_iteration_s"].as_f64().unwrap(),
    );
    assert!(g > 2.0 * c, "iteration {g} s vs critic step {c} s");
    assert_eq!(r["critic_engine"], "hand-written");
    assert_eq!(r["dim"], 8);
    if cfg!(target_os = "linux") {
        assert!(r["peak_rss_mb"].as_f64().unwrap() > 1.0);
    }
    // It times the default command's step: the cpu preset's read-out, unless told 0.
    assert_eq!(r["autoregressive"], 3);
    let p = bench(&["--autoregressive", "0"]);
    assert_eq!(p["autoregressive"], 0);
    let (with, without) = (
        r["gflop_per_iteration"].as_f64().unwrap(),
        p["gflop_per_iteration"].as_f64().unwrap(),
    );
    assert!(with > without, "read-out {with} GFLOP, none {without}");
    // The suite (two strategies: one child process each) passes the settings on to each.
    let out = textgan(
        &[
            "bench",
            "--corpus",
            corpus,
            "--dim",
            "8",
            "--critic-iters",
            "1",
            "--lipschitz",
            "gp,clip",
            "--warmup",
            "0",
            "--iters",
            "1",
            "--ema",
            "0",
            "--autoregressive",
            "0",
            "--json",
        ],
        dir.path(),
    );
    assert_success(&out);
    let lines: Vec<serde_json::Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    for r in &lines {
        assert_eq!(
            (r["autoregressive"].as_u64(), r["ema"].as_f64()),
            (Some(0), Some(0.0))
        );
    }
    // The autograd path is timed on request.
    assert_eq!(bench(&["--autograd"])["critic_engine"], "autograd");
    let out = textgan(
        &["bench", "--corpus", corpus, "--dim", "8", "--iters", "0"],
        dir.path(),
    );
    assert_clean_error(&out, "--iters must be at least 1");
    let out = textgan(
        &["bench", "--corpus", "missing.txt", "--dim", "8"],
        dir.path(),
    );
    assert_clean_error(&out, "missing.txt");
    let out = textgan(
        &[
            "bench",
            "--corpus",
            corpus,
            "--dim",
            "8",
            "--autoregressive",
            "32",
        ],
        dir.path(),
    );
    assert_clean_error(&out, "--autoregressive 32: the read-out looks back 1 to 31");
}

#[test]
fn generate_uses_the_best_generator_unless_told_last_and_says_which() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    assert_success(&train_tiny(
        &run,
        &["--iters", "3", "--eval-every", "1", "--ema", "0.5"],
    ));
    let best = read_json(&run.join("best.json"));
    let metrics = std::fs::read_to_string(run.join("metrics.jsonl")).unwrap();
    // The best is the evaluation with the lowest JSD-4 (the first of equals).
    let lowest = metrics
        .lines()
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap())
        .fold(None::<serde_json::Value>, |b, m| match b {
            Some(b) if b["js"][3].as_f64() <= m["js"][3].as_f64() => Some(b),
            _ => Some(m),
        })
        .unwrap();
    assert_eq!(best["iteration"], lowest["iteration"]);
    assert_eq!(best["js"], lowest["js"]);
    // Every evaluation of an averaged run carries the raw generator's scores too.
    assert!(metrics.lines().all(|l| l.contains("\"raw\":{\"js\":[")));
    let r = run.to_str().unwrap();
    let out = textgan(&["generate", "--model", r, "-n", "3"], tmp.path());
    assert_success(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "using the best generator (weight average) of {r} (iteration {}",
            best["iteration"]
        )),
        "{err}"
    );
    assert!(err.contains("--checkpoint last for the latest"), "{err}");
    // stdout holds the samples only.
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);
    let out = textgan(
        &["generate", "--model", r, "-n", "3", "--checkpoint", "last"],
        tmp.path(),
    );
    assert_success(&out);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains(&format!(
            "using the latest generator (weight average) of {r} (iteration 3)"
        )),
        "{err}"
    );
    // Drawing at a temperature is repeatable by seed; a negative one is refused.
    let warm = |seed: &str| {
        let out = textgan(
            &[
                "generate",
                "--model",
                r,
                "-n",
                "20",
                "--temperature",
                "1",
                "--seed",
                seed,
            ],
            tmp.path(),
        );
        assert_success(&out);
        out.stdout
    };
    assert_eq!(warm("4"), warm("4"));
    assert_ne!(warm("4"), warm("5"));
    assert_clean_error(
        &textgan(
            &["generate", "--model", r, "--temperature", "-1"],
            tmp.path(),
        ),
        "--temperature must be 0 (argmax) or a positive number",
    );
    assert_clean_error(
        &train_tiny(&tmp.path().join("bad"), &["--iters", "1", "--ema", "1"]),
        "--ema must be at least 0 (off) and below 1",
    );
}

#[test]
fn bf16_is_recorded_runs_f32_where_the_cpu_lacks_it_and_may_change_on_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let train = |extra: &[&str], no_bf16: bool| {
        // With `no_bf16`: what a CPU without AVX-512 BF16 sees.
        let env: &[(&str, &str)] = if no_bf16 {
            &[(textgan::kernels::bf16::DISABLE_ENV, "1")]
        } else {
            &[]
        };
        train_tiny_env(&run, extra, env)
    };
    let out = train(&["--iters", "1", "--precision", "bf16"], true);
    assert_success(&out);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(
        log.contains("hand-written CPU step, f32 products (this CPU has no AVX-512 BF16"),
        "{log}"
    );
    assert_eq!(read_json(&run.join("config.json"))["precision"], "bf16");
    // Weights are f32 whatever the products: the precision may change on resume.
    let out = train(&["--iters", "2", "--resume", "--precision", "f32"], false);
    assert_success(&out);
    assert_eq!(read_json(&run.join("config.json"))["precision"], "f32");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(log.contains("(hand-written CPU step)"), "{log}");
    let out = train(&["--iters", "3", "--resume", "--precision", "bf16"], false);
    assert_success(&out);
    let log = String::from_utf8_lossy(&out.stderr);
    let expect = if textgan::kernels::bf16::available() {
        "hand-written CPU step, bf16 products"
    } else {
        "hand-written CPU step, f32 products"
    };
    assert!(log.contains(expect), "{log}");
    let out = train(&["--iters", "4", "--resume", "--precision", "f16"], false);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("f16"));
}

#[test]
fn a_bare_textgan_prints_its_usage_to_stderr_and_exits_2() {
    let tmp = tempfile::tempdir().unwrap();
    let out = textgan(&[], tmp.path());
    assert_eq!(out.status.code(), Some(2));
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("Usage:") && stderr.contains("train"),
        "{stderr}"
    );
    // Asking for help is not an error.
    let out = textgan(&["--help"], tmp.path());
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn completions_are_printed_for_a_shell_and_an_unknown_shell_is_a_usage_error() {
    let tmp = tempfile::tempdir().unwrap();
    let out = textgan(&["completions", "bash"], tmp.path());
    assert_success(&out);
    let script = String::from_utf8_lossy(&out.stdout);
    assert!(
        script.contains("_textgan") && script.contains("complete"),
        "{script}"
    );
    for word in ["train", "generate", "--precision", "--threads"] {
        assert!(script.contains(word), "{word} missing");
    }
    let out = textgan(&["completions", "zsh"], tmp.path());
    assert_success(&out);
    assert!(String::from_utf8_lossy(&out.stdout).contains("#compdef textgan"));
    let out = textgan(&["completions", "tcsh"], tmp.path());
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn diagnose_prints_its_variants_as_json_and_writes_its_figures() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("diag");
    let c = tiny_corpus();
    let args = [
        "diagnose",
        c.to_str().unwrap(),
        "--steps",
        "3",
        "--dim",
        "8",
        "--out",
        out.to_str().unwrap(),
        "--format",
        "json",
    ];
    let run = textgan(&args, tmp.path());
    assert_success(&run);
    let printed: serde_json::Value = serde_json::from_slice(&run.stdout).unwrap();
    let names: Vec<&str> = printed["variants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["clip 0.1", "clip 0.01", "clip 0.001", "gp"],
        "{printed}"
    );
    for f in printed["files"].as_array().unwrap() {
        assert!(Path::new(f.as_str().unwrap()).is_file(), "{f}");
    }
    // The variants' lines went to stderr (a pipe here: lines, no bar).
    let progress = String::from_utf8_lossy(&run.stderr);
    assert_eq!(progress.matches("critic steps").count(), 4, "{progress}");
}

/// `v` is a JSON object whose keys are exactly `expected` (in any order); `what` names it.
fn assert_keys(v: &serde_json::Value, expected: &[&str], what: &str) {
    let object = v
        .as_object()
        .unwrap_or_else(|| panic!("{what} is not an object: {v}"));
    let mut keys: Vec<&str> = object.keys().map(String::as_str).collect();
    keys.sort_unstable();
    let mut expected = expected.to_vec();
    expected.sort_unstable();
    assert_eq!(keys, expected, "{what}: {v}");
}

/// Every element of the non-empty array `v` has exactly the keys `expected`.
fn assert_elements_keys(v: &serde_json::Value, expected: &[&str], what: &str) {
    let elements = v
        .as_array()
        .unwrap_or_else(|| panic!("{what} is not an array: {v}"));
    assert!(!elements.is_empty(), "{what} is empty");
    for e in elements {
        assert_keys(e, expected, what);
    }
}

/// The single JSON value a command printed on stdout.
fn stdout_json(out: &Output, what: &str) -> serde_json::Value {
    assert_success(out);
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{what}: stdout is not one JSON value ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

#[test]
fn every_json_output_keeps_its_field_names() {
    // Programs parse these objects: a field renamed, dropped or added fails here. The key
    // sets are the ones the commands printed before their outputs became library structs.
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let corpus = tiny_corpus();
    let c = corpus.to_str().unwrap();

    // train: one object per event. A weight average makes evaluations carry the raw
    // generator's scores as well.
    let run = dir.join("run");
    let out = train_tiny(
        &run,
        &[
            "--iters",
            "2",
            "--eval-every",
            "1",
            "--ema",
            "0.9",
            "--format",
            "json",
            "--log-every",
            "1",
        ],
    );
    assert_success(&out);
    let metrics = [
        "event",
        "iteration",
        "elapsed_secs",
        "js",
        "floor_js",
        "valid_word_rate",
        "unique_rate",
        "novelty",
        "raw",
    ];
    // Added after 0.1.0: the losses' means since the previous evaluation (none before the
    // first iteration).
    let metrics_and_losses = [&metrics[..], &["losses"]].concat();
    let mut kinds = std::collections::BTreeSet::new();
    for line in String::from_utf8(out.stdout).unwrap().lines() {
        let event: serde_json::Value = serde_json::from_str(line).expect("every line is JSON");
        let kind = event["event"].as_str().unwrap_or_else(|| panic!("{line}"));
        let expected: &[&str] = match kind {
            "started" => &[
                "event",
                "run_dir",
                "corpus",
                "train_lines",
                "heldout_lines",
                "vocab",
                "preset",
                "dim",
                "res_blocks",
                "kernel",
                "critic_iters",
                "generator_params",
                "critic_params",
                "device",
                "engine",
                "start_iteration",
                "target_iters",
                "minutes",
                "resumed",
            ],
            "step" => &[
                "event",
                "iteration",
                "wasserstein",
                "penalty",
                "grad_norm",
                "critic_loss",
                "gen_loss",
                "secs",
            ],
            "samples" => &["event", "iteration", "lines"],
            "metrics" if event["iteration"] == 0 => &metrics,
            "metrics" => &metrics_and_losses,
            "saved" => &["event", "iteration", "dir"],
            "finished" => &["event", "iteration", "reason"],
            other => panic!("unexpected event {other:?}: {line}"),
        };
        assert_keys(&event, expected, kind);
        if kind == "metrics" {
            assert_keys(&event["raw"], &["js", "valid_word_rate"], "metrics.raw");
            if event["iteration"] != 0 {
                let losses = [
                    "iterations",
                    "wasserstein",
                    "penalty",
                    "critic_loss",
                    "gen_loss",
                ];
                assert_keys(&event["losses"], &losses, "metrics.losses");
            }
        }
        kinds.insert(kind.to_string());
    }
    let every_kind = ["finished", "metrics", "samples", "saved", "started", "step"];
    assert!(kinds.iter().eq(every_kind.iter()), "{kinds:?}");

    // generate: an array of strings.
    let r = run.to_str().unwrap();
    let samples = stdout_json(
        &textgan(
            &["generate", "--model", r, "-n", "3", "--format", "json"],
            dir,
        ),
        "generate",
    );
    let samples = samples.as_array().expect("generate prints an array");
    assert_eq!(samples.len(), 3);
    assert!(samples.iter().all(|s| s.is_string()), "{samples:?}");

    // eval: the samples' scores at the top level, the floor's (the same keys) under `floor`.
    let eval = stdout_json(
        &textgan(&["eval", "--model", r, "-n", "16", "--format", "json"], dir),
        "eval",
    );
    let scores = [
        "n_samples",
        "js",
        "valid_word_rate",
        "unique_rate",
        "novelty",
    ];
    let top: Vec<&str> = scores
        .iter()
        .copied()
        .chain([
            "source",
            "corpus",
            "corpus_lines",
            "floor",
            "missing",
            "examples",
        ])
        .collect();
    assert_keys(&eval, &top, "eval");
    assert_keys(&eval["floor"], &scores, "eval.floor");
    let missing = ["chars", "char_share", "word_share"];
    assert_keys(&eval["missing"], &missing, "eval.missing");

    // bench
    let bench = stdout_json(
        &textgan(
            &[
                "bench",
                "--corpus",
                c,
                "--dim",
                "8",
                "--batch",
                "16",
                "--critic-iters",
                "1",
                "--warmup",
                "1",
                "--iters",
                "1",
                "--format",
                "json",
            ],
            dir,
        ),
        "bench",
    );
    assert_keys(
        &bench,
        &[
            "dim",
            "res_blocks",
            "kernel",
            "critic_iters",
            "batch",
            "vocab",
            "seq_len",
            "lipschitz",
            "critic_engine",
            "threads",
            "ema",
            "autoregressive",
            "critic_step_s",
            "generator_step_s",
            "generator_iteration_s",
            "gflop_per_iteration",
            "gflops",
            "peak_rss_mb",
            "timed_iterations",
        ],
        "bench",
    );

    // compare
    let compare = stdout_json(
        &textgan(
            &[
                "compare",
                c,
                "--lipschitz",
                "gp",
                "--iters",
                "2",
                "--dim",
                "8",
                "--batch",
                "16",
                "--critic-iters",
                "1",
                "--out",
                "cmp",
                "--format",
                "json",
            ],
            dir,
        ),
        "compare",
    );
    assert_keys(&compare, &["runs", "report"], "compare");
    assert_elements_keys(
        &compare["runs"],
        &["strategy", "iterations", "secs_per_iter", "js"],
        "compare.runs",
    );

    // sweep: one configuration, one seed, two marks.
    std::fs::write(
        dir.join("grid.txt"),
        "narrow: --dim 8 --res-blocks 1 --batch 16 --critic-iters 1\n",
    )
    .unwrap();
    let sweep = stdout_json(
        &textgan(
            &[
                "sweep",
                c,
                "--grid",
                "grid.txt",
                "--minutes",
                "0.01",
                "--marks",
                "0.005",
                "--seeds",
                "0",
                "--eval-every",
                "100000",
                "--out",
                "sw",
                "--format",
                "json",
            ],
            dir,
        ),
        "sweep",
    );
    assert_keys(&sweep, &["runs", "report"], "sweep");
    let runs = &sweep["runs"];
    assert_elements_keys(
        runs,
        &[
            "name",
            "seed",
            "iterations",
            "secs_per_iter",
            "diverged_at",
            "marks",
        ],
        "sweep.runs",
    );
    assert_elements_keys(
        &runs[0]["marks"],
        &["minutes", "iteration", "js", "valid_word_rate"],
        "sweep.runs.marks",
    );

    // diagnose: stdout, and the numbers it writes to diagnostics.json.
    let diagnose = stdout_json(
        &textgan(
            &[
                "diagnose", c, "--steps", "1", "--dim", "8", "--out", "diag", "--format", "json",
            ],
            dir,
        ),
        "diagnose",
    );
    assert_keys(&diagnose, &["variants", "files"], "diagnose");
    assert_elements_keys(
        &diagnose["variants"],
        &["name", "wasserstein", "input_grad_norm"],
        "diagnose.variants",
    );
    let files = diagnose["files"].as_array().unwrap();
    let names: Vec<&str> = files
        .iter()
        .map(|f| {
            // (Relative to the directory diagnose ran in, as --out was.)
            let path = Path::new(f.as_str().unwrap());
            assert!(dir.join(path).is_file(), "{f}");
            path.file_name().unwrap().to_str().unwrap()
        })
        .collect();
    assert_eq!(
        names,
        [
            "weights.svg",
            "layer_grads.svg",
            "diagnostics.json",
            "layer_grads.csv"
        ]
    );
    let numbers = read_json(&dir.join("diag/diagnostics.json"));
    assert_keys(
        &numbers,
        &["steps", "dim", "corpus", "generator", "layers", "variants"],
        "diagnostics.json",
    );
    assert_elements_keys(
        &numbers["variants"],
        &["name", "wasserstein", "diagnostics"],
        "diagnostics.json variants",
    );
    assert_keys(
        &numbers["variants"][0]["diagnostics"],
        &["layer_grad_norms"],
        "diagnostics.json variants.diagnostics",
    );
}

#[test]
fn interpolate_walks_from_one_generated_sample_to_another() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let model = ["--model", "models/wordnet-small"];
    let lines = |out: &Output| -> Vec<String> {
        assert_success(out);
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(String::from)
            .collect()
    };
    // The ends are samples `generate` prints: the first of seed 7, the third of seed 3.
    let first = lines(&textgan(
        &[&["generate", "-n", "1", "--seed", "7"][..], &model].concat(),
        root,
    ));
    let third = lines(&textgan(
        &[&["generate", "-n", "3", "--seed", "3"][..], &model].concat(),
        root,
    ));
    let walk_of = ["interpolate", "--from", "7", "--to", "3:2", "--steps", "4"];
    // With the noise truncated, the ends are still the samples `generate` prints so truncated,
    // and those are other samples than the run's own reading gives.
    let psi = ["--truncation", "0.3"];
    let first_at = lines(&textgan(
        &[&["generate", "-n", "1", "--seed", "7"][..], &model, &psi].concat(),
        root,
    ));
    let third_at = lines(&textgan(
        &[&["generate", "-n", "3", "--seed", "3"][..], &model, &psi].concat(),
        root,
    ));
    assert_ne!((&first_at, &third_at), (&first, &third));
    let walk = lines(&textgan(&[&walk_of[..], &model, &psi].concat(), root));
    assert_eq!((&walk[0], &walk[4]), (&first_at[0], &third_at[2]));
    for path in ["spherical", "linear"] {
        let args = [&walk_of[..], &["--path", path]].concat();
        let walk = lines(&textgan(&[&args[..], &model].concat(), root));
        assert_eq!(walk.len(), 5, "{path}: steps + 1 lines");
        assert_eq!(walk[0], first[0], "{path}");
        assert_eq!(walk[4], third[2], "{path}");
        // A walk of the same ends is the same walk.
        assert_eq!(walk, lines(&textgan(&[&args[..], &model].concat(), root)));
    }
    // JSON: the ends named, every step with its place on the path and its text.
    let args = [&walk_of[..], &["--format", "json"]].concat();
    let v = stdout_json(&textgan(&[&args[..], &model].concat(), root), "interpolate");
    assert_keys(
        &v,
        &["from", "to", "path", "steps", "points"],
        "interpolate",
    );
    assert_elements_keys(&v["points"], &["step", "t", "text"], "interpolate.points");
    assert_eq!(
        (v["from"].as_str(), v["to"].as_str()),
        (Some("7:0"), Some("3:2"))
    );
    assert_eq!(v["path"], "spherical");
    let ts: Vec<f64> = (v["points"].as_array().unwrap().iter())
        .map(|p| p["t"].as_f64().unwrap())
        .collect();
    assert_eq!(ts, [0.0, 0.25, 0.5, 0.75, 1.0]);
    assert_eq!(v["points"][0]["text"], first[0].as_str());
    // Bad input: one line naming the flag.
    for (bad, needle) in [
        (
            vec!["--from", "7", "--to", "8", "--steps", "0"],
            "--steps 0: a walk takes 1 to 1000",
        ),
        (
            vec!["--from", "7", "--to", "8", "--steps", "1001"],
            "--steps 1001",
        ),
        (
            vec!["--from", "7", "--to", "8", "--steps", "-2"],
            "--steps -2",
        ),
        (
            vec!["--from", "x", "--to", "8"],
            "--from \"x\": expected SEED or SEED:INDEX",
        ),
        (
            vec!["--from", "7", "--to", "8:y"],
            "--to \"8:y\": expected SEED or SEED:INDEX",
        ),
        (vec!["--from", "7", "--to", "8:100001"], "--to \"8:100001\""),
        (
            vec!["--from", "7", "--to", "8", "--truncation", "-1"],
            "--truncation must be above 0 and at most 1",
        ),
    ] {
        let out = textgan(&[&["interpolate"][..], &model, &bad].concat(), root);
        assert_clean_error(&out, needle);
    }
    let out = textgan(
        &[
            "interpolate",
            "--model",
            "no/such/run",
            "--from",
            "1",
            "--to",
            "2",
        ],
        root,
    );
    assert_clean_error(&out, "no/such/run");
}
