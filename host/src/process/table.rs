//! The shared handle of one live actor process.
//!
//! The actor's own task owns its `Store` and the receiving end of its
//! mailbox; everything other tasks need to know about the process (how to
//! reach it, whom it is waiting on, which calls it owes answers to) lives in
//! a [`Process`] that the node's process table shares.

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;
use tokio::sync::watch;

use crate::core::maps::FastSet;
use crate::core::pid::{Delivery, Pid, RefId};
use crate::process::mailbox::Mailbox;
use crate::process::pool::Pool;
use crate::process::supervision::{Ending, Supervision};
use crate::runtime::direct::Desk;
use crate::sandbox::engine::Version;

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
    /// Idle and swapped out of memory; the next message wakes it.
    Hibernating,
}

impl ActorState {
    fn from_u8(v: u8) -> Self {
        match v {
            0 => ActorState::Starting,
            1 => ActorState::Running,
            2 => ActorState::WaitingOnCall,
            4 => ActorState::Hibernating,
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
    /// A linked process ended: end now, like a kill, but as the actor's own
    /// failure, so its restart policy applies.
    Exit(String),
}

impl Control {
    /// A kill or an exit signal: the actor ends now, even mid-message. A
    /// stop waits for the message in hand.
    pub(crate) fn ends_now(&self) -> bool {
        matches!(self, Control::Kill(_) | Control::Exit(_))
    }

    /// How the actor's run ends for this request: the one place a control
    /// request becomes an [`Ending`] (an exit signal is the actor's own
    /// failure, so its restart policy applies; a stop or kill is the
    /// host's).
    pub(crate) fn ending(self) -> Ending {
        match self {
            Control::Exit(r) => Ending::LinkExit(r),
            Control::Kill(r) | Control::Stop(r) => Ending::Host(r),
        }
    }
}

/// `waiting_on` of a process parked in a call to another node.
pub(crate) const WAITS_REMOTE: u64 = u64::MAX;

/// The call a process is parked in.
#[derive(Clone, Debug)]
pub(crate) struct Parked {
    /// The call's ref.
    pub(crate) r: RefId,
    /// The node that owes the answer, when it is not this one.
    pub(crate) node: Option<Arc<str>>,
    /// The call whose request the process was handling when it made this
    /// one: the wait is newer than that caller's.
    pub(crate) during: Option<RefId>,
}

/// Calls this process owes answers to. Once the process ends, `open` is
/// false and no call can be added, so no caller can wait on a dead actor.
#[derive(Debug, Default)]
pub(crate) struct OwedCalls {
    pub(crate) open: bool,
    /// Each owed call, and whether an instance took it (it was handed to
    /// `handle-call`: being handled, or deferred). A call not taken is
    /// still queued, and a restarted instance answers it.
    pub(crate) refs: std::collections::HashMap<RefId, bool, foldhash::fast::RandomState>,
}

/// An owed call that its actor's end leaves unanswered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Unanswered {
    pub(crate) r: RefId,
    /// An instance took it; false: it was still queued.
    pub(crate) taken: bool,
}

impl Unanswered {
    /// What its caller is told: the actor's end, and for a call still in
    /// the mailbox that it never ran, so that the caller does not take
    /// the blame (a trap, say) for a request that was not the cause.
    pub(crate) fn reason(&self, ending: &str) -> String {
        if self.taken {
            ending.to_string()
        } else {
            format!("{ending} (the actor ended while this call was queued; it was not handled)")
        }
    }
}

/// One live actor, as seen by everything but its own task.
#[derive(Debug)]
pub(crate) struct Process {
    pub(crate) pid: Pid,
    pub(crate) behaviour: String,
    pub(crate) mailbox: Mailbox,
    /// Local process id this one is blocked calling (0: none,
    /// [`WAITS_REMOTE`]: a process of another node); walked to refuse call
    /// cycles before they deadlock.
    pub(crate) waiting_on: AtomicU64,
    /// The call this process is parked in, while `waiting_on` is set; read
    /// by cycle probes from other nodes (see [`cycles`](crate::messaging::cycles)).
    pub(crate) parked: Mutex<Option<Parked>>,
    /// The call whose request this process is handling now, if any.
    handling: Mutex<Option<RefId>>,
    pub(crate) owed: Mutex<OwedCalls>,
    pub(crate) names: Mutex<Vec<String>>,
    control: watch::Sender<Option<Control>>,
    state: AtomicU8,
    pub(crate) handled: AtomicU64,
    /// Set for the front of a pool: this pid forwards to the pool's workers
    /// and has no task of its own.
    pub(crate) pool: Option<Arc<Pool>>,
    /// Set for a pool worker: the pool to tell when it ends.
    pub(crate) member_of: OnceLock<Weak<Pool>>,
    /// A worker taken out of its pool on purpose is not replaced.
    pub(crate) retired: std::sync::atomic::AtomicBool,
    /// `set-important-delivery`: every send, call and answer of the actor
    /// is important. Kept here, with the process, so that it outlives an
    /// instance (restart, upgrade, hibernation), as exit trapping does.
    important: std::sync::atomic::AtomicBool,
    /// Links, monitors, exit trapping, restarts.
    pub(crate) sup: Supervision,
    /// `call-async` calls waiting for their answer.
    pub(crate) async_calls: Mutex<FastSet<RefId>>,
    /// The version of its behaviour the actor runs now.
    pub(crate) version: Mutex<Option<Version>>,
    /// Where the instance waits between messages, for direct calls.
    pub(crate) desk: Desk,
}

impl Process {
    pub(crate) fn new(
        pid: Pid,
        behaviour: String,
        mailbox: Mailbox,
    ) -> (Arc<Process>, watch::Receiver<Option<Control>>) {
        Self::with_pool(pid, behaviour, mailbox, None)
    }

