//! Batches: plain messages that pile up in a mailbox are handed to an actor
//! in one `handle-messages` call, with nothing an actor or its senders can
//! see changed (see `host/src/batch.rs`).
//!
//! These tests run on tokio's single-threaded test runtime, so the messages
//! a test sends are all queued before the actor runs: what piles up is
//! known, not raced.

use std::time::Duration;

use wactor_e2e::proto::{TestMessage, TestRequest, WireError};
use wactor_e2e::*;

const SOON: Duration = Duration::from_secs(30);

/// Messages in one batch at most (`batch::MAX_MESSAGES`).
const MAX_BATCH: u64 = 64;

fn record(i: u32) -> Vec<u8> {
    enc(&TestMessage::Record(i.to_le_bytes().to_vec()))
}

fn recorded(range: std::ops::Range<u32>) -> Vec<Vec<u8>> {
    range.map(|i| i.to_le_bytes().to_vec()).collect()
}

#[tokio::test]
async fn messages_that_pile_up_are_handled_in_batches_in_order() {
    let node = node(&["testkit"]).await;
    let pid = testkit(&node, None).await;
    let batches = metric(&node, "wactor_message_batches_total");
    for i in 0..200 {
        node.send(&pid, record(i)).unwrap();
    }
    let received: Vec<Vec<u8>> = ask(&node, &pid, &TestRequest::Received).await.unwrap();
    assert_eq!(received, recorded(0..200), "every message, in the order sent");
    let made = metric(&node, "wactor_message_batches_total") - batches;
    // Two messages at least in each batch, 64 at most.
    assert!(
        (200_u64.div_ceil(MAX_BATCH)..=100).contains(&made),
        "200 queued messages went in batches: {made}"
    );
}

#[tokio::test]
async fn a_trap_in_a_batch_keeps_the_messages_after_it_for_the_restarted_actor() {
    let node = node(&["testkit"]).await;
    node.set_restart_policy("testkit", permanent());
    let pid = testkit(&node, None).await;
    let batches = metric(&node, "wactor_message_batches_total");
    for i in 0..3 {
        node.send(&pid, record(i)).unwrap();
    }
    node.send(&pid, enc(&TestMessage::Trap)).unwrap();
    for i in 3..6 {
        node.send(&pid, record(i)).unwrap();
    }
    wait_until("the actor restarted", SOON, || node.restarts(&pid) == Some(1)).await;
    assert!(
        metric(&node, "wactor_message_batches_total") > batches,
        "the messages went in a batch"
    );
    // The instance that trapped took the first three with it; the messages
    // after the trap were not lost: the new instance handled them, in order.
    let received: Vec<Vec<u8>> = ask(&node, &pid, &TestRequest::Received).await.unwrap();
    assert_eq!(received, recorded(3..6));
}

#[tokio::test]
async fn a_call_behind_messages_is_answered_after_them_and_before_the_next() {
    let node = node(&["testkit"]).await;
    let pid = testkit(&node, None).await;
    for i in 0..10 {
        node.send(&pid, record(i)).unwrap();
    }
    // The call is queued behind the ten messages when it is first polled;
    // the eleventh message behind the call.
    let (answer, sent) = tokio::join!(ask::<Vec<Vec<u8>>>(&node, &pid, &TestRequest::Received), async {
        node.send(&pid, record(10))
    });
    sent.unwrap();
    assert_eq!(
        answer.unwrap(),
        recorded(0..10),
        "the call saw the messages before it, not the one after"
    );
    let received: Vec<Vec<u8>> = ask(&node, &pid, &TestRequest::Received).await.unwrap();
    assert_eq!(received, recorded(0..11));
}

#[tokio::test]
async fn a_kill_during_a_batch_ends_the_actor_and_the_node_goes_on() {
    // Only the kill ends the spinning message.
    let node = node_with(endless(), &["testkit"]).await;
    let pid = testkit(&node, None).await;
    let batches = metric(&node, "wactor_message_batches_total");
    node.send(&pid, record(0)).unwrap();
    // The second message of the batch never returns.
    node.send(&pid, enc(&TestMessage::Spin)).unwrap();
    node.send(&pid, record(1)).unwrap();
    wait_until("the batch started", SOON, || {
        metric(&node, "wactor_message_batches_total") > batches
    })
    .await;
    assert!(node.kill(&pid, "killed mid-batch"));
    wait_until("the actor is gone", SOON, || row(&node, &pid).is_none()).await;
    let other = testkit(&node, None).await;
    assert_echoes(&node, &other, b"still serving").await;
}

#[tokio::test]
async fn an_exit_signal_during_a_batch_keeps_the_messages_after_it_for_the_restarted_actor() {
    let node = node_with(endless(), &["testkit"]).await;
    node.set_restart_policy("testkit", permanent());
    let a = testkit(&node, None).await;
    let b = testkit(&node, None).await;
    let linked: Result<(), WireError> = ask(&node, &a, &TestRequest::Link(wire(&b))).await.unwrap();
    assert_eq!(linked, Ok(()));
    let batches = metric(&node, "wactor_message_batches_total");
    node.send(&a, record(0)).unwrap();
    // The batch stops in its second message, until the exit signal comes.
    node.send(&a, enc(&TestMessage::Spin)).unwrap();
    node.send(&a, record(1)).unwrap();
    node.send(&a, record(2)).unwrap();
    wait_until("the batch started", SOON, || {
        metric(&node, "wactor_message_batches_total") > batches
    })
    .await;
    assert!(node.kill(&b, "partner gone"));
    wait_until("the linked actor restarted", SOON, || {
        node.restarts(&a) == Some(1)
    })
    .await;
    // The spinning message went with the instance; the two after it were
    // not lost.
    let received: Vec<Vec<u8>> = ask(&node, &a, &TestRequest::Received).await.unwrap();
    assert_eq!(received, recorded(1..3));
}

#[tokio::test]
async fn a_component_of_the_earlier_minor_version_gets_messages_one_at_a_time() {
    let node = node(&["unbatched"]).await;
    let pid = node.spawn("unbatched", Vec::new()).await.unwrap();
    let batches = metric(&node, "wactor_message_batches_total");
    for i in 0..100u8 {
        node.send(&pid, vec![i]).unwrap();
    }
    let all = node.call(&pid, Vec::new(), None).await.unwrap();
    assert_eq!(all, (0..100u8).collect::<Vec<_>>(), "every message, in order");
    assert_eq!(metric(&node, "wactor_message_batches_total"), batches, "no batch");
    // Still running: it answers again, with the same messages and no more.
    let again = node.call(&pid, Vec::new(), Some(Duration::from_secs(30))).await;
    assert_eq!(again, Ok((0..100u8).collect::<Vec<_>>()), "still running");
}
