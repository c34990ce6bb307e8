//! Behaviour manifests: `NAME.toml` beside `NAME.wasm` decides what starts
//! when a directory is loaded, the limits of the behaviour's actors, and
//! what WASI grants them.
//!
//! Every test runs the real host library on guests compiled by
//! `scripts/build-guests`.

use std::path::{Path, PathBuf};
use std::time::Duration;

use wactor::manifest::Settings;
use wactor::watch::{load_behaviour, load_dir};
use wactor::{ActorState, DeliveryError, Manifest, Node, NodeConfig, Pid, SpawnError};
use wactor_e2e::proto::{Target, TestMessage, TestRequest, WireError};
use wactor_e2e::*;

const MIB: u64 = 1024 * 1024;

/// Ten minutes: a call timeout that cannot pass for the outcome under
/// test (each such call is awaited with `at_once`).
const FOREVER: Duration = Duration::from_secs(600);

/// A manifest from text, its directories relative to `base`.
fn manifest(text: &str, base: &Path) -> Manifest {
    Manifest::parse(text, base).unwrap_or_else(|e| panic!("manifest: {e}"))
}

/// Copies the compiled guest `guest` into `dir` as `NAME.wasm`, with
/// `toml` as its manifest when given.
fn put(dir: &Path, guest_name: &str, name: &str, toml: Option<&str>) -> PathBuf {
    let wasm = dir.join(format!("{name}.wasm"));
    std::fs::copy(guest(guest_name), &wasm).expect("copy guest");
    if let Some(text) = toml {
        std::fs::write(dir.join(format!("{name}.toml")), text).expect("write manifest");
    }
    wasm
}

async fn read(node: &Node, to: impl Into<wactor::Address>, path: &str) -> Result<Vec<u8>, String> {
    ask(node, to, &TestRequest::ReadFile(path.to_string()))
        .await
        .unwrap()
}

async fn write(
    node: &Node,
    to: impl Into<wactor::Address>,
    path: &str,
    contents: &[u8],
) -> Result<(), String> {
    let req = TestRequest::WriteFile {
        path: path.to_string(),
        contents: contents.to_vec(),
    };
    ask(node, to, &req).await.unwrap()
}

/// Starts a testkit `behaviour` actor and parks it in a call that is never
/// answered, so nothing leaves its mailbox until it is killed.
async fn park(node: &Node, behaviour: &str, peer: &Pid) -> Pid {
    let pid = node.spawn(behaviour, vec![]).await.unwrap();
    let req = TestRequest::Call {
        to: Target::Pid(wire(peer)),
        payload: enc(&TestRequest::NeverAnswer),
        timeout_ms: Some(600_000),
    };
    let (n, p) = (node.clone(), pid.clone());
    tokio::spawn(async move { n.call(&p, enc(&req), Some(FOREVER)).await });
    wait_until("the actor waits on its call", SOON, || {
        node.state(&pid) == Some(ActorState::WaitingOnCall)
    })
    .await;
    pid
}

// --- WASI grants ------------------------------------------------------------