    pub(crate) fn with_pool(
        pid: Pid,
        behaviour: String,
        mailbox: Mailbox,
        pool: Option<Arc<Pool>>,
    ) -> (Arc<Process>, watch::Receiver<Option<Control>>) {
        let (control, control_rx) = watch::channel(None);
        let p = Process {
            pid,
            behaviour,
            mailbox,
            waiting_on: AtomicU64::new(0),
            parked: Mutex::new(None),
            handling: Mutex::new(None),
            owed: Mutex::new(OwedCalls {
                open: true,
                refs: Default::default(),
            }),
            names: Mutex::new(Vec::new()),
            control,
            state: AtomicU8::new(0),
            handled: AtomicU64::new(0),
            pool,
            member_of: OnceLock::new(),
            retired: std::sync::atomic::AtomicBool::new(false),
            important: std::sync::atomic::AtomicBool::new(false),
            sup: Supervision::default(),
            async_calls: Mutex::new(FastSet::default()),
            version: Mutex::new(None),
            desk: Desk::default(),
        };
        (Arc::new(p), control_rx)
    }

    /// How the actor's sends, calls and answers are delivered.
    pub(crate) fn delivery(&self) -> Delivery {
        Delivery::from_flag(self.important.load(Ordering::Relaxed))
    }

