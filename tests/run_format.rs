//! Runs written by an earlier textgan stay readable and reproducible: a run directory written
//! by textgan 0.1.0 (`tests/data/run-0.1/checkpoint`, made by `scripts/make-run-fixture.sh`)
//! resumes to exactly what that release's own resume wrote (`tests/data/run-0.1/resumed`), and
//! the model that release shipped (`tests/data/run-0.1/shipped-model`) generates, for a seed,
//! the text that release generated. Both depend on the
//! random streams' derivations (`src/streams.rs`) as much as on the maths: a changed stream
//! draws other batches, noise or mixing weights and fails here.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use candle_core::{Device, Tensor};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn fixture() -> PathBuf {
    root().join("tests/data/run-0.1")
}

fn textgan(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args(args)
        .current_dir(root())
        .output()
        .expect("textgan runs")
}

fn assert_success(out: &Output) {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_dir(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

fn tensors(path: &Path) -> HashMap<String, Tensor> {
    candle_core::safetensors::load(path, &Device::Cpu)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn flat(t: &Tensor) -> Vec<f32> {
    t.flatten_all().unwrap().to_vec1::<f32>().unwrap()
}

fn json(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

#[test]
fn a_run_written_by_textgan_0_1_resumes_as_that_release_resumed_it() {
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    copy_dir(&fixture().join("checkpoint"), &run);
    let out = textgan(&[
        "train",
        "corpora/tiny.txt",
        "--resume",
        "--out",
        run.to_str().unwrap(),
        "--iters",
        "12",
        "--no-tui",
    ]);
    assert_success(&out);
    let expected = fixture().join("resumed");
    // The draws' positions are integers: equal exactly, whatever the CPU. The checkpoint was
    // saved at iteration 8, before the first epoch of the data order ends, so these cover a
    // new epoch's order too.
    same_positions(&run, &expected);
    let crossed = json(&expected.join("state.json"))["data_epoch"].clone();
    assert_eq!(crossed, 1, "the fixture crosses an epoch");
    // The weights: every step drew the same batch, noise and mixing weights, so they moved
    // the same way.
    let before = fixture().join("checkpoint");
    same_weights(&run, &expected, Some(&before));
    // What resume restores beside the draws: the best generator so far (iteration 0's JSD-4
    // is never beaten in so short a run: a trainer that forgot it would take iteration 12's
    // as the best) and the training time, which goes on from the checkpoint's.
    let best = |dir: &Path| json(&dir.join("best.json"))["iteration"].clone();
    assert_eq!(best(&run), best(&expected), "best.json");
    let secs = |dir: &Path| {
        json(&dir.join("state.json"))["elapsed_secs"]
            .as_f64()
            .unwrap()
    };
    assert!(
        secs(&run) > secs(&before),
        "elapsed_secs restarted on resume"
    );
    // The samples of the fixed noise and the evaluation's scores at iteration 12.
    let samples = "samples/000012.txt";
    assert_eq!(
        std::fs::read_to_string(run.join(samples)).unwrap(),
        std::fs::read_to_string(expected.join(samples)).unwrap(),
        "{samples}"
    );
    let last = |p: &Path| -> serde_json::Value {
        let text = std::fs::read_to_string(p.join("metrics.jsonl")).unwrap();
        serde_json::from_str(text.lines().last().unwrap()).unwrap()
    };
    let (got, want) = (last(&run), last(&expected));
    assert_eq!(got["iteration"], 12);
    for key in ["iteration", "js", "floor_js", "valid_word_rate"] {
        assert_eq!(got[key], want[key], "metrics.jsonl {key}");
    }
}

/// The arguments that wrote the fixture's checkpoint (`scripts/make-run-fixture.sh`), and
/// `--autoregressive 0`, `--truncation 1` and `--kernel 5`: the `cpu` preset gained the
/// generator's read-out, reads samples from truncated noise and has width-3 convolutions since
/// 0.1.0, and the flags say what 0.1.0's preset meant.
const FIXTURE_RUN: [&str; 23] = [
    "corpora/tiny.txt",
    "--dim",
    "4",
    "--batch",
    "16",
    "--critic-iters",
    "2",
    "--iters",
    "8",
    "--eval-every",
    "4",
    "--ema",
    "0.5",
    "--precision",
    "f32",
    "--seed",
    "11",
    "--autoregressive",
    "0",
    "--truncation",
    "1",
    "--kernel",
    "5",
];

#[test]
fn a_seed_trains_the_run_textgan_0_1_trained_from_it() {
    // The same command from scratch: every stream (initial weights of both networks and the
    // average, held-out split, data order, noise, mixing weights, fixed and evaluation noise)
    // is drawn where textgan 0.1.0 drew it.
    let tmp = tempfile::tempdir().unwrap();
    let run = tmp.path().join("run");
    let mut args = vec!["train"];
    args.extend_from_slice(&FIXTURE_RUN);
    args.extend_from_slice(&["--out", run.to_str().unwrap(), "--no-tui"]);
    assert_success(&textgan(&args));
    let want = fixture().join("checkpoint");
    same_positions(&run, &want);
    // Weights, within the rounding of another CPU's kernels (a thousandth of each tensor's
    // largest entry: another initialisation or draw differs by about all of it).
    same_weights(&run, &want, None);
    for f in ["samples/000004.txt", "samples/000008.txt", "metrics.jsonl"] {
        let read = |dir: &Path| std::fs::read_to_string(dir.join(f)).unwrap();
        if f == "metrics.jsonl" {
            // Every field 0.1.0 wrote but the timing (`losses` came after it).
            let strip = |text: String| -> Vec<serde_json::Value> {
                text.lines()
                    .map(|l| {
                        let mut v: serde_json::Value = serde_json::from_str(l).unwrap();
                        let fields = v.as_object_mut().unwrap();
                        fields.remove("elapsed_secs");
                        fields.remove("losses");
                        v
                    })
                    .collect()
            };
            assert_eq!(strip(read(&run)), strip(read(&want)), "{f}");
        } else {
            assert_eq!(read(&run), read(&want), "{f}");
        }
    }
}

#[test]
fn every_strategy_draws_the_training_stream_as_textgan_0_1_did() {
    // Two iterations of the fixture's run with each strategy: where the training stream and
    // the data order stand after it, as textgan 0.1.0 left them. Clipping draws (and drops)
    // the mixing weights gp and lp use; fd draws a second set after them.
    for (strategy, word_pos) in [("gp", 20950), ("lp", 20950), ("fd", 21010), ("clip", 20950)] {
        let tmp = tempfile::tempdir().unwrap();
        let run = tmp.path().join("run");
        let mut args = vec!["train"];
        args.extend_from_slice(&FIXTURE_RUN);
        let iters = args.iter().position(|a| *a == "--iters").unwrap();
        args[iters + 1] = "2";
        args.extend_from_slice(&["--lipschitz", strategy]);
        args.extend_from_slice(&["--out", run.to_str().unwrap(), "--no-tui"]);
        assert_success(&textgan(&args));
        let state = json(&run.join("state.json"));
        assert_eq!(state["rng_word_pos"], word_pos.to_string(), "{strategy}");
        assert_eq!(state["data_pos"], 64, "{strategy}");
    }
}

/// The draws' positions and the step counts in `run`'s `state.json` equal `expected`'s
/// (integers: exactly, whatever the CPU).
fn same_positions(run: &Path, expected: &Path) {
    let (got, want) = (
        json(&run.join("state.json")),
        json(&expected.join("state.json")),
    );
    for key in [
        "iteration",
        "rng_word_pos",
        "data_epoch",
        "data_pos",
        "adam_steps",
    ] {
        assert_eq!(got[key], want[key], "state.json {key}");
    }
}

/// The weights in `run` against `expected`, within a thousandth of a scale per tensor: with
/// `start`, how far the tensor moved from there (up to the rounding of another CPU's kernels; a
/// different draw moves a tensor differently, by about as much as it moved), and something
/// must have moved; without, the tensor's largest entry.
fn same_weights(run: &Path, expected: &Path, start: Option<&Path>) {
    for file in [
        "generator.safetensors",
        "generator_ema.safetensors",
        "critic.safetensors",
    ] {
        let (got, want) = (tensors(&run.join(file)), tensors(&expected.join(file)));
        let start = start.map(|s| tensors(&s.join(file)));
        assert_eq!(got.len(), want.len(), "{file}");
        let largest_diff = |a: &[f32], b: &[f32]| {
            a.iter()
                .zip(b)
                .map(|(x, y)| (x - y).abs())
                .fold(0f32, f32::max)
        };
        let mut largest = 0f32;
        for (name, w) in &want {
            let (w, g) = (flat(w), flat(&got[name]));
            let off = largest_diff(&w, &g);
            let scale = match &start {
                Some(start) => largest_diff(&w, &flat(&start[name])),
                None => w.iter().fold(0f32, |m, x| m.max(x.abs())),
            };
            // (The critic's output bias has a zero gradient, exactly: ±1/B summed over real
            // and fake; it does not move, and must not here either: `off` 0.)
            assert!(
                off <= 1e-3 * scale,
                "{file} {name}: {off:e} from textgan 0.1's (against a scale of {scale:e})"
            );
            largest = largest.max(scale);
        }
        if start.is_some() {
            assert!(largest > 0.0, "{file}: the resumed steps moved nothing");
        }
    }
}

#[test]
fn the_model_textgan_0_1_shipped_generates_what_that_release_generated_for_a_seed() {
    // The model shipped in models/wordnet-small until the cpu preset gained the read-out, kept
    // here with the files `generate` reads (the newer shipped model has another architecture).
    let model = fixture().join("shipped-model");
    let model = model.to_str().unwrap();
    for (args, file) in [
        (&["--seed", "7"][..], "generate-seed-7.txt"),
        (
            &["--seed", "3", "--temperature", "0.8"][..],
            "generate-seed-3-temperature-0.8.txt",
        ),
    ] {
        let mut all = vec!["generate", "--model", model, "-n", "64"];
        all.extend_from_slice(args);
        let out = textgan(&all);
        assert_success(&out);
        let want = std::fs::read_to_string(fixture().join(file)).unwrap();
        assert_eq!(String::from_utf8_lossy(&out.stdout), want, "{file}");
    }
}
