//! The foundation: sandboxed wasm actors that send and call each other.
//!
//! Every test runs the real host library on guests compiled by
//! `scripts/build-guests`.

use std::time::Duration;

use wactor::{ActorState, DeliveryError, LoadError, NodeConfig, Pid, SpawnError};
use wactor_e2e::proto::{Target, TestMessage, TestRequest, WireError, WirePid};
use wactor_e2e::*;

type CallReply = Result<Vec<u8>, WireError>;

#[tokio::test]
async fn send_delivers_a_message() {
    let node = node(&["testkit"]).await;
    let a = testkit(&node, None).await;
    node.send(&a, enc(&TestMessage::Record(b"hello".to_vec())))
        .unwrap();
    node.send(&a, enc(&TestMessage::Record(b"world".to_vec())))
        .unwrap();
    let got: Vec<Vec<u8>> = ask(&node, &a, &TestRequest::Received).await.unwrap();
    assert_eq!(got, vec![b"hello".to_vec(), b"world".to_vec()]);
}

#[tokio::test]
async fn call_returns_the_reply() {
    let node = node(&["echo"]).await;
    let echo = node.spawn("echo", vec![]).await.unwrap();
    let answer = node
        .call(&echo, b"any bytes \x00\xff".to_vec(), None)
        .await
        .unwrap();
    assert_eq!(answer, b"any bytes \x00\xff");
}

#[tokio::test]
async fn call_by_registered_name() {
    let node = node(&["echo", "testkit"]).await;
    let echo = node.spawn("echo", vec![]).await.unwrap();
    node.register("echo", &echo).unwrap();
    assert_eq!(node.whereis("echo"), Some(echo.clone()));
    assert_eq!(
        node.call("echo", b"by name".to_vec(), None).await.unwrap(),
        b"by name"
    );
    // `name@node` for this node resolves too.
    let local = format!("echo@{}", node.config().node_name);
    assert_eq!(
        node.call(local, b"qualified".to_vec(), None).await.unwrap(),
        b"qualified"
    );
    // And a guest can call by name.
    let t = testkit(&node, None).await;
    let req = TestRequest::Call {
        to: Target::Name("echo".into()),
        payload: b"from a guest".to_vec(),
        timeout_ms: None,
    };
    let r: CallReply = ask(&node, &t, &req).await.unwrap();
    assert_eq!(r, Ok(b"from a guest".to_vec()));
}

#[tokio::test]
async fn a_guest_registers_and_looks_up_names() {
    let node = node(&["testkit"]).await;
    let a = testkit(&node, Some("alpha")).await;
    assert_eq!(node.whereis("alpha"), Some(a.clone()));
    let b = testkit(&node, None).await;
    let found: Option<WirePid> = ask(&node, &b, &TestRequest::Whereis("alpha".into()))
        .await
        .unwrap();
    assert_eq!(found, Some(wire(&a)));
    let taken: Result<(), String> = ask(&node, &b, &TestRequest::Register("alpha".into()))
        .await
        .unwrap();
    assert!(
        taken.is_err(),
        "a name held by another live actor cannot be taken"
    );
    let me: WirePid = ask(&node, &b, &TestRequest::SelfPid).await.unwrap();
    assert_eq!(me, wire(&b));
    // A name is released when its holder ends.
    let mut exits = node.exits();
    assert!(node.kill(&a, "test"));
    exit_of(&mut exits, &a).await;
    assert_eq!(node.whereis("alpha"), None);
    let ok: Result<(), String> = ask(&node, &b, &TestRequest::Register("alpha".into()))
        .await
        .unwrap();
    assert_eq!(ok, Ok(()));
}

#[tokio::test]
async fn a_guest_spawns_a_loaded_behaviour() {
    let node = node(&["testkit", "echo"]).await;
    let t = testkit(&node, None).await;
    let spawned: Result<WirePid, String> = ask(
        &node,
        &t,
        &TestRequest::Spawn {
            behaviour: "echo".into(),
            args: vec![],
        },
    )
    .await
    .unwrap();
    let child = spawned.expect("spawned");
    let child = Pid {
        node: child.node.into(),
        id: child.id,
        creation: child.creation,
    };
    assert_eq!(
        node.call(&child, b"child".to_vec(), None).await.unwrap(),
        b"child"
    );
    let missing: Result<WirePid, String> = ask(
        &node,
        &t,
        &TestRequest::Spawn {
            behaviour: "no-such-behaviour".into(),
            args: vec![],
        },
    )
    .await
    .unwrap();
    assert!(missing.unwrap_err().contains("no-such-behaviour"));
}

