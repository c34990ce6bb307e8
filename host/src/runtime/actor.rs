//! The per-actor runtime: one `Store`, one task, one message at a time.
//!
//! Spawning an actor creates its mailbox and [`Process`] handle, then starts
//! a tokio task that owns the actor's `Store` and component instance. The
//! task runs `init`, then takes one envelope at a time from the mailbox and
//! hands it to `handle-message` or `handle-call`. Between messages it
//! leaves the instance at the process's desk, where a call from the host
//! may run on it directly (see [`direct`](crate::runtime::direct)); it takes the
//! instance back before it takes the next envelope. It ends when the guest
//! asks to stop, when it traps, or when the host stops or kills it; in every
//! case [`NodeInner::finish`] removes the process, releases its names, and
//! fails every call it still owes with `terminated(reason)`.
//!
//! A trap poisons a store, so a trapped actor is never called again: its
//! `terminate` does not run. A stop requested by the host waits for the
//! current message to finish, then runs `terminate`; a kill does not wait.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use dashmap::DashMap;
use futures_util::future::BoxFuture;
use tokio::sync::{oneshot, watch};
use tracing::Instrument;
use wasmtime::{ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::core::config::NodeConfig;
use crate::core::error::{DeliveryError, SpawnError};
use crate::core::manifest::Settings;
use crate::core::pid::Pid;
use crate::core::trace;
use crate::node::{Exit, NodeInner};
use crate::process::mailbox::{Envelope, Letter, Mailbox, MailboxReceiver};
use crate::process::supervision::{Ending, RestartHistory};
use crate::process::table::{ActorState, Control, Process};
use crate::runtime::batch;
use crate::runtime::direct::Taken;
use crate::runtime::hibernate::{self, LiveInstance};
use crate::runtime::reload;
use crate::sandbox::bindings::{wit, ActorBindings};
use crate::sandbox::engine::Behaviour;
use crate::sandbox::stdio::GuestOutput;

/// What a `Store` carries for one actor: its identity, its sandbox, and the
/// CPU ticks of the current message.
pub(crate) struct ActorData {
    pub(crate) node: Arc<NodeInner>,
    pub(crate) me: Arc<Process>,
    pub(crate) ticks: u64,
    /// The guest's stderr, read back to explain a panic.
    stderr: GuestOutput,
    /// This instance's `snapshot` answered `none`: it cannot hibernate.
    pub(crate) keeps_no_state: bool,
    /// The batch of messages being handled, if any (see `batch`).
    pub(crate) batch: Option<batch::Cursor>,
    wasi: WasiCtx,
    table: ResourceTable,
    limits: Limits,
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

/// The error a guest traps with when it grows a memory past the limit.
#[derive(Debug, thiserror::Error)]
#[error(
    "memory limit exceeded: the actor tried to grow its memory to {desired} bytes, past its limit of {limit} bytes ({} MiB)",
    limit / (1024 * 1024)
)]
pub(crate) struct MemoryLimitExceeded {
    desired: usize,
    limit: usize,
}

/// Wasmtime's [`StoreLimits`], with a growth past the memory limit
/// reported as [`MemoryLimitExceeded`] (a trap that names the limit)
/// instead of wasmtime's own text.
struct Limits {
    memory: usize,
    inner: StoreLimits,
}

impl ResourceLimiter for Limits {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        if desired > self.memory {
            return Err(MemoryLimitExceeded {
                desired,
                limit: self.memory,
            }
            .into());
        }
        self.inner.memory_growing(current, desired, maximum)
    }

    fn memory_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.memory_grow_failed(error)
    }

    fn table_growing(
        &mut self,
        current: usize,
        desired: usize,
        maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        self.inner.table_growing(current, desired, maximum)
    }

    fn table_grow_failed(&mut self, error: wasmtime::Error) -> wasmtime::Result<()> {
        self.inner.table_grow_failed(error)
    }

    fn instances(&self) -> usize {
        self.inner.instances()
    }

    fn tables(&self) -> usize {
        self.inner.tables()
    }

    fn memories(&self) -> usize {
        self.inner.memories()
    }
}

