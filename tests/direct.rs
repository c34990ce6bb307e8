//! Direct calls: a call to an idle actor, from the host or from another
//! actor, runs the handler on the caller's task, and behaves exactly as a
//! call through the mailbox (see `host/src/direct.rs`).

use std::time::Duration;

use wactor::DeliveryError;
use wactor_e2e::proto::{Target, TestMessage, TestRequest, WireError};
use wactor_e2e::*;

#[tokio::test]
async fn a_call_from_the_host_to_an_idle_actor_runs_directly() {
    let node = node(&["echo"]).await;
    let echo = node.spawn("echo", vec![]).await.unwrap();
    for i in 0..3u8 {
        let answer = node.call(&echo, vec![i; 3], None).await.unwrap();
        assert_eq!(answer, vec![i; 3]);
    }
    assert_eq!(metric(&node, "wactor_direct_calls_total"), 3);
    let row = row(&node, &echo).unwrap();
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
    let node = node_with(budget(20), &["testkit"]).await;
    node.set_restart_policy("testkit", permanent());
    let a = testkit(&node, None).await;
    let r = node
        .call(&a, enc(&TestRequest::Spin), Some(Duration::from_millis(50)))
        .await;
    assert_eq!(r, Err(DeliveryError::Timeout));
    assert_eq!(metric(&node, "wactor_direct_calls_total"), 1);
    // Waits in the mailbox while the handler spins on to the trap that ends
    // it; the trap is not this call's, so the restarted actor answers it.
    let r = ask::<Vec<u8>>(&node, &a, &TestRequest::Echo(b"queued".to_vec())).await;
    assert_eq!(
        r,
        Ok(b"queued".to_vec()),
        "the queued call is answered after the restart"
    );
    assert_echoes(&node, &a, b"again").await;
    assert_eq!(node.restarts(&a), Some(1));
}