#[tokio::test]
async fn call_to_an_unknown_name_fails_at_once() {
    let node = node(&["testkit"]).await;
    // A long timeout: waiting for it would be a failure of its own.
    let r = at_once(
        "the call to an unknown name fails",
        node.call("nobody", vec![], Some(Duration::from_secs(600))),
    )
    .await;
    assert_eq!(r, Err(DeliveryError::UnknownProcess));
    assert_eq!(node.send("nobody", vec![]), Err(DeliveryError::UnknownProcess));
    let t = testkit(&node, None).await;
    let req = TestRequest::Call {
        to: Target::Name("nobody".into()),
        payload: vec![],
        timeout_ms: Some(600_000),
    };
    let r: CallReply = ask(&node, &t, &req).await.unwrap();
    assert_eq!(r, Err(WireError::UnknownProcess));
}

#[tokio::test]
async fn a_stale_pid_never_reaches_a_new_actor() {
    let node = node(&["echo"]).await;
    let echo = node.spawn("echo", vec![]).await.unwrap();
    let stale = Pid {
        creation: echo.creation ^ 2,
        ..echo.clone()
    };
    assert_eq!(
        node.call(&stale, vec![], None).await,
        Err(DeliveryError::UnknownProcess)
    );
    let elsewhere = Pid {
        node: "other-node".into(),
        ..echo.clone()
    };
    assert_eq!(node.send(&elsewhere, vec![]), Err(DeliveryError::NoConnection));
}

#[tokio::test]
async fn an_overflowing_mailbox_gives_mailbox_full() {
    let config = NodeConfig {
        mailbox_capacity: 3,
        ..NodeConfig::default()
    };
    let node = node_with(config, &["testkit"]).await;
    let busy = testkit(&node, None).await;
    let silent = testkit(&node, None).await;
    // `busy` parks in a call that is never answered, so it takes nothing
    // from its mailbox while the test fills it.
    let n = node.clone();
    let parked = tokio::spawn({
        let (busy, silent) = (busy.clone(), silent.clone());
        async move {
            let req = TestRequest::Call {
                to: Target::Pid(wire(&silent)),
                payload: enc(&TestRequest::NeverAnswer),
                timeout_ms: Some(600_000),
            };
            n.call(&busy, enc(&req), Some(Duration::from_secs(600))).await
        }
    });
    wait_until("the actor waits on its call", SOON, || {
        node.state(&busy) == Some(ActorState::WaitingOnCall)
    })
    .await;
    for i in 0..3u8 {
        node.send(&busy, enc(&TestMessage::Record(vec![i]))).unwrap();
    }
    assert_eq!(
        node.send(&busy, enc(&TestMessage::Record(vec![9]))),
        Err(DeliveryError::MailboxFull)
    );
    assert_eq!(
        node.call(&busy, enc(&TestRequest::Received), None).await,
        Err(DeliveryError::MailboxFull)
    );
    // Nothing accepted is lost: once `busy` is free, it has all three.
    assert!(node.kill(&silent, "release"));
    let r = at_once("the kill ends the parked call", parked)
        .await
        .unwrap()
        .unwrap();
    let inner: CallReply = dec(&r);
    assert!(matches!(inner, Err(WireError::Terminated(_))), "{inner:?}");
    let got: Vec<Vec<u8>> = ask(&node, &busy, &TestRequest::Received).await.unwrap();
    assert_eq!(got, vec![vec![0], vec![1], vec![2]]);
}

#[tokio::test]
async fn a_call_that_is_never_answered_times_out() {
    let config = NodeConfig {
        call_timeout: Duration::from_millis(300),
        ..NodeConfig::default()
    };
    let node = node_with(config, &["testkit"]).await;
    let t = testkit(&node, None).await;
    let r = node.call(&t, enc(&TestRequest::NeverAnswer), None).await;
    assert_eq!(r, Err(DeliveryError::Timeout));
    // A guest caller gets the same, with its own timeout.
    let caller = testkit(&node, None).await;
    let req = TestRequest::Call {
        to: Target::Pid(wire(&t)),
        payload: enc(&TestRequest::NeverAnswer),
        timeout_ms: Some(200),
    };
    let r: CallReply = ask(&node, &caller, &req).await.unwrap();
    assert_eq!(r, Err(WireError::Timeout));
}

