//! The actor's task: one instance, one message at a time.
//!
//! The task runs `init`, then takes one envelope at a time from the
//! mailbox and hands it to the guest (see
//! [`dispatch`](crate::runtime::dispatch)). Between messages it leaves the
//! instance at the process's desk, where a call may run on it directly
//! (see [`direct`](crate::runtime::direct)); it takes the instance back
//! before it takes the next envelope. It ends when the guest asks to stop,
//! when it traps, or when the host stops or kills it, and restarts per its
//! policy.
//!
//! A trap poisons a store, so a trapped actor is never called again: its
//! `terminate` does not run. A stop requested by the host waits for the
//! current message to finish, then runs `terminate`; a kill does not wait.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use futures_util::future::BoxFuture;
use tokio::sync::{oneshot, watch};

use crate::core::error::{DeliveryError, SpawnError};
use crate::node::NodeInner;
use crate::process::mailbox::{Envelope, Letter, MailboxReceiver};
use crate::process::supervision::{Ending, RestartHistory};
use crate::process::table::{ActorState, Control, Process};
use crate::runtime::batch;
use crate::runtime::direct::Taken;
use crate::runtime::dispatch::{count_handled, handle, Step};
use crate::runtime::hibernate;
use crate::runtime::instance::{Instance, Start};
use crate::runtime::reload;
use crate::sandbox::engine::Behaviour;

/// Most an actor's task may take: it lives as long as the actor, hibernated
/// or not (it took 10.5 KiB before its stages were boxed; 0.8 KiB since).
pub(crate) const MAX_TASK_BYTES: usize = 2048;

/// The actor's task: its first instance, then serving, restarting per its
/// policy, until it ends for good.
pub(crate) async fn run(
    node: Arc<NodeInner>,
    me: Arc<Process>,
    mut behaviour: Arc<Behaviour>,
    mut rx: MailboxReceiver,
    mut control: watch::Receiver<Option<Control>>,
    args: Vec<u8>,
    started: oneshot::Sender<Result<(), SpawnError>>,
) {
    let mut inst = match Instance::start(&node, &me, &behaviour, Start::Init(&args)).await {
        Ok(inst) => inst,
        Err(reason) => {
            let _ = started.send(Err(SpawnError::InitFailed(reason.clone())));
            node.finish(&me, &reason);
            return;
        }
    };
    *me.version.lock() = Some(behaviour.version.clone());
    me.set_state(ActorState::Running);
    let _ = started.send(Ok(()));

    let mut history = RestartHistory::default();
    let reason = loop {
        // Serving and hibernating are boxed, each allocated once per
        // wake: the task then holds only the one it is in, so a hibernated
        // actor does not keep room for serving.
        let served = Box::pin(serve(
            &node,
            &me,
            inst,
            &mut behaviour,
            &mut rx,
            &mut control,
            &args,
        ))
        .await;
        let ending = match served {
            Served::Ended(ending) => ending,
            Served::Idle(idle) => {
                match Box::pin(hibernate::hibernate(
                    &node,
                    &me,
                    *idle,
                    &behaviour,
                    &mut rx,
                    &mut control,
                ))
                .await
                {
                    Ok(woken) => {
                        inst = woken;
                        continue;
                    }
                    Err(ending) => ending,
                }
            }
        };
        // A pool replaces its workers itself, with fresh pids.
        let decided = match me.member_of.get() {
            Some(_) => Err(ending.reason().to_string()),
            None => history.decide(&node.restart_policy(&behaviour.name), &ending),
        };
        if let Err(reason) = decided {
            break reason;
        }
        let reason = ending.reason().to_string();
        // Counted before the callers learn of the failure, so whoever sees
        // the failure also sees the restart.
        let n = me.sup.restarts.fetch_add(1, Ordering::Relaxed) + 1;
        node.metrics.restarts.inc();
        // The new instance cannot answer what the old one was holding; the
        // calls still queued stay for it, as the messages do.
        for r in me.drain_taken() {
            node.calls.fail(r, DeliveryError::Terminated(reason.clone()));
        }
        me.clear_exit_signal();
        tracing::warn!(reason = %reason, restarts = n, "actor restarting");
        match Instance::start(&node, &me, &behaviour, Start::Init(&args)).await {
            Ok(fresh) => inst = fresh,
            Err(e) => break format!("{reason}; the restart failed: {e}"),
        }
    };
    node.finish(&me, &reason);
    node.on_worker_exit(&me);
}

