//! `textgan serve` started for a test, and a minimal HTTP/1.1 client for it (std only).

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A running `textgan serve`, stopped (SIGKILL) when dropped.
pub struct Server {
    child: Child,
    /// `http://127.0.0.1:PORT/`, as it printed.
    pub url: String,
    /// `127.0.0.1:PORT`.
    pub addr: String,
    /// What it printed on stderr up to the address.
    pub stderr: std::process::ChildStderr,
}

impl Server {
    /// `textgan serve ARGS --port 0`, once it has printed its address.
    pub fn start(args: &[&str]) -> Server {
        let mut child = Command::new(env!("CARGO_BIN_EXE_textgan"))
            .arg("serve")
            .args(args)
            .args(["--port", "0"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("textgan serve starts");
        let mut line = String::new();
        let stdout = child.stdout.take().expect("stdout");
        BufReader::new(stdout)
            .read_line(&mut line)
            .expect("reads the address");
        let stderr = child.stderr.take().expect("stderr");
        let url = line.trim().to_string();
        assert!(
            url.starts_with("http://127.0.0.1:") && url.ends_with('/'),
            "printed {url:?}"
        );
        let addr = url["http://".len()..url.len() - 1].to_string();
        Server {
            child,
            url,
            addr,
            stderr,
        }
    }

    /// `GET path` (path and query, already percent-encoded).
    pub fn get(&self, path: &str) -> Reply {
        self.send(&format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
            self.addr
        ))
    }

    /// A raw request, whatever it holds.
    pub fn send(&self, raw: &str) -> Reply {
        let mut s = TcpStream::connect(&self.addr).expect("connects");
        s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
        s.write_all(raw.as_bytes()).expect("sends");
        let mut bytes = Vec::new();
        s.read_to_end(&mut bytes).expect("reads the reply");
        Reply::parse(&bytes)
    }

    /// Whether the process is still running.
    pub fn alive(&mut self) -> bool {
        self.child.try_wait().expect("try_wait").is_none()
    }

    /// Ask it to stop (SIGTERM) and return its exit status.
    pub fn terminate(mut self) -> std::process::ExitStatus {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.child.wait().expect("waits")
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// An HTTP reply.
#[derive(Debug)]
pub struct Reply {
    pub status: u16,
    /// Header names lower-case.
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Reply {
    fn parse(bytes: &[u8]) -> Reply {
        let split = bytes
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .expect("a complete reply");
        let head = String::from_utf8_lossy(&bytes[..split]).into_owned();
        let mut body = bytes[split + 4..].to_vec();
        let mut lines = head.lines();
        let status: u16 = lines
            .next()
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|s| s.parse().ok())
            .expect("a status line");
        let headers: Vec<(String, String)> = lines
            .filter_map(|l| l.split_once(':'))
            .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
            .collect();
        if headers
            .iter()
            .any(|(k, v)| k == "transfer-encoding" && v.contains("chunked"))
        {
            body = dechunk(&body);
        }
        Reply {
            status,
            headers,
            body: String::from_utf8(body).expect("a UTF-8 body"),
        }
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("{e}: {}", self.body))
    }
}

fn dechunk(mut b: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    loop {
        let end = b.windows(2).position(|w| w == b"\r\n").expect("chunk size");
        let size = usize::from_str_radix(std::str::from_utf8(&b[..end]).unwrap().trim(), 16)
            .expect("hex size");
        if size == 0 {
            return out;
        }
        out.extend_from_slice(&b[end + 2..end + 2 + size]);
        b = &b[end + 2 + size + 2..];
    }
}

/// `textgan train` on the tiny corpus into `dir` (dim 8, batch 16, 2 critic steps, an
/// evaluation every 2 iterations, 4 iterations unless `extra` says), whatever its outcome.
pub fn train_tiny(dir: &Path, extra: &[&str]) -> std::process::Output {
    let corpus = Path::new(env!("CARGO_MANIFEST_DIR")).join("corpora/tiny.txt");
    Command::new(env!("CARGO_BIN_EXE_textgan"))
        .arg("train")
        .arg(&corpus)
        .arg("--out")
        .arg(dir)
        .args(["--dim", "8", "--batch", "16", "--critic-iters", "2"])
        .args(["--eval-every", "2", "--no-tui", "--quiet"])
        .args(if extra.contains(&"--iters") {
            &[][..]
        } else {
            &["--iters", "4"][..]
        })
        .args(extra)
        .output()
        .expect("textgan train runs")
}

/// [`train_tiny`], which must succeed.
pub fn tiny_run(dir: &Path, extra: &[&str]) {
    let out = train_tiny(dir, extra);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}
