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
//! (see [`trace`](crate::core::trace)), so the receiving actor handles it under
//! the same trace.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::Poll;

use futures_util::task::AtomicWaker;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::core::error::DeliveryError;
use crate::core::pid::{Pid, Ref};
use crate::core::trace::{self, TraceId};
use crate::sandbox::bindings::wit;
use crate::sandbox::engine::Behaviour;

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

impl Letter {
    /// Bytes of a message's or call's payload (0 for anything else).
    pub(crate) fn payload_len(&self) -> usize {
        match &self.env {
            Envelope::Message { payload, .. } | Envelope::Call { payload, .. } => payload.len(),
            _ => 0,
        }
    }
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

/// How one actor's switch went.
#[derive(Debug)]
pub(crate) enum Switch {
    /// It runs the new instance.
    Done,
    /// It kept its instance: it has no state to hand over, and the switch
    /// was to keep state.
    Unchanged,
    /// It stayed on its old instance, or lost its state, and why.
    Failed(String),
}

/// A request to run a new version; `done` learns how it went.
#[derive(Debug)]
pub(crate) struct Upgrade {
    pub(crate) behaviour: Arc<Behaviour>,
    /// Switch only if the state can be handed over: an actor that keeps
    /// none stays as it is rather than start again empty.
    pub(crate) keep_state: bool,
    pub(crate) done: oneshot::Sender<Switch>,
}

/// The sending side of an actor's mailbox.
///
/// Each lane is a [`Lane`]: a locked queue that allocates nothing until
/// something is put on it. The message lane keeps its own count of queued
/// envelopes, checked against its capacity, so enqueueing never waits.
#[derive(Debug, Clone)]
pub(crate) struct Mailbox {
    shared: Arc<Shared>,
    capacity: usize,
}

/// What both sides of a mailbox share.
#[derive(Debug, Default)]
struct Shared {
    /// Envelopes on the message lane, taken or not yet handled: a message
    /// the actor has taken off the lane but not started counts until it
    /// does (see [`MailboxReceiver::took_message`]).
    queued: AtomicUsize,
    messages: Lane,
    system: Lane,
    /// Wakes an actor waiting in `recv` (or between messages) when either
    /// lane gets something. A waker only (two atomics to register, no
    /// lock): the actor registers it again before every wait.
    waker: AtomicWaker,
}

/// One lane: a locked queue that allocates nothing until something is put
/// on it. Most actors never get anything on the system lane, and an idle
/// or hibernated actor holds no buffer for messages; a channel would
/// allocate a block of 32 envelopes (3.5 KiB) per lane and actor up front.
#[derive(Debug, Default)]
struct Lane {
    queue: Mutex<LaneQueue>,
    /// Envelopes in `queue`, read without the lock: the actor looks here
    /// before it takes the lock, and between messages.
    len: AtomicUsize,
}

#[derive(Debug, Default)]
struct LaneQueue {
    letters: VecDeque<Letter>,
    /// The receiver is gone: nothing more is taken.
    closed: bool,
}

impl Lane {
    /// Appends `letter`; gives it back if the receiver is gone.
    fn push(&self, letter: Letter) -> Result<(), Letter> {
        let mut q = self.queue.lock();
        if q.closed {
            return Err(letter);
        }
        q.letters.push_back(letter);
        self.len.fetch_add(1, Ordering::Release);
        Ok(())
    }

    fn is_empty(&self) -> bool {
        self.len.load(Ordering::Acquire) == 0
    }

    fn pop(&self) -> Option<Letter> {
        if self.is_empty() {
            return None;
        }
        let letter = self.queue.lock().letters.pop_front()?;
        self.len.fetch_sub(1, Ordering::Release);
        Some(letter)
    }

    /// Moves everything queued into `into` (which must be empty) under one
    /// lock: swapping the two queues, so that each side keeps reusing a
    /// buffer instead of allocating one per batch.
    fn take_all(&self, into: &mut VecDeque<Letter>) {
        debug_assert!(into.is_empty(), "taken only into an empty queue");
        if self.is_empty() {
            return;
        }
        let mut q = self.queue.lock();
        std::mem::swap(&mut q.letters, into);
        self.len.fetch_sub(into.len(), Ordering::Release);
    }