    /// Sets how the actor's sends, calls and answers are delivered.
    pub(crate) fn set_delivery(&self, delivery: Delivery) {
        self.important.store(delivery.is_important(), Ordering::Relaxed);
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

    /// A watch on the stop and kill requests.
    pub(crate) fn watch_control(&self) -> watch::Receiver<Option<Control>> {
        self.control.subscribe()
    }

    /// A stop or kill from the host, or a link's exit signal, waits to be
    /// acted on.
    pub(crate) fn control_pending(&self) -> bool {
        self.control.borrow().is_some()
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

    /// Delivers a link's exit signal: ends the actor now, unless the host
    /// already asked it to end.
    pub(crate) fn exit_signal(&self, reason: &str) {
        self.control.send_if_modified(|c| {
            if c.is_some() {
                return false;
            }
            *c = Some(Control::Exit(reason.to_string()));
            true
        });
    }

    /// Forgets a link's exit signal once the actor restarted, so that the
    /// host can still stop or kill it later.
    pub(crate) fn clear_exit_signal(&self) {
        self.control.send_if_modified(|c| {
            if matches!(c, Some(Control::Exit(_))) {
                *c = None;
                return true;
            }
            false
        });
    }

    /// Records that this process is parked in the call `r`, owed by a
    /// process of `node` (None: of this node).
    pub(crate) fn park(&self, r: RefId, node: Option<&str>) {
        let during = *self.handling.lock();
        *self.parked.lock() = Some(Parked {
            r,
            node: node.map(Arc::from),
            during,
        });
        if node.is_some() {
            self.waiting_on.store(WAITS_REMOTE, Ordering::SeqCst);
        }
    }

    /// Records the call whose request this process starts (Some) or ends
    /// (None) handling.
    pub(crate) fn handling(&self, r: Option<RefId>) {
        *self.handling.lock() = r;
    }

    /// Forgets the call this process was parked in.
    pub(crate) fn unpark(&self) {
        self.waiting_on.store(0, Ordering::SeqCst);
        *self.parked.lock() = None;
    }

    /// The call this process is parked in, if any.
    pub(crate) fn parked(&self) -> Option<Parked> {
        self.parked.lock().clone()
    }

    /// Records that this process owes an answer to the call `r`; false if
    /// the process has already ended.
    /// `taken`: an instance runs it at once (a direct call), rather than
    /// the call waiting in the mailbox.
    pub(crate) fn owe(&self, r: RefId, taken: bool) -> bool {
        let mut owed = self.owed.lock();
        owed.open && owed.refs.insert(r, taken).is_none()
    }

    /// Records that the instance took the owed call `r` out of the mailbox
    /// to handle it: should the instance end, a restarted one cannot
    /// answer it.
    pub(crate) fn took_call(&self, r: RefId) {
        if let Some(taken) = self.owed.lock().refs.get_mut(&r) {
            *taken = true;
        }
    }

    /// The call `r` was answered (or its caller gave up): no longer owed.
    pub(crate) fn paid(&self, r: RefId) {
        self.owed.lock().refs.remove(&r);
    }

    /// Closes the book of owed calls and returns what was still open.
    pub(crate) fn close_owed(&self) -> Vec<Unanswered> {
        let mut owed = self.owed.lock();
        owed.open = false;
        owed.refs
            .drain()
            .map(|(r, taken)| Unanswered { r, taken })
            .collect()
    }

    /// Takes out the calls an instance took and did not answer, keeping the
    /// book open and the queued calls in it (a restart: the new instance
    /// cannot answer what the old one was holding, but it handles what is
    /// still in the mailbox, calls as well as messages).
    pub(crate) fn drain_taken(&self) -> Vec<RefId> {
        let mut owed = self.owed.lock();
        let taken: Vec<RefId> = owed.refs.iter().filter(|(_, t)| **t).map(|(r, _)| *r).collect();
        for r in &taken {
            owed.refs.remove(r);
        }
        taken
    }

    /// The processes an envelope for this pid may go to, in the order to
    /// try them: this process itself, or a pool's workers in rotation
    /// (never `exclude`, so a worker does not call itself through its pool).
    pub(crate) fn candidates(self: &Arc<Self>, exclude: Option<&Pid>) -> Candidates {
        match &self.pool {
            None => Candidates::One(Some(self.clone())),
            Some(pool) => Candidates::Many(pool.rotation(exclude).into_iter()),
        }
    }

    /// Counts an envelope a pool forwarded.
    pub(crate) fn forwarded(&self) {
        if let Some(pool) = &self.pool {
            pool.forwarded.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Counts an envelope no worker of a pool could take.
    pub(crate) fn rejected(&self) {
        if let Some(pool) = &self.pool {
            pool.rejected.fetch_add(1, Ordering::Relaxed);
        }
    }
}

/// See [`Process::candidates`].
pub(crate) enum Candidates {
    One(Option<Arc<Process>>),
    Many(std::vec::IntoIter<Arc<Process>>),
}

impl Iterator for Candidates {
    type Item = Arc<Process>;

    fn next(&mut self) -> Option<Arc<Process>> {
        match self {
            Candidates::One(p) => p.take(),
            Candidates::Many(it) => it.next(),
        }
    }
}
