//! The per-actor runtime: one `Store`, one task, one message at a time.
//!
//! Spawning an actor creates its mailbox and [`Process`] handle, then starts
//! a tokio task that owns the actor's `Store` and component instance. The
//! task runs `init`, then takes one envelope at a time from the mailbox and
//! hands it to `handle-message` or `handle-call`. It ends when the guest
//! asks to stop, when it traps, or when the host stops or kills it; in every
//! case [`NodeInner::finish`] removes the process, releases its names, and
//! fails every call it still owes with `terminated(reason)`.
//!
//! A trap poisons a store, so a trapped actor is never called again: its
//! `terminate` does not run. A stop requested by the host waits for the
//! current message to finish, then runs `terminate`; a kill does not wait.

use std::sync::Arc;

use tokio::sync::{oneshot, watch};
use tracing::Instrument;
use wasmtime::{Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::bindings::{wit, ActorBindings};
use crate::engine::Behaviour;
use crate::error::{DeliveryError, SpawnError};
use crate::mailbox::{Envelope, Mailbox, MailboxReceiver};
use crate::node::{Exit, NodeInner};
use crate::pid::Pid;
use crate::process::{ActorState, Control, Process};
use crate::stdio::GuestOutput;

/// What a `Store` carries for one actor: its identity, its sandbox, and the
/// CPU ticks of the current message.
pub(crate) struct ActorData {
    pub(crate) node: Arc<NodeInner>,
    pub(crate) me: Arc<Process>,
    /// `set-important-delivery`: every send, call and response of this
    /// actor is important.
    pub(crate) important: bool,
    ticks: u64,
    wasi: WasiCtx,
    table: ResourceTable,
    limits: StoreLimits,
}

impl WasiView for ActorData {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

/// The error a handler traps with when it runs past its CPU budget.
#[derive(Debug, thiserror::Error)]
#[error("cpu budget exceeded: the handler ran for more than {0} ms of CPU time")]
pub struct CpuBudgetExceeded(pub u64);

fn new_store(node: &Arc<NodeInner>, me: &Arc<Process>) -> Store<ActorData> {
    // Nothing is granted: no files, no network, no environment, no
    // arguments. Clocks and randomness are part of every WASI context.
    let wasi = WasiCtxBuilder::new()
        .stdout(GuestOutput::new(me, "stdout"))
        .stderr(GuestOutput::new(me, "stderr"))
        .build();
    let limits = StoreLimitsBuilder::new()
        .memory_size(node.config.memory_limit_bytes)
        .trap_on_grow_failure(true)
        .build();
    let data = ActorData {
        node: node.clone(),
        me: me.clone(),
        important: false,
        ticks: 0,
        wasi,
        table: ResourceTable::new(),
        limits,
    };
    let mut store = Store::new(&node.engine, data);
    store.limiter(|d| &mut d.limits);
    let budget = node.config.cpu_budget_ticks;
    let tick_ms = crate::config::EPOCH_TICK.as_millis() as u64;
    store.epoch_deadline_callback(move |mut cx| {
        let d = cx.data_mut();
        d.ticks += 1;
        if d.ticks > budget {
            return Err(CpuBudgetExceeded(budget * tick_ms).into());
        }
        // Let the other actors on this thread run, then carry on.
        Ok(UpdateDeadline::Yield(1))
    });
    store.set_epoch_deadline(1);
    store
}

/// Words for why a guest call failed: a trap, the CPU budget, the memory
/// limit.
fn describe_trap(e: &wasmtime::Error) -> String {
    if let Some(cpu) = e.downcast_ref::<CpuBudgetExceeded>() {
        return format!("trap: {cpu}");
    }
    let text = format!("{e:#}");
    if text.contains("forcing a memory growth failure") || text.contains("memory minimum size") {
        return format!("trap: memory limit exceeded: {text}");
    }
    format!("trap: {text}")
}

/// What handling one envelope leads to.
enum Step {
    Continue,
    /// The guest asked to end with this reason.
    Stop(String),
    /// The guest trapped.
    Trap(String),
}

impl NodeInner {
    /// Starts an actor of `behaviour`; returns once its `init` succeeded.
    pub(crate) async fn spawn_actor(
        self: &Arc<Self>,
        behaviour: Arc<Behaviour>,
        args: Vec<u8>,
    ) -> Result<Pid, SpawnError> {
        let pid = self.next_pid();
        let (mailbox, rx) = Mailbox::new(self.config.mailbox_capacity);
        let (process, control) = Process::new(pid.clone(), behaviour.name.clone(), mailbox);
        // Visible before `init` runs, so `init` can send to itself.
        self.processes.insert(pid.id, process.clone());
        let (started_tx, started_rx) = oneshot::channel();
        let span = tracing::info_span!("actor", actor = %behaviour.name, pid = %pid);
        tokio::spawn(run(self.clone(), process, behaviour, rx, control, args, started_tx).instrument(span));
        match started_rx.await {
            Ok(Ok(())) => Ok(pid),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SpawnError::InitFailed("the actor ended during init".into())),
        }
    }

    /// Removes an ended process and settles everything it leaves behind.
    pub(crate) fn finish(&self, p: &Process, reason: &str) {
        p.set_state(ActorState::Terminated);
        self.processes.remove(&p.pid.id);
        self.release_names(p);
        for r in p.close_owed() {
            self.calls.fail(r, DeliveryError::Terminated(reason.to_string()));
        }
        if reason == "normal" || reason == "shutdown" {
            tracing::info!(reason, "actor ended");
        } else {
            tracing::warn!(reason, "actor ended");
        }
        let _ = self.exits.send(Exit {
            pid: p.pid.clone(),
            behaviour: p.behaviour.clone(),
            reason: reason.to_string(),
        });
    }
}

/// The actor's task.
async fn run(
    node: Arc<NodeInner>,
    me: Arc<Process>,
    behaviour: Arc<Behaviour>,
    mut rx: MailboxReceiver,
    mut control: watch::Receiver<Option<Control>>,
    args: Vec<u8>,
    started: oneshot::Sender<Result<(), SpawnError>>,
) {
    let mut store = new_store(&node, &me);
    let started_result = async {
        let actor =
            behaviour.pre.instantiate_async(&mut store).await.map_err(|e| {
                SpawnError::InitFailed(format!("instantiation failed: {}", describe_trap(&e)))
            })?;
        match actor.call_init(&mut store, &args).await {
            Ok(Ok(())) => Ok(actor),
            Ok(Err(reason)) => Err(SpawnError::InitFailed(reason)),
            Err(e) => Err(SpawnError::InitFailed(describe_trap(&e))),
        }
    }
    .await;
    let actor = match started_result {
        Ok(actor) => actor,
        Err(e) => {
            let reason = e.to_string();
            let _ = started.send(Err(e));
            node.finish(&me, &reason);
            return;
        }
    };
    me.set_state(ActorState::Running);
    let _ = started.send(Ok(()));

    let reason = 'life: loop {
        // Between messages: a stop or a kill ends the actor at once.
        let env = tokio::select! {
            biased;
            _ = control.changed() => match current(&control) {
                Some(Control::Kill(r)) => break 'life r,
                Some(Control::Stop(r)) => {
                    run_terminate(&actor, &mut store, &r, &mut control).await;
                    break 'life r;
                }
                None => continue,
            },
            env = rx.recv() => env,
        };
        let Some(env) = env else {
            break "normal".to_string();
        };
        store.data_mut().ticks = 0;
        // During a message: a kill aborts it; a stop waits for it.
        let mut stop_after: Option<String> = None;
        let step = {
            let handling = handle(&node, &actor, &mut store, env);
            tokio::pin!(handling);
            loop {
                tokio::select! {
                    biased;
                    _ = control.changed() => match current(&control) {
                        Some(Control::Kill(r)) => break 'life r,
                        Some(Control::Stop(r)) => stop_after = Some(r),
                        None => {}
                    },
                    step = &mut handling => break step,
                }
            }
        };
        me.handled.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        match step {
            Step::Continue => {}
            Step::Stop(r) => {
                run_terminate(&actor, &mut store, &r, &mut control).await;
                break r;
            }
            Step::Trap(r) => break r,
        }
        if let Some(r) = stop_after {
            run_terminate(&actor, &mut store, &r, &mut control).await;
            break r;
        }
    };
    node.finish(&me, &reason);
}

