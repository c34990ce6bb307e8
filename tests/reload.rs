//! Hot upgrades of running actors: state hand-off, migration, rollback,
//! nothing lost while versions switch.

use std::time::Duration;

use serde::{Deserialize, Serialize};
use wactor::{DeliveryError, Node, Pid};
use wactor_e2e::proto::{TestMessage, TestRequest};
use wactor_e2e::*;

/// `examples/counter`'s protocol (and its test versions').
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
enum CounterRequest {
    Increment,
    Get,
}

async fn counter_call(node: &Node, pid: &Pid, req: CounterRequest) -> Result<u64, DeliveryError> {
    node.call(pid, enc(&req), Some(Duration::from_secs(30)))
        .await
        .map(|b| dec(&b))
}

/// A node running one `counter` that has counted to 5.
async fn counter_at_five() -> (Node, Pid) {
    let node = node(&["counter"]).await;
    let pid = node.spawn("counter", vec![]).await.unwrap();
    for _ in 0..5 {
        counter_call(&node, &pid, CounterRequest::Increment)
            .await
            .unwrap();
    }
    (node, pid)
}

#[tokio::test]
async fn the_count_survives_an_upgrade_to_a_version_that_reports_it_differently() {
    let (node, pid) = counter_at_five().await;
    let before = node.version_of(&pid).unwrap();
    let report = node.upgrade("counter", guest_bytes("counter-v2")).await.unwrap();
    assert_eq!(report.upgraded, vec![pid.clone()]);
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert_eq!(
        counter_call(&node, &pid, CounterRequest::Get).await,
        Ok(1_000_005)
    );
    assert_eq!(
        counter_call(&node, &pid, CounterRequest::Increment).await,
        Ok(1_000_006)
    );
    let after = node.version_of(&pid).unwrap();
    assert_ne!(before.hash, after.hash, "the actor reports its new version");
    let row = row(&node, &pid).unwrap();
    assert_eq!(row.version, after.short());
}

#[tokio::test]
async fn a_new_state_shape_is_migrated_from_the_old_one() {
    let (node, pid) = counter_at_five().await;
    let report = node.upgrade("counter", guest_bytes("counter-v3")).await.unwrap();
    assert_eq!(report.upgraded, vec![pid.clone()]);
    assert_eq!(
        counter_call(&node, &pid, CounterRequest::Get).await,
        Ok(3_000_005)
    );
}

#[tokio::test]
async fn a_version_whose_restore_traps_leaves_the_actor_on_the_old_one() {
    let (node, pid) = counter_at_five().await;
    let before = node.version_of(&pid).unwrap();
    let report = node
        .upgrade("counter", guest_bytes("counter-badrestore"))
        .await
        .unwrap();
    assert!(report.upgraded.is_empty());
    assert_eq!(report.failed.len(), 1);
    let (failed, why) = &report.failed[0];
    assert_eq!(failed, &pid);
    assert!(
        why.contains("trap") && why.contains(&format!("stays on version {}", before.short())),
        "the trap is reported: {why}"
    );
    assert_eq!(counter_call(&node, &pid, CounterRequest::Get).await, Ok(5));
    assert_eq!(node.version_of(&pid).unwrap().hash, before.hash);
    assert!(node.is_alive(&pid));
}

#[tokio::test]
async fn a_corrupt_file_or_another_world_changes_nothing() {
    let (node, pid) = counter_at_five().await;
    let before = node.version_of(&pid).unwrap();
    let mut corrupt = guest_bytes("counter-v2");
    corrupt.truncate(corrupt.len() / 2);
    assert!(node.upgrade("counter", corrupt).await.is_err());
    assert!(node.upgrade("counter", guest_bytes("wrong-world")).await.is_err());
    assert_eq!(counter_call(&node, &pid, CounterRequest::Get).await, Ok(5));
    assert_eq!(node.version_of(&pid).unwrap().hash, before.hash);
    // New spawns still get the old version too.
    let fresh = node.spawn("counter", vec![]).await.unwrap();
    assert_eq!(counter_call(&node, &fresh, CounterRequest::Get).await, Ok(0));
}

/// `counter-v2` answers `count + V2`; `counter` answers the count.
const V2: u64 = 1_000_000;

/// Waits until the last few answers of a stream of calls came from
/// `counter-v2` (`from_v2`) or from `counter` (not).
async fn answers_from(answered: &mut tokio::sync::watch::Receiver<Vec<u64>>, version: &str, from_v2: bool) {
    const FEW: usize = 20;
    let what = format!("{FEW} calls in a row are answered by {version}");
    let recent = |answers: &Vec<u64>| {
        answers
            .iter()
            .rev()
            .take_while(|a| (**a >= V2) == from_v2)
            .count()
            >= FEW
    };
    at_once(&what, async { answered.wait_for(recent).await.map(|_| ()) })
        .await
        .unwrap_or_else(|_| panic!("the stream of calls ended (a call failed) before {what}"));
}