/// Directories are granted relative to the manifest: a read-only one can be
/// read and not written, a read-write one written; nothing else is reachable.
#[tokio::test]
async fn granted_directories_are_readable_and_only_rw_ones_writable() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    std::fs::create_dir(root.join("data")).unwrap();
    std::fs::create_dir(root.join("scratch")).unwrap();
    std::fs::write(root.join("data/hello.txt"), b"hello").unwrap();
    put(
        root,
        "testkit",
        "testkit",
        Some(
            r#"
name = "box"
[[wasi.dirs]]
host = "data"
guest = "/data"
mode = "ro"
[[wasi.dirs]]
host = "scratch"
guest = "/scratch"
mode = "rw"
"#,
        ),
    );
    let node = Node::new(NodeConfig::default()).unwrap();
    let report = load_dir(&node, root).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.started, ["testkit"]);
    let t = node.whereis("box").expect("registered under the manifest's name");

    // Read-only: readable, and neither a new file nor an old one can be
    // written.
    assert_eq!(read(&node, &t, "/data/hello.txt").await, Ok(b"hello".to_vec()));
    let r = write(&node, &t, "/data/new.txt", b"no").await;
    assert!(r.is_err(), "wrote into a read-only dir: {r:?}");
    assert!(!root.join("data/new.txt").exists());
    let r = write(&node, &t, "/data/hello.txt", b"changed").await;
    assert!(r.is_err(), "overwrote a read-only file: {r:?}");
    assert_eq!(std::fs::read(root.join("data/hello.txt")).unwrap(), b"hello");

    // Read-write: the file lands on the host and reads back.
    assert_eq!(write(&node, &t, "/scratch/out.txt", b"written").await, Ok(()));
    assert_eq!(std::fs::read(root.join("scratch/out.txt")).unwrap(), b"written");
    assert_eq!(read(&node, &t, "/scratch/out.txt").await, Ok(b"written".to_vec()));

    // Nothing outside the grants: not the system, not the manifest beside
    // the granted dirs, not by climbing out of a grant.
    let toml = root.join("testkit.toml");
    assert!(toml.exists());
    for path in [
        "/etc/passwd",
        "/data/../testkit.toml",
        "/scratch/../data/hello.txt",
        toml.to_str().unwrap(),
    ] {
        let r = read(&node, &t, path).await;
        assert!(r.is_err(), "the guest read {path}: {r:?}");
    }
    let r = write(&node, &t, "/scratch/../escaped.txt", b"no").await;
    assert!(r.is_err(), "{r:?}");
    assert!(!root.join("escaped.txt").exists());
}

/// Granted environment variables and arguments are exactly what the guest
/// sees; a behaviour without a manifest still sees none.
#[tokio::test]
async fn a_manifest_grants_environment_and_arguments_and_nothing_more() {
    let node = node(&["testkit"]).await;
    node.load("plain", guest_bytes("testkit")).await.unwrap();
    let m = manifest(
        "[wasi]\nenv = { GREETING = \"hello\", MODE = \"test\" }\nargs = [\"testkit\", \"-v\"]\n",
        Path::new("."),
    );
    node.set_manifest("testkit", m);
    std::env::var("PATH").expect("the host has PATH set");

    let t = testkit(&node, None).await;
    let env: Vec<(String, String)> = ask(&node, &t, &TestRequest::Env).await.unwrap();
    let mut env = env;
    env.sort();
    assert_eq!(
        env,
        [
            ("GREETING".to_string(), "hello".to_string()),
            ("MODE".to_string(), "test".to_string())
        ]
    );
    let args: Vec<String> = ask(&node, &t, &TestRequest::Args).await.unwrap();
    assert_eq!(args, ["testkit", "-v"]);

    let p = node.spawn("plain", vec![]).await.unwrap();
    let env: Vec<(String, String)> = ask(&node, &p, &TestRequest::Env).await.unwrap();
    assert_eq!(env, []);
    let args: Vec<String> = ask(&node, &p, &TestRequest::Args).await.unwrap();
    assert_eq!(args, Vec::<String>::new());
}

/// A granted directory that has gone by the time an actor starts fails that
/// spawn with a reason naming it, instead of starting without it.
#[tokio::test]
async fn a_granted_directory_that_is_gone_fails_the_spawn_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    std::fs::create_dir(&data).unwrap();
    let node = node(&["testkit"]).await;
    let m = manifest("[[wasi.dirs]]\nhost = \"data\"\nguest = \"/data\"\n", dir.path());
    m.check_dirs().expect("the directory is there");
    node.set_manifest("testkit", m);
    testkit(&node, None).await;

    std::fs::remove_dir(&data).unwrap();
    match node.spawn("testkit", vec![]).await {
        Err(SpawnError::InitFailed(reason)) => {
            assert!(reason.contains("cannot be opened"), "{reason}");
            assert!(reason.contains(data.to_str().unwrap()), "{reason}");
            assert!(reason.contains("\"/data\""), "{reason}");
        }
        other => panic!("expected init-failed, got {other:?}"),
    }
}

// --- limits -----------------------------------------------------------------