#[tokio::test]
async fn a_kill_aborts_a_direct_call() {
    let node = node_with(endless(), &["testkit"]).await;
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
    // The call from a to b may run directly too, when b is already idle.
    wait_until("a's handler waits on b", SOON, || {
        metric(&node, "wactor_direct_calls_total") >= 1 && row(&node, &b).is_some_and(|r| r.handled == 1)
    })
    .await;
    assert!(node.stop(&a, "stopped by test"));
    let answer = pending.await.unwrap().unwrap().unwrap();
    let payload: Vec<u8> = dec(&answer);
    assert_eq!(payload, b"late");
    let exit = exit_of(&mut exits, &a).await;
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

/// Has actor `via` call `to` with `req`, waiting `timeout_ms` (`None`: the
/// default): what `via` got back, or why `via` itself did not answer.
async fn try_relay(
    node: &wactor::Node,
    via: &wactor::Pid,
    to: &wactor::Pid,
    req: &TestRequest,
    timeout_ms: Option<u32>,
) -> Result<Result<Vec<u8>, WireError>, DeliveryError> {
    ask::<Result<Vec<u8>, WireError>>(
        node,
        via,
        &TestRequest::Call {
            to: Target::Pid(wire(to)),
            payload: enc(req),
            timeout_ms,
        },
    )
    .await
}

/// [`try_relay`], when `via` must answer.
async fn relay(
    node: &wactor::Node,
    via: &wactor::Pid,
    to: &wactor::Pid,
    req: &TestRequest,
    timeout_ms: Option<u32>,
) -> Result<Vec<u8>, WireError> {
    try_relay(node, via, to, req, timeout_ms)
        .await
        .expect("the relaying actor answers")
}

/// Has the host call `a`, and `a` call `b` with `TestRequest::Spin`, and
/// returns once `b`'s handler spins inside `a`'s (both calls direct): the
/// host's call, still waiting.
async fn spin_inside(
    node: &wactor::Node,
    a: &wactor::Pid,
    b: &wactor::Pid,
) -> tokio::task::JoinHandle<Result<Result<Vec<u8>, WireError>, DeliveryError>> {
    let (n, a2, b2) = (node.clone(), a.clone(), b.clone());
    let pending =
        tokio::spawn(async move { try_relay(&n, &a2, &b2, &TestRequest::Spin, Some(600_000)).await });
    wait_until("b spins", SOON, || {
        row(node, a).is_some_and(|r| r.state == wactor::ActorState::WaitingOnCall)
    })
    .await;
    assert_eq!(
        metric(node, "wactor_direct_calls_total"),
        2,
        "b's handler runs inside a's"
    );
    pending
}

/// An actor's call to an idle actor runs the callee's handler on the
/// caller's task, inside the caller's own handler, and answers as a call
/// through the mailbox would.
#[tokio::test]
async fn a_call_between_idle_actors_runs_directly() {
    let node = node(&["testkit"]).await;
    let a = testkit(&node, None).await;
    let b = testkit(&node, None).await;
    node.send(&b, enc(&TestMessage::Record(b"kept".to_vec())))
        .unwrap();
    let rounds = 20;
    let before = metric(&node, "wactor_direct_calls_total");
    for i in 0..rounds {
        let answer = relay(&node, &a, &b, &TestRequest::Echo(vec![i; 2]), None)
            .await
            .unwrap();
        assert_eq!(dec::<Vec<u8>>(&answer), vec![i; 2]);
    }
    // b's own state is what the direct calls see.
    let answer = relay(&node, &a, &b, &TestRequest::Received, None).await.unwrap();
    assert_eq!(dec::<Vec<Vec<u8>>>(&answer), vec![b"kept".to_vec()]);
    // Each round is a call to a (from the host) and one from a to b; more
    // direct calls than rounds means calls between actors ran directly.
    let direct = metric(&node, "wactor_direct_calls_total") - before;
    assert!(
        direct > u64::from(rounds) + 1,
        "only {direct} of {} calls ran directly",
        2 * (u32::from(rounds) + 1)
    );
    assert_eq!(
        row(&node, &b).unwrap().handled,
        u64::from(rounds) + 2,
        "b counts every call it answered, and the message"
    );
}

/// Has `a` send a message to `b` and then call `b`, many times, on two
/// worker threads: the call, direct or not, sees every message sent before
/// it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_direct_call_between_actors_never_overtakes_a_message_sent_before_it() {
    let node = node(&["testkit"]).await;
    let a = testkit(&node, None).await;
    let b = testkit(&node, None).await;
    let before = metric(&node, "wactor_direct_calls_total");
    let rounds = 300u32;
    for i in 0..rounds {
        let record = enc(&TestMessage::Record(i.to_be_bytes().to_vec()));
        let sent: Result<(), WireError> = ask(
            &node,
            &a,
            &TestRequest::Send {
                to: Target::Pid(wire(&b)),
                payload: record,
            },
        )
        .await
        .unwrap();
        sent.unwrap();
        let got: Vec<Vec<u8>> = dec(&relay(&node, &a, &b, &TestRequest::Received, None).await.unwrap());
        assert_eq!(
            got.len(),
            i as usize + 1,
            "round {i}: the call overtook the message"
        );
        assert_eq!(got.last().unwrap(), &i.to_be_bytes().to_vec());
    }
    // Some of the calls from a to b ran directly: more than one per round
    // (the host's two calls to a) ran so.
    assert!(metric(&node, "wactor_direct_calls_total") - before > 2 * u64::from(rounds));
}

/// Three actors deep: the host calls a, which calls b, which calls c; each
/// call may run inside the handler of its caller.
#[tokio::test]
async fn direct_calls_nest_through_a_chain_of_actors() {
    let node = node(&["testkit"]).await;
    let a = testkit(&node, None).await;
    let b = testkit(&node, None).await;
    let c = testkit(&node, None).await;
    let before = metric(&node, "wactor_direct_calls_total");
    for i in 0..10u8 {
        let inner = TestRequest::Call {
            to: Target::Pid(wire(&c)),
            payload: enc(&TestRequest::Echo(vec![i])),
            timeout_ms: None,
        };
        let from_b = relay(&node, &a, &b, &inner, None).await.unwrap();
        let from_c: Result<Vec<u8>, WireError> = dec(&from_b);
        assert_eq!(dec::<Vec<u8>>(&from_c.unwrap()), vec![i]);
    }
    assert_eq!(
        metric(&node, "wactor_direct_calls_total") - before,
        30,
        "each of the three calls of a round ran inside its caller's handler"
    );
    // A cycle through the chain is still refused at once: c calling a,
    // which waits on b, which waits on c.
    let back_to_a = TestRequest::Call {
        to: Target::Pid(wire(&a)),
        payload: enc(&TestRequest::Echo(vec![])),
        timeout_ms: None,
    };
    let to_c = TestRequest::Call {
        to: Target::Pid(wire(&c)),
        payload: enc(&back_to_a),
        timeout_ms: None,
    };
    let started = std::time::Instant::now();
    let from_b = relay(&node, &a, &b, &to_c, None).await.unwrap();
    let from_c: Result<Vec<u8>, WireError> = dec(&from_b);
    let from_a: Result<Vec<u8>, WireError> = dec(&from_c.unwrap());
    match from_a {
        Err(WireError::NotAllowed(why)) => assert!(why.contains("cycle"), "{why}"),
        other => panic!("expected the cycle to be refused, got {other:?}"),
    }
    assert!(
        started.elapsed() < Duration::from_secs(4),
        "refused at once, not by a timeout"
    );
}

