//! Direct calls: a call to an idle actor runs on the caller's own task.
//!
//! Handing a call to the actor's task and the answer back costs two task
//! wake-ups. On a multi-threaded runtime those often land on the other
//! worker thread, which has to be woken from sleep: that, not the guest,
//! was most of a local call's time. When the actor has nothing else to do,
//! the caller can run the handler itself instead.
//!
//! Between messages, an actor's task leaves its instance at its [`Desk`].
//! A caller that finds the instance there, the actor's mailbox empty and no
//! stop or kill requested, borrows it, runs `handle-call` on it, and gives
//! it back. Everything else is as if the actor's task had handled the
//! request: the same handler, the same calls table and owed calls, the
//! same counters, the same trace.
//!
//! The caller may be the host ([`Node::call`](crate::Node::call), and so
//! the HTTP API) or another actor. An actor's `call` import runs inside
//! its handler, on its guest's fiber; the callee's handler then runs on a
//! fiber of its own, resumed from the caller's (wasmtime keeps each
//! store's activations apart when fibers nest). The caller has already
//! published whom it waits on, so a call that would close a cycle is
//! refused before anything runs, and chains nest: A's handler may run B's,
//! which runs C's.
//!
//! - **Order.** The actor's task takes its instance back *before* it takes
//!   an envelope out of its mailbox, and a caller borrows only while the
//!   mailbox is empty, so a direct call never overtakes a message or call
//!   sent before it.
//! - **One at a time.** A borrowed instance is not at the desk: the actor's
//!   task, and any other caller, wait (through the mailbox) until it is
//!   back.
//! - **Stop and kill.** A stop waits for the call to finish, as it waits
//!   for any message; a kill (or a link's exit signal) aborts it.
//! - **Endings.** A handler that traps or asks to stop hands the instance
//!   back with that outcome, and the actor's task ends or restarts as if it
//!   had run the handler itself.
//! - **A caller that gives up.** If the caller's deadline passes, or its
//!   future is dropped (a closed HTTP request, or a calling actor killed
//!   mid-call), the handler is not cut off mid-message: it finishes on a
//!   task of its own.
//!
//! A call to a pool runs on one of the first few workers in the pool's
//! rotation that is idle; when none is, it goes to a worker's mailbox as
//! usual. Calls to an actor that is busy, hibernating or has mail waiting
//! go through the mailbox.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use parking_lot::Mutex;
use tokio::sync::watch;
use tracing::Instrument;

use crate::core::trace;
use crate::process::mailbox::{Envelope, Mailbox};
use crate::process::table::{Control, Process};
use crate::runtime::dispatch::{self, Step};
use crate::runtime::instance::Instance;

/// Where an idle actor leaves its instance for direct callers.
#[derive(Default)]
pub(crate) struct Desk {
    inner: Mutex<DeskInner>,
}

impl std::fmt::Debug for Desk {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match &self.inner.lock().state {
            DeskState::Away => "away",
            DeskState::Idle(_) => "idle",
            DeskState::Lent { .. } => "lent",
            DeskState::Ended(..) => "ended",
        };
        f.debug_struct("Desk").field("state", &state).finish()
    }
}

#[derive(Default)]
struct DeskInner {
    state: DeskState,
    /// Numbers each loan, so that an instance given back late (after the
    /// actor ended, or restarted with a new instance) is recognised and
    /// dropped instead of replacing the current one.
    loans: u64,
}

#[derive(Default)]
enum DeskState {
    /// The actor's task holds its instance, or it hibernates, or it ended.
    #[default]
    Away,
    /// Idle: a caller may borrow it.
    Idle(Box<Instance>),
    /// A direct caller runs a call on it. `wanted`: the actor's task found
    /// work and waits for the instance.
    Lent { loan: u64, wanted: bool },
    /// A direct call ended the instance's run (a trap, or the guest asked
    /// to stop); the actor's task settles it.
    Ended(Box<Instance>, Step),
}

/// What the actor's task gets back from its desk.
pub(crate) enum Taken {
    Instance(Box<Instance>),
    /// A direct call ended the run with this step.
    Ended(Box<Instance>, Step),
    /// A kill aborted a direct call and its instance was dropped.
    Gone,
}

/// An instance borrowed for one direct call.
pub(crate) struct Loan {
    inst: Box<Instance>,
    loan: u64,
}

impl Desk {
    /// Leaves the instance of an actor that has nothing to do.
    pub(crate) fn leave(&self, inst: Box<Instance>) {
        self.inner.lock().state = DeskState::Idle(inst);
    }