/// A manifest's memory limit holds its behaviour's actors to it: the same
/// allocation succeeds for the same guest without the manifest.
#[tokio::test]
async fn a_manifest_memory_limit_applies_to_its_behaviour_only() {
    let node = node(&["testkit"]).await; // the node's limit: 64 MiB
    node.load("small", guest_bytes("testkit")).await.unwrap();
    node.set_manifest("small", manifest("memory_limit = \"16MiB\"", Path::new(".")));
    assert_eq!(node.settings("small").memory_limit_bytes, 16 * MIB as usize);

    let big = testkit(&node, None).await;
    let got: u64 = ask(&node, &big, &TestRequest::Alloc { bytes: 32 * MIB })
        .await
        .unwrap();
    assert_eq!(got, 32 * MIB);

    let small = node.spawn("small", vec![]).await.unwrap();
    let r = at_once(
        "the memory limit ends the call",
        node.call(
            &small,
            enc(&TestRequest::Alloc { bytes: 32 * MIB }),
            Some(FOREVER),
        ),
    )
    .await;
    match r {
        Err(DeliveryError::Terminated(reason)) => {
            assert!(reason.contains("limit of 16777216 bytes (16 MiB)"), "{reason}")
        }
        other => panic!("expected terminated, got {other:?}"),
    }
}

/// A manifest's mailbox capacity bounds its behaviour's mailboxes; others
/// keep the node's.
#[tokio::test]
async fn a_manifest_mailbox_capacity_applies_to_its_behaviour_only() {
    let node = node(&["testkit"]).await; // the node's capacity: 1024
    node.load("tight", guest_bytes("testkit")).await.unwrap();
    node.set_manifest("tight", manifest("mailbox = 2", Path::new(".")));
    let peer = testkit(&node, None).await;

    let tight = park(&node, "tight", &peer).await;
    let record = || enc(&TestMessage::Record(b"r".to_vec()));
    assert_eq!(node.send(&tight, record()), Ok(()));
    assert_eq!(node.send(&tight, record()), Ok(()));
    assert_eq!(node.send(&tight, record()), Err(DeliveryError::MailboxFull));

    let roomy = park(&node, "testkit", &peer).await;
    for i in 0..10 {
        assert_eq!(node.send(&roomy, record()), Ok(()), "message {i}");
    }
    node.kill(&tight, "done");
    node.kill(&roomy, "done");
}

/// A manifest's CPU budget and call timeout hold its behaviour's actors,
/// even when the node's own are far longer.
#[tokio::test]
async fn a_manifest_cpu_budget_and_call_timeout_apply() {
    let config = NodeConfig {
        cpu_budget_ticks: 60_000, // 10 minutes
        call_timeout: FOREVER,
        ..NodeConfig::default()
    };
    let node = node_with(config, &["testkit"]).await;
    node.load("quick", guest_bytes("testkit")).await.unwrap();
    node.set_manifest(
        "quick",
        manifest("cpu_budget_ms = 200\ncall_timeout_ms = 300", Path::new(".")),
    );
    let peer = testkit(&node, None).await;

    let q = node.spawn("quick", vec![]).await.unwrap();
    let req = TestRequest::Call {
        to: Target::Pid(wire(&peer)),
        payload: enc(&TestRequest::NeverAnswer),
        timeout_ms: None,
    };
    let r: Result<Vec<u8>, WireError> = ask(&node, &q, &req).await.unwrap();
    assert_eq!(
        r,
        Err(WireError::Timeout),
        "the manifest's 300 ms, not the node's 10 minutes"
    );

    let spun = at_once(
        "the cpu budget ends the call",
        node.call(&q, enc(&TestRequest::Spin), Some(FOREVER)),
    );
    match spun.await {
        Err(DeliveryError::Terminated(reason)) => {
            assert!(
                reason.contains("cpu budget") && reason.contains("200 ms"),
                "{reason}"
            )
        }
        other => panic!("expected terminated, got {other:?}"),
    }
    // The node's settings are untouched for the other behaviour.
    let s: Settings = node.settings("testkit");
    assert_eq!((s.cpu_budget_ticks, s.call_timeout), (60_000, FOREVER));
}

// --- loading a directory ---------------------------------------------------------

