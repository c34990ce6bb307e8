//! Shared helpers for the end-to-end tests.
//!
//! The tests run the real host (the `wactor` library, or the `wactor`
//! binary) on real guests compiled by `scripts/build-guests`: the examples
//! in `target/actors/` and the test guests in `target/test-guests/`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{de::DeserializeOwned, Serialize};
use tokio::sync::broadcast;
use wactor::{ActorInfo, Exit, Node, NodeConfig, Pid, Restart, RestartPolicy};

pub use testkit_proto as proto;

pub mod binary;

/// A node config whose actors may each run `ticks` epoch ticks per
/// message.
pub fn budget(ticks: u64) -> NodeConfig {
    NodeConfig {
        cpu_budget_ticks: ticks,
        ..NodeConfig::default()
    }
}

/// A CPU budget of hours: only a kill ends a spinning handler.
pub fn endless() -> NodeConfig {
    budget(1_000_000)
}

/// Restart always, up to five times in ten minutes.
pub fn permanent() -> RestartPolicy {
    RestartPolicy {
        restart: Restart::Permanent,
        max_restarts: 5,
        within: Duration::from_secs(600),
    }
}

/// The repository root.
pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("tests/ has a parent")
        .to_path_buf()
}

/// Where `scripts/build-guests` puts the example actors.
pub fn actors_dir() -> PathBuf {
    std::env::var_os("WACTOR_ACTORS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/actors"))
}

/// Where `scripts/build-guests` puts the test-only guests.
pub fn test_guests_dir() -> PathBuf {
    std::env::var_os("WACTOR_TEST_GUESTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target/test-guests"))
}

/// The compiled guest `name`, from the examples or the test guests.
pub fn guest(name: &str) -> PathBuf {
    for dir in [actors_dir(), test_guests_dir()] {
        let p = dir.join(format!("{name}.wasm"));
        if p.exists() {
            return p;
        }
    }
    panic!(
        "guest `{name}` is not built: run `scripts/build-guests` first (looked in {} and {})",
        actors_dir().display(),
        test_guests_dir().display()
    );
}

/// The bytes of the compiled guest `name`.
pub fn guest_bytes(name: &str) -> Vec<u8> {
    std::fs::read(guest(name)).expect("read guest")
}

/// The guest `name` built for `wasm32-wasip1` (a core module), from
/// `target/actors-wasip1/` or `target/test-guests-wasip1/`. If it is not
/// there, `scripts/build-guests --target wasm32-wasip1` runs first (once per
/// test binary), so the README's test command also covers these tests.
pub fn wasip1_guest(name: &str) -> PathBuf {
    let dirs = [
        repo_root().join("target/actors-wasip1"),
        repo_root().join("target/test-guests-wasip1"),
    ];
    let find = || {
        dirs.iter()
            .map(|dir| dir.join(format!("{name}.wasm")))
            .find(|p| p.exists())
    };
    if let Some(p) = find() {
        return p;
    }
    static BUILT: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    BUILT.get_or_init(|| {
        let status = std::process::Command::new(repo_root().join("scripts/build-guests"))
            .args(["--target", "wasm32-wasip1"])
            .current_dir(repo_root())
            .status()
            .expect("run scripts/build-guests");
        assert!(
            status.success(),
            "scripts/build-guests --target wasm32-wasip1 failed"
        );
    });
    find().unwrap_or_else(|| {
        panic!(
            "guest `{name}` is not built for wasm32-wasip1 (looked in {} and {})",
            dirs[0].display(),
            dirs[1].display()
        )
    })
}

/// The bytes of the guest `name` built for `wasm32-wasip1`.
pub fn wasip1_guest_bytes(name: &str) -> Vec<u8> {
    std::fs::read(wasip1_guest(name)).expect("read wasip1 guest")
}

/// A node with `config` and the guests `names` loaded.
pub async fn node_with(config: NodeConfig, names: &[&str]) -> Node {
    let node = Node::new(config).expect("node");
    for name in names {
        node.load(name, guest_bytes(name))
            .await
            .unwrap_or_else(|e| panic!("load {name}: {e}"));
    }
    node
}

/// A node with default settings and the guests `names` loaded.
pub async fn node(names: &[&str]) -> Node {
    node_with(NodeConfig::default(), names).await
}

