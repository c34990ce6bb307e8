//! Request/response semantics beyond the basics: call cycles and pools.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use wactor::{ActorState, DeliveryError, NodeConfig, Pid};
use wactor_e2e::proto::{Target, TestMessage, TestRequest, WireError, WirePid};
use wactor_e2e::*;

type CallReply = Result<Vec<u8>, WireError>;

fn call_via(to: &Pid, inner: &TestRequest) -> TestRequest {
    TestRequest::Call {
        to: Target::Pid(wire(to)),
        payload: enc(inner),
        timeout_ms: Some(600_000),
    }
}

#[tokio::test]
async fn a_three_actor_cycle_is_not_allowed() {
    let node = node(&["testkit"]).await;
    let a = testkit(&node, None).await;
    let b = testkit(&node, None).await;
    let c = testkit(&node, None).await;
    // A calls B, B calls C, and C, while both wait, calls A.
    let c_to_a = call_via(&a, &TestRequest::Echo(vec![]));
    let b_to_c = call_via(&c, &c_to_a);
    let a_to_b = call_via(&b, &b_to_c);
    let from_b: CallReply = ask(&node, &a, &a_to_b).await.unwrap();
    let from_c: CallReply = dec(&from_b.expect("B answered"));
    let from_a: CallReply = dec(&from_c.expect("C answered"));
    assert!(
        matches!(from_a, Err(WireError::NotAllowed(ref m)) if m.contains("cycle")),
        "{from_a:?}"
    );
}

async fn worker_of(node: &wactor::Node, pool: &Pid) -> WirePid {
    ask(node, pool, &TestRequest::SelfPid)
        .await
        .expect("a worker answers")
}

#[tokio::test]
async fn a_pool_rotates_calls_over_its_workers() {
    let node = node(&["testkit"]).await;
    let pool = node.spawn_pool("testkit", 5, vec![]).await.unwrap();
    node.register("workers", &pool).unwrap();
    let mut seen = Vec::new();
    for _ in 0..10 {
        seen.push(worker_of(&node, &pool).await);
    }
    let distinct: BTreeSet<u64> = seen.iter().map(|p| p.id).collect();
    assert_eq!(
        distinct.len(),
        5,
        "ten calls land on five distinct workers: {seen:?}"
    );
    for i in 0..5 {
        assert_eq!(
            seen[i],
            seen[i + 5],
            "round-robin: call {i} and {} go to the same worker",
            i + 5
        );
    }
    let workers: BTreeSet<u64> = node.pool_workers(&pool).unwrap().iter().map(|p| p.id).collect();
    assert_eq!(distinct, workers);
    assert!(!workers.contains(&pool.id), "the pool's pid is not a worker");
    // The pool answers by name too, and plain sends are forwarded.
    assert!(worker_of_name(&node).await.id > 0);
    node.send("workers", enc(&TestMessage::Record(b"x".to_vec())))
        .unwrap();
    let stats = node.pool_stats(&pool).unwrap();
    assert_eq!((stats.size, stats.forwarded, stats.rejected), (5, 12, 0));
}

async fn worker_of_name(node: &wactor::Node) -> WirePid {
    ask(node, "workers", &TestRequest::SelfPid)
        .await
        .expect("a worker answers")
}

#[tokio::test]
async fn workers_can_be_added_and_the_oldest_removed() {
    let node = node(&["testkit"]).await;
    let pool = node.spawn_pool("testkit", 5, vec![]).await.unwrap();
    let added = node.pool_add(&pool, 3).await.unwrap();
    assert_eq!(added.len(), 3);
    let mut seen = BTreeSet::new();
    for _ in 0..8 {
        seen.insert(worker_of(&node, &pool).await.id);
    }
    assert_eq!(seen.len(), 8, "the rotation covers all eight workers");

    let before = node.pool_workers(&pool).unwrap();
    let mut exits = node.exits();
    let removed = node.pool_remove(&pool, 2).unwrap();
    assert_eq!(removed, before[..2].to_vec(), "removing retires the oldest");
    exits_of(&mut exits, &removed).await;
    let mut seen = BTreeSet::new();
    for _ in 0..6 {
        seen.insert(worker_of(&node, &pool).await.id);
    }
    let expected: BTreeSet<u64> = before[2..].iter().map(|p| p.id).collect();
    assert_eq!(seen, expected);
    let stats = node.pool_stats(&pool).unwrap();
    assert_eq!(
        (stats.size, stats.restarts),
        (6, 0),
        "retired workers are not replaced"
    );
}

