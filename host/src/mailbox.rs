//! Mailboxes: what an actor receives, and the queues that hold it.
//!
//! A mailbox has two lanes:
//!
//! - the **message lane**, bounded, for messages and calls from other
//!   actors. Enqueueing never waits: a full lane is reported to the sender
//!   at once as `mailbox-full`, so a slow actor pushes back on its senders
//!   instead of growing without bound or dropping messages silently;
//! - the **system lane**, for what the host itself must get to the actor:
//!   answers to its async calls, `down` and `exit` infos, and upgrades. It
//!   is unbounded so that none of these is ever lost to a full mailbox; it
//!   stays small because each item answers something the actor set up (an
//!   async call, a monitor, a link), and async calls are capped per actor.
//!
//! The actor takes from the system lane first, so it learns of a partner's
//! end or of a new version before it works through a long backlog.
//!
//! Each envelope travels with the trace id in force where it was pushed
//! (see [`trace`](crate::trace)), so the receiving actor handles it under
//! the same trace.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use tokio::sync::{mpsc, oneshot};

use crate::engine::Behaviour;
use crate::error::DeliveryError;
use crate::pid::{Pid, Ref};
use crate::trace::{self, TraceId};

/// One item in a mailbox.
#[derive(Debug)]
pub(crate) enum Envelope {
    /// A message from `send` or `send-after`.
    Message { from: Pid, payload: Vec<u8> },
    /// A request from `call`; answered through the calls table under `r`.
    Call { from: Pid, r: Ref, payload: Vec<u8> },
    /// Something from the host, for `handle-info`.
    Info(Info),
    /// Switch to another version of the behaviour between two messages;
    /// see `reload`.
    Upgrade(Upgrade),
}

/// An envelope and the trace it belongs to: what a mailbox holds.
#[derive(Debug)]
pub(crate) struct Letter {
    pub(crate) env: Envelope,
    pub(crate) trace: TraceId,
}

/// What the host tells an actor outside of messages and calls.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Info {
    /// The outcome of a `call-async`.
    Response {
        r: Ref,
        result: Result<Vec<u8>, DeliveryError>,
    },
    /// A monitored process ended.
    Down { monitor: u64, pid: Pid, reason: String },
    /// A linked process ended (the actor traps exits).
    Exit { pid: Pid, reason: String },
}

/// A request to run a new version; `done` learns how it went.
#[derive(Debug)]
pub(crate) struct Upgrade {
    pub(crate) behaviour: Arc<Behaviour>,
    pub(crate) done: oneshot::Sender<Result<(), String>>,
}

/// The sending side of an actor's mailbox.
///
/// The message lane is an unbounded channel with its own count of queued
/// envelopes: enqueueing never waits anyway, and the count is one atomic
/// on each side, where a bounded channel takes a lock to hand back each
/// slot it frees.
#[derive(Debug, Clone)]
pub(crate) struct Mailbox {
    tx: mpsc::UnboundedSender<Letter>,
    shared: Arc<Shared>,
    capacity: usize,
}

/// What both sides of a mailbox share.
#[derive(Debug, Default)]
struct Shared {
    /// Envelopes on the message lane, taken or not yet handled.
    queued: AtomicUsize,
    system: SystemLane,
}

/// The system lane: a locked queue that allocates nothing until something
/// is put on it. Most actors never get anything here, and a channel would
/// allocate a block of 32 envelopes (3.5 KiB) for each of them up front,
/// hibernating or not.
#[derive(Debug, Default)]
struct SystemLane {
    queue: Mutex<SystemQueue>,
    /// Envelopes in `queue`, read without the lock: the actor looks here
    /// before every message.
    len: AtomicUsize,
    /// Wakes an actor waiting in `recv`. A waker only (two atomics to
    /// register, no lock): the actor registers it again before every wait.
    waker: AtomicWaker,
}

#[derive(Debug, Default)]
struct SystemQueue {
    letters: VecDeque<Letter>,
    /// The receiver is gone: nothing more is taken.
    closed: bool,
}

impl SystemLane {
    fn push(&self, letter: Letter) -> bool {
        {
            let mut q = self.queue.lock();
            if q.closed {
                return false;
            }
            q.letters.push_back(letter);
            self.len.fetch_add(1, Ordering::Release);
        }
        self.waker.wake();
        true
    }

    fn pop(&self) -> Option<Letter> {
        if self.len.load(Ordering::Acquire) == 0 {
            return None;
        }
        let letter = self.queue.lock().letters.pop_front()?;
        self.len.fetch_sub(1, Ordering::Release);
        Some(letter)
    }

    /// Refuses what comes next and returns what was left.
    fn close(&self) -> VecDeque<Letter> {
        let mut q = self.queue.lock();
        q.closed = true;
        self.len.store(0, Ordering::Release);
        std::mem::take(&mut q.letters)
    }
}