/// `pool`, `instances`, `name` and `instances = 0` each start what they say;
/// a behaviour without a manifest starts one instance under its own name.
#[tokio::test]
async fn loading_a_directory_starts_what_each_manifest_says() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(
        root,
        "testkit",
        "testkit",
        Some("pool = 3\nname = \"workers\"\nmemory_limit = \"16MiB\"\n"),
    );
    put(root, "echo", "echo", Some("instances = 2\n"));
    put(root, "kv", "kv", Some("instances = 0\n"));
    put(root, "counter", "counter", None);
    let node = Node::new(NodeConfig::default()).unwrap();
    let report = load_dir(&node, root).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(report.loaded, ["counter", "echo", "kv", "testkit"]);

    // A pool of 3 behind the manifest's name, each worker under the
    // manifest's limits.
    let pool = node.whereis("workers").expect("the pool is registered");
    assert_eq!(node.pool_stats("workers").unwrap().size, 3);
    assert_eq!(node.pool_workers(&pool).unwrap().len(), 3);
    assert!(node.whereis("testkit").is_none());
    assert_echoes(&node, "workers", b"hi").await;
    let r = at_once(
        "the memory limit ends the call",
        node.call(
            "workers",
            enc(&TestRequest::Alloc { bytes: 32 * MIB }),
            Some(FOREVER),
        ),
    )
    .await;
    match r {
        Err(DeliveryError::Terminated(reason)) => assert!(reason.contains("(16 MiB)"), "{reason}"),
        other => panic!("expected terminated, got {other:?}"),
    }
    wait_until("the pool replaces its worker", SOON, || {
        node.pool_stats("workers")
            .is_ok_and(|s| s.size == 3 && s.restarts == 1)
    })
    .await;

    // Two echo actors; the first holds the name.
    let echoes: Vec<String> = node
        .actors()
        .into_iter()
        .filter(|a| a.behaviour == "echo")
        .map(|a| a.pid)
        .collect();
    assert_eq!(echoes.len(), 2, "{echoes:?}");
    let named = node.whereis("echo").expect("echo is registered");
    assert_eq!(named.to_string(), echoes[0]);
    assert_eq!(node.call("echo", b"e".to_vec(), None).await, Ok(b"e".to_vec()));

    // kv is loaded and nothing of it runs.
    assert!(node.behaviours().iter().any(|b| b.name == "kv"));
    assert!(node.actors().iter().all(|a| a.behaviour != "kv"));
    assert!(node.whereis("kv").is_none());
    node.spawn("kv", vec![]).await.expect("kv can be spawned");

    // No manifest: one instance under the behaviour's name.
    assert_eq!(
        node.actors().iter().filter(|a| a.behaviour == "counter").count(),
        1
    );
    assert!(node.whereis("counter").is_some());
    assert!(node.manifest("counter").is_none());
}

/// A malformed manifest, or one granting a missing directory, rejects its
/// behaviour with an error naming the file and line; the others load.
#[tokio::test]
async fn a_bad_manifest_rejects_only_its_behaviour() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(
        root,
        "echo",
        "echo",
        Some("instances = 1\nname = \"e\"\npol = 3\n"),
    );
    put(
        root,
        "kv",
        "kv",
        Some("mailbox = 8\n\n[[wasi.dirs]]\nhost = \"nowhere\"\nguest = \"/data\"\n"),
    );
    put(root, "counter", "counter", Some("mailbox = 0\n"));
    put(root, "testkit", "testkit", None);
    let node = Node::new(NodeConfig::default()).unwrap();
    let report = load_dir(&node, root).await.unwrap();

    assert_eq!(report.loaded, ["testkit"]);
    assert_eq!(report.started, ["testkit"]);
    let failed: Vec<(PathBuf, &str)> = report
        .failed
        .iter()
        .map(|(p, e)| (p.clone(), e.as_str()))
        .collect();
    assert_eq!(failed.len(), 3, "{failed:?}");
    let (file, e) = &failed[0];
    assert_eq!(file, &root.join("counter.toml"));
    assert!(
        e.contains("counter.toml, line 1, column 11: `mailbox` = 0 is out of range"),
        "{e}"
    );
    let (file, e) = &failed[1];
    assert_eq!(file, &root.join("echo.toml"));
    assert!(
        e.contains("echo.toml, line 3, column 1: unknown field `pol`"),
        "{e}"
    );
    let (file, e) = &failed[2];
    assert_eq!(file, &root.join("kv.toml"));
    assert!(e.contains("kv.toml, line 3"), "{e}");
    assert!(e.contains("nowhere") && e.contains("cannot be opened"), "{e}");

    let loaded: Vec<String> = node.behaviours().iter().map(|b| b.name.clone()).collect();
    assert_eq!(loaded, ["testkit"]);
    assert!(node.manifest("echo").is_none());
    assert_echoes(&node, "testkit", b"up").await;
}

