//! One instance of an actor: its `Store` with the data the host keeps for
//! it (identity, WASI context, limits, CPU ticks), and the component
//! instance with the guest's exports.
//!
//! An actor keeps its process (pid, mailbox, names, links) across
//! instances: a restart, an upgrade or a wake from hibernation only makes a
//! new one of these, with `init` or `restore`.

use std::sync::Arc;

use futures_util::future::BoxFuture;
use wasmtime::{ResourceLimiter, Store, StoreLimits, StoreLimitsBuilder, UpdateDeadline};
use wasmtime_wasi::{ResourceTable, WasiCtx, WasiCtxBuilder, WasiCtxView, WasiView};

use crate::core::manifest::Settings;
use crate::node::NodeInner;
use crate::process::table::Process;
use crate::runtime::batch;
use crate::runtime::dispatch::SenderCache;
use crate::runtime::hibernate::LiveInstance;
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
