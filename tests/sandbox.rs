//! The sandbox: each actor's CPU budget, memory limit, capabilities and
//! the limits on spawning.
//!
//! Every test runs the real host library on guests compiled by
//! `scripts/build-guests`.

use std::io::Write as _;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use wactor::{ActorState, DeliveryError, Node, NodeConfig, Pid, SpawnError};
use wactor_e2e::proto::{Target, TestMessage, TestRequest, WireCall, WireError, WirePid, WireRef};
use wactor_e2e::*;

/// Ten minutes: a call timeout that cannot pass for the outcome under
/// test (each such call is awaited with `at_once`).
const FOREVER: Duration = Duration::from_secs(600);

/// Sends `TestMessage::Spin` to `pid` and waits until the actor is inside
/// that handler: it took the message from its mailbox and has not finished
/// it.
async fn start_spinning(node: &Node, pid: &Pid) {
    node.send(pid, enc(&TestMessage::Spin)).unwrap();
    wait_until("the actor takes the spin message", SOON, || {
        row(node, pid).is_some_and(|a| a.mailbox_depth == 0 && a.handled == 0)
    })
    .await;
}

/// Calls `echo` `n` times in a row, each answer checked.
async fn echo_many(node: &Node, echo: &Pid, n: u32) {
    for i in 0..n {
        let msg = i.to_le_bytes().to_vec();
        assert_eq!(node.call(echo, msg.clone(), None).await, Ok(msg), "echo call {i}");
    }
}

fn host_pid(p: WirePid) -> Pid {
    Pid {
        node: p.node.into(),
        id: p.id,
        creation: p.creation,
    }
}

// --- CPU -------------------------------------------------------------------

/// With one thread for everything and a budget far longer than the test,
/// an actor looping forever leaves that thread to the others, and a kill
/// still ends it mid-loop.
#[tokio::test(flavor = "current_thread")]
async fn a_spinning_actor_neither_starves_others_nor_resists_a_kill() {
    let config = NodeConfig {
        // 10 minutes: the budget plays no part here.
        cpu_budget_ticks: 60_000,
        ..NodeConfig::default()
    };
    let node = node_with(config, &["testkit", "echo"]).await;
    let spinner = testkit(&node, None).await;
    let echo = node.spawn("echo", vec![]).await.unwrap();

    start_spinning(&node, &spinner).await;
    echo_many(&node, &echo, 100).await;
    // The loop was running all along: the spin message is still in hand.
    let r = row(&node, &spinner).expect("the spinner is alive");
    assert_eq!((r.mailbox_depth, r.handled), (0, 0), "{r:?}");

    let mut exits = node.exits();
    assert!(node.kill(&spinner, "killed by test"));
    let exit = exit_of(&mut exits, &spinner).await;
    assert_eq!(exit.reason, "killed by test");
    assert!(!node.is_alive(&spinner));
    echo_many(&node, &echo, 1).await;
}

/// A handler that runs past its CPU budget is stopped, its caller learns
/// why at once, and the actors sharing its thread kept answering meanwhile.
#[tokio::test(flavor = "current_thread")]
async fn a_handler_past_its_cpu_budget_is_stopped() {
    let config = NodeConfig {
        cpu_budget_ticks: 20, // 200 ms
        ..NodeConfig::default()
    };
    let node = node_with(config, &["testkit", "echo"]).await;
    let spinner = testkit(&node, None).await;
    let echo = node.spawn("echo", vec![]).await.unwrap();

    let n = node.clone();
    let s = spinner.clone();
    let looping = tokio::spawn(async move { n.call(&s, enc(&TestRequest::Spin), Some(FOREVER)).await });
    echo_many(&node, &echo, 100).await;
    match at_once("the cpu budget ends the call", looping).await.unwrap() {
        Err(DeliveryError::Terminated(reason)) => {
            assert!(reason.contains("cpu budget"), "{reason}");
            assert!(reason.contains("200 ms"), "the reason gives the budget: {reason}");
        }
        other => panic!("expected terminated, got {other:?}"),
    }
    assert!(!node.is_alive(&spinner));

    // A message handler is held to the same budget.
    let spinner = testkit(&node, None).await;
    let mut exits = node.exits();
    node.send(&spinner, enc(&TestMessage::Spin)).unwrap();
    let exit = exit_of(&mut exits, &spinner).await;
    assert!(exit.reason.contains("cpu budget"), "{}", exit.reason);

    // Work that fits the budget is untouched by it.
    let t = testkit(&node, None).await;
    assert_echoes(&node, &t, b"quick").await;
    echo_many(&node, &echo, 1).await;
}

