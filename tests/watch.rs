//! The watched directory: what counts as a change of a behaviour file or a
//! manifest, what a manifest change may do to running actors, and how an
//! upgrade reports itself.
//!
//! The tests on the watch loop run the real `wactor` binary; those on
//! manifests and spawned actors run the host library, which can reach the
//! actors other actors spawned. All run real compiled guests.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use wactor::{Node, NodeConfig, Pid};
use wactor_e2e::binary::Host;
use wactor_e2e::proto::{TestMessage, TestRequest, WirePid};
use wactor_e2e::*;

/// The host's debounce window (`wactor::watch::DEBOUNCE`).
const DEBOUNCE: Duration = wactor::watch::DEBOUNCE;

/// Long enough for anything a debounce window could start to have shown
/// in the log: twenty windows.
const QUIET: Duration = Duration::from_millis(DEBOUNCE.as_millis() as u64 * 20);

/// Copies the compiled guest `g` into `dir` as `name.wasm`.
fn put(dir: &Path, g: &str, name: &str) {
    std::fs::copy(guest(g), dir.join(format!("{name}.wasm"))).expect("copy guest");
}

/// A metric from the text of a `/metrics` page.
fn metric_in(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or_else(|| panic!("no metric {name} in:\n{text}"))
}

/// The counters that move when the host reads a behaviour or a manifest.
fn load_counters(url: &str) -> [u64; 5] {
    let text = reqwest::blocking::get(format!("{url}/metrics"))
        .and_then(|r| r.text())
        .expect("GET /metrics");
    [
        "wactor_behaviour_loads_total",
        "wactor_behaviour_load_failures_total",
        "wactor_reloads_total",
        "wactor_manifests_applied_total",
        "wactor_manifests_rejected_total",
    ]
    .map(|m| metric_in(&text, m))
}

/// Bytes the process `pid` has read so far, from files, pipes and
/// sockets alike (`rchar` in `/proc/PID/io`).
fn bytes_read(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("read /proc/PID/io");
    io.lines()
        .find_map(|l| l.strip_prefix("rchar: "))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("no rchar in {io}"))
}

/// Drops a new behaviour file `name.wasm` into `dir` and waits until it
/// runs: every log line the watch loop wrote before it has been read by
/// then. Returns the lines logged since `mark` that are not about `name`.
fn fence(host: &mut Host, dir: &Path, mark: usize, name: &str) -> Vec<String> {
    let tmp = dir.join(format!(".{name}.wasm.part"));
    std::fs::copy(guest("echo"), &tmp).expect("copy guest");
    std::fs::rename(&tmp, dir.join(format!("{name}.wasm"))).expect("rename");
    host.expect_line_after(mark, &["actor started", name]);
    host.seen[mark..]
        .iter()
        .filter(|l| !l.contains(name))
        .cloned()
        .collect()
}

/// Reading the files of a watched directory, as `cat`, a backup or an
/// editor opening them would, is no change: nothing is loaded, no manifest
/// is read, nothing is logged. (The host used to take its own reads of a
/// file for changes, and read it again every debounce window for ever.)
#[test]
fn reading_watched_files_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(root, "echo", "echo");
    std::fs::write(root.join("echo.toml"), "instances = 1\n").unwrap();
    // A behaviour that does not load, one whose manifest is malformed, and
    // a file that is no behaviour at all.
    std::fs::write(root.join("broken.wasm"), b"not wasm").unwrap();
    put(root, "echo", "badly");
    std::fs::write(root.join("badly.toml"), "instances = \"many\"\n").unwrap();
    std::fs::write(root.join("notes.txt"), b"x").unwrap();

    let mut host = Host::start(root);
    let url = host.ready_url();
    host.expect_line(&["serving", "started=1", "failed=2"]);
    let before = load_counters(&url);
    let mark = host.mark();

    let out = tempfile::tempdir().unwrap();
    for _ in 0..3 {
        for file in [
            "echo.wasm",
            "echo.toml",
            "broken.wasm",
            "badly.wasm",
            "badly.toml",
            "notes.txt",
        ] {
            std::fs::read(root.join(file)).expect("read");
            // A copy out of the directory, as a backup makes.
            std::fs::copy(root.join(file), out.path().join(file)).expect("copy out");
        }
    }

    // A "nothing happens" claim: there is no event to wait on. The host
    // reads nothing meanwhile (it used to read the files again every
    // debounce window, logging or not), short of the few bytes its own
    // wake-ups read.
    let read_before = bytes_read(host.id());
    std::thread::sleep(QUIET);
    let read = bytes_read(host.id()) - read_before;
    let wasm_len = std::fs::metadata(root.join("echo.wasm")).unwrap().len();
    assert!(
        read < wasm_len / 10,
        "the host read {read} bytes while nothing changed"
    );
    let logged = fence(&mut host, root, mark, "fence");
    assert!(
        logged.is_empty(),
        "reading the files logged:\n{}",
        logged.join("\n")
    );
    let after = load_counters(&url);
    assert_eq!(
        after,
        [before[0] + 1, before[1], before[2], before[3], before[4]],
        "[loads, load failures, reloads, manifests applied, manifests rejected]: only the fence's file was loaded"
    );
}