/// Why [`serve`] returned.
enum Served {
    /// The instance's run ended.
    Ended(Ending),
    /// The actor is idle and should hibernate (see [`hibernate`]).
    Idle(Box<Instance>),
}

impl From<Ending> for Served {
    fn from(ending: Ending) -> Self {
        Served::Ended(ending)
    }
}

/// Hands envelopes to one instance until it ends or goes idle for long
/// enough to hibernate.
async fn serve(
    node: &Arc<NodeInner>,
    me: &Arc<Process>,
    inst: Instance,
    behaviour: &mut Arc<Behaviour>,
    rx: &mut MailboxReceiver,
    control: &mut watch::Receiver<Option<Control>>,
    args: &[u8],
) -> Served {
    // Boxed once per wake, so that leaving it at the desk between messages
    // moves a pointer.
    let mut inst = Box::new(inst);
    loop {
        // Fast path: an envelope is already waiting and no control request
        // came in, so nothing needs to be raced. Taking it without waiting
        // skips registering wake-ups on the control channel and the mailbox
        // for every message; the budget keeps a busy actor from holding its
        // worker thread forever.
        let letter = match rx.try_recv() {
            Some(letter) if matches!(control.has_changed(), Ok(false)) => {
                tokio::task::coop::consume_budget().await;
                letter
            }
            waiting => {
                if let Some(letter) = waiting {
                    rx.put_back(letter);
                }
                inst = match between(node, me, inst, rx, control).await {
                    Ok(inst) => inst,
                    Err(served) => return served,
                };
                continue;
            }
        };
        let Letter { env, trace } = letter;
        if let Envelope::Upgrade(upgrade) = env {
            // Boxed: rare, and large.
            if let Err(ending) =
                Box::pin(reload::upgrade(node, me, &mut inst, behaviour, args, upgrade)).await
            {
                return ending.into();
            }
            continue;
        }
        inst.store.data_mut().ticks = 0;
        // During a message: a kill aborts it; a stop waits for it.
        let mut stop_after: Option<String> = None;
        let step = match batch::next(&mut inst, behaviour.batch_export, Letter { env, trace }, rx) {
            batch::Next::One(letter) => {
                if let Envelope::Call { r, .. } = &letter.env {
                    me.took_call(r.id);
                }
                let inst = &mut *inst;
                let handling = crate::runtime::span::handling(letter.env, letter.trace, |env| {
                    handle(node, &inst.actor, &mut inst.store, env, &mut inst.senders)
                });
                let step = match until_control(handling, control, &mut stop_after).await {
                    Ok(step) => step,
                    Err(ending) => return ending.into(),
                };
                count_handled(node, me, 1);
                step
            }
            batch::Next::Batch(func, mut letters) => {
                node.metrics.message_batches.inc();
                // Boxed, once per batch: inline, it would make every
                // serving actor's task larger.
                let handling = Box::pin(batch::handle(&mut inst, func, &letters));
                let outcome = until_control(handling, control, &mut stop_after).await;
                let reached = batch::reached(&mut inst).clamp(1, letters.len());
                // A kill or an exit signal drops the message the guest was
                // in, as it would drop a message handled alone; the ones
                // after it stay in the mailbox, for a restarted instance.
                let handled = if outcome.is_ok() { reached } else { reached - 1 };
                // The first message's slot was freed when it was received;
                // the messages not reached go back in front, slots kept.
                rx.handed_out(reached - 1);
                count_handled(node, me, handled);
                rx.give_back_messages(letters.drain(reached..));
                match outcome {
                    Ok(step) => step,
                    Err(ending) => return ending.into(),
                }
            }
        };
        if !matches!(step, Step::Continue) {
            return end_run(&mut inst, step, control).await.into();
        }
        if let Some(r) = stop_after {
            run_terminate(&mut inst, &r, control).await;
            return Ending::Host(r).into();
        }
    }
}

