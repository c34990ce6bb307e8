//! The `wactor` binary end to end: `wactor run DIR` on the real examples.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use wactor_e2e::{actors_dir, guest, repo_root};

/// The `wactor` binary, built on first use: `cargo test` builds a
/// package's binaries only for that package's own tests.
fn wactor_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "wactor", "--bin", "wactor"])
            .current_dir(repo_root())
            .status()
            .expect("run cargo build");
        assert!(status.success(), "cargo build -p wactor failed");
        let exe = std::env::current_exe().expect("current exe");
        let bin = exe
            .parent()
            .and_then(|d| d.parent())
            .expect("target dir")
            .join("wactor");
        assert!(bin.exists(), "{} is missing after cargo build", bin.display());
        bin
    })
    .clone()
}

/// A running `wactor run` whose log lines can be awaited.
struct Host {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Host {
    fn start(dir: &std::path::Path) -> Host {
        let mut child = Command::new(wactor_bin())
            .arg("run")
            .arg(dir)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start wactor");
        let stderr = child.stderr.take().expect("stderr");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        Host {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Waits for a log line containing every one of `parts`.
    fn expect_line(&mut self, parts: &[&str]) -> String {
        let matches = |l: &str| parts.iter().all(|p| l.contains(p));
        if let Some(l) = self.seen.iter().find(|l| matches(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => {
                    self.seen.push(l.clone());
                    if matches(&l) {
                        return l;
                    }
                }
                Err(_) => panic!(
                    "no log line with {parts:?} within 60 s; the log so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    fn terminate(&mut self) -> std::process::ExitStatus {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status()
            .expect("kill");
        assert!(status.success());
        self.child.wait().expect("wait")
    }
}

impl Drop for Host {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn run_serves_the_examples_and_picks_up_new_files() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["echo", "calculator", "kv", "ping", "pong"] {
        std::fs::copy(
            actors_dir().join(format!("{name}.wasm")),
            dir.path().join(format!("{name}.wasm")),
        )
        .unwrap_or_else(|e| panic!("{name}.wasm: {e} (run scripts/build-guests)"));
    }
    // Bad files are reported, and the rest still start.
    std::fs::write(dir.path().join("broken.wasm"), b"not wasm").unwrap();
    std::fs::copy(guest("wrong-world"), dir.path().join("wrong-world.wasm")).unwrap();
    // Not behaviour files at all: ignored.
    std::fs::write(dir.path().join(".hidden.wasm"), b"x").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();

    let mut host = Host::start(dir.path());
    host.expect_line(&["broken.wasm", "not a WebAssembly file"]);
    host.expect_line(&["wrong-world.wasm", "does not implement"]);
    host.expect_line(&["serving", "started=5", "failed=2"]);
    // The ping/pong exchange runs: messages and a call flow between actors.
    host.expect_line(&["finished 1000 round trips"]);
    host.expect_line(&["pong", "1000"]);
    assert!(!host
        .seen
        .iter()
        .any(|l| l.contains(".hidden") || l.contains("notes.txt")));

    // A file dropped in later starts too.
    let tmp = dir.path().join("echo2.wasm.part");
    std::fs::copy(actors_dir().join("echo.wasm"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.path().join("echo2.wasm")).unwrap();
    host.expect_line(&["actor started", "echo2"]);

    let status = host.terminate();
    assert!(status.success(), "wactor exits cleanly on SIGTERM: {status:?}");
    host.expect_line(&["stopped"]);
}

#[test]
fn run_on_a_missing_directory_says_what_to_do() {
    let out = Command::new(wactor_bin())
        .args(["run", "/definitely/not/here"])
        .output()
        .expect("run wactor");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not a directory") && err.contains("scripts/build-guests"),
        "{err}"
    );
}