// --- memory ----------------------------------------------------------------

/// Growing memory past the limit ends that actor with a reason that says
/// so; the host and every other actor carry on.
#[tokio::test]
async fn an_allocation_past_the_memory_limit_ends_only_that_actor() {
    const MIB: u64 = 1024 * 1024;
    let config = NodeConfig {
        memory_limit_bytes: 16 * MIB as usize,
        ..NodeConfig::default()
    };
    let node = node_with(config, &["testkit", "echo"]).await;
    let hog = testkit(&node, None).await;
    let other = testkit(&node, None).await;
    let echo = node.spawn("echo", vec![]).await.unwrap();

    let mut exits = node.exits();
    let r = at_once(
        "the memory limit ends the call",
        node.call(&hog, enc(&TestRequest::Alloc { bytes: 64 * MIB }), Some(FOREVER)),
    )
    .await;
    let reason = match r {
        Err(DeliveryError::Terminated(reason)) => reason,
        other => panic!("expected terminated, got {other:?}"),
    };
    assert!(reason.contains("memory limit exceeded"), "{reason}");
    assert!(
        reason.contains("limit of 16777216 bytes (16 MiB)"),
        "the reason gives the limit: {reason}"
    );
    assert_eq!(exit_of(&mut exits, &hog).await.reason, reason);
    assert!(!node.is_alive(&hog));

    echo_many(&node, &echo, 1).await;
    let got: u64 = ask(&node, &other, &TestRequest::Alloc { bytes: MIB })
        .await
        .unwrap();
    assert_eq!(got, MIB);
    // A new actor gets the whole limit again.
    let fresh = testkit(&node, None).await;
    let got: u64 = ask(&node, &fresh, &TestRequest::Alloc { bytes: 8 * MIB })
        .await
        .unwrap();
    assert_eq!(got, 8 * MIB);
}

// --- capabilities ------------------------------------------------------------

/// What a guest's `std::fs` reports for a path outside every granted
/// directory: WASI's `ENOTCAPABLE`.
const NOT_CAPABLE: &str = "Capabilities insufficient (os error 76)";

/// No directory is granted: files the host can read, by absolute path and
/// relative to the host's working directory, are out of reach, refused for
/// want of a capability (not for being missing or a directory).
#[tokio::test]
async fn a_guest_reads_no_files() {
    let node = node(&["testkit"]).await;
    let t = testkit(&node, None).await;
    let mut file = tempfile::NamedTempFile::new().unwrap();
    file.write_all(b"secret").unwrap();
    let path = file.path().to_str().expect("a UTF-8 temp path").to_string();
    for path in [path.as_str(), "/etc/passwd", "Cargo.toml"] {
        assert!(std::fs::read(path).is_ok(), "the host reads {path}");
        let r: Result<Vec<u8>, String> = ask(&node, &t, &TestRequest::ReadFile(path.to_string()))
            .await
            .unwrap();
        assert_eq!(r, Err(NOT_CAPABLE.to_string()), "the guest reading {path}");
    }
}

