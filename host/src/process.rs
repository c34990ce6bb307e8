//! The shared handle of one live actor process.
//!
//! The actor's own task owns its `Store` and the receiving end of its
//! mailbox; everything other tasks need to know about the process (how to
//! reach it, whom it is waiting on, which calls it owes answers to) lives in
//! a [`Process`] that the node's process table shares.

use std::collections::HashSet;
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::mailbox::Mailbox;
use crate::pid::{Pid, RefId};

/// What an actor is doing, as `ps` and the HTTP API show it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum ActorState {
    /// Starting: running `init`.
    Starting,
    /// Idle, or handling a message.
    Running,
    /// Parked in a `call`, waiting for an answer.
    WaitingOnCall,
    /// Ended.
    Terminated,
}

impl ActorState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => ActorState::Starting,
            1 => ActorState::Running,
            2 => ActorState::WaitingOnCall,
            _ => ActorState::Terminated,
        }
    }
}

/// A request from the host to end an actor.
#[derive(Clone, Debug)]
pub(crate) enum Control {
    /// End after the current message, running `terminate`.
    Stop(String),
    /// End now, even in the middle of a message; `terminate` does not run.
    Kill(String),
}

/// Calls this process owes answers to. Once the process ends, `open` is
/// false and no call can be added, so no caller can wait on a dead actor.
#[derive(Debug, Default)]
pub(crate) struct OwedCalls {
    pub(crate) open: bool,
    pub(crate) refs: HashSet<RefId>,
}

/// One live actor, as seen by everything but its own task.
#[derive(Debug)]
pub(crate) struct Process {
    pub(crate) pid: Pid,
    pub(crate) behaviour: String,
    pub(crate) mailbox: Mailbox,
    /// Local process id this one is blocked calling (0: none); walked to
    /// refuse call cycles before they deadlock.
    pub(crate) waiting_on: AtomicU64,
    pub(crate) owed: Mutex<OwedCalls>,
    pub(crate) names: Mutex<Vec<String>>,
    control: watch::Sender<Option<Control>>,
    state: AtomicU8,
    pub(crate) handled: AtomicU64,
}

impl Process {
    pub(crate) fn new(
        pid: Pid,
        behaviour: String,
        mailbox: Mailbox,
    ) -> (Arc<Process>, watch::Receiver<Option<Control>>) {
        let (control, control_rx) = watch::channel(None);
        let p = Process {
            pid,
            behaviour,
            mailbox,
            waiting_on: AtomicU64::new(0),
            owed: Mutex::new(OwedCalls {
                open: true,
                refs: HashSet::new(),
            }),
            names: Mutex::new(Vec::new()),
            control,
            state: AtomicU8::new(0),
            handled: AtomicU64::new(0),
        };
        (Arc::new(p), control_rx)
    }

    pub(crate) fn state(&self) -> ActorState {
        ActorState::from_u8(self.state.load(Ordering::Relaxed))
    }

    pub(crate) fn set_state(&self, s: ActorState) {
        self.state.store(s as u8, Ordering::Relaxed);
    }

    /// Asks the actor to end after its current message, running its
    /// `terminate`. No effect if it was already asked to end.
    pub(crate) fn stop(&self, reason: &str) {
        self.control.send_if_modified(|c| {
            if c.is_some() {
                return false;
            }
            *c = Some(Control::Stop(reason.to_string()));
            true
        });
    }

    /// Ends the actor now, even in the middle of a message.
    pub(crate) fn kill(&self, reason: &str) {
        self.control.send_if_modified(|c| {
            if matches!(c, Some(Control::Kill(_))) {
                return false;
            }
            *c = Some(Control::Kill(reason.to_string()));
            true
        });
    }

    /// Records that this process owes an answer to the call `r`; false if
    /// the process has already ended.
    pub(crate) fn owe(&self, r: RefId) -> bool {
        let mut owed = self.owed.lock();
        owed.open && owed.refs.insert(r)
    }

    pub(crate) fn settle(&self, r: RefId) {
        self.owed.lock().refs.remove(&r);
    }

    /// Closes the book of owed calls and returns what was still open.
    pub(crate) fn close_owed(&self) -> Vec<RefId> {
        let mut owed = self.owed.lock();
        owed.open = false;
        owed.refs.drain().collect()
    }
}