/// An envelope a mailbox did not take, and why.
pub(crate) struct Refused {
    pub(crate) error: DeliveryError,
    pub(crate) env: Envelope,
}

/// The receiving side, owned by the actor's task.
#[derive(Debug)]
pub(crate) struct MailboxReceiver {
    rx: mpsc::UnboundedReceiver<Letter>,
    shared: Arc<Shared>,
    /// An envelope taken and given back (the one that woke a hibernated
    /// actor); handed out before anything else.
    first: Option<Letter>,
    /// A message taken off the channel by [`poll_waiting`](Self::poll_waiting)
    /// and not handed out yet: still counted in `queued`, so direct callers
    /// (see [`direct`](crate::direct)) see the mailbox as not empty.
    held: Option<Letter>,
}

impl MailboxReceiver {
    /// The next envelope, system lane first; `None` once the mailbox is
    /// closed and drained.
    pub(crate) async fn recv(&mut self) -> Option<Letter> {
        if let Some(letter) = self.first.take() {
            return Some(letter);
        }
        std::future::poll_fn(|cx| {
            let system = &self.shared.system;
            if let Some(letter) = system.pop() {
                return Poll::Ready(Some(letter));
            }
            system.waker.register(cx.waker());
            // Again: an envelope pushed before the waker was registered
            // woke nobody.
            if let Some(letter) = system.pop() {
                return Poll::Ready(Some(letter));
            }
            if let Some(letter) = self.held.take() {
                self.took_message();
                return Poll::Ready(Some(letter));
            }
            self.rx
                .poll_recv(cx)
                .map(|env| env.inspect(|_| self.took_message()))
        })
        .await
    }

    /// Ready once an envelope is waiting (or the message lane closed),
    /// without taking it: a message the channel hands over is held here and
    /// still counted as queued. The actor takes its instance back from its
    /// desk before it takes an envelope, so a direct call never overtakes a
    /// message sent before it.
    pub(crate) fn poll_waiting(&mut self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        let system = &self.shared.system;
        system.waker.register(cx.waker());
        if self.first.is_some() || self.held.is_some() || system.len.load(Ordering::Acquire) > 0 {
            return Poll::Ready(());
        }
        match self.rx.poll_recv(cx) {
            Poll::Ready(Some(letter)) => {
                self.held = Some(letter);
                Poll::Ready(())
            }
            Poll::Ready(None) => Poll::Ready(()),
            Poll::Pending => Poll::Pending,
        }
    }

    /// The message lane is closed and nothing is left to take.
    pub(crate) fn is_closed(&self) -> bool {
        self.first.is_none() && self.held.is_none() && self.rx.is_closed() && self.rx.is_empty()
    }

    /// The next envelope if one is waiting, system lane first, without
    /// waiting or registering a wake-up.
    pub(crate) fn try_recv(&mut self) -> Option<Letter> {
        if let Some(letter) = self.first.take() {
            return Some(letter);
        }
        if let Some(letter) = self.shared.system.pop() {
            return Some(letter);
        }
        let letter = match self.held.take() {
            Some(letter) => letter,
            None => self.rx.try_recv().ok()?,
        };
        self.took_message();
        Some(letter)
    }

    /// Frees the slot of a message taken from the message lane.
    fn took_message(&self) {
        self.shared.queued.fetch_sub(1, Ordering::AcqRel);
    }

    /// Gives back the envelope just received: the next `recv` returns it.
    pub(crate) fn put_back(&mut self, letter: Letter) {
        debug_assert!(self.first.is_none(), "one envelope given back at a time");
        self.first = Some(letter);
    }
}

impl Drop for MailboxReceiver {
    fn drop(&mut self) {
        // Dropped outside the lock: a dropped upgrade tells its requester.
        drop(self.shared.system.close());
    }
}

impl Mailbox {
    /// A mailbox whose message lane holds up to `capacity` envelopes.
    pub(crate) fn new(capacity: usize) -> (Mailbox, MailboxReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(Shared::default());
        (
            Mailbox {
                tx,
                shared: shared.clone(),
                capacity: capacity.max(1),
            },
            MailboxReceiver {
                rx,
                shared,
                first: None,
                held: None,
            },
        )
    }

