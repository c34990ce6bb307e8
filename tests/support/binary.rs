//! The `wactor` binary, built on first use, a running `wactor run` whose
//! log can be awaited line by line, and a `nats-server` for clusters.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{mpsc, OnceLock};
use std::time::{Duration, Instant};

use crate::repo_root;

/// The `wactor` binary of the profile these tests were built with (a
/// `cargo test --release` runs the release binary), built on first use:
/// `cargo test` builds a package's binaries only for that package's own
/// tests, and building it here each run means it is never a stale one.
pub fn wactor_bin() -> PathBuf {
    static BIN: OnceLock<PathBuf> = OnceLock::new();
    BIN.get_or_init(|| {
        // This test runs as TARGET/PROFILE/deps/NAME-HASH.
        let exe = std::env::current_exe().expect("current exe");
        let profile_dir = exe
            .parent()
            .and_then(|deps| deps.parent())
            .expect("the test's profile directory");
        let target_dir = profile_dir.parent().expect("the target directory");
        let profile = match profile_dir.file_name().and_then(|n| n.to_str()) {
            // Cargo names the `dev` profile's directory `debug`.
            Some("debug") => "dev",
            Some(name) => name,
            None => panic!("no profile in {}", exe.display()),
        };
        let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
        let status = Command::new(cargo)
            .args(["build", "-p", "wactor", "--bin", "wactor", "--profile", profile])
            .arg("--target-dir")
            .arg(target_dir)
            .current_dir(repo_root())
            .status()
            .expect("run cargo build");
        assert!(
            status.success(),
            "cargo build -p wactor --profile {profile} failed"
        );
        let bin = profile_dir.join("wactor");
        assert!(bin.exists(), "{} is missing after cargo build", bin.display());
        bin
    })
    .clone()
}

/// Runs `wactor ARGS` as a user would, with `stdin` as its input and no
/// host or token from the environment, and waits for it.
pub fn wactor_cli(args: &[&str], stdin: &[u8]) -> std::process::Output {
    use std::io::Write as _;
    let mut child = Command::new(wactor_bin())
        .args(args)
        .env_remove("WACTOR_HOST")
        .env_remove("WACTOR_TOKEN")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start wactor");
    let mut input = child.stdin.take().expect("stdin");
    input.write_all(stdin).expect("write stdin");
    drop(input);
    child.wait_with_output().expect("wait for wactor")
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
    cache: tempfile::TempDir,
}

impl Host {
    /// Starts `wactor run DIR`.
    pub fn start(dir: &Path) -> Host {
        Host::start_with(dir, &[])
    }

    /// Starts `wactor run DIR ARGS...`.
    pub fn start_with(dir: &Path, args: &[&str]) -> Host {
        Host::start_logging(dir, args, "info")
    }

    /// Starts `wactor run DIR ARGS...` with `RUST_LOG=log`.
    pub fn start_logging(dir: &Path, args: &[&str], log: &str) -> Host {
        Host::start_env(dir, args, log, &[])
    }

