//! Hibernation: idle actors give up their instance, keep their state, and
//! wake on their next message, without their callers noticing.
//!
//! The scale test runs 2,000 actors by default; set
//! `WACTOR_HIBERNATE_ACTORS=100000` for the full size (or run the ignored
//! `hundred_thousand_actors_live_on_one_host`, which CI runs on its own
//! after the rest of the suite).

use std::time::Duration;

use wactor::{ActorState, Node, NodeConfig, Pid};
use wactor_e2e::{exit_of, guest_bytes, metric, node_with, row, wait_until, SOON};

/// The counter guest's requests, postcard-encoded.
const INCREMENT: &[u8] = &[0];
const GET: &[u8] = &[1];

/// Generous: a debug build instantiating 100,000 guests is slow.
const LONG: Duration = Duration::from_secs(600);

fn count(answer: &[u8]) -> u64 {
    postcard_u64(answer)
}

fn postcard_u64(bytes: &[u8]) -> u64 {
    let mut v: u64 = 0;
    for (i, b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            return v;
        }
    }
    panic!("not a postcard u64: {bytes:?}");
}

async fn call(node: &Node, pid: &Pid, req: &[u8]) -> u64 {
    let answer = node
        .call(pid, req.to_vec(), Some(Duration::from_secs(60)))
        .await
        .unwrap_or_else(|e| panic!("call {pid}: {e}"));
    count(&answer)
}

/// Spawns `n` counters, `SPAWNING` at a time.
async fn spawn_counters(node: &Node, n: usize) -> Vec<Pid> {
    const SPAWNING: usize = 16;
    let mut pids = Vec::with_capacity(n);
    while pids.len() < n {
        let mut batch = tokio::task::JoinSet::new();
        for _ in 0..SPAWNING.min(n - pids.len()) {
            let node = node.clone();
            batch.spawn(async move { node.spawn("counter", Vec::new()).await });
        }
        let mut spawned: Vec<Pid> = Vec::new();
        while let Some(r) = batch.join_next().await {
            spawned.push(r.expect("spawn task").expect("spawn counter"));
        }
        spawned.sort_by_key(|p| p.id);
        pids.extend(spawned);
    }
    pids
}

