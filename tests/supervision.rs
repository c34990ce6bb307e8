//! Supervision: monitors, links, exit trapping and restart policies, on
//! real testkit actors.

use std::time::Duration;

use wactor::{DeliveryError, Node, Pid, Restart, RestartPolicy};
use wactor_e2e::proto::{Target, TestMessage, TestRequest, WireError, WireInfo};
use wactor_e2e::*;

async fn infos(node: &Node, pid: &Pid) -> Vec<WireInfo> {
    ask(node, pid, &TestRequest::Infos).await.expect("infos")
}

/// Waits until `pid` has received an info that `f` accepts, and returns it.
async fn wait_info(node: &Node, pid: &Pid, f: impl Fn(&WireInfo) -> bool) -> WireInfo {
    let deadline = tokio::time::Instant::now() + SOON;
    loop {
        if let Some(i) = infos(node, pid).await.into_iter().find(&f) {
            return i;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "no such info arrived at {pid}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test]
async fn a_monitor_receives_down_with_the_reason() {
    let node = node(&["testkit"]).await;
    let watcher = testkit(&node, None).await;
    let watched = testkit(&node, None).await;
    let m: u64 = ask(
        &node,
        &watcher,
        &TestRequest::Monitor(Target::Pid(wire(&watched))),
    )
    .await
    .unwrap();
    let stopped = node
        .call(&watched, enc(&TestRequest::Stop("boom".into())), None)
        .await;
    assert_eq!(stopped, Err(DeliveryError::Terminated("boom".into())));
    let down = wait_info(&node, &watcher, |i| matches!(i, WireInfo::Down { .. })).await;
    assert_eq!(
        down,
        WireInfo::Down {
            monitor: m,
            pid: wire(&watched),
            reason: "boom".into()
        }
    );
    // One down per monitor, and the watcher keeps running.
    assert_eq!(infos(&node, &watcher).await.len(), 1);
}

#[tokio::test]
async fn monitoring_a_process_that_is_gone_gives_down_at_once() {
    let node = node(&["testkit"]).await;
    let watcher = testkit(&node, None).await;
    let gone = testkit(&node, None).await;
    assert!(node.kill(&gone, "gone"));
    wait_until("the process is gone", SOON, || !node.is_alive(&gone)).await;
    let m: u64 = ask(&node, &watcher, &TestRequest::Monitor(Target::Pid(wire(&gone))))
        .await
        .unwrap();
    let down = wait_info(&node, &watcher, |i| matches!(i, WireInfo::Down { .. })).await;
    assert_eq!(
        down,
        WireInfo::Down {
            monitor: m,
            pid: wire(&gone),
            reason: "unknown-process".into()
        }
    );
}

#[tokio::test]
async fn a_removed_monitor_does_not_fire() {
    let node = node(&["testkit"]).await;
    let watcher = testkit(&node, None).await;
    let watched = testkit(&node, None).await;
    let first: u64 = ask(
        &node,
        &watcher,
        &TestRequest::Monitor(Target::Pid(wire(&watched))),
    )
    .await
    .unwrap();
    let second: u64 = ask(
        &node,
        &watcher,
        &TestRequest::Monitor(Target::Pid(wire(&watched))),
    )
    .await
    .unwrap();
    let removed: bool = ask(&node, &watcher, &TestRequest::Demonitor(first))
        .await
        .unwrap();
    assert!(removed);
    let again: bool = ask(&node, &watcher, &TestRequest::Demonitor(first))
        .await
        .unwrap();
    assert!(!again, "a monitor is removed once");
    assert!(node.kill(&watched, "bye"));
    // The second monitor fires; the first, removed, never does.
    let down = wait_info(&node, &watcher, |i| matches!(i, WireInfo::Down { .. })).await;
    assert!(matches!(down, WireInfo::Down { monitor, .. } if monitor == second));
    assert_eq!(infos(&node, &watcher).await.len(), 1);
}

#[tokio::test]
async fn a_linked_actor_terminates_with_its_partner() {
    let node = node(&["testkit"]).await;
    let mut exits = node.exits();
    let a = testkit(&node, None).await;
    let b = testkit(&node, None).await;
    let linked: Result<(), WireError> = ask(&node, &a, &TestRequest::Link(wire(&b))).await.unwrap();
    assert_eq!(linked, Ok(()));
    let trapped = node.call(&b, enc(&TestRequest::Trap), None).await;
    assert!(
        matches!(trapped, Err(DeliveryError::Terminated(_))),
        "{trapped:?}"
    );
    let reason = exit_of(&mut exits, &a).await.reason;
    assert!(
        reason.starts_with(&format!("linked {b} ended: trap")),
        "A ends because B trapped: {reason}"
    );
}

#[tokio::test]
async fn a_normal_end_does_not_take_the_partner_down() {
    let node = node(&["testkit"]).await;
    let a = testkit(&node, None).await;
    let b = testkit(&node, None).await;
    let watcher = testkit(&node, None).await;
    let _: Result<(), WireError> = ask(&node, &a, &TestRequest::Link(wire(&b))).await.unwrap();
    let _: u64 = ask(&node, &watcher, &TestRequest::Monitor(Target::Pid(wire(&b))))
        .await
        .unwrap();
    let answer = node
        .call(&b, enc(&TestRequest::ReplyAndStop(b"bye".to_vec())), None)
        .await;
    assert_eq!(answer.as_deref(), Ok(&b"bye"[..]));
    // Once B's end is known (its monitor fired), A is still there.
    wait_info(&node, &watcher, |i| matches!(i, WireInfo::Down { .. })).await;
    assert_echoes(&node, &a, b"alive").await;
}

#[tokio::test]
async fn an_actor_that_traps_exits_gets_an_exit_info_and_lives() {
    let node = node(&["testkit"]).await;
    let a = testkit(&node, None).await;
    let b = testkit(&node, None).await;
    let _: () = ask(&node, &a, &TestRequest::TrapExits(true)).await.unwrap();
    let _: Result<(), WireError> = ask(&node, &a, &TestRequest::Link(wire(&b))).await.unwrap();
    let _ = node.call(&b, enc(&TestRequest::Trap), None).await;
    let exit = wait_info(&node, &a, |i| matches!(i, WireInfo::Exit { .. })).await;
    assert!(
        matches!(&exit, WireInfo::Exit { pid, reason } if *pid == wire(&b) && reason.starts_with("trap")),
        "{exit:?}"
    );
    assert!(node.is_alive(&a));
}

#[tokio::test]
async fn linking_to_a_process_that_is_gone_fails() {
    let node = node(&["testkit"]).await;
    let a = testkit(&node, None).await;
    let b = testkit(&node, None).await;
    assert!(node.kill(&b, "gone"));
    wait_until("b is gone", SOON, || !node.is_alive(&b)).await;
    let linked: Result<(), WireError> = ask(&node, &a, &TestRequest::Link(wire(&b))).await.unwrap();
    assert_eq!(linked, Err(WireError::UnknownProcess));
}

fn policy(restart: Restart, max_restarts: u32) -> RestartPolicy {
    RestartPolicy {
        restart,
        max_restarts,
        within: Duration::from_secs(600),
    }
}

#[tokio::test]
async fn a_permanent_actor_that_traps_is_restarted_with_fresh_state() {
    let node = node(&["testkit"]).await;
    node.set_restart_policy("testkit", policy(Restart::Permanent, 3));
    let pid = testkit(&node, Some("phoenix")).await;
    node.send(&pid, enc(&TestMessage::Record(b"before".to_vec())))
        .unwrap();
    let before: Vec<Vec<u8>> = ask(&node, &pid, &TestRequest::Received).await.unwrap();
    assert_eq!(before, vec![b"before".to_vec()]);

    let trapped = node.call(&pid, enc(&TestRequest::Trap), None).await;
    assert!(
        matches!(trapped, Err(DeliveryError::Terminated(ref r)) if r.starts_with("trap")),
        "the caller of the trapping call learns why: {trapped:?}"
    );
    // Same pid, same name, fresh state, one restart counted.
    let after: Vec<Vec<u8>> = ask(&node, "phoenix", &TestRequest::Received).await.unwrap();
    assert!(after.is_empty(), "state is fresh after a restart: {after:?}");
    assert_eq!(node.whereis("phoenix"), Some(pid.clone()));
    assert_eq!(node.restarts(&pid), Some(1));
    let row = row(&node, &pid).unwrap();
    assert_eq!(row.restarts, 1);
}

#[tokio::test]
async fn past_the_restart_intensity_an_actor_stays_down() {
    let node = node(&["testkit"]).await;
    node.set_restart_policy("testkit", policy(Restart::Permanent, 2));
    let mut exits = node.exits();
    let pid = testkit(&node, None).await;
    for n in 1..=2 {
        let _ = node.call(&pid, enc(&TestRequest::Trap), None).await;
        assert_eq!(node.restarts(&pid), Some(n), "restart {n} happened");
    }
    let _ = node.call(&pid, enc(&TestRequest::Trap), None).await;
    let reason = exit_of(&mut exits, &pid).await.reason;
    assert!(reason.contains("restart intensity reached"), "{reason}");
    assert!(!node.is_alive(&pid));
}

#[tokio::test]
async fn a_transient_actor_is_restarted_only_after_an_abnormal_end() {
    let node = node(&["testkit"]).await;
    node.set_restart_policy("testkit", policy(Restart::Transient, 5));
    let mut exits = node.exits();
    let pid = testkit(&node, None).await;
    let _ = node
        .call(&pid, enc(&TestRequest::Stop("failure".into())), None)
        .await;
    wait_until("the restart is counted", SOON, || node.restarts(&pid) == Some(1)).await;
    let answer = node
        .call(&pid, enc(&TestRequest::ReplyAndStop(vec![])), None)
        .await;
    assert_eq!(answer, Ok(vec![]));
    assert_eq!(exit_of(&mut exits, &pid).await.reason, "normal");
}

#[tokio::test]
async fn a_temporary_actor_is_not_restarted() {
    let node = node(&["testkit"]).await;
    node.set_restart_policy("testkit", policy(Restart::Temporary, 5));
    let mut exits = node.exits();
    let pid = testkit(&node, None).await;
    let _ = node.call(&pid, enc(&TestRequest::Trap), None).await;
    assert!(exit_of(&mut exits, &pid).await.reason.starts_with("trap"));
}

#[tokio::test]
async fn an_actor_the_host_stops_is_not_restarted() {
    let node = node(&["testkit"]).await;
    node.set_restart_policy("testkit", policy(Restart::Permanent, 5));
    let mut exits = node.exits();
    let pid = testkit(&node, None).await;
    assert!(node.stop(&pid, "operator"));
    assert_eq!(exit_of(&mut exits, &pid).await.reason, "operator");
}

#[tokio::test]
async fn monitoring_a_name_nobody_holds_gives_a_down_that_names_it() {
    let node = node(&["testkit"]).await;
    let watcher = testkit(&node, None).await;
    let m: u64 = ask(
        &node,
        &watcher,
        &TestRequest::Monitor(Target::Name("nobody-here".into())),
    )
    .await
    .unwrap();
    let down = wait_info(&node, &watcher, |i| matches!(i, WireInfo::Down { .. })).await;
    let WireInfo::Down { monitor, pid, reason } = down else {
        unreachable!()
    };
    assert_eq!(monitor, m);
    assert_eq!(
        reason,
        "unknown-process: no live actor is registered as `nobody-here`"
    );
    // Not the host's pid (nor any process's): creation 0 is no node's.
    assert_eq!((pid.id, pid.creation), (0, 0), "{pid:?}");
    assert_eq!(pid.node, node.pid().node.to_string());
    assert_ne!(pid.creation, node.pid().creation);
}
