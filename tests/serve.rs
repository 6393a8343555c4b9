//! `textgan serve` over HTTP: every endpoint answers what the run directory and the command
//! line say; bad requests get a 4xx with one line and never a panic; only what lies under the
//! given folders is served; nothing is written into a run directory; a run that trains (its
//! metrics growing, a line half written), disappears or breaks shows as such.

mod common;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::SystemTime;

use common::server::{tiny_run, train_tiny, Server};

/// `root/` with a tiny trained run `tiny`, a report `cmp` (a chart and a run inside) and,
/// beside the root, a run `outside` (reachable only through the link `root/escape`).
fn fixture(tmp: &Path) -> PathBuf {
    let root = tmp.join("runs");
    tiny_run(&root.join("tiny"), &[]);
    let cmp = root.join("cmp");
    std::fs::create_dir_all(&cmp).unwrap();
    std::fs::write(
        cmp.join("report.md"),
        "# Compared\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![JSD-4](jsd4.svg)\n",
    )
    .unwrap();
    std::fs::write(
        cmp.join("jsd4.svg"),
        "<svg xmlns=\"http://www.w3.org/2000/svg\"/>",
    )
    .unwrap();
    tiny_run(&tmp.join("outside"), &[]);
    #[cfg(unix)]
    std::os::unix::fs::symlink(tmp.join("outside"), root.join("escape")).unwrap();
    root
}

fn textgan(args: &[&str]) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args(args)
        .output()
        .expect("textgan runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// Every file under `dir` with its size and modification time.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, (u64, SystemTime)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let m = std::fs::symlink_metadata(e.path()).unwrap();
            if m.is_dir() {
                stack.push(e.path());
            } else {
                out.insert(e.path(), (m.len(), m.modified().unwrap()));
            }
        }
    }
    out
}

fn strings(v: &serde_json::Value) -> Vec<String> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|x| x.as_str().unwrap().to_string())
        .collect()
}