    /// Takes the instance back when there is work for it (`work`), or when
    /// a direct call ended the run; pending while a direct caller has it,
    /// until it is given back.
    pub(crate) fn poll_take(&self, work: bool) -> Poll<Taken> {
        let mut d = self.inner.lock();
        match std::mem::take(&mut d.state) {
            DeskState::Idle(inst) if work => Poll::Ready(Taken::Instance(inst)),
            DeskState::Ended(inst, step) => Poll::Ready(Taken::Ended(inst, step)),
            DeskState::Lent { loan, wanted } => {
                d.state = DeskState::Lent {
                    loan,
                    wanted: wanted || work,
                };
                Poll::Pending
            }
            DeskState::Away => Poll::Ready(Taken::Gone),
            idle => {
                d.state = idle;
                Poll::Pending
            }
        }
    }

    /// Takes the instance back now, waiting for a direct caller to give it
    /// back first. The waker is the mailbox's, as in [`poll_take`](Self::poll_take).
    pub(crate) async fn take(&self, rx: &mut crate::process::mailbox::MailboxReceiver) -> Taken {
        std::future::poll_fn(|cx| {
            // Registers the actor's waker; whether mail waits does not matter.
            let _ = rx.poll_waiting(cx);
            self.poll_take(true)
        })
        .await
    }

    /// The idle instance, if no direct caller has it: the actor hibernates.
    pub(crate) fn take_idle(&self) -> Option<Box<Instance>> {
        let mut d = self.inner.lock();
        match std::mem::take(&mut d.state) {
            DeskState::Idle(inst) => Some(inst),
            other => {
                d.state = other;
                None
            }
        }
    }

    /// The actor ends: drops an idle instance, and one on loan is dropped
    /// when it comes back.
    pub(crate) fn clear(&self) {
        let state = std::mem::take(&mut self.inner.lock().state);
        // Dropped outside the lock.
        drop(state);
    }

    /// Borrows the idle instance if nothing waits in `mailbox`.
    fn lend(&self, mailbox: &Mailbox) -> Option<Loan> {
        let mut d = self.inner.lock();
        if !matches!(d.state, DeskState::Idle(_)) || !mailbox.is_empty() {
            return None;
        }
        d.loans += 1;
        let loan = d.loans;
        match std::mem::replace(&mut d.state, DeskState::Lent { loan, wanted: false }) {
            DeskState::Idle(inst) => Some(Loan { inst, loan }),
            _ => None,
        }
    }

    /// Gives back a borrowed instance (None: a kill aborted the call and
    /// the instance is dropped) with the step its call ended in, waking the
    /// actor's task if it waits for it or has an ending to settle.
    fn give_back(&self, loan: u64, inst: Option<Box<Instance>>, step: Step, mailbox: &Mailbox) {
        let mut d = self.inner.lock();
        let DeskState::Lent {
            loan: current,
            wanted,
        } = d.state
        else {
            // The actor ended (or restarted) meanwhile.
            drop(d);
            drop(inst);
            return;
        };
        if current != loan {
            drop(d);
            drop(inst);
            return;
        }
        let wake = wanted || inst.is_none() || !matches!(step, Step::Continue);
        d.state = match inst {
            Some(inst) if matches!(step, Step::Continue) => DeskState::Idle(inst),
            Some(inst) => DeskState::Ended(inst, step),
            None => DeskState::Away,
        };
        drop(d);
        if wake {
            mailbox.wake_receiver();
        }
    }
}

/// Borrows the instance of `target` for a direct call, if it is an idle
/// actor (not a pool) with an empty mailbox and no stop or kill asked. A
/// calling actor has published its wait on `target` already.
pub(crate) fn lend(target: &Arc<Process>) -> Option<Loan> {
    if target.pool.is_some() || target.control_pending() {
        return None;
    }
    target.desk.lend(&target.mailbox)
}

/// Workers of a pool a call looks at for an idle one, at most: past that,
/// the call goes through the mailbox, as when every worker is busy.
const POOL_TRIES: usize = 4;

/// For a call to `target`: borrows its idle instance or, for a pool, that
/// of one of its workers, in the pool's rotation, skipping `caller` and
/// any worker `allowed` refuses (one the call would close a cycle
/// through). Returns who lent it.
pub(crate) fn lend_for_call(
    target: &Arc<Process>,
    caller: &crate::core::pid::Pid,
    mut allowed: impl FnMut(&Process) -> bool,
) -> Option<(Arc<Process>, Loan)> {
    let Some(pool) = &target.pool else {
        return lend(target).map(|loan| (target.clone(), loan));
    };
    let worker = pool
        .peek(Some(caller), POOL_TRIES)
        .into_iter()
        .filter(|w| allowed(w))
        .find_map(|w| lend(&w).map(|loan| (w, loan)))?;
    pool.advance();
    target.forwarded();
    Some(worker)
}

/// Gives back an instance borrowed for a call that was not made.
pub(crate) fn unused(target: &Process, loan: Loan) {
    target
        .desk
        .give_back(loan.loan, Some(loan.inst), Step::Continue, &target.mailbox);
}