/// Between messages: the instance waits at the actor's desk, where a
/// direct caller may borrow it (see [`direct`](crate::runtime::direct)), until an
/// envelope or a control request comes, or the actor has been idle long
/// enough to hibernate. Returns the instance to carry on with.
async fn between(
    node: &Arc<NodeInner>,
    me: &Arc<Process>,
    inst: Box<Instance>,
    rx: &mut MailboxReceiver,
    control: &mut watch::Receiver<Option<Control>>,
) -> Result<Box<Instance>, Served> {
    let keeps_no_state = inst.store.data().keeps_no_state;
    me.desk.leave(inst);
    let mut handled = me.handled.load(Ordering::Relaxed);
    let idle = hibernate::idle(node, keeps_no_state);
    tokio::pin!(idle);
    loop {
        tokio::select! {
            biased;
            _ = control.changed() => match current(control) {
                // A direct call in progress finishes first, as any message.
                Some(Control::Stop(r)) => {
                    return Err(match me.desk.take(rx).await {
                        Taken::Instance(mut inst) => {
                            run_terminate(&mut inst, &r, control).await;
                            Ending::Host(r).into()
                        }
                        Taken::Ended(mut inst, step) => end_run(&mut inst, step, control).await.into(),
                        Taken::Gone => Ending::Host(r).into(),
                    });
                }
                Some(ends_now) => {
                    me.desk.clear();
                    return Err(ends_now.ending().into());
                }
                None => continue,
            },
            taken = std::future::poll_fn(|cx| {
                let work = rx.poll_waiting(cx).is_ready();
                me.desk.poll_take(work)
            }) => match taken {
                Taken::Instance(inst) => return Ok(inst),
                Taken::Ended(mut inst, step) => return Err(end_run(&mut inst, step, control).await.into()),
                // Only a kill (or an exit signal) drops a borrowed instance.
                Taken::Gone => {
                    let ending = current(control).map_or_else(|| Ending::Host("killed".to_string()), Control::ending);
                    return Err(ending.into());
                }
            },
            _ = &mut idle => {
                // Calls run directly meanwhile: idle since then, not before.
                let now = me.handled.load(Ordering::Relaxed);
                if now != handled {
                    handled = now;
                    idle.set(hibernate::idle(node, keeps_no_state));
                    continue;
                }
                match me.desk.take_idle() {
                    Some(inst) => return Err(Served::Idle(inst)),
                    None => idle.set(hibernate::idle(node, keeps_no_state)),
                }
            }
        }
    }
}

/// Ends the run of an instance whose handler returned `step` (a stop or a
/// trap), running `terminate` for a stop.
async fn end_run(inst: &mut Instance, step: Step, control: &mut watch::Receiver<Option<Control>>) -> Ending {
    match step {
        Step::Stop(r) => {
            run_terminate(inst, &r, control).await;
            Ending::Stopped(r)
        }
        Step::Trap(r) => Ending::Trap(r),
        // Not an ending; not passed here.
        Step::Continue => Ending::Stopped("normal".to_string()),
    }
}

/// Runs a handler to its end unless a kill or an exit signal comes first
/// (then the ending is returned); a stop request is noted in `stop_after`
/// and waits for the handler.
async fn until_control<F: std::future::Future>(
    handling: F,
    control: &mut watch::Receiver<Option<Control>>,
    stop_after: &mut Option<String>,
) -> Result<F::Output, Ending> {
    tokio::pin!(handling);
    loop {
        // The handler first: most handlers finish in their first poll, and
        // then the control channel is never waited on. A handler that waits
        // (on a call, or an epoch yield of a long computation) lets the
        // control branch be polled, so a kill still ends it mid-message.
        tokio::select! {
            biased;
            out = &mut handling => return Ok(out),
            _ = control.changed() => match current(control) {
                Some(Control::Stop(r)) => *stop_after = Some(r),
                Some(ends_now) => return Err(ends_now.ending()),
                None => {}
            },
        }
    }
}

/// The latest control request (a short borrow: the watch must not stay
/// locked while the request is acted on).
fn current(control: &watch::Receiver<Option<Control>>) -> Option<Control> {
    control.borrow().clone()
}

/// Runs the guest's `terminate`, unless a kill comes first. Boxed, as it
/// runs once at most: inline, it would enlarge every actor's task.
fn run_terminate<'a>(
    inst: &'a mut Instance,
    reason: &'a str,
    control: &'a mut watch::Receiver<Option<Control>>,
) -> BoxFuture<'a, ()> {
    Box::pin(terminate_inline(inst, reason, control))
}

async fn terminate_inline(inst: &mut Instance, reason: &str, control: &mut watch::Receiver<Option<Control>>) {
    inst.store.data_mut().ticks = 0;
    tokio::select! {
        biased;
        _ = async {
            while control.changed().await.is_ok() {
                if matches!(*control.borrow(), Some(Control::Kill(_))) {
                    break;
                }
            }
            std::future::pending::<()>().await
        } => {}
        r = inst.actor.call_terminate(&mut inst.store, reason) => {
            if let Err(e) = r {
                tracing::warn!(error = %inst.store.data().trap_reason(&e), "terminate trapped");
            }
        }
    }
}
