//! The `wactor` binary, built on first use, and a running `wactor run`
//! whose log can be awaited line by line.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use crate::repo_root;

/// The `wactor` binary, built on first use: `cargo test` builds a
/// package's binaries only for that package's own tests.
pub fn wactor_bin() -> PathBuf {
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

/// How long a log line may take to appear.
const LOG_WAIT: Duration = Duration::from_secs(60);

/// A running `wactor run` whose log lines can be awaited.
pub struct Host {
    child: Child,
    lines: mpsc::Receiver<String>,
    /// Every log line read so far.
    pub seen: Vec<String>,
    /// The default compile cache directory of this run (`WACTOR_CACHE_DIR`),
    /// private to it so that tests leave nothing in the user's cache.
    _cache: tempfile::TempDir,
}

impl Host {
    /// Starts `wactor run DIR`.
    pub fn start(dir: &Path) -> Host {
        Host::start_with(dir, &[])
    }

    /// Starts `wactor run DIR ARGS...`.
    pub fn start_with(dir: &Path, args: &[&str]) -> Host {
        let cache = tempfile::tempdir().expect("temp cache dir");
        let mut child = Command::new(wactor_bin())
            .arg("run")
            .arg(dir)
            // A free port: tests run in parallel, and 7420 may be taken.
            .args(["--http", "127.0.0.1:0"])
            .args(args)
            .env("RUST_LOG", "info")
            .env("NO_COLOR", "1")
            .env("WACTOR_CACHE_DIR", cache.path())
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
            _cache: cache,
        }
    }

    /// Waits for a log line containing every one of `parts`.
    pub fn expect_line(&mut self, parts: &[&str]) -> String {
        let matches = |l: &str| parts.iter().all(|p| l.contains(p));
        if let Some(l) = self.seen.iter().find(|l| matches(l)) {
            return l.clone();
        }
        let deadline = Instant::now() + LOG_WAIT;
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
                    "no log line with {parts:?} within {LOG_WAIT:?}; the log so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
    }

    /// Stops the host with SIGTERM and waits for it to exit.
    pub fn terminate(&mut self) -> std::process::ExitStatus {
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