/// Loading a file again takes its manifest again: a good one replaces the
/// old, a bad one is refused and leaves the old in force, and a removed one
/// is dropped.
#[tokio::test]
async fn loading_a_file_again_takes_its_manifest_again() {
    let dir = tempfile::tempdir().unwrap();
    let wasm = put(dir.path(), "echo", "echo", Some("mailbox = 8\n"));
    let toml = dir.path().join("echo.toml");
    let node = Node::new(NodeConfig::default()).unwrap();

    load_behaviour(&node, &wasm).await.unwrap();
    assert_eq!(node.settings("echo").mailbox_capacity, 8);

    std::fs::write(&toml, "mailbox = 16\n").unwrap();
    load_behaviour(&node, &wasm).await.unwrap();
    assert_eq!(node.settings("echo").mailbox_capacity, 16);

    std::fs::write(&toml, "mailbox = \"many\"\n").unwrap();
    let e = load_behaviour(&node, &wasm).await.unwrap_err();
    assert_eq!(e.file(&wasm), toml);
    assert!(e.to_string().contains("echo.toml, line 1"), "{e}");
    assert_eq!(node.settings("echo").mailbox_capacity, 16);

    std::fs::remove_file(&toml).unwrap();
    load_behaviour(&node, &wasm).await.unwrap();
    assert!(node.manifest("echo").is_none());
    assert_eq!(
        node.settings("echo").mailbox_capacity,
        NodeConfig::default().mailbox_capacity
    );
}

// --- manifests at run time ----------------------------------------------------------

/// The `[restart]` table is the policy supervision follows.
#[tokio::test]
async fn a_manifest_restart_policy_restarts_its_actors() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(
        root,
        "testkit",
        "testkit",
        Some("[restart]\npolicy = \"permanent\"\n"),
    );
    let node = Node::new(NodeConfig::default()).unwrap();
    let report = load_dir(&node, root).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let pid = node.whereis("testkit").expect("testkit is registered");
    let trapped = at_once(
        "the trap ends the call",
        node.call(&pid, enc(&TestRequest::Trap), Some(FOREVER)),
    )
    .await;
    assert!(
        matches!(trapped, Err(DeliveryError::Terminated(_))),
        "{trapped:?}"
    );
    wait_until("the actor is restarted", SOON, || node.restarts(&pid) == Some(1)).await;
    assert_echoes(&node, &pid, b"back").await;
}

/// How many manifests the node refused, from its metrics.
fn manifests_rejected(node: &Node) -> u64 {
    node.metrics_text()
        .lines()
        .find_map(|l| l.strip_prefix("wactor_manifests_rejected_total "))
        .and_then(|n| n.trim().parse().ok())
        .expect("the metric is exported")
}

/// Writes a manifest the way an editor saves: to a temporary name, then
/// renamed over.
fn save(dir: &Path, name: &str, text: &str) {
    let tmp = dir.join(format!(".{name}.toml.tmp"));
    std::fs::write(&tmp, text).expect("write manifest");
    std::fs::rename(&tmp, dir.join(format!("{name}.toml"))).expect("rename manifest");
}

/// Plain actors of `behaviour`, oldest first, and its pools.
fn census(node: &Node, behaviour: &str) -> (Vec<Pid>, Vec<Pid>) {
    let (pools, plain): (Vec<_>, Vec<_>) = node.actors_of(behaviour).into_iter().partition(|(_, p)| *p);
    (
        plain.into_iter().map(|(p, _)| p).collect(),
        pools.into_iter().map(|(p, _)| p).collect(),
    )
}