#[tokio::test]
async fn a_callee_that_traps_gives_terminated_not_timeout() {
    let node = node(&["testkit"]).await;
    let t = testkit(&node, None).await;
    // The call's own timeout is ten minutes, so that a `timeout` cannot
    // pass for the outcome; the trap must end it within seconds.
    let r = at_once(
        "the trap ends the call",
        node.call(&t, enc(&TestRequest::Trap), Some(Duration::from_secs(600))),
    )
    .await;
    match r {
        Err(DeliveryError::Terminated(reason)) => assert!(reason.contains("trap"), "{reason}"),
        other => panic!("expected terminated, got {other:?}"),
    }
    assert!(!node.is_alive(&t), "a trapped actor is gone");
    // Same for a guest caller.
    let victim = testkit(&node, None).await;
    let caller = testkit(&node, None).await;
    let req = TestRequest::Call {
        to: Target::Pid(wire(&victim)),
        payload: enc(&TestRequest::Trap),
        timeout_ms: Some(600_000),
    };
    let r: CallReply = ask(&node, &caller, &req).await.unwrap();
    assert!(matches!(r, Err(WireError::Terminated(_))), "{r:?}");
    assert!(node.is_alive(&caller), "the caller survives its callee's trap");
}

#[tokio::test]
async fn stop_and_reply_and_stop() {
    let node = node(&["testkit"]).await;
    let t = testkit(&node, None).await;
    let r = node
        .call(&t, enc(&TestRequest::Stop("enough".into())), None)
        .await;
    assert_eq!(r, Err(DeliveryError::Terminated("enough".into())));
    let t = testkit(&node, None).await;
    let mut exits = node.exits();
    let r = node
        .call(&t, enc(&TestRequest::ReplyAndStop(b"bye".to_vec())), None)
        .await;
    assert_eq!(r, Ok(b"bye".to_vec()));
    let exit = exit_of(&mut exits, &t).await;
    assert_eq!(exit.reason, "normal");
}

#[tokio::test]
async fn a_self_call_is_not_allowed() {
    let node = node(&["testkit"]).await;
    let t = testkit(&node, None).await;
    let r: CallReply = ask(&node, &t, &TestRequest::CallSelf).await.unwrap();
    assert!(matches!(r, Err(WireError::NotAllowed(_))), "{r:?}");
}

#[tokio::test]
async fn a_call_cycle_is_not_allowed() {
    let node = node(&["testkit"]).await;
    let a = testkit(&node, None).await;
    let b = testkit(&node, None).await;
    // A calls B, and B, while A waits, calls A.
    let back_to_a = TestRequest::Call {
        to: Target::Pid(wire(&a)),
        payload: enc(&TestRequest::Echo(vec![])),
        timeout_ms: Some(600_000),
    };
    let req = TestRequest::Call {
        to: Target::Pid(wire(&b)),
        payload: enc(&back_to_a),
        timeout_ms: Some(600_000),
    };
    let outer: CallReply = ask(&node, &a, &req).await.unwrap();
    let inner: CallReply = dec(&outer.expect("B answered A"));
    assert!(
        matches!(inner, Err(WireError::NotAllowed(ref m)) if m.contains("cycle")),
        "{inner:?}"
    );
}

/// A cycle through a pool: A calls the pool, and the worker that took the
/// request calls A. It is refused at once, not left to time out.
#[tokio::test]
async fn a_call_cycle_through_a_pool_is_not_allowed() {
    let node = node(&["testkit"]).await;
    let a = testkit(&node, None).await;
    let pool = node.spawn_pool("testkit", 2, vec![]).await.unwrap();
    // Well under the outer wait: without cycle detection the worker's call
    // would end in `timeout`, and the test would say so.
    let back_to_a = TestRequest::Call {
        to: Target::Pid(wire(&a)),
        payload: enc(&TestRequest::Echo(vec![])),
        timeout_ms: Some(60_000),
    };
    let req = TestRequest::Call {
        to: Target::Pid(wire(&pool)),
        payload: enc(&back_to_a),
        timeout_ms: Some(600_000),
    };
    let outer: CallReply = ask(&node, &a, &req).await.unwrap();
    let inner: CallReply = dec(&outer.expect("the worker answered A"));
    assert!(
        matches!(inner, Err(WireError::NotAllowed(ref m)) if m.contains("cycle")),
        "{inner:?}"
    );
    // The pool still serves calls that close no cycle.
    assert_echoes(&node, &pool, b"ok").await;
}