/// The latest control request (a short borrow: the watch must not stay
/// locked while the request is acted on).
fn current(control: &watch::Receiver<Option<Control>>) -> Option<Control> {
    control.borrow().clone()
}

/// Runs the guest's `terminate`, unless a kill comes first.
async fn run_terminate(
    actor: &ActorBindings,
    store: &mut Store<ActorData>,
    reason: &str,
    control: &mut watch::Receiver<Option<Control>>,
) {
    store.data_mut().ticks = 0;
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
        r = actor.call_terminate(&mut *store, reason) => {
            if let Err(e) = r {
                tracing::warn!(error = %describe_trap(&e), "terminate trapped");
            }
        }
    }
}

/// Hands one envelope to the guest.
async fn handle(
    node: &Arc<NodeInner>,
    actor: &ActorBindings,
    store: &mut Store<ActorData>,
    env: Envelope,
) -> Step {
    match env {
        Envelope::Message { from, payload } => {
            let from = wit::Pid::from(&from);
            match actor.call_handle_message(&mut *store, &from, &payload).await {
                Ok(()) => Step::Continue,
                Err(e) => Step::Trap(describe_trap(&e)),
            }
        }
        Envelope::Call { from, r, payload } => {
            let wfrom = wit::Pid::from(&from);
            let outcome = actor
                .call_handle_call(&mut *store, &wfrom, r.into(), &payload)
                .await;
            let answer = |payload: Vec<u8>| {
                if let Err(e) = node.respond(&from, &r, Ok(payload)) {
                    tracing::debug!(caller = %from, error = %e, "reply not taken");
                }
            };
            match outcome {
                Ok(wit::CallOutcome::Reply(p)) => {
                    answer(p);
                    Step::Continue
                }
                Ok(wit::CallOutcome::Defer) => Step::Continue,
                Ok(wit::CallOutcome::ReplyAndStop(p)) => {
                    answer(p);
                    Step::Stop("normal".into())
                }
                Ok(wit::CallOutcome::Stop(reason)) => Step::Stop(reason),
                Err(e) => Step::Trap(describe_trap(&e)),
            }
        }
    }
}