    /// Refuses what comes next and returns what was left.
    fn close(&self) -> VecDeque<Letter> {
        let mut q = self.queue.lock();
        q.closed = true;
        self.len.store(0, Ordering::Release);
        std::mem::take(&mut q.letters)
    }
}

/// Room for messages a receiver keeps between batches: a burst may grow
/// its buffer far past this, and the buffer is let go once drained.
const KEPT_SLOTS: usize = 64;

/// An envelope a mailbox did not take, and why.
pub(crate) struct Refused {
    pub(crate) error: DeliveryError,
    pub(crate) env: Envelope,
}

/// The receiving side, owned by the actor's task.
#[derive(Debug)]
pub(crate) struct MailboxReceiver {
    shared: Arc<Shared>,
    /// An envelope taken and given back (the one that woke a hibernated
    /// actor); handed out before anything else.
    first: Option<Letter>,
    /// Messages taken off the message lane in one batch and not handed out
    /// yet: still counted in `queued`, so direct callers (see
    /// [`direct`](crate::runtime::direct)) see the mailbox as not empty.
    taken: VecDeque<Letter>,
}

impl MailboxReceiver {
    /// The next envelope, system lane first.
    pub(crate) async fn recv(&mut self) -> Letter {
        if let Some(letter) = self.try_recv() {
            return letter;
        }
        std::future::poll_fn(|cx| {
            self.shared.waker.register(cx.waker());
            // Again: an envelope pushed before the waker was registered
            // woke nobody.
            match self.try_recv() {
                Some(letter) => Poll::Ready(letter),
                None => Poll::Pending,
            }
        })
        .await
    }