    /// Starts `wactor run DIR ARGS...` with `RUST_LOG=log` and the
    /// environment variables `env`.
    pub fn start_env(dir: &Path, args: &[&str], log: &str, env: &[(&str, &str)]) -> Host {
        let cache = tempfile::tempdir().expect("temp cache dir");
        let mut child = Command::new(wactor_bin())
            .arg("run")
            .arg(dir)
            // A free port: tests run in parallel, and 7420 may be taken.
            .args(["--http", "127.0.0.1:0"])
            .args(args)
            .envs(env.iter().copied())
            .env("RUST_LOG", log)
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
            cache,
        }
    }

    /// The host's process id.
    pub fn id(&self) -> u32 {
        self.child.id()
    }

    /// Waits for a log line containing every one of `parts`.
    pub fn expect_line(&mut self, parts: &[&str]) -> String {
        self.expect_line_after(0, parts)
    }

    /// How many log lines were read so far: a mark for
    /// [`expect_line_after`](Host::expect_line_after).
    pub fn mark(&self) -> usize {
        self.seen.len()
    }

    /// Waits for a log line containing every one of `parts`, ignoring the
    /// first `mark` lines read.
    pub fn expect_line_after(&mut self, mark: usize, parts: &[&str]) -> String {
        let matches = |l: &str| parts.iter().all(|p| l.contains(p));
        if let Some(l) = self.seen.iter().skip(mark).find(|l| matches(l)) {
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

    /// The base URL of the host's HTTP API, once `/healthz` says it is
    /// ready (every file found at start-up loaded).
    pub fn ready_url(&mut self) -> String {
        let line = self.expect_line(&["HTTP API listening"]);
        let start = line.find("http://").expect("a URL in the line");
        let url: String = line[start..]
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, ':' | '/' | '.'))
            .collect();
        let client = reqwest::blocking::Client::new();
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            match client.get(format!("{url}/healthz")).send() {
                Ok(res) if res.status() == 200 => return url,
                Ok(res) => assert_eq!(res.status(), 503, "/healthz while starting"),
                Err(e) => panic!("{url}/healthz: {e}"),
            }
            assert!(Instant::now() < deadline, "{url} not ready in 120 s");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Waits for the host to exit on its own (at most the log wait).
    pub fn wait_exit(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + LOG_WAIT;
        loop {
            if let Some(status) = self.child.try_wait().expect("wait") {
                return status;
            }
            assert!(
                Instant::now() < deadline,
                "the host did not exit within {LOG_WAIT:?}"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Kills the host at once (SIGKILL), as a crash would, and waits for
    /// it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The host's default compile cache directory (`WACTOR_CACHE_DIR`).
    pub fn cache_dir(&self) -> &Path {
        self.cache.path()
    }

    /// Every line the host wrote to its log, to the last: stops the host
    /// (SIGTERM) if it is still running, and reads its log to the end.
    pub fn all_lines(mut self) -> Vec<String> {
        if self.child.try_wait().expect("wait").is_none() {
            self.terminate();
        }
        let deadline = Instant::now() + LOG_WAIT;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(l) => self.seen.push(l),
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
                Err(mpsc::RecvTimeoutError::Timeout) => panic!(
                    "the host's log did not end within {LOG_WAIT:?} of its exit; the log so far:\n{}",
                    self.seen.join("\n")
                ),
            }
        }
        std::mem::take(&mut self.seen)
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

/// POSTs `body` to `/v1/actors/NAME/call` and returns the answer's bytes.
pub fn http_call(url: &str, name: &str, body: Vec<u8>) -> Result<Vec<u8>, String> {
    http_call_within(url, name, body, Duration::from_secs(90))
}

/// [`http_call`], giving up on the answer after `limit`.
pub fn http_call_within(url: &str, name: &str, body: Vec<u8>, limit: Duration) -> Result<Vec<u8>, String> {
    let res = reqwest::blocking::Client::new()
        .post(format!("{url}/v1/actors/{name}/call"))
        .header("x-wactor-timeout-ms", "60000")
        .timeout(limit)
        .body(body)
        .send()
        .map_err(|e| e.to_string())?;
    let status = res.status();
    let bytes = res.bytes().map_err(|e| e.to_string())?.to_vec();
    if status == 200 {
        Ok(bytes)
    } else {
        Err(format!("{status}: {}", String::from_utf8_lossy(&bytes)))
    }
}

/// A `nats-server` on a free loopback port, killed on drop.
pub struct NatsServer {
    child: Child,
    port: u16,
    args: Vec<String>,
}

impl NatsServer {
    /// Starts `nats-server` and waits until it accepts connections.
    pub fn start() -> NatsServer {
        NatsServer::start_with(&[])
    }

    /// Starts `nats-server ARGS...` (e.g. `--user`, `--tls`) and waits
    /// until it accepts connections.
    pub fn start_with(args: &[&str]) -> NatsServer {
        let port = free_port();
        let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
        let server = NatsServer {
            child: spawn_nats(port, &args),
            port,
            args,
        };
        server.wait_accepting();
        server
    }

    /// The server's port on 127.0.0.1.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// Kills the server (SIGKILL) and waits for it to be gone.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Starts the server again on the same port, after [`kill`](Self::kill),
    /// and waits until it accepts connections.
    pub fn restart(&mut self) {
        self.kill();
        self.child = spawn_nats(self.port, &self.args);
        self.wait_accepting();
    }

    /// The server's URL.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn wait_accepting(&self) {
        let deadline = Instant::now() + LOG_WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not accept connections on port {} within {LOG_WAIT:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Publishes raw bytes on `subject`, as any NATS client could.
    pub fn publish_raw(&self, subject: &str, bytes: &[u8]) {
        use std::io::{Read as _, Write as _};
        let mut conn = std::net::TcpStream::connect(("127.0.0.1", self.port)).expect("connect to nats");
        conn.set_read_timeout(Some(LOG_WAIT)).expect("timeout");
        let mut msg = format!(
            "CONNECT {{\"verbose\":false}}\r\nPUB {subject} {}\r\n",
            bytes.len()
        )
        .into_bytes();
        msg.extend_from_slice(bytes);
        msg.extend_from_slice(b"\r\nPING\r\n");
        conn.write_all(&msg).expect("publish");
        // The server answers the PING once it has handled the PUB.
        let mut seen = Vec::new();
        let mut buf = [0u8; 512];
        while !String::from_utf8_lossy(&seen).contains("PONG") {
            let n = conn.read(&mut buf).expect("read from nats");
            assert!(
                n > 0,
                "nats closed the connection: {}",
                String::from_utf8_lossy(&seen)
            );
            seen.extend_from_slice(&buf[..n]);
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_nats(port: u16, args: &[String]) -> Child {
    Command::new(nats_server_bin())
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nats-server (Debian package `nats-server`)")
}

/// `nats-server`, from `PATH` or where the Debian package puts it.
fn nats_server_bin() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/nats-server");
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from("nats-server")
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}