/// The actor's store: its sandbox and limits, from its behaviour's
/// manifest where it sets them, the node's otherwise. Fails when a granted
/// directory cannot be opened.
fn new_store(node: &Arc<NodeInner>, me: &Arc<Process>) -> Result<Store<ActorData>, String> {
    // Nothing is granted unless the manifest says so: no files, no network,
    // no environment, no arguments. Clocks and randomness are part of every
    // WASI context.
    let manifest = node.manifest(&me.behaviour);
    let settings = Settings::resolve(&node.config, manifest.as_deref());
    let mut wasi = WasiCtxBuilder::new();
    let stderr = GuestOutput::new(&me.behaviour, &me.pid, "stderr");
    wasi.stdout(GuestOutput::new(&me.behaviour, &me.pid, "stdout"))
        .stderr(stderr.clone());
    if let Some(m) = &manifest {
        crate::core::manifest::grant(&m.wasi, &mut wasi)
            .map_err(|e| format!("the manifest of `{}` cannot be applied: {e}", me.behaviour))?;
    }
    let wasi = wasi.build();
    let limits = Limits {
        memory: settings.memory_limit_bytes,
        inner: StoreLimitsBuilder::new()
            .memory_size(settings.memory_limit_bytes)
            .trap_on_grow_failure(true)
            .build(),
    };
    let data = ActorData {
        node: node.clone(),
        me: me.clone(),
        ticks: 0,
        stderr,
        keeps_no_state: false,
        batch: None,
        wasi,
        table: ResourceTable::new(),
        limits,
    };
    let mut store = Store::new(&node.engine, data);
    store.limiter(|d| &mut d.limits);
    let budget = settings.cpu_budget_ticks;
    let tick_ms = crate::core::config::EPOCH_TICK.as_millis() as u64;
    store.epoch_deadline_callback(move |mut cx| {
        let d = cx.data_mut();
        d.ticks += 1;
        if d.ticks > budget {
            return Err(CpuBudgetExceeded(budget * tick_ms).into());
        }
        // Let the other actors on this thread run, then carry on. Tokio's
        // own yield puts the guest behind the timer and I/O driver and the
        // runtime's `block_on` future too, which a plain re-wake would not:
        // those get their turn only every few dozen task polls.
        Ok(UpdateDeadline::YieldCustom(1, Box::pin(tokio::task::yield_now())))
    });
    store.set_epoch_deadline(1);
    Ok(store)
}

/// Words for why a guest call failed: a trap, the CPU budget, the memory
/// limit.
fn describe_trap(e: &wasmtime::Error) -> String {
    if let Some(cpu) = e.downcast_ref::<CpuBudgetExceeded>() {
        return format!("trap: {cpu}");
    }
    if let Some(memory) = e.downcast_ref::<MemoryLimitExceeded>() {
        return format!("trap: {memory}");
    }
    let text = format!("{e:#}");
    if text.contains("forcing a memory growth failure") || text.contains("memory minimum size") {
        return format!("trap: memory limit exceeded: {text}");
    }
    // The wasm backtrace (function indices) goes to the debug log; the
    // reason callers and exits carry is its cause.
    tracing::debug!(error = %text, "guest trapped");
    format!("trap: {}", e.root_cause())
}

impl ActorData {
    /// Words for why a guest call failed ([`describe_trap`]), with what the
    /// guest said if it panicked.
    pub(crate) fn trap_reason(&self, e: &wasmtime::Error) -> String {
        let reason = describe_trap(e);
        match self.stderr.panic_message() {
            Some(panic) => format!("{reason} (the guest {panic})"),
            None => reason,
        }
    }
}

/// Live actors, host-wide and per behaviour, against
/// [`NodeConfig::max_actors`] and [`NodeConfig::max_actors_per_behaviour`].
///
/// A spawn reserves its place before its process exists, so concurrent
/// spawns can never overshoot a limit; [`NodeInner::finish`] gives the
/// place back. Places are held by pid, so releasing a process that never
/// reserved one (or releasing twice) changes nothing.
#[derive(Debug, Default)]
pub(crate) struct SpawnCounts {
    /// Live actors on the node.
    live: AtomicUsize,
    /// Live actors per behaviour name; a name with none has no entry.
    per_behaviour: DashMap<String, usize>,
    /// Which behaviour each counted process (by pid id) is counted under.
    holders: DashMap<u64, String>,
}