    /// Enqueues a message or call without waiting. A refused envelope comes
    /// back with the reason, so it can be offered to another mailbox (pools
    /// do).
    pub(crate) fn push(&self, env: Envelope) -> Result<(), Box<Refused>> {
        let letter = Letter {
            env,
            trace: trace::current_or_new(),
        };
        // Take a slot first, so that concurrent senders never overfill.
        if self.shared.queued.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(Box::new(Refused {
                error: DeliveryError::MailboxFull,
                env: letter.env,
            }));
        }
        self.tx.send(letter).map_err(|e| {
            self.shared.queued.fetch_sub(1, Ordering::AcqRel);
            // The actor's task has ended; the process is gone.
            Box::new(Refused {
                error: DeliveryError::UnknownProcess,
                env: e.0.env,
            })
        })
    }

    /// Enqueues on the system lane; false if the actor has ended.
    pub(crate) fn push_system(&self, env: Envelope) -> bool {
        let letter = Letter {
            env,
            trace: trace::current_or_new(),
        };
        self.shared.system.push(letter)
    }

    /// Nothing waits on either lane, and no message is held by the actor
    /// untaken.
    pub(crate) fn is_empty(&self) -> bool {
        self.shared.queued.load(Ordering::Acquire) == 0 && self.shared.system.len.load(Ordering::Acquire) == 0
    }

    /// Wakes the actor's task if it waits on its mailbox (or its desk).
    pub(crate) fn wake_receiver(&self) {
        self.shared.system.waker.wake();
    }

    /// Envelopes waiting to be handled on the message lane.
    pub(crate) fn depth(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed).min(self.capacity)
    }

    /// The message lane's capacity.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn pid() -> Pid {
        Pid {
            node: Arc::from("test"),
            id: 7,
            creation: 1,
        }
    }

    fn message(byte: u8) -> Envelope {
        Envelope::Message {
            from: pid(),
            payload: vec![byte],
        }
    }

    fn exit() -> Envelope {
        Envelope::Info(Info::Exit {
            pid: pid(),
            reason: "normal".into(),
        })
    }

    fn is_exit(letter: Option<Letter>) -> bool {
        matches!(
            letter,
            Some(Letter {
                env: Envelope::Info(Info::Exit { .. }),
                ..
            })
        )
    }

    fn payload(letter: Option<Letter>) -> Option<Vec<u8>> {
        match letter {
            Some(Letter {
                env: Envelope::Message { payload, .. },
                ..
            }) => Some(payload),
            _ => None,
        }
    }

    const BOUND: Duration = Duration::from_secs(10);

    #[tokio::test]
    async fn the_system_lane_is_taken_first() {
        let (mailbox, mut rx) = Mailbox::new(8);
        assert!(mailbox.push(message(1)).is_ok());
        assert!(mailbox.push_system(exit()));
        assert!(is_exit(rx.try_recv()));
        assert_eq!(payload(rx.try_recv()), Some(vec![1]));
        assert!(rx.try_recv().is_none());

        assert!(mailbox.push(message(2)).is_ok());
        assert!(mailbox.push_system(exit()));
        assert!(is_exit(rx.recv().await));
        assert_eq!(payload(rx.recv().await), Some(vec![2]));
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_the_system_lane() {
        let (mailbox, mut rx) = Mailbox::new(8);
        let mut recv = Box::pin(rx.recv());
        assert!(futures_util::poll!(&mut recv).is_pending(), "nothing to take yet");
        assert!(mailbox.push_system(exit()));
        let got = tokio::time::timeout(BOUND, recv).await.expect("woken");
        assert!(is_exit(got));
    }

    #[tokio::test]
    async fn a_receiver_that_took_without_waiting_still_wakes_for_the_next() {
        let (mailbox, mut rx) = Mailbox::new(8);
        // Pushed and taken without waiting: the waker was never registered.
        assert!(mailbox.push_system(exit()));
        assert!(is_exit(rx.try_recv()));
        let mut recv = Box::pin(rx.recv());
        assert!(
            futures_util::poll!(&mut recv).is_pending(),
            "nothing left to take"
        );
        assert!(mailbox.push(message(3)).is_ok());
        let got = tokio::time::timeout(BOUND, recv).await.expect("woken");
        assert_eq!(payload(got), Some(vec![3]));
        assert_eq!(mailbox.depth(), 0, "the slot was given back");
    }

    #[tokio::test]
    async fn a_mailbox_whose_actor_is_gone_refuses_both_lanes() {
        let (mailbox, rx) = Mailbox::new(8);
        assert!(mailbox.push_system(exit()));
        drop(rx);
        assert!(!mailbox.push_system(exit()));
        let refused = mailbox.push(message(4)).expect_err("refused");
        assert_eq!(refused.error, DeliveryError::UnknownProcess);
        assert_eq!(mailbox.depth(), 0);
    }

    #[test]
    fn a_full_message_lane_refuses_but_the_system_lane_takes() {
        let (mailbox, mut rx) = Mailbox::new(2);
        assert!(mailbox.push(message(1)).is_ok());
        assert!(mailbox.push(message(2)).is_ok());
        let refused = mailbox.push(message(3)).expect_err("refused");
        assert_eq!(refused.error, DeliveryError::MailboxFull);
        assert!(mailbox.push_system(exit()));
        assert!(is_exit(rx.try_recv()));
        assert_eq!(payload(rx.try_recv()), Some(vec![1]));
        assert!(mailbox.push(message(3)).is_ok(), "a slot was freed");
    }
}
