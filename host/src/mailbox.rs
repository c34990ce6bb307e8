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

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

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
    system: mpsc::UnboundedSender<Letter>,
    queued: Arc<AtomicUsize>,
    capacity: usize,
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
    system: mpsc::UnboundedReceiver<Letter>,
    queued: Arc<AtomicUsize>,
    /// An envelope taken and given back (the one that woke a hibernated
    /// actor); handed out before anything else.
    first: Option<Letter>,
}

impl MailboxReceiver {
    /// The next envelope, system lane first; `None` once the mailbox is
    /// closed and drained.
    pub(crate) async fn recv(&mut self) -> Option<Letter> {
        if let Some(letter) = self.first.take() {
            return Some(letter);
        }
        tokio::select! {
            biased;
            Some(env) = self.system.recv() => Some(env),
            env = self.rx.recv() => env.inspect(|_| self.took_message()),
        }
    }

    /// The next envelope if one is waiting, system lane first, without
    /// waiting or registering a wake-up.
    pub(crate) fn try_recv(&mut self) -> Option<Letter> {
        if let Some(letter) = self.first.take() {
            return Some(letter);
        }
        if let Ok(letter) = self.system.try_recv() {
            return Some(letter);
        }
        let letter = self.rx.try_recv().ok()?;
        self.took_message();
        Some(letter)
    }

    /// Frees the slot of a message taken from the message lane.
    fn took_message(&self) {
        self.queued.fetch_sub(1, Ordering::AcqRel);
    }

    /// Gives back the envelope just received: the next `recv` returns it.
    pub(crate) fn put_back(&mut self, letter: Letter) {
        debug_assert!(self.first.is_none(), "one envelope given back at a time");
        self.first = Some(letter);
    }
}

impl Mailbox {
    /// A mailbox whose message lane holds up to `capacity` envelopes.
    pub(crate) fn new(capacity: usize) -> (Mailbox, MailboxReceiver) {
        let (tx, rx) = mpsc::unbounded_channel();
        let (system, system_rx) = mpsc::unbounded_channel();
        let queued = Arc::new(AtomicUsize::new(0));
        (
            Mailbox {
                tx,
                system,
                queued: queued.clone(),
                capacity: capacity.max(1),
            },
            MailboxReceiver {
                rx,
                system: system_rx,
                queued,
                first: None,
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
        if self.queued.fetch_add(1, Ordering::AcqRel) >= self.capacity {
            self.queued.fetch_sub(1, Ordering::AcqRel);
            return Err(Box::new(Refused {
                error: DeliveryError::MailboxFull,
                env: letter.env,
            }));
        }
        self.tx.send(letter).map_err(|e| {
            self.queued.fetch_sub(1, Ordering::AcqRel);
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
        self.system.send(letter).is_ok()
    }

    /// Envelopes waiting to be handled on the message lane.
    pub(crate) fn depth(&self) -> usize {
        self.queued.load(Ordering::Relaxed).min(self.capacity)
    }

    /// The message lane's capacity.
    pub(crate) fn capacity(&self) -> usize {
        self.capacity
    }
}