impl SpawnCounts {
    /// Counts process `id` of `behaviour` as live, or says which limit
    /// refuses it.
    fn reserve(&self, config: &NodeConfig, id: u64, behaviour: &str) -> Result<(), SpawnError> {
        let max = config.max_actors;
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| {
                SpawnError::LimitReached(format!(
                    "max_actors = {max}: the node already runs {max} live actors; \
                     wait for some to end or raise the limit (`wactor run --max-actors`)"
                ))
            })?;
        let max = config.max_actors_per_behaviour;
        {
            // The entry holds its shard's lock: check and count are one step.
            let mut n = self.per_behaviour.entry(behaviour.to_string()).or_insert(0);
            if *n < max {
                *n += 1;
                self.holders.insert(id, behaviour.to_string());
                return Ok(());
            }
        }
        self.per_behaviour.remove_if(behaviour, |_, n| *n == 0);
        self.live.fetch_sub(1, Ordering::AcqRel);
        Err(SpawnError::LimitReached(format!(
            "max_actors_per_behaviour = {max}: the node already runs {max} live actors of `{behaviour}`; \
             wait for some to end or raise the limit (`wactor run --max-actors-per-behaviour`)"
        )))
    }

    /// Gives back the place of process `id`, if it holds one.
    fn release(&self, id: u64) {
        let Some((_, behaviour)) = self.holders.remove(&id) else {
            return;
        };
        if let Some(mut n) = self.per_behaviour.get_mut(&behaviour) {
            *n = n.saturating_sub(1);
        }
        self.per_behaviour.remove_if(&behaviour, |_, n| *n == 0);
        self.live.fetch_sub(1, Ordering::AcqRel);
    }
}

/// What handling one envelope leads to.
pub(crate) enum Step {
    Continue,
    /// The guest asked to end with this reason.
    Stop(String),
    /// The guest trapped.
    Trap(String),
}

/// One live instance of an actor: its store and the guest's exports. An
/// actor keeps its process (pid, mailbox, names, links) across instances:
/// a restart or an upgrade only replaces this.
pub(crate) struct Instance {
    pub(crate) store: Store<ActorData>,
    pub(crate) actor: ActorBindings,
    /// The component instance, for the optional `handle-messages` export.
    pub(crate) instance: wasmtime::component::Instance,
    pub(crate) batch: batch::Export,
    /// The frames of the last batch: a buffer kept for the next one.
    pub(crate) frames: Vec<u8>,
    /// Who sent the last envelope, converted once for the guest.
    pub(crate) senders: SenderCache,
    _live: LiveInstance,
}

/// How a new instance gets its state.
pub(crate) enum Start<'a> {
    /// `init` with these arguments.
    Init(&'a [u8]),
    /// `restore` from a snapshot.
    Restore(wit::State),
}

impl Instance {
    /// Instantiates `behaviour` for the process `me` and runs `init` or
    /// `restore`; the error says why the instance could not start.
    ///
    /// Boxed: instantiating and running the guest's first export is a large
    /// future, needed only while an instance starts. Inline, it would be
    /// part of every actor task and every hibernated actor for good.
    pub(crate) fn start<'a>(
        node: &'a Arc<NodeInner>,
        me: &'a Arc<Process>,
        behaviour: &'a Behaviour,
        start: Start<'a>,
    ) -> BoxFuture<'a, Result<Instance, String>> {
        Box::pin(Self::start_inline(node, me, behaviour, start))
    }

    async fn start_inline(
        node: &Arc<NodeInner>,
        me: &Arc<Process>,
        behaviour: &Behaviour,
        start: Start<'_>,
    ) -> Result<Instance, String> {
        let live = node.instances.count();
        let mut store = new_store(node, me)?;
        let instantiated = match behaviour.pre.instance_pre().instantiate_async(&mut store).await {
            Ok(instance) => behaviour
                .indices
                .load(&mut store, &instance)
                .map(|a| (instance, a)),
            Err(e) => Err(e),
        };
        let (instance, actor) =
            instantiated.map_err(|e| format!("instantiation failed: {}", store.data().trap_reason(&e)))?;
        let started = match start {
            Start::Init(args) => actor.call_init(&mut store, &args.to_vec()).await,
            Start::Restore(state) => actor.call_restore(&mut store, &state).await,
        };
        match started {
            Ok(Ok(())) => Ok(Instance {
                store,
                actor,
                instance,
                batch: batch::Export::NotLooked,
                frames: Vec::new(),
                senders: SenderCache::default(),
                _live: live,
            }),
            Ok(Err(reason)) => Err(reason),
            Err(e) => Err(store.data().trap_reason(&e)),
        }
    }
}