/// A file written again with the content the host already runs is no
/// change; a file written with new content is, for the behaviour file as
/// for its manifest.
#[test]
fn a_file_rewritten_unchanged_is_a_no_op_and_a_new_content_applies() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(root, "echo", "echo");
    std::fs::write(root.join("echo.toml"), "instances = 1\n").unwrap();
    let mut host = Host::start(root);
    let url = host.ready_url();
    host.expect_line(&["serving", "started=1"]);
    let before = load_counters(&url);
    let mark = host.mark();

    // In place, and the way an editor saves: to another name, renamed over.
    for _ in 0..2 {
        std::fs::write(root.join("echo.wasm"), guest_bytes("echo")).unwrap();
        std::fs::write(root.join("echo.toml"), "instances = 1\n").unwrap();
        std::fs::write(root.join(".echo.toml.tmp"), "instances = 1\n").unwrap();
        std::fs::rename(root.join(".echo.toml.tmp"), root.join("echo.toml")).unwrap();
    }
    std::thread::sleep(QUIET);
    let logged = fence(&mut host, root, mark, "fence");
    assert!(
        logged.is_empty(),
        "rewriting the files unchanged logged:\n{}",
        logged.join("\n")
    );
    let after = load_counters(&url);
    assert_eq!(
        after,
        [before[0] + 1, before[1], before[2], before[3], before[4]],
        "[loads, load failures, reloads, manifests applied, manifests rejected]: only the fence's file was loaded"
    );

    // New content does apply.
    std::fs::write(root.join("echo.toml"), "instances = 2\n").unwrap();
    host.expect_line_after(mark, &["manifest applied", "echo"]);
    std::fs::write(root.join("echo.wasm"), guest_bytes("calculator")).unwrap();
    host.expect_line_after(mark, &["behaviour upgraded", "behaviour=echo"]);
}

/// An upgrade that some actors refuse is logged as a failure, not as an
/// upgrade.
#[test]
fn a_failed_upgrade_is_logged_as_failed() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(root, "counter", "counter");
    let mut host = Host::start(root);
    host.ready_url();
    host.expect_line(&["serving", "started=1"]);
    let mark = host.mark();
    // Its `restore` traps: the actor stays on the old version.
    std::fs::write(root.join(".counter.wasm.part"), guest_bytes("counter-badrestore")).unwrap();
    std::fs::rename(root.join(".counter.wasm.part"), root.join("counter.wasm")).unwrap();
    // The summary is logged before the line of each actor that failed.
    host.expect_line_after(mark, &["actor stayed on its old version"]);
    let summary: Vec<&String> = host.seen[mark..]
        .iter()
        .filter(|l| l.contains("behaviour=counter") && l.contains("upgrade"))
        .collect();
    assert!(
        summary
            .iter()
            .any(|l| l.contains("ERROR") && l.contains("upgrade failed for 1 of 1 actors")),
        "{summary:#?}"
    );
    assert!(
        !summary.iter().any(|l| l.contains("behaviour upgraded")),
        "{summary:#?}"
    );
}

/// A manifest change that concerns every actor, applied to actors that
/// cannot hand their state over, leaves them as they are and says so.
#[test]
fn new_grants_for_actors_without_state_to_hand_over_are_logged_as_for_new_actors_only() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(root, "kv", "kv");
    let mut host = Host::start(root);
    host.ready_url();
    let started = host.expect_line(&["actor started", "kv"]);
    let pid = started
        .split_whitespace()
        .find_map(|w| w.strip_prefix("pid="))
        .expect("the pid in the line")
        .to_string();
    let mark = host.mark();
    std::fs::write(root.join("kv.toml"), "[wasi]\nenv = { MODE = \"blue\" }\n").unwrap();
    let line = host.expect_line_after(mark, &["apply to new actors only", "kv"]);
    assert!(line.contains(&pid), "{line}");
    host.expect_line_after(mark, &["manifest applied", "unchanged=1"]);
}