#[tokio::test]
async fn calls_streamed_across_several_upgrades_are_all_answered_once_in_order() {
    let (node, pid) = counter_at_five().await;
    // One caller increments without pause until told to stop; each answer
    // is published so that the upgrades can wait on the stream's progress.
    let (progress, mut answered) = tokio::sync::watch::channel(Vec::<u64>::new());
    let (stop, mut stopped) = tokio::sync::oneshot::channel::<()>();
    let stream = {
        let node = node.clone();
        let pid = pid.clone();
        tokio::spawn(async move {
            while stopped.try_recv().is_err() {
                let i = progress.borrow().len();
                let a = counter_call(&node, &pid, CounterRequest::Increment)
                    .await
                    .unwrap_or_else(|e| panic!("call {i} failed: {e}"));
                progress.send_modify(|answers| answers.push(a));
            }
        })
    };
    // Each upgrade happens while calls stream: it waits until the running
    // version has answered a few calls of its own, and the next upgrade
    // waits until the new version answers.
    let versions = ["counter-v2", "counter", "counter-v2", "counter", "counter-v2"];
    answers_from(&mut answered, "the first version", false).await;
    for v in versions {
        let report = node.upgrade("counter", guest_bytes(v)).await.unwrap();
        assert_eq!(report.upgraded, vec![pid.clone()], "{v}: {report:?}");
        assert!(report.failed.is_empty(), "{v}: {:?}", report.failed);
        answers_from(&mut answered, v, v == "counter-v2").await;
    }
    stop.send(()).unwrap();
    at_once("the stream stops", stream).await.unwrap();
    let answers = answered.borrow().clone();

    // The count goes up by exactly one per call, across every switch: no
    // call lost, none handled twice, none out of order.
    for (i, a) in answers.iter().enumerate() {
        assert_eq!(a % V2, 5 + i as u64 + 1, "call {i} answered {a}");
    }
    // The versions that answered, in order: the first, then each upgrade's
    // in turn, each switch once and for good.
    let mut runs: Vec<bool> = Vec::new();
    for a in &answers {
        let from_v2 = *a >= V2;
        if runs.last() != Some(&from_v2) {
            runs.push(from_v2);
        }
    }
    assert_eq!(
        runs,
        [false, true, false, true, false, true],
        "which version answered, in order (true: counter-v2)"
    );
    assert_eq!(
        counter_call(&node, &pid, CounterRequest::Get).await,
        Ok(V2 + 5 + answers.len() as u64)
    );
}

#[tokio::test]
async fn messages_queued_during_an_upgrade_are_all_handled_in_order() {
    let node = node(&["testkit"]).await;
    let pid = testkit(&node, None).await;
    let other = testkit(&node, None).await;
    // The actor waits in a slow call while messages queue behind it and
    // the upgrade is requested; the switch happens when the call returns,
    // before the queued messages.
    let busy = {
        let node = node.clone();
        let pid = pid.clone();
        let slow = TestRequest::SlowReply {
            ms: 300,
            payload: b"slow".to_vec(),
        };
        let req = TestRequest::Call {
            to: wactor_e2e::proto::Target::Pid(wire(&other)),
            payload: enc(&slow),
            timeout_ms: Some(30_000),
        };
        tokio::spawn(async move { node.call(&pid, enc(&req), None).await })
    };
    wait_until("the actor waits in its call", SOON, || {
        node.state(&pid) == Some(wactor::ActorState::WaitingOnCall)
    })
    .await;
    for i in 0..50u8 {
        node.send(&pid, enc(&TestMessage::Record(vec![i]))).unwrap();
    }
    let report = node.upgrade("testkit", guest_bytes("testkit")).await.unwrap();
    assert!(
        report.upgraded.contains(&pid) && report.failed.is_empty(),
        "{report:?}"
    );
    assert!(busy.await.unwrap().is_ok());
    let received: Vec<Vec<u8>> = ask(&node, &pid, &TestRequest::Received).await.unwrap();
    assert_eq!(received, (0..50u8).map(|i| vec![i]).collect::<Vec<_>>());
}

