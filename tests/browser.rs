//! `textgan serve` in headless Chromium: trains a tiny run, then runs the browser tests of
//! `tests/browser/serve.test.mjs` (Node's test runner driving Debian's Chromium through
//! playwright-core) against it, with this build's binary. Screenshots go to
//! `target/tmp/browser/`.
//!
//! They need `node`, `chromium` and `npm ci --prefix tests/browser` (`.ci/run` installs all
//! three). In CI a missing piece fails the test; elsewhere it is skipped with a note.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::server::tiny_run;

/// What the browser tests need and lack, in words.
fn missing() -> Vec<String> {
    let mut missing = Vec::new();
    let chromium = std::env::var_os("CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"));
    if !chromium.is_file() {
        missing.push(format!(
            "Chromium ({}; apt-get install chromium)",
            chromium.display()
        ));
    }
    if Command::new("node").arg("--version").output().is_err() {
        missing.push("Node.js (apt-get install nodejs npm)".into());
    }
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    if !manifest
        .join("tests/browser/node_modules/playwright-core/package.json")
        .is_file()
    {
        missing.push("playwright-core (npm ci --prefix tests/browser)".into());
    }
    missing
}

#[test]
fn the_page_works_in_a_real_browser() {
    let missing = missing();
    if !missing.is_empty() {
        assert!(
            std::env::var_os("CI").is_none(),
            "the browser tests need {} (.ci/run installs them)",
            missing.join(", ")
        );
        eprintln!("skipped: the browser tests need {}", missing.join(", "));
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let runs = tmp.path().join("runs");
    tiny_run(&runs.join("tiny"), &["--iters", "6"]);
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR")).join("browser");
    std::fs::create_dir_all(&shots).unwrap();
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let out = Command::new("node")
        .args(["--test", "--test-reporter=spec"])
        .arg(manifest.join("tests/browser/serve.test.mjs"))
        .current_dir(manifest)
        .env("TEXTGAN_BIN", env!("CARGO_BIN_EXE_textgan"))
        .env("TEXTGAN_RUNS", &runs)
        .env("SCREENSHOT_DIR", &shots)
        .output()
        .expect("node runs");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "browser tests failed:\n{report}");
    // Every test ran (none skipped), and the screenshot is there.
    assert!(
        report.contains("ℹ pass 7") && report.contains("ℹ skipped 0"),
        "{report}"
    );
    assert!(shots.join("serve-run.png").is_file());
}