// --- manifests and the actors other actors spawned -------------------------

/// The wire form of the kv example's request (same variant order).
#[derive(Serialize)]
enum KvRequest {
    Get(String),
    Put(String, Vec<u8>),
}

fn host_pid(p: WirePid) -> Pid {
    Pid {
        node: p.node.into(),
        id: p.id,
        creation: p.creation,
    }
}

async fn kv_put(node: &Node, pid: &Pid, key: &str, value: &[u8]) {
    let old: Option<Vec<u8>> = dec(&node
        .call(pid, enc(&KvRequest::Put(key.into(), value.to_vec())), Some(SOON))
        .await
        .unwrap_or_else(|e| panic!("put into {pid}: {e:?}")));
    assert_eq!(old, None);
}

async fn kv_get(node: &Node, pid: &Pid, key: &str) -> Option<Vec<u8>> {
    dec(&node
        .call(pid, enc(&KvRequest::Get(key.into())), Some(SOON))
        .await
        .unwrap_or_else(|e| panic!("get from {pid}: {e:?}")))
}

/// Checks that each of `spawned` (kv actors) is alive and still holds
/// its own pid under `k`.
async fn alive_with_state(node: &Node, spawned: &[Pid]) {
    for pid in spawned {
        assert!(node.is_alive(pid), "{pid} was stopped");
        assert_eq!(
            kv_get(node, pid, "k").await,
            Some(pid.to_string().into_bytes()),
            "{pid} lost its state"
        );
    }
}

/// The actors and pools of `behaviour` that are not in `spawned`, oldest
/// first, each with whether it is a pool.
fn not_spawned(node: &Node, behaviour: &str, spawned: &[Pid]) -> Vec<(Pid, bool)> {
    node.actors_of(behaviour)
        .into_iter()
        .filter(|(pid, _)| !spawned.contains(pid))
        .collect()
}

/// Has `parent` spawn an actor of `behaviour`.
async fn spawn_from(node: &Node, parent: &Pid, behaviour: &str) -> Pid {
    let req = TestRequest::Spawn {
        behaviour: behaviour.into(),
        args: vec![],
    };
    let r: Result<WirePid, String> = ask(node, parent, &req).await.unwrap();
    host_pid(r.unwrap_or_else(|e| panic!("spawn {behaviour}: {e}")))
}

/// Has `parent` spawn a pool of `size` workers of `behaviour`.
async fn spawn_pool_from(node: &Node, parent: &Pid, behaviour: &str, size: u32) -> Pid {
    let req = TestRequest::SpawnPool {
        behaviour: behaviour.into(),
        size,
        args: vec![],
    };
    let r: Result<WirePid, String> = ask(node, parent, &req).await.unwrap();
    host_pid(r.unwrap_or_else(|e| panic!("spawn a pool of {behaviour}: {e}")))
}

/// Writes a manifest the way an editor saves, and waits until the host has
/// done all it does about it.
async fn save_and_wait(node: &Node, dir: &Path, name: &str, text: &str) {
    let applied = metric(node, "wactor_manifests_applied_total");
    let tmp = dir.join(format!(".{name}.toml.tmp"));
    std::fs::write(&tmp, text).expect("write manifest");
    std::fs::rename(&tmp, dir.join(format!("{name}.toml"))).expect("rename manifest");
    wait_until("the manifest is taken", SOON, || {
        metric(node, "wactor_manifests_applied_total") > applied
    })
    .await;
    // The host counts a manifest as it takes it, before it starts and
    // stops actors. It handles the directory's changes one batch after
    // the other: once a file dropped in now runs, that is done.
    static FENCES: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let fence = format!(
        "fence{}",
        FENCES.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    );
    let tmp = dir.join(format!(".{fence}.wasm.part"));
    std::fs::copy(guest("echo"), &tmp).expect("copy guest");
    std::fs::rename(&tmp, dir.join(format!("{fence}.wasm"))).expect("rename");
    wait_until("the fence runs", SOON, || node.whereis(&fence).is_some()).await;
    // A stop asked for takes effect after the actor's current message: a
    // "nothing was stopped" claim waits well past that.
    tokio::time::sleep(DEBOUNCE * 4).await;
}