#[test]
fn every_endpoint_answers_what_the_run_directory_and_the_command_line_say() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fixture(tmp.path());
    // A leftover of an interrupted write, which `generate` would clean up: serve must not.
    let leftover = root.join("tiny/.generator.safetensors.x1y2z3.tmp");
    std::fs::write(&leftover, b"partial").unwrap();
    let before = snapshot(tmp.path());
    let server = Server::start(&[root.to_str().unwrap()]);
    let run = root.join("tiny");
    let model = run.to_str().unwrap();

    // The page and its files, uPlot among them, from the binary.
    let page = server.get("/");
    assert_eq!(page.status, 200);
    assert!(page.body.contains("<script src=\"/assets/app.js\">"));
    assert!(page
        .header("content-security-policy")
        .is_some_and(|c| c.contains("script-src 'self'")));
    for (asset, needle) in [
        ("app.js", "POLL_MS"),
        ("style.css", ".panel"),
        ("uPlot.iife.min.js", "uPlot"),
        ("uPlot.min.css", ".uplot"),
        ("uPlot-LICENSE.txt", "MIT License"),
    ] {
        let r = server.get(&format!("/assets/{asset}"));
        assert_eq!(r.status, 200, "{asset}");
        assert!(r.body.contains(needle), "{asset}");
        assert_eq!(r.header("x-content-type-options"), Some("nosniff"));
    }

    // The runs: the tiny one and the one inside the report; not the one behind the link.
    let listing = server.get("/api/runs").json();
    let runs = listing["runs"].as_array().unwrap();
    let ids: Vec<&str> = runs.iter().map(|r| r["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["0/tiny"]);
    let tiny = &runs[0];
    assert_eq!(tiny["state"], "finished");
    assert_eq!(tiny["iterations"], 4);
    assert_eq!(tiny["dim"], 8);
    assert_eq!(tiny["preset"], "cpu");
    assert_eq!(tiny["evaluations"], 3);
    assert_eq!(listing["reports"][0]["id"], "0/cmp");

    // A run: its config.json as written, its samples' iterations.
    let detail = server.get("/api/run?id=0/tiny").json();
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("config.json")).unwrap()).unwrap();
    assert_eq!(detail["config"], config);
    assert_eq!(detail["samples"], serde_json::json!([0, 2, 4]));

    // Its evaluations, from the start and from the second on; losses after iteration 0.
    let m = server.get("/api/metrics?id=0/tiny&from=0").json();
    assert_eq!(m["total"], 3);
    let its: Vec<u64> = m["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["iteration"].as_u64().unwrap())
        .collect();
    assert_eq!(its, [0, 2, 4]);
    assert!(m["records"][0].get("losses").is_none());
    assert_eq!(m["records"][1]["losses"]["iterations"], 2);
    assert!(m["records"][2]["losses"]["wasserstein"].is_number());
    let from1 = server.get("/api/metrics?id=0/tiny&from=1").json();
    assert_eq!(from1["records"].as_array().unwrap().len(), 2);
    assert_eq!(from1["records"][0], m["records"][1]);

    // The fixed-noise samples of an evaluation, line for line.
    let s = server.get("/api/samples?id=0/tiny&iteration=4").json();
    let file = std::fs::read_to_string(run.join("samples/000004.txt")).unwrap();
    assert_eq!(strings(&s["lines"]), file.lines().collect::<Vec<_>>());
    assert_eq!(s["lines"].as_array().unwrap().len(), 64);

    // Generate and walk (compared with the command below, once nothing written is checked).
    let generate_cases = [
        ("n=7&seed=3", vec!["-n", "7", "--seed", "3"]),
        (
            "n=5&seed=9&temperature=0.8",
            vec!["-n", "5", "--seed", "9", "--temperature", "0.8"],
        ),
        (
            "n=4&seed=1&checkpoint=last",
            vec!["-n", "4", "--seed", "1", "--checkpoint", "last"],
        ),
        (
            "n=6&seed=3&truncation=0.3",
            vec!["-n", "6", "--seed", "3", "--truncation", "0.3"],
        ),
    ];
    let generated: Vec<serde_json::Value> = generate_cases
        .iter()
        .map(|(query, _)| {
            let r = server.get(&format!("/api/generate?id=0/tiny&{query}"));
            assert_eq!(r.status, 200, "{query}: {}", r.body);
            r.json()
        })
        .collect();
    // The noise's ψ: the run's own (config.json's) unless the request names one.
    assert_eq!(generated[0]["truncation"], config["truncation"]);
    assert_eq!(generated[3]["truncation"], 0.3);
    // ψ 0.3 is another reading of the same noise: other samples than the run's own ψ gives.
    assert_ne!(
        strings(&generated[0]["lines"])[..6],
        strings(&generated[3]["lines"])[..]
    );
    let walk_cases = [
        ("path=spherical", vec!["--path", "spherical"]),
        ("path=linear", vec!["--path", "linear"]),
        ("truncation=0.3", vec!["--truncation", "0.3"]),
    ];
    let walks: Vec<serde_json::Value> = walk_cases
        .iter()
        .map(|(query, _)| {
            let r = server.get(&format!(
                "/api/interpolate?id=0/tiny&from=3:1&to=8&steps=5&{query}"
            ));
            assert_eq!(r.status, 200, "{query}: {}", r.body);
            r.json()
        })
        .collect();

    // A report: its text, its charts, a chart as a picture that may not run anything.
    let rep = server.get("/api/report?id=0/cmp").json();
    assert!(rep["markdown"].as_str().unwrap().starts_with("# Compared"));
    assert_eq!(rep["charts"], serde_json::json!(["jsd4.svg"]));
    let chart = server.get("/api/report/chart?id=0/cmp&name=jsd4.svg");
    assert_eq!(chart.status, 200);
    assert_eq!(chart.header("content-type"), Some("image/svg+xml"));
    assert!(chart
        .header("content-security-policy")
        .is_some_and(|c| c.starts_with("default-src 'none'")));

    // Nothing was written: the leftover is still there, every file as it was.
    drop(server);
    assert!(leftover.exists());
    assert_eq!(snapshot(tmp.path()), before);

    // Generate: the command's text for the same arguments (argmax, a temperature, last).
    for ((query, args), r) in generate_cases.iter().zip(&generated) {
        let cli = textgan(&[&["generate", "--model", model][..], args].concat());
        assert_eq!(
            strings(&r["lines"]),
            cli.lines().collect::<Vec<_>>(),
            "{query}"
        );
    }
    // A walk: the command's, point for point, on both paths and at another ψ.
    for ((query, args), r) in walk_cases.iter().zip(&walks) {
        let head = [
            "interpolate",
            "--model",
            model,
            "--from",
            "3:1",
            "--to",
            "8",
            "--steps",
            "5",
            "--format",
            "json",
        ];
        let cli: serde_json::Value =
            serde_json::from_str(&textgan(&[&head[..], args].concat())).unwrap();
        assert_eq!(r, &cli, "{query}");
    }
    // At ψ 0.3 the walk's ends are generate's samples at ψ 0.3, not at the run's own.
    assert_ne!(walks[2], walks[0]);
}