#[tokio::test]
async fn a_call_deferred_by_the_old_version_is_answered_by_the_new_one() {
    let node = node(&["testkit"]).await;
    let pid = testkit(&node, None).await;
    let held = {
        let node = node.clone();
        let pid = pid.clone();
        tokio::spawn(async move { ask::<Vec<u8>>(&node, &pid, &TestRequest::Hold).await })
    };
    // The hold is in place once the actor has moved past it.
    let _: Vec<u8> = ask(&node, &pid, &TestRequest::Echo(vec![])).await.unwrap();
    let before = node.version_of(&pid).unwrap();
    let report = node.upgrade("testkit", guest_bytes("testkit")).await.unwrap();
    assert_eq!(report.upgraded, vec![pid.clone()]);
    assert!(node.version_of(&pid).unwrap().loaded_at > before.loaded_at);
    let answered: u32 = ask(&node, &pid, &TestRequest::AnswerHeld(b"later".to_vec()))
        .await
        .unwrap();
    assert_eq!(answered, 1);
    assert_eq!(held.await.unwrap().unwrap(), b"later");
}

/// A watched temporary directory holding `files` (guest names), with one
/// actor of each started by the host.
async fn watched_dir(names: &[&str]) -> (Node, tempfile::TempDir, wactor::watch::DirWatcher) {
    let dir = tempfile::tempdir().unwrap();
    for n in names {
        std::fs::copy(guest(n), dir.path().join(format!("{n}.wasm"))).unwrap();
    }
    let node = Node::new(wactor::NodeConfig::default()).unwrap();
    let report = wactor::watch::load_dir(&node, dir.path()).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let watcher = wactor::watch::watch_dir(node.clone(), dir.path()).unwrap();
    (node, dir, watcher)
}

async fn wait_for_get(node: &Node, expected: u64) {
    let pid = node.whereis("counter").expect("counter runs");
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        let got = counter_call(node, &pid, CounterRequest::Get).await.unwrap();
        if got == expected {
            return;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "counter answers {got}, never {expected}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn a_file_replaced_in_the_directory_upgrades_the_running_actor() {
    let (node, dir, _watcher) = watched_dir(&["counter"]).await;
    let pid = node.whereis("counter").unwrap();
    for _ in 0..3 {
        counter_call(&node, &pid, CounterRequest::Increment)
            .await
            .unwrap();
    }
    // Written elsewhere, then renamed over the old file.
    let tmp = dir.path().join(".counter.wasm.part");
    std::fs::write(&tmp, guest_bytes("counter-v2")).unwrap();
    std::fs::rename(&tmp, dir.path().join("counter.wasm")).unwrap();
    wait_for_get(&node, 1_000_003).await;
    // Written in place.
    std::fs::write(dir.path().join("counter.wasm"), guest_bytes("counter")).unwrap();
    wait_for_get(&node, 3).await;
    assert_eq!(node.whereis("counter"), Some(pid), "same actor throughout");
}

#[tokio::test]
async fn removing_the_file_stops_the_actor_and_fails_its_pending_caller() {
    let (node, dir, _watcher) = watched_dir(&["testkit"]).await;
    let pid = node.whereis("testkit").unwrap();
    let mut exits = node.exits();
    let held = {
        let node = node.clone();
        let pid = pid.clone();
        tokio::spawn(async move {
            node.call(&pid, enc(&TestRequest::Hold), Some(Duration::from_secs(600)))
                .await
        })
    };
    let _: Vec<u8> = ask(&node, &pid, &TestRequest::Echo(vec![])).await.unwrap();
    std::fs::remove_file(dir.path().join("testkit.wasm")).unwrap();
    let answer = tokio::time::timeout(SOON, held)
        .await
        .expect("the caller is not left waiting");
    assert!(
        matches!(answer.unwrap(), Err(DeliveryError::Terminated(ref r)) if r.contains("removed")),
        "the pending caller learns the behaviour was removed"
    );
    let exit = exit_of(&mut exits, &pid).await;
    assert!(exit.reason.contains("removed"), "{}", exit.reason);
    assert!(
        node.spawn("testkit", vec![]).await.is_err(),
        "the behaviour is gone"
    );
}

#[tokio::test]
async fn a_wasip1_build_upgrades_a_wasip2_build_of_the_same_actor_keeping_state() {
    let (node, pid) = counter_at_five().await;
    let report = node
        .upgrade("counter", wasip1_guest_bytes("counter-v2"))
        .await
        .unwrap();
    assert_eq!(report.upgraded, vec![pid.clone()]);
    assert_eq!(
        counter_call(&node, &pid, CounterRequest::Get).await,
        Ok(1_000_005)
    );
    // And back to a component built for wasm32-wasip2.
    let report = node.upgrade("counter", guest_bytes("counter")).await.unwrap();
    assert_eq!(report.upgraded, vec![pid.clone()]);
    assert_eq!(counter_call(&node, &pid, CounterRequest::Get).await, Ok(5));
}