#[tokio::test]
async fn a_worker_that_traps_is_replaced() {
    let node = node(&["testkit"]).await;
    let pool = node.spawn_pool("testkit", 3, vec![]).await.unwrap();
    let before: BTreeSet<Pid> = node.pool_workers(&pool).unwrap().into_iter().collect();
    // A long timeout, so that only the trap can end the call.
    let r = at_once(
        "the trap ends the call",
        node.call(&pool, enc(&TestRequest::Trap), Some(Duration::from_secs(600))),
    )
    .await;
    assert!(matches!(r, Err(DeliveryError::Terminated(_))), "{r:?}");
    wait_until("the trapped worker is replaced", SOON, || {
        let s = node.pool_stats(&pool).unwrap();
        s.size == 3 && s.restarts == 1
    })
    .await;
    let after: BTreeSet<Pid> = node.pool_workers(&pool).unwrap().into_iter().collect();
    assert_eq!(before.intersection(&after).count(), 2, "one worker is new");
    for _ in 0..3 {
        assert_echoes(&node, &pool, b"ok").await;
    }
}

/// Twenty callers, ten workers that each take a while: every worker takes
/// exactly two calls, and the workers serve them side by side, so the
/// twenty finish in two service times, not twenty. The overlap is read from
/// when each worker says it began and finished each job, not from how long
/// the test took.
#[tokio::test]
async fn concurrent_calls_spread_over_the_pool() {
    let node = node(&["testkit"]).await;
    let pool = node.spawn_pool("testkit", 10, vec![]).await.unwrap();
    let slow = testkit(&node, None).await;
    // Each job: the worker waits on a call that the slow actor answers
    // after 200 ms, and reports when it began and when the answer came.
    let req = TestRequest::TimedCall {
        to: Target::Pid(wire(&slow)),
        payload: enc(&TestRequest::SlowReply {
            ms: 200,
            payload: b"done".to_vec(),
        }),
        timeout_ms: Some(60_000),
    };
    let calls: Vec<_> = (0..20)
        .map(|_| {
            let (node, pool, req) = (node.clone(), pool.clone(), req.clone());
            tokio::spawn(async move { ask::<(u64, u64, CallReply)>(&node, &pool, &req).await })
        })
        .collect();
    let mut jobs = Vec::new();
    for c in calls {
        let (began, ended, answer) = c.await.unwrap().unwrap();
        let inner = answer.expect("the slow actor answered");
        assert_eq!(dec::<Vec<u8>>(&inner), b"done");
        assert!(began < ended, "a job ends after it begins: {began} {ended}");
        jobs.push((began, ended));
    }
    let handled: HashMap<String, u64> = node.actors().into_iter().map(|a| (a.pid, a.handled)).collect();
    for w in node.pool_workers(&pool).unwrap() {
        assert_eq!(handled[&w.to_string()], 2, "worker {w} took two calls");
    }
    // The most jobs under way at one instant: all ten workers at once if
    // the pool serves in parallel, one if it serves a call at a time.
    let mut edges: Vec<(u64, i32)> = jobs.iter().flat_map(|&(b, e)| [(b, 1), (e, -1)]).collect();
    // At equal times an end sorts before a begin: touching is not overlap.
    edges.sort();
    let (mut running, mut most) = (0, 0);
    for (_, step) in edges {
        running += step;
        most = most.max(running);
    }
    assert_eq!(
        most, 10,
        "ten jobs at once; the jobs (began, ended, in µs): {jobs:?}"
    );
}