#[test]
fn bad_requests_get_a_4xx_with_one_line_and_the_server_keeps_serving() {
    let tmp = tempfile::tempdir().unwrap();
    let root = fixture(tmp.path());
    let mut server = Server::start(&[root.to_str().unwrap()]);
    let long = format!("/api/run?id=0/{}", "a".repeat(5000));
    let cases: Vec<(&str, u16, &str)> = vec![
        ("/api/run?id=0/../outside", 400, "bad id"),
        ("/api/run?id=0/%2e%2e/outside", 400, "bad id"),
        ("/api/run?id=/etc", 400, "bad id"),
        ("/api/run?id=0//etc", 400, "bad id"),
        ("/api/run?id=9/tiny", 400, "bad id"),
        ("/api/metrics?id=0/tiny/..", 400, "bad id"),
        ("/api/run?id=0/escape", 403, "symbolic link"),
        ("/api/generate?id=0/escape&n=1", 403, "symbolic link"),
        ("/api/run?id=0/nothing", 404, "no run"),
        ("/api/run?id=0/cmp", 404, "no run"),
        ("/api/report?id=0/tiny", 404, "no report"),
        ("/api/run", 400, "id"),
        (
            "/api/samples?id=0/tiny&iteration=3",
            404,
            "no samples at iteration 3",
        ),
        ("/api/samples?id=0/tiny&iteration=x", 400, "iteration"),
        (
            "/api/generate?id=0/tiny&n=0",
            400,
            "n 0: the number of samples must be 1 to 1000",
        ),
        ("/api/generate?id=0/tiny&n=1001", 400, "1 to 1000"),
        ("/api/generate?id=0/tiny&n=-3", 400, "n"),
        ("/api/generate?id=0/tiny&n=1&seed=abc", 400, "seed"),
        (
            "/api/generate?id=0/tiny&n=1&temperature=-1",
            400,
            "temperature",
        ),
        (
            "/api/generate?id=0/tiny&n=1&temperature=NaN",
            400,
            "temperature",
        ),
        (
            "/api/generate?id=0/tiny&n=1&truncation=0",
            400,
            "truncation must be above 0 and at most 1",
        ),
        ("/api/generate?id=0/tiny&n=1&truncation=1.5", 400, "got 1.5"),
        (
            "/api/generate?id=0/tiny&n=1&truncation=NaN",
            400,
            "truncation",
        ),
        (
            "/api/interpolate?id=0/tiny&from=1&to=2&truncation=-0.5",
            400,
            "truncation must be above 0",
        ),
        (
            "/api/generate?id=0/tiny&n=1&checkpoint=middle",
            400,
            "expected best or last",
        ),
        (
            "/api/interpolate?id=0/tiny&from=1&to=2&steps=0",
            400,
            "steps 0: a walk takes 1 to 200",
        ),
        (
            "/api/interpolate?id=0/tiny&from=1&to=2&steps=201",
            400,
            "steps 201: a walk takes 1 to 200",
        ),
        ("/api/interpolate?id=0/tiny&from=x&to=2", 400, "from"),
        ("/api/interpolate?id=0/tiny&from=1&to=2:-1", 400, "to"),
        (
            "/api/interpolate?id=0/tiny&from=1&to=2&path=zigzag",
            400,
            "zigzag",
        ),
        ("/api/interpolate?id=0/tiny&to=2", 400, "from"),
        (
            "/api/report/chart?id=0/cmp&name=../tiny/config.json",
            400,
            "not a chart",
        ),
        ("/api/report/chart?id=0/cmp&name=gone.svg", 404, "no chart"),
        ("/api/nothing", 404, "no such page"),
        ("/assets/../Cargo.toml", 404, ""),
        ("/assets/secret.txt", 404, "no asset"),
        (&long, 414, "longer than 4096 bytes"),
    ];
    for (path, status, needle) in &cases {
        let r = server.get(path);
        assert_eq!(r.status, *status, "{path}: {}", r.body);
        if r.header("content-type") == Some("application/json") {
            let e = r.json()["error"].as_str().unwrap().to_string();
            assert!(!e.contains('\n'), "{path}: {e}");
            assert!(e.contains(needle), "{path}: {e:?} lacks {needle:?}");
        } else {
            assert!(needle.is_empty(), "{path}: {}", r.body);
        }
    }
    // Another host name (DNS rebinding), a method that is not GET, a body too large.
    let addr = server.addr.clone();
    let rebind = server.send(&format!(
        "GET /api/runs HTTP/1.1\r\nHost: evil.example:{}\r\nConnection: close\r\n\r\n",
        addr.split(':').nth(1).unwrap()
    ));
    assert_eq!(rebind.status, 403);
    assert!(rebind.json()["error"]
        .as_str()
        .unwrap()
        .contains("not this machine"));
    let post = server.send(&format!(
        "POST /api/runs HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 2\r\nConnection: close\r\n\r\n{{}}"
    ));
    assert_eq!(post.status, 405);
    assert!(post.json()["error"].as_str().unwrap().contains("only GET"));
    let big = server.send(&format!(
        "GET /api/runs HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 100000\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(big.status, 413);
    // Still serving, never panicked.
    assert!(server.alive());
    assert_eq!(server.get("/api/runs").status, 200);
    let status = server.terminate();
    assert!(status.success(), "Ctrl-C/SIGTERM is a normal end: {status}");
}

#[test]
fn a_run_that_trains_breaks_or_goes_away_shows_as_such_and_the_page_keeps_working() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runs");
    tiny_run(&root.join("live"), &[]);
    tiny_run(&root.join("doomed"), &[]);
    tiny_run(&root.join("broken"), &[]);
    let server = Server::start(&[root.to_str().unwrap()]);
    let metrics = root.join("live/metrics.jsonl");
    let text = std::fs::read_to_string(&metrics).unwrap();
    let last = text.lines().last().unwrap().to_string();
    let next = last.replacen("\"iteration\":4", "\"iteration\":6", 1);
    // A line being written is not an evaluation yet, nor an error.
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(&metrics)
        .unwrap();
    use std::io::Write;
    write!(f, "{}", &next[..next.len() / 2]).unwrap();
    let m = server.get("/api/metrics?id=0/live&from=3").json();
    assert_eq!(m["total"], 3);
    assert_eq!(m["records"], serde_json::json!([]));
    assert!(m["problem"].is_null());
    writeln!(f, "{}", &next[next.len() / 2..]).unwrap();
    let m = server.get("/api/metrics?id=0/live&from=3").json();
    assert_eq!(m["total"], 4);
    assert_eq!(m["records"][0]["iteration"], 6);
    let runs = server.get("/api/runs").json();
    let live = runs["runs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "0/live")
        .unwrap();
    assert_eq!(live["iterations"], 6, "the table follows the metrics");

    // A lock held by a live process (this test's): training.
    let lock = serde_json::json!({
        "pid": std::process::id(), "host": host(), "since": 0, "command": "train"
    });
    std::fs::write(root.join("live/textgan.lock"), lock.to_string()).unwrap();
    // A diverged run's marker, a corrupt config, a run deleted.
    std::fs::write(
        root.join("broken/config.json"),
        "{\"textgan_version\": \"0.1.0\"",
    )
    .unwrap();
    std::fs::remove_dir_all(root.join("doomed")).unwrap();
    let runs = server.get("/api/runs").json();
    let state = |id: &str| {
        runs["runs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|r| r["id"] == id)
            .map(|r| {
                (
                    r["state"].as_str().unwrap().to_string(),
                    r["problem"].clone(),
                )
            })
    };
    assert_eq!(state("0/live").unwrap().0, "training");
    let (broken, problem) = state("0/broken").unwrap();
    assert_eq!(broken, "corrupt");
    assert!(
        problem.as_str().unwrap().contains("config.json"),
        "{problem}"
    );
    assert!(state("0/doomed").is_none());
    assert_eq!(server.get("/api/run?id=0/doomed").status, 404);
    let g = server.get("/api/generate?id=0/broken&n=2");
    assert_eq!(g.status, 422, "{}", g.body);
    assert!(g.json()["error"].as_str().unwrap().contains("config.json"));
    assert_eq!(server.get("/api/run?id=0/broken").status, 200);

    // Links and devices inside a run are not read: its samples linked to another run's, its
    // `diverged.json` a link to an endless device. It shows as corrupt, the page answers.
    #[cfg(unix)]
    {
        tiny_run(&root.join("linked"), &[]);
        let samples = root.join("linked/samples");
        std::fs::remove_dir_all(&samples).unwrap();
        std::os::unix::fs::symlink(root.join("live/samples"), &samples).unwrap();
        std::os::unix::fs::symlink("/dev/zero", root.join("live/diverged.json")).unwrap();
        let r = server.get("/api/samples?id=0/linked&iteration=0");
        assert_eq!(r.status, 422, "{}", r.body);
        assert!(r.json()["error"]
            .as_str()
            .unwrap()
            .ends_with("samples is not a plain folder"));
        let runs = server.get("/api/runs").json();
        let problem = |id: &str| {
            let run = runs["runs"]
                .as_array()
                .unwrap()
                .iter()
                .find(|r| r["id"] == id)
                .unwrap();
            assert_eq!(run["state"], "corrupt", "{id}");
            run["problem"].as_str().unwrap().to_string()
        };
        assert!(problem("0/linked").ends_with("samples is not a plain folder"));
        assert!(problem("0/live").ends_with("diverged.json is not a plain file"));
        let g = server.get("/api/generate?id=0/live&n=1");
        assert_eq!(g.status, 422, "{}", g.body);
    }
}

#[test]
fn a_diverged_run_says_so_and_trains_again_after_a_resume() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("runs");
    let run = root.join("hot");
    let out = train_tiny(&run, &["--lr", "1e30", "--iters", "50"]);
    assert!(!out.status.success());
    let marker: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(run.join("diverged.json")).unwrap()).unwrap();
    assert!(marker["message"]
        .as_str()
        .unwrap()
        .contains("NaN or infinite"));
    let server = Server::start(&[root.to_str().unwrap()]);
    let runs = server.get("/api/runs").json();
    assert_eq!(runs["runs"][0]["state"], "diverged");
    assert!(runs["runs"][0]["problem"]
        .as_str()
        .unwrap()
        .contains("NaN or infinite"));
    // Resumed at a sane rate it trains again, and is no longer marked.
    tiny_run(&run, &["--lr", "1e-4", "--iters", "1", "--resume"]);
    assert!(!run.join("diverged.json").exists());
    assert_eq!(
        server.get("/api/runs").json()["runs"][0]["state"],
        "finished"
    );
}

#[test]
fn the_address_is_loopback_unless_asked_and_another_one_is_warned_about() {
    let tmp = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_textgan"))
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&out.stdout);
    assert!(help.contains("[default: 127.0.0.1]"), "{help}");
    // Any address: a warning on stderr, naming the lack of authentication.
    let mut server = Server::start(&[tmp.path().to_str().unwrap(), "--bind", "0.0.0.0"]);
    let mut err = String::new();
    use std::io::BufRead;
    std::io::BufReader::new(&mut server.stderr)
        .read_line(&mut err)
        .unwrap();
    assert!(
        err.starts_with("warning: listening on 0.0.0.0:") && err.contains("no authentication"),
        "{err}"
    );
    // The page answers whatever host name it is reached by there (no loopback check).
    let port = server.addr.split(':').nth(1).unwrap().to_string();
    let r = server.send(&format!(
        "GET /api/runs HTTP/1.1\r\nHost: box.lan:{port}\r\nConnection: close\r\n\r\n"
    ));
    assert_eq!(r.status, 200);
    assert_eq!(r.json()["runs"], serde_json::json!([]));
    // --open hands the address to the desktop's opener (here a stand-in that records it).
    #[cfg(target_os = "linux")]
    {
        use std::os::unix::fs::PermissionsExt;
        let bin = tmp.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let opener = bin.join("xdg-open");
        let seen = tmp.path().join("opened");
        let script = format!(
            "#!/bin/sh\necho \"$1\" > '{0}.tmp' && mv '{0}.tmp' '{0}'\n",
            seen.display()
        );
        std::fs::write(&opener, script).unwrap();
        std::fs::set_permissions(&opener, std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut child = Command::new(env!("CARGO_BIN_EXE_textgan"))
            .args([
                "serve",
                tmp.path().to_str().unwrap(),
                "--port",
                "0",
                "--open",
            ])
            .env("PATH", format!("{}:/usr/bin:/bin", bin.display()))
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let mut url = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut url)
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        while !seen.exists() && std::time::Instant::now() < deadline {
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        let _ = child.kill();
        let _ = child.wait();
        assert_eq!(std::fs::read_to_string(&seen).unwrap_or_default(), url);
    }
    // A port in use, a missing folder, a bad address: one line each.
    for (args, needle) in [
        (vec![".", "--port", &port], "cannot listen on 127.0.0.1:"),
        (vec!["/no/such/folder"], "/no/such/folder: no such folder"),
        (vec!["--bind", "localhost:80"], "--bind"),
    ] {
        let out = Command::new(env!("CARGO_BIN_EXE_textgan"))
            .arg("serve")
            .args(&args)
            .current_dir(tmp.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{args:?}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(needle),
            "{stderr}"
        );
    }
}

fn host() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}