impl NodeInner {
    /// Starts an actor of `behaviour`; returns once its `init` succeeded.
    pub(crate) async fn spawn_actor(
        self: &Arc<Self>,
        behaviour: Arc<Behaviour>,
        args: Vec<u8>,
    ) -> Result<Pid, SpawnError> {
        let pid = self.next_pid();
        // Counted before the process exists, released in `finish`.
        self.spawn_counts.reserve(&self.config, pid.id, &behaviour.name)?;
        let (mailbox, rx) = Mailbox::new(self.settings(&behaviour.name).mailbox_capacity);
        let (process, control) = Process::new(pid.clone(), behaviour.name.clone(), mailbox);
        // Visible before `init` runs, so `init` can send to itself.
        self.processes.insert(pid.id, process.clone());
        let (started_tx, started_rx) = oneshot::channel();
        // A root span: the actor outlives the message of the spawner that
        // started it, and its log lines carry only its own trace ids.
        let span = tracing::info_span!(parent: None, "actor", actor = %behaviour.name, pid = %pid);
        // `init` (and so whatever it sends) continues the spawner's trace.
        let run = run(self.clone(), process, behaviour, rx, control, args, started_tx);
        debug_assert!(
            std::mem::size_of_val(&run) <= MAX_TASK_BYTES,
            "the actor task takes {} bytes: box the stage that grew it (see `run`)",
            std::mem::size_of_val(&run)
        );
        tokio::spawn(trace::scope(trace::current_or_new(), run).instrument(span));
        match started_rx.await {
            Ok(Ok(())) => Ok(pid),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SpawnError::InitFailed("the actor ended during init".into())),
        }
    }

    /// Removes an ended process and settles everything it leaves behind.
    pub(crate) fn finish(&self, p: &Process, reason: &str) {
        p.set_state(ActorState::Terminated);
        p.desk.clear();
        self.processes.remove(&p.pid.id);
        // Before the exit is announced: whoever sees it can spawn again.
        self.spawn_counts.release(p.pid.id);
        self.release_names(p);
        for call in p.close_owed() {
            self.calls
                .fail(call.r, DeliveryError::Terminated(call.reason(reason)));
        }
        self.close_async_calls(p);
        self.announce_exit(p, reason);
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

/// Most an actor's task may take: it lives as long as the actor, hibernated
/// or not (it took 10.5 KiB before its stages were boxed; 0.8 KiB since).
const MAX_TASK_BYTES: usize = 2048;

/// The actor's task: its first instance, then serving, restarting per its
/// policy, until it ends for good.
async fn run(
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
            return settle(&mut inst, step, control).await.into();
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
                Some(Control::Kill(r)) => {
                    me.desk.clear();
                    return Err(Ending::Host(r).into());
                }
                Some(Control::Exit(r)) => {
                    me.desk.clear();
                    return Err(Ending::LinkExit(r).into());
                }
                // A direct call in progress finishes first, as any message.
                Some(Control::Stop(r)) => {
                    return Err(match me.desk.take(rx).await {
                        Taken::Instance(mut inst) => {
                            run_terminate(&mut inst, &r, control).await;
                            Ending::Host(r).into()
                        }
                        Taken::Ended(mut inst, step) => settle(&mut inst, step, control).await.into(),
                        Taken::Gone => Ending::Host(r).into(),
                    });
                }
                None => continue,
            },
            taken = std::future::poll_fn(|cx| {
                let work = rx.poll_waiting(cx).is_ready();
                me.desk.poll_take(work)
            }) => match taken {
                Taken::Instance(inst) => return Ok(inst),
                Taken::Ended(mut inst, step) => return Err(settle(&mut inst, step, control).await.into()),
                // Only a kill (or an exit signal) drops a borrowed instance.
                Taken::Gone => {
                    return Err(match current(control) {
                        Some(Control::Exit(r)) => Ending::LinkExit(r),
                        Some(Control::Kill(r) | Control::Stop(r)) => Ending::Host(r),
                        None => Ending::Host("killed".to_string()),
                    }
                    .into())
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
async fn settle(inst: &mut Instance, step: Step, control: &mut watch::Receiver<Option<Control>>) -> Ending {
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
                Some(Control::Kill(r)) => return Err(Ending::Host(r)),
                Some(Control::Exit(r)) => return Err(Ending::LinkExit(r)),
                Some(Control::Stop(r)) => *stop_after = Some(r),
                None => {}
            },
        }
    }
}