/// No network is granted: a connection to a port the host listens on fails,
/// and nothing reaches the listener.
#[tokio::test]
async fn a_guest_opens_no_sockets() {
    let node = node(&["testkit"]).await;
    let t = testkit(&node, None).await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    for to in [addr.as_str(), "127.0.0.1:9"] {
        let r: Result<(), String> = ask(&node, &t, &TestRequest::Connect(to.to_string()))
            .await
            .unwrap();
        let err = r.expect_err("the guest connected");
        assert!(
            err.contains("access"),
            "refused by the host, not the network: {err}"
        );
    }
    listener.set_nonblocking(true).unwrap();
    let accepted = listener.accept();
    assert!(
        matches!(&accepted, Err(e) if e.kind() == std::io::ErrorKind::WouldBlock),
        "{accepted:?}"
    );
}

/// No environment variables and no arguments are passed in, whatever the
/// host process has.
#[tokio::test]
async fn a_guest_sees_no_environment_and_no_arguments() {
    let node = node(&["testkit"]).await;
    let t = testkit(&node, None).await;
    assert!(std::env::vars().next().is_some(), "the host has an environment");
    let env: Vec<(String, String)> = ask(&node, &t, &TestRequest::Env).await.unwrap();
    assert_eq!(env, vec![]);
    let args: Vec<String> = ask(&node, &t, &TestRequest::Args).await.unwrap();
    assert_eq!(args, Vec::<String>::new());
}

/// Clocks and randomness are part of every sandbox.
#[tokio::test]
async fn a_guest_has_a_clock_and_randomness() {
    let node = node(&["testkit"]).await;
    let a = testkit(&node, None).await;
    let b = testkit(&node, None).await;

    let guest_ms: u64 = ask(&node, &a, &TestRequest::Now).await.unwrap();
    let host_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(
        guest_ms.abs_diff(host_ms) < 60_000,
        "guest clock {guest_ms} ms, host clock {host_ms} ms"
    );

    let a1: u64 = ask(&node, &a, &TestRequest::Random).await.unwrap();
    let a2: u64 = ask(&node, &a, &TestRequest::Random).await.unwrap();
    let b1: u64 = ask(&node, &b, &TestRequest::Random).await.unwrap();
    assert_ne!(a1, a2, "two draws of one actor");
    assert_ne!(a1, b1, "the first draws of two actors");
}

// --- spawn limits ------------------------------------------------------------

type SpawnReply = Result<WirePid, String>;

fn spawn_req(behaviour: &str) -> TestRequest {
    TestRequest::Spawn {
        behaviour: behaviour.into(),
        args: vec![],
    }
}

/// Asserts a host-side spawn refusal names `limit` and its value.
fn assert_limit(r: Result<Pid, SpawnError>, limit: &str) {
    match r {
        Err(SpawnError::LimitReached(which)) => assert!(which.contains(limit), "{which}"),
        other => panic!("expected limit-reached ({limit}), got {other:?}"),
    }
}

#[test]
fn the_spawn_limits_default_to_100_000() {
    let c = NodeConfig::default();
    assert_eq!((c.max_actors, c.max_actors_per_behaviour), (100_000, 100_000));
}