/// Spawns `n` counters on a node whose live-instance budget is `budget`,
/// gives actor `i` the count `i % 5 + 1`, waits until the idle ones have
/// hibernated, then calls each once more: every answer is its count plus
/// one, so every state survived.
async fn many_actors_hibernate_and_wake(n: usize, budget: usize) {
    let config = NodeConfig {
        live_instance_budget: Some(budget),
        max_actors: n + 10,
        max_actors_per_behaviour: n + 10,
        ..NodeConfig::default()
    };
    let node = node_with(config, &["counter"]).await;
    let pids = spawn_counters(&node, n).await;
    for (i, pid) in pids.iter().enumerate() {
        for _ in 0..i % 5 + 1 {
            call(&node, pid, INCREMENT).await;
        }
    }
    wait_until("the idle actors past the budget hibernated", LONG, || {
        metric(&node, "wactor_instances_live") as usize <= budget
    })
    .await;
    let hibernating = metric(&node, "wactor_actors_hibernating") as usize;
    assert!(
        hibernating >= n - budget,
        "{hibernating} of {n} actors hibernate with a budget of {budget} instances"
    );
    assert_eq!(
        metric(&node, "wactor_actors_live") as usize,
        n,
        "every actor is still live"
    );
    let asleep = pids
        .iter()
        .filter(|p| node.state(p) == Some(ActorState::Hibernating))
        .count();
    assert_eq!(asleep, hibernating, "the actor table shows who hibernates");

    let wakes_before = metric(&node, "wactor_wakes_total");
    for (i, pid) in pids.iter().enumerate() {
        let expected = (i % 5 + 1) as u64 + 1;
        assert_eq!(
            call(&node, pid, INCREMENT).await,
            expected,
            "actor {i} ({pid}) kept its count"
        );
    }
    let woken = metric(&node, "wactor_wakes_total") - wakes_before;
    assert!(
        woken as usize >= hibernating,
        "each hibernating actor woke for its call ({woken} wakes, {hibernating} were hibernating)"
    );
    node.shutdown(Duration::from_secs(60)).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn many_idle_actors_hibernate_and_keep_their_state() {
    // A value that does not parse is refused: falling back to the default
    // would pass while checking far fewer actors than asked for.
    let n = match std::env::var("WACTOR_HIBERNATE_ACTORS") {
        Ok(v) => v
            .parse()
            .unwrap_or_else(|e| panic!("WACTOR_HIBERNATE_ACTORS={v:?} is not a number of actors: {e}")),
        Err(std::env::VarError::NotPresent) => 2_000,
        Err(e) => panic!("WACTOR_HIBERNATE_ACTORS: {e}"),
    };
    many_actors_hibernate_and_wake(n, (n / 10).max(1)).await;
}

#[tokio::test(flavor = "multi_thread")]
#[ignore = "full size: 100,000 actors (minutes in a debug build); run with --ignored"]
async fn hundred_thousand_actors_live_on_one_host() {
    many_actors_hibernate_and_wake(100_000, 5_000).await;
}

/// A node where every idle actor hibernates right away.
fn sleepy() -> NodeConfig {
    NodeConfig {
        hibernate_after: Some(Duration::from_millis(1)),
        ..NodeConfig::default()
    }
}

async fn hibernated(node: &Node, pid: &Pid) {
    wait_until(&format!("{pid} hibernates"), SOON, || {
        node.state(pid) == Some(ActorState::Hibernating)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_actor_hibernates_after_its_idle_time_and_a_call_wakes_it() {
    let node = node_with(sleepy(), &["counter"]).await;
    let pid = node.spawn("counter", Vec::new()).await.expect("spawn");
    for expected in 1..=3 {
        hibernated(&node, &pid).await;
        assert_eq!(call(&node, &pid, INCREMENT).await, expected);
    }
    hibernated(&node, &pid).await;
    assert_eq!(call(&node, &pid, GET).await, 3);
    assert!(metric(&node, "wactor_hibernations_total") >= 4);
    assert!(metric(&node, "wactor_wakes_total") >= 4);
    let row = row(&node, &pid).expect("the actor is in the table");
    assert_eq!(row.restarts, 0, "waking is not a restart");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hibernating_actor_upgrades_with_its_state() {
    let node = node_with(sleepy(), &["counter"]).await;
    let pid = node.spawn("counter", Vec::new()).await.expect("spawn");
    call(&node, &pid, INCREMENT).await;
    call(&node, &pid, INCREMENT).await;
    hibernated(&node, &pid).await;
    let report = node
        .upgrade("counter", guest_bytes("counter-v2"))
        .await
        .expect("load counter-v2");
    assert_eq!(report.upgraded, vec![pid.clone()], "failed: {:?}", report.failed);
    // counter-v2 answers count + 1,000,000.
    assert_eq!(call(&node, &pid, GET).await, 1_000_002);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hibernating_actor_stops_when_asked() {
    let node = node_with(sleepy(), &["counter"]).await;
    let pid = node.spawn("counter", Vec::new()).await.expect("spawn");
    hibernated(&node, &pid).await;
    let mut exits = node.exits();
    assert!(node.stop(&pid, "enough"), "the actor is live while hibernating");
    let exit = exit_of(&mut exits, &pid).await;
    assert_eq!(exit.reason, "enough");
    assert!(!node.is_alive(&pid));
}

#[tokio::test(flavor = "multi_thread")]
async fn an_actor_without_state_to_hand_over_never_hibernates() {
    // `echo` keeps no serde state: its `snapshot` answers `none`, so the
    // host cannot hand anything to a new instance and keeps this one.
    let node = node_with(sleepy(), &["echo", "counter"]).await;
    let echo = node.spawn("echo", Vec::new()).await.expect("spawn echo");
    wait_until("echo was asked for its state and had none", SOON, || {
        metric(&node, "wactor_hibernation_refusals_total") == 1
    })
    .await;
    assert_eq!(metric(&node, "wactor_hibernations_total"), 0);
    assert_eq!(node.state(&echo), Some(ActorState::Running));
    let answer = node.call(&echo, b"hi".to_vec(), None).await.expect("call echo");
    assert_eq!(answer, b"hi");
    // Idle again, echo would be asked again 1 ms later if its refusal had
    // been forgotten. That it is not can only be seen over a window: 200
    // idle times, and at least until a counter called after echo's answer
    // has hibernated, so that the node's idle timers did run meanwhile.
    let witness = node.spawn("counter", Vec::new()).await.expect("spawn counter");
    call(&node, &witness, INCREMENT).await;
    let window = tokio::time::Instant::now() + Duration::from_millis(200);
    wait_until("the window for a second ask has passed", SOON, || {
        node.state(&witness) == Some(ActorState::Hibernating) && tokio::time::Instant::now() >= window
    })
    .await;
    assert_eq!(
        metric(&node, "wactor_hibernation_refusals_total"),
        1,
        "an instance is asked once"
    );
    assert_eq!(metric(&node, "wactor_wakes_total"), 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_small_instance_pool_serves_many_actors_through_hibernation() {
    // 8 pooled instances, at most 4 kept by idle actors: 40 actors take
    // turns in the pool and every one keeps its count.
    let config = NodeConfig {
        instance_pool: Some(8),
        live_instance_budget: Some(4),
        ..NodeConfig::default()
    };
    let node = node_with(config, &["counter"]).await;
    let mut pids = Vec::new();
    for _ in 0..40 {
        pids.push(node.spawn("counter", Vec::new()).await.expect("spawn counter"));
    }
    for round in 1..=2 {
        for pid in &pids {
            assert_eq!(call(&node, pid, INCREMENT).await, round);
        }
    }
    assert!(metric(&node, "wactor_instances_live") <= 8);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_instance_pool_refuses_a_spawn_with_the_reason() {
    let config = NodeConfig {
        instance_pool: Some(2),
        live_instance_budget: None,
        ..NodeConfig::default()
    };
    let node = node_with(config, &["counter"]).await;
    let a = node.spawn("counter", Vec::new()).await.expect("first slot");
    node.spawn("counter", Vec::new()).await.expect("second slot");
    let err = node
        .spawn("counter", Vec::new())
        .await
        .expect_err("no third slot");
    let wactor::SpawnError::InitFailed(reason) = &err else {
        panic!("refused for another reason: {err:?}");
    };
    assert!(
        reason.contains("maximum concurrent limit of 2 for component instances reached"),
        "the reason names the full pool: {reason}"
    );
    assert_eq!(
        call(&node, &a, INCREMENT).await,
        1,
        "the pooled actors still serve"
    );
}