/// Runs `env` (a call) on the borrowed instance of `target` and gives the
/// instance back. The future owns all it needs, so that it can finish on a
/// task of its own (see [`Detached`]).
pub(crate) fn run(
    target: Arc<Process>,
    loan: Loan,
    env: Envelope,
) -> Detached<impl Future<Output = ()> + Send> {
    // Logged under the actor alone, as if its own task ran the call: not
    // nested in the caller's spans.
    let span = tracing::info_span!(parent: None, "actor", actor = %target.behaviour, pid = %target.pid);
    let run = async move {
        let Loan { mut inst, loan } = loan;
        let node = inst.store.data().node.clone();
        inst.store.data_mut().ticks = 0;
        let step = {
            let inst = &mut *inst;
            let handling = crate::runtime::span::handling(env, trace::current_or_new(), |env| {
                dispatch::handle(&node, &inst.actor, &mut inst.store, env, &mut inst.senders)
            });
            tokio::pin!(handling);
            // Most handlers finish in their first poll; only one that waits
            // needs to watch for a kill.
            match std::future::poll_fn(|cx| Poll::Ready(handling.as_mut().poll(cx))).await {
                Poll::Ready(step) => Some(step),
                Poll::Pending => {
                    let mut control = target.watch_control();
                    tokio::select! {
                        biased;
                        step = &mut handling => Some(step),
                        _ = killed(&mut control) => None,
                    }
                }
            }
        };
        match step {
            Some(step) => {
                dispatch::count_handled(&node, &target, 1);
                target.desk.give_back(loan, Some(inst), step, &target.mailbox);
            }
            None => target.desk.give_back(loan, None, Step::Continue, &target.mailbox),
        }
    };
    Detached(Some(spare::boxed(run.instrument(span))))
}

/// Resolves when the actor is killed or gets a link's exit signal, the
/// one already asked included; a stop waits for the call instead.
async fn killed(control: &mut watch::Receiver<Option<Control>>) {
    loop {
        if control
            .borrow_and_update()
            .as_ref()
            .is_some_and(Control::ends_now)
        {
            return;
        }
        if control.changed().await.is_err() {
            return std::future::pending().await;
        }
    }
}

/// A direct call's handler: run in place by whoever awaits it, and on a
/// task of its own if dropped before it finished, so that it is never cut
/// off mid-message and its instance always goes back to the desk.
pub(crate) struct Detached<F: Future<Output = ()> + Send + 'static>(Option<Pin<Box<F>>>);

impl<F: Future<Output = ()> + Send + 'static> Future for Detached<F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let Some(run) = self.0.as_mut() else {
            return Poll::Ready(());
        };
        let done = run.as_mut().poll(cx);
        if done.is_ready() {
            if let Some(run) = self.0.take() {
                spare::recycle(run);
            }
        }
        done
    }
}

impl<F: Future<Output = ()> + Send + 'static> Drop for Detached<F> {
    fn drop(&mut self) {
        if let Some(run) = self.0.take() {
            // Outside a runtime (it is shutting down) nothing runs any more.
            if let Ok(rt) = tokio::runtime::Handle::try_current() {
                rt.spawn(run);
            }
        }
    }
}

/// The allocation of a direct call's handler, kept for the next one.
///
/// The handler has to live on the heap, so that it can move to a task of
/// its own (see [`Detached`]). It is large (wasmtime's call state is in
/// it, about 1.5 KiB), and allocating and freeing it took about 4 % of a
/// direct call's time. Each thread keeps the last one it freed.
mod spare {
    use std::any::Any;
    use std::cell::Cell;
    use std::mem::MaybeUninit;
    use std::pin::Pin;

    thread_local! {
        static SPARE: Cell<Option<Box<dyn Any>>> = const { Cell::new(None) };
    }

    /// `f` on the heap, in this thread's spare allocation when it has one
    /// of the right type.
    pub(super) fn boxed<F: 'static>(f: F) -> Pin<Box<F>> {
        // None while the thread's locals are being torn down.
        let spare = SPARE
            .try_with(Cell::take)
            .ok()
            .flatten()
            .and_then(|b| b.downcast::<MaybeUninit<F>>().ok());
        let mut slot = spare.unwrap_or_else(Box::new_uninit);
        slot.write(f);
        // SAFETY: written just above.
        Box::into_pin(unsafe { slot.assume_init() })
    }

    /// Drops `run` and keeps its allocation as this thread's spare.
    pub(super) fn recycle<F: 'static>(run: Pin<Box<F>>) {
        // SAFETY: the value is dropped where it is pinned before its memory
        // is used again, as pinning requires; `MaybeUninit<F>` has the
        // layout of `F`, so the allocation is given back with the layout it
        // was made with.
        let spare = unsafe {
            let raw = Box::into_raw(Pin::into_inner_unchecked(run));
            std::ptr::drop_in_place(raw);
            Box::from_raw(raw.cast::<MaybeUninit<F>>())
        };
        // Freed instead while the thread's locals are being torn down.
        let _ = SPARE.try_with(|s| s.set(Some(spare)));
    }
}