#[tokio::test]
async fn spawning_past_max_actors_is_refused_until_an_actor_ends() {
    let config = NodeConfig {
        max_actors: 3,
        ..NodeConfig::default()
    };
    let node = node_with(config, &["testkit", "echo"]).await;
    let a = testkit(&node, None).await;
    let b = testkit(&node, None).await;
    let c = node.spawn("echo", vec![]).await.unwrap();

    assert_limit(node.spawn("echo", vec![]).await, "max_actors = 3");
    // A guest gets the same refusal, as the `limit-reached` variant.
    let r: SpawnReply = ask(&node, &a, &spawn_req("echo")).await.unwrap();
    let err = r.expect_err("a guest spawned past the limit");
    assert!(err.starts_with("limit reached: max_actors = 3"), "{err}");
    assert_eq!(node.actors().len(), 3);

    // One ends: its place is free for the guest...
    let mut exits = node.exits();
    assert!(node.kill(&c, "make room"));
    exit_of(&mut exits, &c).await;
    let r: SpawnReply = ask(&node, &a, &spawn_req("echo")).await.unwrap();
    let child = host_pid(r.expect("a spawn after an actor ended"));
    assert_eq!(node.call(&child, b"hi".to_vec(), None).await, Ok(b"hi".to_vec()));
    assert_limit(node.spawn("testkit", vec![]).await, "max_actors = 3");

    // ...and, once another ends normally, for the host.
    let r = node
        .call(&b, enc(&TestRequest::Stop("normal".into())), None)
        .await;
    assert_eq!(r, Err(DeliveryError::Terminated("normal".into())));
    exit_of(&mut exits, &b).await;
    node.spawn("testkit", vec![]).await.unwrap();
    assert_limit(node.spawn("testkit", vec![]).await, "max_actors = 3");
}

#[tokio::test]
async fn spawning_past_max_actors_per_behaviour_is_refused_for_that_behaviour_only() {
    let config = NodeConfig {
        max_actors_per_behaviour: 3,
        ..NodeConfig::default()
    };
    let node = node_with(config, &["testkit", "echo"]).await;
    let mut echoes = Vec::new();
    for _ in 0..3 {
        echoes.push(node.spawn("echo", vec![]).await.unwrap());
    }
    assert_limit(
        node.spawn("echo", vec![]).await,
        "max_actors_per_behaviour = 3: the node already runs 3 live actors of `echo`",
    );
    // Another behaviour is not held to echo's count.
    let t = testkit(&node, None).await;
    let r: SpawnReply = ask(&node, &t, &spawn_req("echo")).await.unwrap();
    let err = r.expect_err("a guest spawned past the limit");
    assert!(
        err.starts_with("limit reached: max_actors_per_behaviour = 3"),
        "{err}"
    );

    let mut exits = node.exits();
    assert!(node.kill(&echoes[0], "make room"));
    exit_of(&mut exits, &echoes[0]).await;
    let r: SpawnReply = ask(&node, &t, &spawn_req("echo")).await.unwrap();
    r.expect("a spawn after an echo ended");
    assert_limit(node.spawn("echo", vec![]).await, "max_actors_per_behaviour = 3");
}

/// An actor whose `init` fails never holds a place.
#[tokio::test]
async fn a_failed_init_gives_its_place_back() {
    let config = NodeConfig {
        max_actors: 2,
        ..NodeConfig::default()
    };
    let node = node_with(config, &["testkit"]).await;
    let _a = testkit(&node, Some("taken")).await;
    for _ in 0..5 {
        // Registering a taken name fails `init`.
        let args = enc(&proto::TestArgs {
            register: Some("taken".into()),
        });
        let r = node.spawn("testkit", args).await;
        assert!(matches!(r, Err(SpawnError::InitFailed(_))), "{r:?}");
    }
    testkit(&node, None).await;
    assert_limit(node.spawn("testkit", vec![]).await, "max_actors = 2");
}