/// A manifest's `instances` and `pool` count only the actors the directory
/// started: actors and pools of the behaviour that other actors spawned
/// are never stopped by it, and keep their state, even when they cannot
/// hand it over (kv keeps its map in a state that is not serde).
#[tokio::test]
async fn a_manifest_governs_only_the_actors_the_directory_started() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(root, "testkit", "testkit");
    put(root, "kv", "kv");
    let node = Node::new(NodeConfig::default()).unwrap();
    let report = wactor::watch::load_dir(&node, root).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let _watcher = wactor::watch::watch_dir(node.clone(), root).unwrap();
    let parent = node.whereis("testkit").expect("testkit runs");
    let dir_kv = node.whereis("kv").expect("kv runs");

    // The testkit spawns two kv actors and a pool of two, and puts a value
    // in each.
    let kids = [
        spawn_from(&node, &parent, "kv").await,
        spawn_from(&node, &parent, "kv").await,
    ];
    let pool = spawn_pool_from(&node, &parent, "kv", 2).await;
    let workers = node.pool_workers(pool.clone()).unwrap();
    let spawned: Vec<Pid> = kids.iter().chain(&workers).cloned().collect();
    for pid in &spawned {
        kv_put(&node, pid, "k", pid.to_string().as_bytes()).await;
    }
    kv_put(&node, &dir_kv, "k", b"dir").await;
    let theirs: Vec<Pid> = kids.iter().chain([&pool]).cloned().collect();

    // The manifest asks for what runs already: one instance.
    save_and_wait(&node, root, "kv", "instances = 1\n").await;
    alive_with_state(&node, &spawned).await;
    assert_eq!(node.pool_workers(pool.clone()).unwrap(), workers);
    assert_eq!(not_spawned(&node, "kv", &theirs), [(dir_kv.clone(), false)]);
    assert_eq!(kv_get(&node, &dir_kv, "k").await, Some(b"dir".to_vec()));

    // Two: one more is started; none of the spawned is counted.
    save_and_wait(&node, root, "kv", "instances = 2\n").await;
    let started = not_spawned(&node, "kv", &theirs);
    assert_eq!(started.len(), 2, "{started:?}");
    assert_eq!(started[0], (dir_kv.clone(), false));
    alive_with_state(&node, &spawned).await;

    // A pool: the directory's two instances stop, the spawned actors and
    // the spawned pool do not.
    save_and_wait(&node, root, "kv", "pool = 3\nname = \"kvs\"\n").await;
    assert!(!node.is_alive(&dir_kv));
    let started = not_spawned(&node, "kv", &theirs);
    assert_eq!(started.len(), 1, "{started:?}");
    assert!(started[0].1, "the directory's pool: {started:?}");
    assert_eq!(node.pool_workers("kvs").unwrap().len(), 3);
    alive_with_state(&node, &spawned).await;
    assert_eq!(node.pool_workers(pool.clone()).unwrap(), workers);

    // New grants concern every actor: those that cannot hand their state
    // over keep it, and their instance.
    save_and_wait(
        &node,
        root,
        "kv",
        "pool = 3\nname = \"kvs\"\n[wasi]\nenv = { MODE = \"blue\" }\n",
    )
    .await;
    alive_with_state(&node, &spawned).await;
}

/// New grants reach the actors other actors spawned too, with their state
/// kept when they can hand it over.
#[tokio::test]
async fn new_grants_reach_spawned_actors_with_their_state() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    put(root, "testkit", "testkit");
    let node = Node::new(NodeConfig::default()).unwrap();
    let report = wactor::watch::load_dir(&node, root).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let _watcher = wactor::watch::watch_dir(node.clone(), root).unwrap();
    let parent = node.whereis("testkit").expect("testkit runs");
    let kid = spawn_from(&node, &parent, "testkit").await;
    node.send(&kid, enc(&TestMessage::Record(b"kept".to_vec())))
        .unwrap();

    save_and_wait(&node, root, "testkit", "[wasi]\nenv = { MODE = \"blue\" }\n").await;
    assert!(node.is_alive(&kid));
    let env: Vec<(String, String)> = ask(&node, &kid, &TestRequest::Env).await.unwrap();
    assert_eq!(env, [("MODE".to_string(), "blue".to_string())]);
    let received: Vec<Vec<u8>> = ask(&node, &kid, &TestRequest::Received).await.unwrap();
    assert_eq!(received, [b"kept".to_vec()], "the state survived the new grants");
    assert_eq!(node.whereis("testkit"), Some(parent.clone()));
    assert!(node.is_alive(&parent));
}