#[tokio::test]
async fn a_pool_whose_workers_are_all_full_refuses_at_once() {
    let config = NodeConfig {
        mailbox_capacity: 1,
        ..NodeConfig::default()
    };
    let node = node_with(config, &["testkit"]).await;
    let pool = node.spawn_pool("testkit", 2, vec![]).await.unwrap();
    // Park both workers in calls that are never answered (to two actors,
    // as each mailbox holds one envelope).
    let silent = [testkit(&node, None).await, testkit(&node, None).await];
    let parked: Vec<_> = silent
        .iter()
        .map(|s| {
            let park = call_via(s, &TestRequest::NeverAnswer);
            let (node, pool) = (node.clone(), pool.clone());
            tokio::spawn(async move { ask::<CallReply>(&node, &pool, &park).await })
        })
        .collect();
    let workers = node.pool_workers(&pool).unwrap();
    wait_until("both workers wait on their calls", SOON, || {
        workers
            .iter()
            .all(|w| node.state(w) == Some(ActorState::WaitingOnCall))
    })
    .await;
    // One message fits in each worker's mailbox; the third fits nowhere.
    node.send(&pool, enc(&TestMessage::Record(vec![1]))).unwrap();
    node.send(&pool, enc(&TestMessage::Record(vec![2]))).unwrap();
    assert_eq!(
        node.send(&pool, enc(&TestMessage::Record(vec![3]))),
        Err(DeliveryError::MailboxFull)
    );
    let r = at_once(
        "the full pool refuses the call",
        node.call(&pool, enc(&TestRequest::Received), Some(Duration::from_secs(600))),
    )
    .await;
    assert_eq!(r, Err(DeliveryError::MailboxFull));
    assert_eq!(node.pool_stats(&pool).unwrap().rejected, 2);
    // Nothing accepted is lost: each worker got one of the two messages.
    for s in &silent {
        assert!(node.kill(s, "release"));
    }
    for p in parked {
        let r = at_once("the kill ends the parked call", p)
            .await
            .unwrap()
            .unwrap();
        assert!(matches!(r, Err(WireError::Terminated(_))), "{r:?}");
    }
    let mut got = Vec::new();
    for w in &workers {
        let r: Vec<Vec<u8>> = ask(&node, w, &TestRequest::Received).await.unwrap();
        got.extend(r);
    }
    got.sort();
    assert_eq!(got, vec![vec![1], vec![2]]);
}

#[tokio::test]
async fn stopping_a_pool_stops_its_workers_and_frees_its_name() {
    let node = node(&["testkit"]).await;
    let pool = node.spawn_pool("testkit", 3, vec![]).await.unwrap();
    node.register("p", &pool).unwrap();
    let workers = node.pool_workers(&pool).unwrap();
    let mut exits = node.exits();
    assert!(node.stop(&pool, "done"));
    let mut all = workers.clone();
    all.push(pool.clone());
    exits_of(&mut exits, &all).await;
    assert_eq!(node.whereis("p"), None);
    assert_eq!(node.send(&pool, vec![]), Err(DeliveryError::UnknownProcess));
}