/// A behaviour whose `init` traps, loaded from a directory, is reported
/// with the trap and starts nothing; the rest of the directory starts and
/// answers, and the failed actor holds no place.
#[tokio::test]
async fn a_behaviour_that_traps_in_init_is_reported_and_the_rest_start() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for (name, toml) in [
        ("trapper", "[wasi]\nenv = { TESTKIT_INIT = \"trap\" }\n"),
        ("refuser", "[wasi]\nenv = { TESTKIT_INIT = \"fail\" }\n"),
    ] {
        std::fs::copy(guest("testkit"), root.join(format!("{name}.wasm"))).unwrap();
        std::fs::write(root.join(format!("{name}.toml")), toml).unwrap();
    }
    std::fs::copy(guest("echo"), root.join("echo.wasm")).unwrap();
    let config = NodeConfig {
        max_actors: 2,
        ..NodeConfig::default()
    };
    let node = Node::new(config).unwrap();
    let report = wactor::watch::load_dir(&node, root).await.unwrap();
    assert_eq!(report.loaded, ["echo", "refuser", "trapper"]);
    assert_eq!(report.started, ["echo"]);
    let reason = |name: &str| {
        report
            .failed
            .iter()
            .find(|(file, _)| file.ends_with(format!("{name}.wasm")))
            .map(|(_, why)| why.clone())
            .unwrap_or_else(|| panic!("{name} is reported: {:?}", report.failed))
    };
    let trapped = reason("trapper");
    // The reason is the trap and what the guest's panic said, not a wasm
    // backtrace.
    assert!(trapped.starts_with("init failed: trap: "), "{trapped}");
    assert!(
        trapped.contains("(the guest panicked at ") && trapped.ends_with(": testkit: told to trap in init)"),
        "{trapped}"
    );
    assert!(!trapped.contains("wasm function"), "{trapped}");
    let refused = reason("refuser");
    assert!(
        refused.starts_with("init failed: testkit: told to fail in init"),
        "{refused}"
    );
    assert!(node.actors().iter().all(|a| a.behaviour == "echo"));
    assert_eq!(node.call("echo", b"up".to_vec(), None).await, Ok(b"up".to_vec()));
    // Neither failed actor kept its place: the second of two is free.
    node.spawn("echo", vec![]).await.expect("a place is free");
    assert_limit(node.spawn("echo", vec![]).await, "max_actors = 2");
}

/// Spawns racing for the last places never overshoot the limit.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_spawns_never_overshoot_the_limit() {
    let config = NodeConfig {
        max_actors: 5,
        ..NodeConfig::default()
    };
    let node = node_with(config, &["echo"]).await;
    let tasks: Vec<_> = (0..20)
        .map(|_| {
            let node = node.clone();
            tokio::spawn(async move { node.spawn("echo", vec![]).await })
        })
        .collect();
    let (mut ok, mut refused) = (0, 0);
    for t in tasks {
        match t.await.unwrap() {
            Ok(_) => ok += 1,
            Err(SpawnError::LimitReached(_)) => refused += 1,
            Err(e) => panic!("unexpected spawn error: {e}"),
        }
    }
    assert_eq!((ok, refused), (5, 15));
    assert_eq!(node.actors().len(), 5);
}

/// A guest that spawns in a loop is stopped by the limit, not by the host
/// falling over; it gets the refusal as an ordinary error.
#[tokio::test]
async fn a_guest_that_spawns_without_bound_is_stopped_by_the_limit() {
    let config = NodeConfig {
        max_actors: 10,
        ..NodeConfig::default()
    };
    let node = node_with(config, &["testkit", "echo"]).await;
    let t = testkit(&node, None).await;
    let e = node.spawn("echo", vec![]).await.unwrap();
    let req = TestRequest::SpawnForever {
        behaviour: "echo".into(),
    };
    let (count, err): (u32, String) = ask(&node, &t, &req).await.unwrap();
    assert_eq!(count, 8, "10 places, 2 taken before: {err}");
    assert!(err.starts_with("limit reached: max_actors = 10"), "{err}");
    let echoes = node.actors().iter().filter(|a| a.behaviour == "echo").count();
    assert_eq!((node.actors().len(), echoes), (10, 9));
    // The host and the spawner carry on.
    assert_eq!(node.call(&e, b"up".to_vec(), None).await, Ok(b"up".to_vec()));
    assert_echoes(&node, &t, b"still here").await;

    // The same against the per-behaviour limit, the spawner spawning its own
    // kind.
    let config = NodeConfig {
        max_actors_per_behaviour: 4,
        ..NodeConfig::default()
    };
    let node = node_with(config, &["testkit"]).await;
    let t = testkit(&node, None).await;
    let req = TestRequest::SpawnForever {
        behaviour: "testkit".into(),
    };
    let (count, err): (u32, String) = ask(&node, &t, &req).await.unwrap();
    assert_eq!(count, 3, "4 places, the spawner holds one: {err}");
    assert!(
        err.starts_with("limit reached: max_actors_per_behaviour = 4"),
        "{err}"
    );
    assert!(err.contains("`testkit`"), "{err}");
    assert_eq!(node.actors().len(), 4);
}