/// A manifest written, changed, broken and removed while the host watches
/// the directory: each valid version is applied to the running behaviour
/// (grants in place with the state kept, restart policy, instance count,
/// pool), and a malformed one changes nothing.
#[tokio::test]
async fn a_manifest_changed_while_running_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(root, "testkit", "testkit", None);
    let node = Node::new(NodeConfig::default()).unwrap();
    load_dir(&node, root).await.unwrap();
    let _watcher = wactor::watch::watch_dir(node.clone(), root).unwrap();
    let first = node.whereis("testkit").expect("testkit is registered");
    node.send(&first, enc(&TestMessage::Record(b"kept".to_vec())))
        .unwrap();
    let env: Vec<(String, String)> = ask(&node, &first, &TestRequest::Env).await.unwrap();
    assert!(env.is_empty(), "{env:?}");

    // Three instances, an environment and a restart policy.
    save(
        root,
        "testkit",
        "instances = 3\n[restart]\npolicy = \"permanent\"\n[wasi]\nenv = { MODE = \"blue\" }\n",
    );
    wait_until("three instances run", SOON, || {
        census(&node, "testkit").0.len() == 3
    })
    .await;
    assert_eq!(census(&node, "testkit").0[0], first, "the running actor stays");
    let env: Vec<(String, String)> = ask(&node, &first, &TestRequest::Env).await.unwrap();
    assert_eq!(env, [("MODE".to_string(), "blue".to_string())]);
    let received: Vec<Vec<u8>> = ask(&node, &first, &TestRequest::Received).await.unwrap();
    assert_eq!(received, [b"kept".to_vec()], "the state survived the new grants");
    let trapped = at_once(
        "the trap ends the call",
        node.call(&first, enc(&TestRequest::Trap), Some(FOREVER)),
    )
    .await;
    assert!(
        matches!(trapped, Err(DeliveryError::Terminated(_))),
        "{trapped:?}"
    );
    wait_until("the actor is restarted", SOON, || {
        node.restarts(&first) == Some(1)
    })
    .await;

    // A malformed manifest changes nothing.
    let rejected = manifests_rejected(&node);
    save(root, "testkit", "instances = 1\npol = 2\n");
    wait_until("the manifest is refused", SOON, || {
        manifests_rejected(&node) == rejected + 1
    })
    .await;
    assert_eq!(census(&node, "testkit").0.len(), 3);
    let env: Vec<(String, String)> = ask(&node, &first, &TestRequest::Env).await.unwrap();
    assert_eq!(env, [("MODE".to_string(), "blue".to_string())]);

    // Fewer instances: the newest stop, the first keeps its name.
    save(root, "testkit", "instances = 1\n");
    wait_until("one instance runs", SOON, || {
        census(&node, "testkit").0 == [first.clone()]
    })
    .await;
    assert_eq!(node.whereis("testkit"), Some(first.clone()));

    // A pool instead of instances.
    save(root, "testkit", "pool = 2\nname = \"workers\"\n");
    wait_until("a pool of two runs", SOON, || {
        let (plain, pools) = census(&node, "testkit");
        plain.is_empty() && pools.len() == 1 && node.pool_workers("workers").is_ok_and(|w| w.len() == 2)
    })
    .await;
    assert!(!node.is_alive(&first));
    assert_echoes(&node, "workers", b"w").await;

    // A bigger pool.
    save(root, "testkit", "pool = 4\nname = \"workers\"\n");
    wait_until("the pool grows to four", SOON, || {
        node.pool_workers("workers").is_ok_and(|w| w.len() == 4)
    })
    .await;

    // No manifest: back to one instance under the behaviour's name.
    std::fs::remove_file(root.join("testkit.toml")).unwrap();
    wait_until("one named instance runs", SOON, || {
        let (plain, pools) = census(&node, "testkit");
        plain.len() == 1 && pools.is_empty() && node.whereis("testkit") == plain.first().cloned()
    })
    .await;
    assert!(node.manifest("testkit").is_none());
}