#[tokio::test]
async fn call_async_returns_a_ref_at_once_and_the_answer_arrives_tagged_with_it() {
    use wactor_e2e::proto::{WireInfo, WireRef};
    let node = node(&["testkit"]).await;
    let caller = testkit(&node, None).await;
    let callee = testkit(&node, None).await;
    let slow = TestRequest::SlowReply {
        ms: 300,
        payload: b"later".to_vec(),
    };
    let r: Result<WireRef, WireError> = ask(
        &node,
        &caller,
        &TestRequest::CallAsync {
            to: Target::Pid(wire(&callee)),
            payload: enc(&slow),
            timeout_ms: Some(30_000),
        },
    )
    .await
    .unwrap();
    let r = r.expect("the async call was sent");
    // The caller is free while the answer is on its way.
    assert_echoes(&node, &caller, b"free").await;
    let deadline = tokio::time::Instant::now() + SOON;
    let info = loop {
        let infos: Vec<WireInfo> = ask(&node, &caller, &TestRequest::Infos).await.unwrap();
        if let Some(i) = infos.into_iter().next() {
            break i;
        }
        assert!(tokio::time::Instant::now() < deadline, "no answer arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(
        info,
        WireInfo::Response {
            r,
            result: Ok(enc(&b"later".to_vec()))
        }
    );
}

#[tokio::test]
async fn call_async_reports_immediate_errors_and_later_ones_as_infos() {
    use wactor_e2e::proto::{WireInfo, WireRef};
    let node = node(&["testkit"]).await;
    let caller = testkit(&node, None).await;
    let callee = testkit(&node, None).await;
    let unknown: Result<WireRef, WireError> = ask(
        &node,
        &caller,
        &TestRequest::CallAsync {
            to: Target::Name("nobody".into()),
            payload: vec![],
            timeout_ms: None,
        },
    )
    .await
    .unwrap();
    assert_eq!(unknown, Err(WireError::UnknownProcess));
    let r: Result<WireRef, WireError> = ask(
        &node,
        &caller,
        &TestRequest::CallAsync {
            to: Target::Pid(wire(&callee)),
            payload: enc(&TestRequest::NeverAnswer),
            timeout_ms: Some(100),
        },
    )
    .await
    .unwrap();
    let r = r.unwrap();
    let deadline = tokio::time::Instant::now() + SOON;
    let info = loop {
        let infos: Vec<WireInfo> = ask(&node, &caller, &TestRequest::Infos).await.unwrap();
        if let Some(i) = infos.into_iter().next() {
            break i;
        }
        assert!(tokio::time::Instant::now() < deadline, "no timeout arrived");
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    assert_eq!(
        info,
        WireInfo::Response {
            r,
            result: Err(WireError::Timeout)
        }
    );
}

#[tokio::test]
async fn a_guest_starts_a_pool_with_the_spawn_pool_import() {
    let node = node(&["testkit"]).await;
    let parent = testkit(&node, None).await;
    let pool: Result<WirePid, String> = ask(
        &node,
        &parent,
        &TestRequest::SpawnPool {
            behaviour: "testkit".into(),
            size: 3,
            args: vec![],
        },
    )
    .await
    .unwrap();
    let pool = pool.expect("the pool started");
    let pool = Pid {
        node: pool.node.into(),
        id: pool.id,
        creation: pool.creation,
    };
    assert_eq!(node.pool_stats(&pool).unwrap().size, 3);
    let mut seen = BTreeSet::new();
    for _ in 0..3 {
        seen.insert(worker_of(&node, &pool).await.id);
    }
    assert_eq!(seen.len(), 3, "calls rotate over the three workers");
    let bad: Result<WirePid, String> = ask(
        &node,
        &parent,
        &TestRequest::SpawnPool {
            behaviour: "no-such-behaviour".into(),
            size: 2,
            args: vec![],
        },
    )
    .await
    .unwrap();
    assert!(bad.unwrap_err().contains("no-such-behaviour"));
}

/// `set-important-delivery` makes every call and answer of an actor
/// important, plain `call` and `call-async` included, and each is counted
/// once as an important delivery: a confirmed one when it was delivered, a
/// refused one when it failed.
#[tokio::test]
async fn calls_made_important_by_the_actor_are_counted_as_important_deliveries() {
    use wactor_e2e::proto::{WireInfo, WireRef};
    let node = node(&["testkit"]).await;
    let caller = testkit(&node, None).await;
    let callee = testkit(&node, None).await;
    let counted = |node: &wactor::Node| {
        (
            metric(node, "wactor_important_acks_total"),
            metric(node, "wactor_important_nacks_total"),
        )
    };
    // Plain: not counted.
    let _: CallReply = ask(
        &node,
        &caller,
        &call_via(&callee, &TestRequest::Echo(b"a".to_vec())),
    )
    .await
    .unwrap();
    assert_eq!(counted(&node), (0, 0));

    // From here on the caller's answer to each request of the test is an
    // important delivery too: one more confirmed per request.
    let _: () = ask(&node, &caller, &TestRequest::SetImportant(true))
        .await
        .unwrap();
    assert_eq!(counted(&node), (1, 0), "the answer to SetImportant");
    let r: CallReply = ask(
        &node,
        &caller,
        &call_via(&callee, &TestRequest::Echo(b"b".to_vec())),
    )
    .await
    .unwrap();
    assert!(r.is_ok(), "{r:?}");
    assert_eq!(counted(&node), (3, 0), "the call it made, and its answer");

    let mut gone = callee.clone();
    gone.id = 999_999;
    let r: CallReply = ask(&node, &caller, &call_via(&gone, &TestRequest::Echo(vec![])))
        .await
        .unwrap();
    assert_eq!(r, Err(WireError::UnknownProcess));
    assert_eq!(counted(&node), (4, 1), "the call it made failed: one refused");

    let r: Result<WireRef, WireError> = ask(
        &node,
        &caller,
        &TestRequest::CallAsync {
            to: Target::Pid(wire(&callee)),
            payload: enc(&TestRequest::Echo(b"c".to_vec())),
            timeout_ms: Some(30_000),
        },
    )
    .await
    .unwrap();
    r.expect("the async call was sent");
    let mut asked = 0;
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let infos: Vec<WireInfo> = ask(&node, &caller, &TestRequest::Infos).await.unwrap();
        asked += 1;
        if !infos.is_empty() {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "no answer arrived");
        tokio::task::yield_now().await;
    }
    assert_eq!(
        counted(&node),
        (4 + 1 + asked + 1, 1),
        "the answers to CallAsync and to each Infos, and the call-async itself"
    );
}