    /// Ready once an envelope is waiting, without taking it. The actor
    /// takes its instance back from its desk before it takes an envelope,
    /// so a direct call never overtakes a message sent before it.
    pub(crate) fn poll_waiting(&mut self, cx: &mut std::task::Context<'_>) -> Poll<()> {
        self.shared.waker.register(cx.waker());
        let waiting = self.first.is_some()
            || !self.taken.is_empty()
            || !self.shared.system.is_empty()
            || !self.shared.messages.is_empty();
        if waiting {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
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
        if self.taken.is_empty() {
            if self.taken.capacity() > KEPT_SLOTS {
                self.taken = VecDeque::new();
            }
            self.shared.messages.take_all(&mut self.taken);
        }
        let letter = self.taken.pop_front()?;
        self.took_message();
        Some(letter)
    }

    /// Frees the slot of a message handed out from the message lane.
    fn took_message(&self) {
        self.shared.queued.fetch_sub(1, Ordering::AcqRel);
    }

    /// A plain message is likely next: nothing given back or on the system
    /// lane, and a message (not a call) next in the taken batch, or more on
    /// the lane. Cheap: for deciding whether a batch is worth starting.
    pub(crate) fn message_next(&self) -> bool {
        if self.first.is_some() || !self.shared.system.is_empty() {
            return false;
        }
        match self.taken.front() {
            Some(letter) => matches!(letter.env, Envelope::Message { .. }),
            None => !self.shared.messages.is_empty(),
        }
    }

    /// Moves the plain messages waiting next, in order, into `into`, until
    /// `into` holds `max`, or `max_bytes` of payload, or something else
    /// waits first: a given-back envelope, the system lane, a call. Their
    /// slots stay taken until [`handed_out`](Self::handed_out) (a batch may
    /// give some back).
    pub(crate) fn take_messages(&mut self, into: &mut Vec<Letter>, max: usize, max_bytes: usize) {
        let mut bytes: usize = into.iter().map(Letter::payload_len).sum();
        while into.len() < max && self.first.is_none() && self.shared.system.is_empty() {
            if self.taken.is_empty() {
                self.shared.messages.take_all(&mut self.taken);
            }
            match self.taken.front() {
                Some(
                    next @ Letter {
                        env: Envelope::Message { .. },
                        ..
                    },
                ) if bytes + next.payload_len() <= max_bytes => {
                    bytes += next.payload_len();
                }
                _ => break,
            }
            if let Some(letter) = self.taken.pop_front() {
                into.push(letter);
            }
        }
    }

    /// Frees the slots of `n` messages taken by
    /// [`take_messages`](Self::take_messages) and handled.
    pub(crate) fn handed_out(&mut self, n: usize) {
        if n > 0 {
            self.shared.queued.fetch_sub(n, Ordering::AcqRel);
        }
    }

    /// Puts messages taken by [`take_messages`](Self::take_messages) and not
    /// handled back in front, in their order; their slots were kept.
    pub(crate) fn give_back_messages(&mut self, letters: impl DoubleEndedIterator<Item = Letter>) {
        for letter in letters.rev() {
            self.taken.push_front(letter);
        }
    }

    /// Gives back the envelope just received: the next `recv` returns it.
    pub(crate) fn put_back(&mut self, letter: Letter) {
        debug_assert!(self.first.is_none(), "one envelope given back at a time");
        self.first = Some(letter);
    }
}

impl Drop for MailboxReceiver {
    fn drop(&mut self) {
        // Dropped outside the locks: a dropped upgrade tells its requester.
        drop(self.shared.system.close());
        drop(self.shared.messages.close());
    }
}

impl Mailbox {
    /// A mailbox whose message lane holds up to `capacity` envelopes.
    pub(crate) fn new(capacity: usize) -> (Mailbox, MailboxReceiver) {
        let shared = Arc::new(Shared::default());
        (
            Mailbox {
                shared: shared.clone(),
                capacity: capacity.max(1),
            },
            MailboxReceiver {
                shared,
                first: None,
                taken: VecDeque::new(),
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
        match self.shared.messages.push(letter) {
            Ok(()) => {
                self.shared.waker.wake();
                Ok(())
            }
            Err(letter) => {
                self.shared.queued.fetch_sub(1, Ordering::AcqRel);
                // The actor's task has ended; the process is gone.
                Err(Box::new(Refused {
                    error: DeliveryError::UnknownProcess,
                    env: letter.env,
                }))
            }
        }
    }

    /// Enqueues on the system lane; false if the actor has ended.
    pub(crate) fn push_system(&self, env: Envelope) -> bool {
        let letter = Letter {
            env,
            trace: trace::current_or_new(),
        };
        let pushed = self.shared.system.push(letter).is_ok();
        if pushed {
            self.shared.waker.wake();
        }
        pushed
    }

    /// Something waits on the system lane (an info, an answer, an upgrade).
    pub(crate) fn system_waiting(&self) -> bool {
        !self.shared.system.is_empty()
    }

    /// Nothing waits on either lane, and no message is held by the actor
    /// untaken.
    pub(crate) fn is_empty(&self) -> bool {
        self.shared.queued.load(Ordering::Acquire) == 0 && self.shared.system.is_empty()
    }

    /// Wakes the actor's task if it waits on its mailbox (or its desk).
    pub(crate) fn wake_receiver(&self) {
        self.shared.waker.wake();
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

impl From<Info> for wit::Info {
    fn from(info: Info) -> Self {
        match info {
            Info::Response { r, result } => wit::Info::Response(wit::AsyncResponse {
                r: r.into(),
                outcome: result.map_err(Into::into),
            }),
            Info::Down { monitor, pid, reason } => wit::Info::Down(wit::Down {
                monitor,
                pid: (&pid).into(),
                reason,
            }),
            Info::Exit { pid, reason } => wit::Info::Exit(wit::ExitSignal {
                pid: (&pid).into(),
                reason,
            }),
        }
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
        assert!(is_exit(Some(rx.recv().await)));
        assert_eq!(payload(Some(rx.recv().await)), Some(vec![2]));
    }

    #[tokio::test]
    async fn a_waiting_receiver_wakes_for_the_system_lane() {
        let (mailbox, mut rx) = Mailbox::new(8);
        let mut recv = Box::pin(rx.recv());
        assert!(futures_util::poll!(&mut recv).is_pending(), "nothing to take yet");
        assert!(mailbox.push_system(exit()));
        let got = tokio::time::timeout(BOUND, recv).await.expect("woken");
        assert!(is_exit(Some(got)));
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
        assert_eq!(payload(Some(got)), Some(vec![3]));
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

    #[test]
    fn messages_taken_in_a_batch_count_until_handed_out() {
        let (mailbox, mut rx) = Mailbox::new(8);
        for i in 0..3 {
            assert!(mailbox.push(message(i)).is_ok());
        }
        assert_eq!(payload(rx.try_recv()), Some(vec![0]));
        // The other two left the lane with the first, in one batch.
        assert!(rx.shared.messages.is_empty());
        assert_eq!(mailbox.depth(), 2);
        assert!(!mailbox.is_empty(), "a direct caller must not overtake them");
        assert!(mailbox.push(message(3)).is_ok());
        for i in 1..4 {
            assert_eq!(payload(rx.try_recv()), Some(vec![i]), "in order");
        }
        assert!(rx.try_recv().is_none());
        assert!(mailbox.is_empty());
    }

    #[test]
    fn a_run_of_messages_is_taken_up_to_a_call_and_what_is_given_back_comes_next() {
        let (mailbox, mut rx) = Mailbox::new(8);
        for i in 0..4 {
            assert!(mailbox.push(message(i)).is_ok());
        }
        let call = Envelope::Call {
            from: pid(),
            r: crate::core::pid::Ref::new(Duration::from_secs(5)),
            payload: vec![9],
        };
        assert!(mailbox.push(call).is_ok());
        assert!(mailbox.push(message(5)).is_ok());

        let first = rx.try_recv().expect("the first message");
        assert!(rx.message_next());
        let mut run = vec![first];
        rx.take_messages(&mut run, 64, 1024);
        let bytes: Vec<Vec<u8>> = run.into_iter().map(|l| payload(Some(l)).unwrap()).collect();
        assert_eq!(
            bytes,
            vec![vec![0], vec![1], vec![2], vec![3]],
            "up to the call, in order"
        );
        assert!(!rx.message_next(), "a call is next");
        // The first slot was freed when it was received; the three others
        // stay taken until handed out, with the call and the last message.
        assert_eq!(mailbox.depth(), 5);

        // The batch reached two of them: the other two go back in front.
        rx.handed_out(1);
        rx.give_back_messages(
            vec![
                Letter {
                    env: message(2),
                    trace: TraceId::new(),
                },
                Letter {
                    env: message(3),
                    trace: TraceId::new(),
                },
            ]
            .into_iter(),
        );
        assert_eq!(mailbox.depth(), 4);
        assert_eq!(payload(rx.try_recv()), Some(vec![2]));
        assert_eq!(payload(rx.try_recv()), Some(vec![3]));
        assert!(matches!(
            rx.try_recv(),
            Some(Letter {
                env: Envelope::Call { .. },
                ..
            })
        ));
        assert_eq!(payload(rx.try_recv()), Some(vec![5]));
        assert!(mailbox.is_empty());
    }

    #[test]
    fn a_run_stops_at_its_size_limits() {
        let (mailbox, mut rx) = Mailbox::new(64);
        for i in 0..10 {
            assert!(mailbox.push(message(i)).is_ok());
        }
        let mut run = vec![rx.try_recv().expect("a message")];
        rx.take_messages(&mut run, 4, 1024);
        assert_eq!(run.len(), 4, "at most four messages");
        let mut run = vec![rx.try_recv().expect("a message")];
        rx.take_messages(&mut run, 64, 3);
        assert_eq!(run.len(), 3, "at most three payload bytes");
    }

    #[test]
    fn an_idle_mailbox_holds_no_buffer_and_a_burst_is_let_go() {
        let (mailbox, mut rx) = Mailbox::new(10_000);
        assert_eq!(rx.taken.capacity(), 0);
        assert_eq!(rx.shared.messages.queue.lock().letters.capacity(), 0);
        for i in 0..5_000u32 {
            assert!(mailbox.push(message(i as u8)).is_ok());
        }
        while rx.try_recv().is_some() {}
        assert!(mailbox.push(message(1)).is_ok());
        assert_eq!(payload(rx.try_recv()), Some(vec![1]));
        assert!(
            rx.taken.capacity() <= KEPT_SLOTS
                && rx.shared.messages.queue.lock().letters.capacity() <= KEPT_SLOTS,
            "the burst's buffer is not kept"
        );
    }

    #[tokio::test]
    async fn waiting_sees_a_message_without_taking_it() {
        let (mailbox, mut rx) = Mailbox::new(8);
        let waker = futures_util::task::noop_waker();
        let mut cx = std::task::Context::from_waker(&waker);
        assert!(rx.poll_waiting(&mut cx).is_pending());
        assert!(mailbox.push(message(5)).is_ok());
        assert!(rx.poll_waiting(&mut cx).is_ready());
        assert_eq!(mailbox.depth(), 1, "still queued");
        assert_eq!(payload(rx.try_recv()), Some(vec![5]));
    }
}
