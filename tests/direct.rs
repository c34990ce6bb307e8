//! Direct calls: a call from the host to an idle actor runs the handler on
//! the caller's task, and behaves exactly as a call through the mailbox
//! (see `host/src/direct.rs`).

use std::time::Duration;

use wactor::{DeliveryError, NodeConfig, Restart, RestartPolicy};
use wactor_e2e::proto::{Target, TestMessage, TestRequest, WireError};
use wactor_e2e::*;

fn permanent() -> RestartPolicy {
    RestartPolicy {
        restart: Restart::Permanent,
        max_restarts: 5,
        within: Duration::from_secs(600),
    }
}

#[tokio::test]
async fn a_call_from_the_host_to_an_idle_actor_runs_directly() {
    let node = node(&["echo"]).await;
    let echo = node.spawn("echo", vec![]).await.unwrap();
    for i in 0..3u8 {
        let answer = node.call(&echo, vec![i; 3], None).await.unwrap();
        assert_eq!(answer, vec![i; 3]);
    }
    assert_eq!(metric(&node, "wactor_direct_calls_total"), 3);
    let row = node
        .actors()
        .into_iter()
        .find(|a| a.pid == echo.to_string())
        .unwrap();
    assert_eq!(row.handled, 3, "each direct call counts as handled by the actor");
}

/// Sends then calls, many times, with the actor's task on another worker
/// thread: the call must see every message sent before it, also when the
/// actor's task has just been woken for that message.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_call_never_overtakes_a_message_sent_before_it() {
    let node = node(&["testkit"]).await;
    let a = testkit(&node, None).await;
    for i in 0..500u32 {
        node.send(&a, enc(&TestMessage::Record(i.to_be_bytes().to_vec())))
            .unwrap();
        let got: Vec<Vec<u8>> = ask(&node, &a, &TestRequest::Received).await.unwrap();
        assert_eq!(
            got.len(),
            i as usize + 1,
            "round {i}: the call overtook the message"
        );
        assert_eq!(got.last().unwrap(), &i.to_be_bytes().to_vec());
    }
    // Some of those calls found the actor idle and ran directly.
    assert!(metric(&node, "wactor_direct_calls_total") > 0);
}

/// A caller whose deadline passes mid-handler gets `timeout`; the handler
/// is not cut off but runs on to its end (here the CPU budget's trap),
/// and the actor restarts and answers again.
#[tokio::test]
async fn a_caller_that_gives_up_leaves_the_handler_to_finish() {
    let config = NodeConfig {
        cpu_budget_ticks: 20,
        ..NodeConfig::default()
    };
    let node = node_with(config, &["testkit"]).await;
    node.set_restart_policy("testkit", permanent());
    let a = testkit(&node, None).await;
    let r = node
        .call(&a, enc(&TestRequest::Spin), Some(Duration::from_millis(50)))
        .await;
    assert_eq!(r, Err(DeliveryError::Timeout));
    assert_eq!(metric(&node, "wactor_direct_calls_total"), 1);
    // Waits in the mailbox while the handler spins on, and fails with the
    // trap that ends it, as every call the actor owed then.
    let r = ask::<Vec<u8>>(&node, &a, &TestRequest::Echo(b"queued".to_vec())).await;
    match r {
        Err(DeliveryError::Terminated(reason)) => assert!(reason.contains("cpu budget"), "{reason}"),
        other => panic!("expected the spinning handler's trap, got {other:?}"),
    }
    let echoed: Vec<u8> = ask(&node, &a, &TestRequest::Echo(b"again".to_vec()))
        .await
        .unwrap();
    assert_eq!(echoed, b"again");
    assert_eq!(node.restarts(&a), Some(1));
}

#[tokio::test]
async fn a_kill_aborts_a_direct_call() {
    // A budget of hours: only the kill can end the handler.
    let config = NodeConfig {
        cpu_budget_ticks: 1_000_000,
        ..NodeConfig::default()
    };
    let node = node_with(config, &["testkit"]).await;
    let a = testkit(&node, None).await;
    let n = node.clone();
    let a2 = a.clone();
    let pending = tokio::spawn(async move {
        n.call(&a2, enc(&TestRequest::Spin), Some(Duration::from_secs(600)))
            .await
    });
    wait_until("the call runs directly", SOON, || {
        metric(&node, "wactor_direct_calls_total") == 1
    })
    .await;
    assert!(node.kill(&a, "killed by test"));
    let r = tokio::time::timeout(SOON, pending)
        .await
        .expect("the kill ends the call")
        .unwrap();
    assert_eq!(r, Err(DeliveryError::Terminated("killed by test".into())));
    wait_until("the actor is gone", SOON, || !node.is_alive(&a)).await;
}

/// A stop asked while a direct call waits on another actor lets the call
/// finish and answer, then ends the actor.
#[tokio::test]
async fn a_stop_waits_for_a_direct_call() {
    let node = node(&["testkit"]).await;
    let a = testkit(&node, None).await;
    let b = testkit(&node, None).await;
    let mut exits = node.exits();
    let n = node.clone();
    let a2 = a.clone();
    let to = Target::Pid(wire(&b));
    let slow = enc(&TestRequest::SlowReply {
        ms: 300,
        payload: b"late".to_vec(),
    });
    let pending = tokio::spawn(async move {
        ask::<Result<Vec<u8>, WireError>>(
            &n,
            &a2,
            &TestRequest::Call {
                to,
                payload: slow,
                timeout_ms: None,
            },
        )
        .await
    });
    wait_until("a's handler waits on b", SOON, || {
        metric(&node, "wactor_direct_calls_total") == 1
            && node
                .actors()
                .iter()
                .any(|r| r.pid == b.to_string() && r.handled == 1)
    })
    .await;
    assert!(node.stop(&a, "stopped by test"));
    let answer = pending.await.unwrap().unwrap().unwrap();
    let payload: Vec<u8> = dec(&answer);
    assert_eq!(payload, b"late");
    let exit = tokio::time::timeout(SOON, async {
        loop {
            let exit = exits.recv().await.unwrap();
            if exit.pid == a {
                return exit;
            }
        }
    })
    .await
    .expect("a ends after the call");
    assert_eq!(exit.reason, "stopped by test");
}

/// A trap in a direct call fails the call with the trap, and the actor's
/// restart policy applies as for any message.
#[tokio::test]
async fn a_trap_in_a_direct_call_restarts_the_actor() {
    let node = node(&["testkit"]).await;
    node.set_restart_policy("testkit", permanent());
    let a = testkit(&node, None).await;
    node.send(&a, enc(&TestMessage::Record(b"before".to_vec())))
        .unwrap();
    let _: Vec<Vec<u8>> = ask(&node, &a, &TestRequest::Received).await.unwrap();
    let direct = metric(&node, "wactor_direct_calls_total");
    let r = ask::<Vec<u8>>(&node, &a, &TestRequest::Trap).await;
    assert_eq!(metric(&node, "wactor_direct_calls_total"), direct + 1);
    match r {
        Err(DeliveryError::Terminated(reason)) => assert!(reason.contains("trap"), "{reason}"),
        other => panic!("expected terminated by the trap, got {other:?}"),
    }
    assert_eq!(node.restarts(&a), Some(1));
    let got: Vec<Vec<u8>> = ask(&node, &a, &TestRequest::Received).await.unwrap();
    assert!(got.is_empty(), "the restarted actor starts with fresh state");
}