/// A guest that makes up refs and pids reaches no one: answers with a
/// forged ref, or a real caller's pid and a forged ref, are refused and
/// counted, the real call still gets its real answer, and sends to made-up
/// pids fail with the error that says why.
#[tokio::test]
async fn forged_refs_and_pids_touch_no_one_elses_call() {
    let node = node(&["testkit"]).await;
    let caller = testkit(&node, None).await;
    let callee = testkit(&node, None).await;
    let forger = testkit(&node, None).await;

    // `caller` calls `callee`, which holds the call unanswered.
    let hold = TestRequest::Call {
        to: Target::Pid(wire(&callee)),
        payload: enc(&TestRequest::Hold),
        timeout_ms: Some(600_000),
    };
    let (n, c) = (node.clone(), caller.clone());
    let waiting = tokio::spawn(async move { n.call(&c, enc(&hold), Some(FOREVER)).await });
    wait_until("the caller waits on its call", SOON, || {
        node.state(&caller) == Some(ActorState::WaitingOnCall)
    })
    .await;

    // Forged answers: a made-up ref to the real caller, to the host, and to
    // a made-up pid.
    let before = node.late_answers();
    let forged_ref = WireRef {
        id_hi: 0x0123_4567_89ab_cdef,
        id_lo: 0xfedc_ba98_7654_3210,
        deadline_ms: u64::MAX,
    };
    let made_up = WirePid {
        id: 999_999,
        ..wire(&caller)
    };
    for from in [wire(&caller), wire(node.pid()), made_up.clone()] {
        let forged = TestMessage::Answer {
            call: WireCall {
                from,
                r: forged_ref.clone(),
            },
            payload: b"forged".to_vec(),
            error: None,
        };
        node.send(&forger, enc(&forged)).unwrap();
    }
    wait_until("the forged answers are refused", SOON, || {
        node.late_answers() == before + 3
    })
    .await;
    assert_eq!(node.state(&caller), Some(ActorState::WaitingOnCall));
    assert!(!waiting.is_finished(), "no forged answer reached the caller");

    // Sends to made-up pids: another process number, another incarnation,
    // another node.
    for (to, expected) in [
        (made_up, WireError::UnknownProcess),
        (
            WirePid {
                creation: wire(&callee).creation + 1,
                ..wire(&callee)
            },
            WireError::UnknownProcess,
        ),
        (
            WirePid {
                node: "elsewhere".into(),
                ..wire(&callee)
            },
            WireError::NoConnection,
        ),
    ] {
        let send = TestRequest::Send {
            to: Target::Pid(to.clone()),
            payload: b"hello".to_vec(),
        };
        let r: Result<(), WireError> = ask(&node, &forger, &send).await.unwrap();
        assert_eq!(r, Err(expected), "send to {to:?}");
    }
    let received: Vec<Vec<u8>> = ask(&node, &callee, &TestRequest::Received).await.unwrap();
    assert!(received.is_empty(), "nothing reached the callee: {received:?}");

    // The real answer still reaches the real caller.
    let answered: u32 = ask(&node, &callee, &TestRequest::AnswerHeld(b"real".to_vec()))
        .await
        .unwrap();
    assert_eq!(answered, 1);
    let reply = at_once("the real answer reaches the caller", waiting)
        .await
        .unwrap()
        .unwrap();
    let inner: Result<Vec<u8>, WireError> = dec(&reply);
    assert_eq!(inner, Ok(enc(&b"real".to_vec())));
}