/// A value from the node's metrics page.
pub fn metric(node: &Node, name: &str) -> u64 {
    let text = node.metrics_text();
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

/// Postcard-encodes a value.
pub fn enc<T: Serialize>(v: &T) -> Vec<u8> {
    postcard::to_allocvec(v).expect("encode")
}

/// Postcard-decodes a value.
pub fn dec<T: DeserializeOwned>(bytes: &[u8]) -> T {
    postcard::from_bytes(bytes).expect("decode")
}

/// Starts a testkit actor, optionally registered under `name`.
pub async fn testkit(node: &Node, name: Option<&str>) -> Pid {
    let args = proto::TestArgs {
        register: name.map(str::to_string),
    };
    node.spawn("testkit", enc(&args)).await.expect("spawn testkit")
}

/// Calls a testkit actor with a request and decodes the reply as `T`.
pub async fn ask<T: DeserializeOwned>(
    node: &Node,
    to: impl Into<wactor::Address>,
    req: &proto::TestRequest,
) -> Result<T, wactor::DeliveryError> {
    node.call(to, enc(req), Some(Duration::from_secs(30)))
        .await
        .map(|b| dec(&b))
}

/// Asks the testkit actor `to` to echo `bytes`, and checks that it does:
/// the actor (or a worker of the pool, or the name) is there and answers.
pub async fn assert_echoes(node: &Node, to: impl Into<wactor::Address>, bytes: &[u8]) {
    let to = to.into();
    let echoed: Vec<u8> = ask(node, to.clone(), &proto::TestRequest::Echo(bytes.to_vec()))
        .await
        .unwrap_or_else(|e| panic!("{to:?} did not answer an echo: {e:?}"));
    assert_eq!(echoed, bytes, "{to:?} echoed something else");
}

/// The wire form of a host pid, for requests that name a process.
pub fn wire(pid: &Pid) -> proto::WirePid {
    proto::WirePid {
        node: pid.node.to_string(),
        id: pid.id,
        creation: pid.creation,
    }
}

/// Waits until `f` is true, checking often, for at most `limit`; panics
/// with `what` if it never is. For waiting on an event that has no
/// notification of its own.
pub async fn wait_until(what: &str, limit: Duration, mut f: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + limit;
    while !f() {
        if tokio::time::Instant::now() > deadline {
            panic!("timed out after {limit:?} waiting until {what}");
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// A generous bound for things that should happen at once.
pub const SOON: Duration = Duration::from_secs(20);

/// Awaits `fut` for at most [`SOON`]; panics with `what` if it takes
/// longer. For waits whose claim is "at once" but whose own timeout is long
/// (so that a timeout is not mistaken for the outcome under test): a
/// regression then fails in seconds instead of hanging the suite.
pub async fn at_once<T>(what: &str, fut: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(SOON, fut)
        .await
        .unwrap_or_else(|_| panic!("timed out after {SOON:?} waiting until {what}"))
}

/// The actor-table row of `pid`, if it is alive.
pub fn row(node: &Node, pid: &Pid) -> Option<ActorInfo> {
    let pid = pid.to_string();
    node.actors().into_iter().find(|a| a.pid == pid)
}

/// The exit of `pid`, from a stream subscribed before it could happen;
/// panics if it does not come within [`SOON`].
pub async fn exit_of(exits: &mut broadcast::Receiver<Exit>, pid: &Pid) -> Exit {
    exits_of(exits, std::slice::from_ref(pid)).await.remove(0)
}

/// The exits of every one of `pids` (in the order they came), from a
/// stream subscribed before they could happen; panics naming the ones
/// still alive if they do not all come within [`SOON`].
pub async fn exits_of(exits: &mut broadcast::Receiver<Exit>, pids: &[Pid]) -> Vec<Exit> {
    let mut ended: Vec<Exit> = Vec::new();
    let wait = async {
        while ended.len() < pids.len() {
            match exits.recv().await {
                Ok(exit) if pids.contains(&exit.pid) && !ended.iter().any(|e| e.pid == exit.pid) => {
                    ended.push(exit)
                }
                Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Err(broadcast::error::RecvError::Closed) => panic!("the exit stream closed"),
            }
        }
    };
    if tokio::time::timeout(SOON, wait).await.is_err() {
        let waiting: Vec<String> = pids
            .iter()
            .filter(|p| !ended.iter().any(|e| &e.pid == *p))
            .map(|p| p.to_string())
            .collect();
        panic!("{} did not end within {SOON:?}", waiting.join(", "));
    }
    ended
}