/// A trap in a callee that ran inside its caller's handler fails only that
/// call: the callee restarts, the caller carries on with its state.
#[tokio::test]
async fn a_trap_in_a_direct_call_between_actors_restarts_only_the_callee() {
    let node = node(&["testkit"]).await;
    node.set_restart_policy("testkit", permanent());
    let a = testkit(&node, None).await;
    let b = testkit(&node, None).await;
    node.send(&a, enc(&TestMessage::Record(b"a's".to_vec()))).unwrap();
    let _: Vec<Vec<u8>> = ask(&node, &a, &TestRequest::Received).await.unwrap();
    let before = metric(&node, "wactor_direct_calls_total");
    for _ in 0..3 {
        match relay(&node, &a, &b, &TestRequest::Trap, None).await {
            Err(WireError::Terminated(reason)) => assert!(reason.contains("trap"), "{reason}"),
            other => panic!("expected terminated by the trap, got {other:?}"),
        }
    }
    // Each relay ran both calls directly: b's trap happened inside a's
    // handler.
    assert_eq!(metric(&node, "wactor_direct_calls_total") - before, 6);
    assert_eq!(node.restarts(&b), Some(3));
    assert_eq!(node.restarts(&a), Some(0));
    let got: Vec<Vec<u8>> = ask(&node, &a, &TestRequest::Received).await.unwrap();
    assert_eq!(got, vec![b"a's".to_vec()], "the caller kept its state");
    let echoed = relay(&node, &a, &b, &TestRequest::Echo(b"up".to_vec()), None)
        .await
        .unwrap();
    assert_eq!(dec::<Vec<u8>>(&echoed), b"up");
}

/// Killing a callee whose handler runs inside its caller's handler fails
/// the caller's call with the kill's reason; the caller lives on.
#[tokio::test]
async fn a_kill_of_the_callee_aborts_a_direct_call_between_actors() {
    let node = node_with(endless(), &["testkit"]).await;
    let a = testkit(&node, None).await;
    let b = testkit(&node, None).await;
    let pending = spin_inside(&node, &a, &b).await;
    assert!(node.kill(&b, "killed by test"));
    let r = tokio::time::timeout(SOON, pending)
        .await
        .expect("the kill ends the call")
        .unwrap();
    assert_eq!(r, Ok(Err(WireError::Terminated("killed by test".into()))));
    wait_until("b is gone", SOON, || !node.is_alive(&b)).await;
    assert!(node.is_alive(&a));
    assert_echoes(&node, &a, b"alive").await;
}

/// Killing a caller while the callee's handler runs inside the caller's
/// handler ends the caller; the callee's handler is not cut off but
/// finishes on a task of its own (here at its CPU budget's trap), and the
/// callee restarts and answers again.
#[tokio::test]
async fn a_killed_caller_leaves_a_direct_callee_to_finish() {
    let node = node_with(budget(100), &["testkit"]).await;
    node.set_restart_policy("testkit", permanent());
    let a = testkit(&node, None).await;
    let b = testkit(&node, None).await;
    let mut exits = node.exits();
    let pending = spin_inside(&node, &a, &b).await;
    assert!(node.kill(&a, "caller killed"));
    let r = tokio::time::timeout(SOON, pending)
        .await
        .expect("the host's call to a ends")
        .unwrap();
    assert_eq!(r, Err(DeliveryError::Terminated("caller killed".into())));
    let exit = exit_of(&mut exits, &a).await;
    assert_eq!(exit.reason, "caller killed");
    // b's spin ends in its budget's trap, on its own task, and b restarts.
    wait_until("b restarted after its trap", SOON, || {
        node.restarts(&b) == Some(1)
    })
    .await;
    assert_echoes(&node, &b, b"again").await;
}