#[tokio::test]
async fn a_deferred_answer_from_a_second_actor_reaches_the_caller() {
    let node = node(&["testkit"]).await;
    let front = testkit(&node, None).await;
    let worker = testkit(&node, Some("worker")).await;
    let r: Vec<u8> = ask(
        &node,
        &front,
        &TestRequest::Forward {
            to: Target::Pid(wire(&worker)),
            error: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(r, b"forwarded");
    // An error answer arrives as `remote`, apart from any reply.
    let r = node
        .call(
            &front,
            enc(&TestRequest::Forward {
                to: Target::Name("worker".into()),
                error: Some("no stock".into()),
            }),
            None,
        )
        .await;
    assert_eq!(r, Err(DeliveryError::Remote("no stock".into())));
}

#[tokio::test]
async fn a_deferred_answer_after_a_timer() {
    let node = node(&["testkit"]).await;
    let t = testkit(&node, None).await;
    let r: Vec<u8> = ask(
        &node,
        &t,
        &TestRequest::SlowReply {
            ms: 50,
            payload: b"later".to_vec(),
        },
    )
    .await
    .unwrap();
    assert_eq!(r, b"later");
    let alive: bool = ask(&node, &t, &TestRequest::IsAlive).await.unwrap();
    assert!(alive, "the ref of a call being handled is alive");
}

#[tokio::test]
async fn a_late_answer_is_dropped_and_never_reaches_a_later_call() {
    let node = node(&["testkit"]).await;
    let t = testkit(&node, None).await;
    let r = node
        .call(
            &t,
            enc(&TestRequest::SlowReply {
                ms: 300,
                payload: b"late".to_vec(),
            }),
            Some(Duration::from_millis(50)),
        )
        .await;
    assert_eq!(r, Err(DeliveryError::Timeout));
    wait_until("the late answer arrives", SOON, || node.late_answers() == 1).await;
    assert_echoes(&node, &t, b"fresh").await;
}

#[tokio::test]
async fn killing_a_callee_terminates_its_callers_at_once() {
    let node = node(&["testkit"]).await;
    let t = testkit(&node, None).await;
    let n = node.clone();
    let t2 = t.clone();
    let pending = tokio::spawn(async move {
        n.call(
            &t2,
            enc(&TestRequest::NeverAnswer),
            Some(Duration::from_secs(600)),
        )
        .await
    });
    // The call is owed once the actor has taken it from its mailbox.
    wait_until("the call is handled", SOON, || {
        row(&node, &t).is_some_and(|a| a.handled == 1)
    })
    .await;
    assert!(node.kill(&t, "killed by test"));
    let r = at_once("the kill ends the call", pending).await.unwrap();
    assert_eq!(r, Err(DeliveryError::Terminated("killed by test".into())));
}

#[tokio::test]
async fn oversized_payloads_are_refused() {
    let config = NodeConfig {
        max_message_bytes: 1024,
        ..NodeConfig::default()
    };
    let node = node_with(config, &["echo", "testkit"]).await;
    let echo = node.spawn("echo", vec![]).await.unwrap();
    assert_eq!(
        node.send(&echo, vec![0; 2048]),
        Err(DeliveryError::PayloadTooLarge(1024))
    );
    assert_eq!(
        node.call(&echo, vec![0; 2048], None).await,
        Err(DeliveryError::PayloadTooLarge(1024))
    );
    // From a guest: the send fails and says why.
    let t = testkit(&node, None).await;
    let req = TestRequest::SendBig {
        to: Target::Pid(wire(&echo)),
        len: 2048,
    };
    let r: Result<(), WireError> = ask(&node, &t, &req).await.unwrap();
    assert_eq!(r, Err(WireError::PayloadTooLarge(1024)));
    // A reply over the limit reaches the caller as an error, not a timeout.
    let r = at_once(
        "the oversized reply fails the call",
        node.call(
            &t,
            enc(&TestRequest::ReplyBig { len: 2048 }),
            Some(Duration::from_secs(600)),
        ),
    )
    .await;
    assert_eq!(r, Err(DeliveryError::PayloadTooLarge(1024)));
    assert!(node.is_alive(&t));
}

/// While actor A waits on a slow call, actor B keeps answering, with only
/// one thread to run them all.
#[tokio::test(flavor = "current_thread")]
async fn a_waiting_caller_parks_only_itself() {
    let node = node(&["testkit", "echo"]).await;
    let a = testkit(&node, None).await;
    let slow = testkit(&node, None).await;
    let b = node.spawn("echo", vec![]).await.unwrap();
    let n = node.clone();
    let (a2, slow2) = (a.clone(), slow.clone());
    let waiting = tokio::spawn(async move {
        let req = TestRequest::Call {
            to: Target::Pid(wire(&slow2)),
            payload: enc(&TestRequest::NeverAnswer),
            timeout_ms: Some(600_000),
        };
        n.call(&a2, enc(&req), Some(Duration::from_secs(600))).await
    });
    wait_until("A waits on its call", SOON, || {
        node.state(&a) == Some(ActorState::WaitingOnCall)
    })
    .await;
    for i in 0..100u32 {
        let msg = i.to_le_bytes().to_vec();
        assert_eq!(node.call(&b, msg.clone(), None).await.unwrap(), msg);
    }
    assert_eq!(node.state(&a), Some(ActorState::WaitingOnCall));
    assert!(!waiting.is_finished());
    waiting.abort();
}

#[tokio::test]
async fn bad_modules_are_rejected_and_the_rest_keep_working() {
    let node = node(&["echo"]).await;
    let echo = node.spawn("echo", vec![]).await.unwrap();

    let not_wasm = node.load("junk", b"this is not wasm at all".to_vec()).await;
    assert!(matches!(not_wasm, Err(LoadError::NotWasm { .. })), "{not_wasm:?}");

    // An empty core module: no actor world type information to turn it
    // into a component (wasip1 builds of the SDK have it; see wasip1.rs).
    let core = b"\0asm\x01\x00\x00\x00".to_vec();
    let err = node.load("core", core).await.unwrap_err();
    assert!(matches!(err, LoadError::CoreModule { .. }), "{err:?}");
    let text = err.to_string();
    assert!(
        text.contains("no `component-type` custom section")
            && text.contains("wasm32-wasip2")
            && text.contains("wasm32-wasip1"),
        "the error says what is wrong and what to do: {err}"
    );

    let err = node
        .load("wrong-world", guest_bytes("wrong-world"))
        .await
        .unwrap_err();
    assert!(matches!(err, LoadError::WrongWorld { .. }), "{err:?}");
    assert!(err.to_string().contains("actor"), "{err}");
    // It names the contract this host speaks, as the WIT file declares it.
    let wit = std::fs::read_to_string(wactor_e2e::repo_root().join("wit/actor.wit")).unwrap();
    let package = wit
        .lines()
        .find_map(|l| l.strip_prefix("package ")?.strip_suffix(';'))
        .expect("the WIT file's package line");
    assert!(err.to_string().contains(package), "{package}: {err}");

    // The right package and version, but `handle-call` left out.
    let err = node
        .load("missing-export", guest_bytes("missing-export"))
        .await
        .unwrap_err();
    assert!(matches!(err, LoadError::WrongWorld { .. }), "{err:?}");
    assert!(
        err.to_string().contains("handle-call"),
        "the error names the export: {err}"
    );

    // A component whose bytes are cut off does not compile.
    let mut cut = guest_bytes("echo");
    cut.truncate(cut.len() / 2);
    let err = node.load("cut", cut).await.unwrap_err();
    assert!(matches!(err, LoadError::Compile { .. }), "{err:?}");

    for name in ["junk", "core", "wrong-world", "missing-export", "cut"] {
        assert!(
            matches!(
                node.spawn(name, vec![]).await,
                Err(SpawnError::UnknownBehaviour(_))
            ),
            "{name} must not be installed"
        );
    }
    assert_eq!(
        node.call(&echo, b"still here".to_vec(), None).await.unwrap(),
        b"still here"
    );
}

#[tokio::test]
async fn a_failed_load_keeps_the_previous_version() {
    let node = node(&["echo"]).await;
    let before = node.behaviours()[0].version.hash.clone();
    assert!(node.load("echo", b"garbage".to_vec()).await.is_err());
    assert_eq!(node.behaviours()[0].version.hash, before);
    let pid = node.spawn("echo", vec![]).await.unwrap();
    assert_eq!(node.call(&pid, b"ok".to_vec(), None).await.unwrap(), b"ok");
}
