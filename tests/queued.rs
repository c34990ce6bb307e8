//! What the callers queued behind a failing call learn: a trap is the
//! reason of the call that caused it, not of the calls that waited in the
//! mailbox behind it. A restarted actor handles them as it handles the
//! messages queued beside them; an actor that is not restarted tells them
//! it ended while their call was still queued.

use wactor::{DeliveryError, Node, Pid, RestartPolicy};
use wactor_e2e::proto::{TestMessage, TestRequest};
use wactor_e2e::{ask, budget, enc, metric, node_with, permanent, row, testkit, wait_until, SOON};

/// A spinning call A, then two echo calls B and C and a plain message
/// queued behind it while it spins: returns A's outcome and the tasks of B
/// and C.
async fn spin_with_two_calls_queued(
    node: &Node,
    pid: &Pid,
) -> (
    Result<Vec<u8>, DeliveryError>,
    tokio::task::JoinHandle<Result<Vec<u8>, DeliveryError>>,
    tokio::task::JoinHandle<Result<Vec<u8>, DeliveryError>>,
) {
    // Just started, the instance may not be waiting at its desk yet: echo
    // until one runs directly, so that A does too.
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let before = metric(node, "wactor_direct_calls_total");
        ask::<Vec<u8>>(node, pid, &TestRequest::Echo(vec![]))
            .await
            .expect("an echo");
        if metric(node, "wactor_direct_calls_total") > before {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "echoes never ran directly"
        );
        tokio::task::yield_now().await;
    }
    let direct = metric(node, "wactor_direct_calls_total");
    let spin = {
        let (node, pid) = (node.clone(), pid.clone());
        tokio::spawn(async move { node.call(&pid, enc(&TestRequest::Spin), Some(SOON)).await })
    };
    // The idle actor runs A at once, on the caller's task; from then on its
    // instance is busy, and what comes next waits in the mailbox.
    wait_until("call A runs", SOON, || {
        metric(node, "wactor_direct_calls_total") > direct
    })
    .await;
    let echo = |bytes: &'static [u8]| {
        let (node, pid) = (node.clone(), pid.clone());
        tokio::spawn(async move {
            node.call(&pid, enc(&TestRequest::Echo(bytes.to_vec())), Some(SOON))
                .await
        })
    };
    let b = echo(b"b");
    let c = echo(b"c");
    node.send(pid, enc(&TestMessage::Record(b"beside".to_vec())))
        .expect("the message is queued");
    wait_until("B, C and the message wait in the mailbox", SOON, || {
        row(node, pid).is_some_and(|r| r.mailbox_depth == 3)
    })
    .await;
    let a = spin.await.expect("call A's task");
    (a, b, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_queued_behind_a_trap_are_handled_by_the_restarted_actor() {
    // 1 s of CPU: time enough to queue B and C behind A.
    let node = node_with(budget(100), &["testkit"]).await;
    node.set_restart_policy("testkit", permanent());
    let pid = testkit(&node, None).await;

    let (a, b, c) = spin_with_two_calls_queued(&node, &pid).await;
    match a {
        Err(DeliveryError::Terminated(reason)) => assert!(reason.contains("cpu budget"), "{reason}"),
        other => panic!("call A should end with the trap, got {other:?}"),
    }
    // B and C never ran in the trapped instance: the restarted one answers
    // them, in order with the message queued beside them.
    assert_eq!(b.await.expect("B's task"), Ok(enc(&b"b".to_vec())));
    assert_eq!(c.await.expect("C's task"), Ok(enc(&b"c".to_vec())));
    assert_eq!(node.restarts(&pid), Some(1));
    let received: Vec<Vec<u8>> = ask(&node, &pid, &TestRequest::Received).await.unwrap();
    assert_eq!(received, vec![b"beside".to_vec()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_queued_behind_a_trap_learn_the_actor_ended_while_they_waited() {
    let node = node_with(budget(100), &["testkit"]).await;
    node.set_restart_policy(
        "testkit",
        RestartPolicy {
            restart: wactor::Restart::Temporary,
            ..permanent()
        },
    );
    let pid = testkit(&node, None).await;

    let (a, b, c) = spin_with_two_calls_queued(&node, &pid).await;
    let trap = match a {
        Err(DeliveryError::Terminated(reason)) if reason.contains("cpu budget") => reason,
        other => panic!("call A should end with the trap, got {other:?}"),
    };
    for queued in [b, c] {
        match queued.await.expect("a queued call's task") {
            Err(DeliveryError::Terminated(reason)) => {
                assert!(reason.starts_with(&trap), "{reason}");
                assert!(reason.contains("ended while this call was queued"), "{reason}");
            }
            other => panic!("a queued call should learn the actor ended, got {other:?}"),
        }
    }
}

/// With the defaults (a 5 s call timeout), the caller of a handler that
/// never returns hears of the CPU-budget trap, not a bare `timeout`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_the_defaults_a_runaway_handler_s_caller_gets_the_trap() {
    let node = node_with(wactor::NodeConfig::default(), &["testkit"]).await;
    let pid = testkit(&node, None).await;
    let started = std::time::Instant::now();
    let r = node.call(&pid, enc(&TestRequest::Spin), None).await;
    match r {
        Err(DeliveryError::Terminated(reason)) => assert!(reason.contains("cpu budget"), "{reason}"),
        other => panic!(
            "the caller should hear of the trap, got {other:?} after {:?}",
            started.elapsed()
        ),
    }
}