/// A caller whose own timeout passes while the callee's handler runs
/// inside its handler gets `timeout`; the callee finishes on its own task.
#[tokio::test]
async fn a_caller_that_times_out_on_a_direct_callee_gets_timeout() {
    let node = node_with(budget(20), &["testkit"]).await;
    node.set_restart_policy("testkit", permanent());
    let a = testkit(&node, None).await;
    let b = testkit(&node, None).await;
    let r = relay(&node, &a, &b, &TestRequest::Spin, Some(50)).await;
    assert_eq!(r, Err(WireError::Timeout));
    assert_eq!(
        metric(&node, "wactor_direct_calls_total"),
        2,
        "b's handler ran inside a's"
    );
    wait_until("b restarted after its trap", SOON, || {
        node.restarts(&b) == Some(1)
    })
    .await;
    assert_eq!(node.restarts(&a), Some(0));
    let echoed = relay(&node, &a, &b, &TestRequest::Echo(b"again".to_vec()), None)
        .await
        .unwrap();
    assert_eq!(dec::<Vec<u8>>(&echoed), b"again");
}

/// How many messages and calls each worker of `pool` handled.
fn handled_by_workers(node: &wactor::Node, pool: &wactor::Pid) -> Vec<u64> {
    node.pool_workers(pool)
        .unwrap()
        .iter()
        .map(|w| row(node, w).unwrap().handled)
        .collect()
}

/// A call to a pool runs directly on an idle worker, and the workers still
/// take turns.
#[tokio::test]
async fn a_call_to_a_pool_runs_directly_on_an_idle_worker() {
    let node = node(&["testkit"]).await;
    let pool = node.spawn_pool("testkit", 3, vec![]).await.unwrap();
    for i in 0..6u8 {
        assert_echoes(&node, &pool, &[i]).await;
    }
    assert_eq!(metric(&node, "wactor_direct_calls_total"), 6);
    assert_eq!(
        handled_by_workers(&node, &pool),
        vec![2, 2, 2],
        "each worker in turn"
    );
    let stats = node.pool_stats(&pool).unwrap();
    assert_eq!(stats.forwarded, 6, "direct calls count as forwarded by the pool");
}

/// While one worker of a pool is busy, calls run directly on the idle one
/// instead of queueing behind the busy one: through the mailbox, every
/// other call would wait for the spinning worker and time out.
#[tokio::test]
async fn a_call_to_a_pool_skips_a_busy_worker() {
    let node = node_with(endless(), &["testkit"]).await;
    let pool = node.spawn_pool("testkit", 2, vec![]).await.unwrap();
    let (n, p) = (node.clone(), pool.clone());
    let spinning = tokio::spawn(async move { ask::<Vec<u8>>(&n, &p, &TestRequest::Spin).await });
    wait_until("a worker spins", SOON, || {
        metric(&node, "wactor_direct_calls_total") == 1
    })
    .await;
    for i in 0..6u8 {
        let answer = node
            .call(
                &pool,
                enc(&TestRequest::Echo(vec![i])),
                Some(Duration::from_secs(10)),
            )
            .await
            .expect("an idle worker answers");
        assert_eq!(dec::<Vec<u8>>(&answer), vec![i]);
    }
    assert_eq!(metric(&node, "wactor_direct_calls_total"), 7);
    let handled = handled_by_workers(&node, &pool);
    assert!(
        handled.contains(&6),
        "the idle worker answered every call: {handled:?}"
    );
    node.shutdown(Duration::from_millis(100)).await;
    let spun = tokio::time::timeout(SOON, spinning)
        .await
        .expect("the shutdown ends the spinning call")
        .unwrap();
    assert!(spun.is_err(), "{spun:?}");
}