/// Counts `n` envelopes handled by the actor `me`.
pub(crate) fn count_handled(node: &NodeInner, me: &Process, n: usize) {
    me.handled.fetch_add(n as u64, Ordering::Relaxed);
    node.metrics.messages_handled.add(n as u64);
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

/// Hands one envelope to the guest.
pub(crate) async fn handle(
    node: &Arc<NodeInner>,
    actor: &ActorBindings,
    store: &mut Store<ActorData>,
    env: Envelope,
    senders: &mut SenderCache,
) -> Step {
    match env {
        Envelope::Message { from, payload } => {
            let from = senders.wit(&from);
            match actor.call_handle_message(&mut *store, from, &payload).await {
                Ok(()) => Step::Continue,
                Err(e) => Step::Trap(store.data().trap_reason(&e)),
            }
        }
        Envelope::Info(info) => {
            let info = wit::Info::from(info);
            match actor.call_handle_info(&mut *store, &info).await {
                Ok(()) => Step::Continue,
                Err(e) => Step::Trap(store.data().trap_reason(&e)),
            }
        }
        // Handled by `serve` before it gets here.
        Envelope::Upgrade(_) => Step::Continue,
        Envelope::Call { from, r, payload } => {
            let wfrom = senders.wit(&from);
            let me = store.data().me.clone();
            me.handling(Some(r.id));
            let outcome = actor
                .call_handle_call(&mut *store, wfrom, r.into(), &payload)
                .await;
            me.handling(None);
            // `set-important-delivery(true)` covers the returned answer too.
            let delivery = me.delivery();
            let answer = |payload: Vec<u8>| async move {
                let sent = node.respond_with(&from, &r, Ok(payload), delivery).await;
                if let Err(e) = sent {
                    tracing::debug!(caller = %from, error = %e, "reply not taken");
                }
            };
            match outcome {
                Ok(wit::CallOutcome::Reply(p)) => {
                    answer(p).await;
                    Step::Continue
                }
                Ok(wit::CallOutcome::Defer) => Step::Continue,
                Ok(wit::CallOutcome::ReplyAndStop(p)) => {
                    answer(p).await;
                    Step::Stop("normal".into())
                }
                Ok(wit::CallOutcome::Stop(reason)) => Step::Stop(reason),
                Err(e) => Step::Trap(store.data().trap_reason(&e)),
            }
        }
    }
}

/// The WIT form of the last sender an actor heard from. Most actors hear
/// from the same few senders in a row; reusing the converted pid saves
/// copying the node name for every envelope.
#[derive(Default)]
pub(crate) struct SenderCache {
    last: Option<(Pid, wit::Pid)>,
}

impl SenderCache {
    fn wit(&mut self, from: &Pid) -> &wit::Pid {
        if self.last.as_ref().is_some_and(|(pid, _)| pid != from) {
            self.last = None;
        }
        let (_, wit) = self
            .last
            .get_or_insert_with(|| (from.clone(), wit::Pid::from(from)));
        wit
    }
}
