//! Mailboxes: what an actor receives, and the bounded queue that holds it.
//!
//! A mailbox is a bounded multi-producer queue. Enqueueing never waits: a
//! full mailbox is reported to the sender at once as `mailbox-full`, so a
//! slow actor pushes back on its senders instead of growing without bound
//! or dropping messages silently.
//!
//! Each envelope travels with the trace id in force where it was pushed
//! (see [`trace`](crate::trace)), so the receiving actor handles it under
//! the same trace.

use tokio::sync::mpsc;

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
}

/// An envelope and the trace it belongs to: what a mailbox holds.
#[derive(Debug)]
pub(crate) struct Letter {
    pub(crate) env: Envelope,
    pub(crate) trace: TraceId,
}

/// The sending side of an actor's mailbox.
#[derive(Debug, Clone)]
pub(crate) struct Mailbox {
    tx: mpsc::Sender<Letter>,
}

/// An envelope a mailbox did not take, and why.
pub(crate) struct Refused {
    pub(crate) error: DeliveryError,
    pub(crate) env: Envelope,
}

/// The receiving side, owned by the actor's task.
pub(crate) type MailboxReceiver = mpsc::Receiver<Letter>;

impl Mailbox {
    /// A mailbox that holds up to `capacity` envelopes.
    pub(crate) fn new(capacity: usize) -> (Mailbox, MailboxReceiver) {
        let (tx, rx) = mpsc::channel(capacity.max(1));
        (Mailbox { tx }, rx)
    }

    /// Enqueues without waiting. A refused envelope comes back with the
    /// reason, so it can be offered to another mailbox (pools do).
    pub(crate) fn push(&self, env: Envelope) -> Result<(), Box<Refused>> {
        let letter = Letter {
            env,
            trace: trace::current_or_new(),
        };
        self.tx.try_send(letter).map_err(|e| match e {
            mpsc::error::TrySendError::Full(l) => Box::new(Refused {
                error: DeliveryError::MailboxFull,
                env: l.env,
            }),
            // The actor's task has ended; the process is gone.
            mpsc::error::TrySendError::Closed(l) => Box::new(Refused {
                error: DeliveryError::UnknownProcess,
                env: l.env,
            }),
        })
    }

    /// Envelopes waiting to be handled.
    pub(crate) fn depth(&self) -> usize {
        self.tx.max_capacity() - self.tx.capacity()
    }
}
