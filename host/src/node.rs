//! The node: one host's actor system.
//!
//! A [`Node`] owns the engine, the loaded behaviours, the process table,
//! the name registry, the pending calls and the timers. Everything a guest
//! can do through its imports, the embedding program can do through the
//! node too, as the host pseudo-process (pid id 0): that is how HTTP, the
//! CLI and tests talk to actors.

use std::collections::HashMap;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use parking_lot::RwLock;
use tokio::sync::broadcast;
use wasmtime::component::{HasSelf, Linker};
use wasmtime::Engine;

use crate::core::config::NodeConfig;
use crate::core::counters::{Census, Metrics};
use crate::core::error::{DeliveryError, LoadError, PoolError, RegisterError, SpawnError};
use crate::core::manifest::{Manifest, Settings};
use crate::core::pid::{Address, CallOptions, Delivery, Encoding, Pid};
use crate::messaging::calls::Calls;
use crate::messaging::timers::Timers;
use crate::process::limits::SpawnCounts;
use crate::process::names::Names;
use crate::process::pool::PoolStats;
use crate::process::supervision::RestartPolicy;
use crate::process::table::{ActorState, Process};
use crate::runtime::hibernate::Instances;
use crate::runtime::instance::ActorData;
use crate::runtime::reload::UpgradeReport;
use crate::sandbox::bindings::ActorBindings;
use crate::sandbox::cache::{CacheStats, CompileCache};
use crate::sandbox::engine::{self, Behaviour, Version};

use crate::core::maps::FastMap;

/// A process that ended, and why.
#[derive(Clone, Debug)]
pub struct Exit {
    /// The process.
    pub pid: Pid,
    /// Its behaviour.
    pub behaviour: String,
    /// Its exit reason: `normal`, the reason it gave to `stop`, or what it
    /// trapped on.
    pub reason: String,
}

/// One row of the actor table (`wactor ps`).
#[derive(Clone, Debug, serde::Serialize)]
pub struct ActorInfo {
    /// The process.
    pub pid: String,
    /// Its behaviour.
    pub behaviour: String,
    /// The version of the behaviour it runs (short content hash).
    pub version: String,
    /// When that version was loaded, in milliseconds since the Unix epoch.
    pub loaded_at_ms: u64,
    /// Names it holds.
    pub names: Vec<String>,
    /// Messages waiting in its mailbox.
    pub mailbox_depth: usize,
    /// Messages and calls it has handled.
    pub handled: u64,
    /// Times it was restarted in place after a failure.
    pub restarts: u64,
    /// What it is doing.
    pub state: ActorState,
    /// For a pool's pid: its counters.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pool: Option<PoolStats>,
}

/// The shared state behind a [`Node`]; the concept modules (routing,
/// calls, names, timers, actor) add their operations to it.
pub(crate) struct NodeInner {
    pub(crate) config: NodeConfig,
    pub(crate) node_name: Arc<str>,
    pub(crate) creation: u64,
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<ActorData>,
    /// The compile cache on disk, if `config.cache_dir` names one.
    cache: Option<CompileCache>,
    pub(crate) behaviours: RwLock<HashMap<String, Arc<Behaviour>>>,
    /// Manifests by behaviour name; a behaviour without one runs with the
    /// node's defaults.
    manifests: RwLock<HashMap<String, Arc<Manifest>>>,
    pub(crate) processes: FastMap<u64, Arc<Process>>,
    next_id: AtomicU64,
    pub(crate) names: Names,
    pub(crate) calls: Calls,
    pub(crate) timers: Timers,
    pub(crate) exits: broadcast::Sender<Exit>,
    /// Live actors against the spawn limits.
    pub(crate) spawn_counts: SpawnCounts,
    /// Restart policies by behaviour; absent means the default.
    pub(crate) policies: DashMap<String, RestartPolicy>,
    pub(crate) metrics: Metrics,
    /// Live instances, against the hibernation budget.
    pub(crate) instances: Instances,
    host_pid: Pid,
    /// Set once the node joined its cluster.
    pub(crate) cluster: std::sync::OnceLock<Arc<crate::cluster::Cluster>>,
    /// The actors and pools a watched directory started, by behaviour:
    /// the only ones a manifest's `instances` or `pool` counts and stops.
    /// Ended ones are dropped when the list is next read.
    dir_started: parking_lot::Mutex<HashMap<String, Vec<Pid>>>,
}

impl NodeInner {
    pub(crate) fn next_pid(&self) -> Pid {
        Pid {
            node: self.node_name.clone(),
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            creation: self.creation,
        }
    }

    pub(crate) fn behaviour(&self, name: &str) -> Option<Arc<Behaviour>> {
        self.behaviours.read().get(name).cloned()
    }

    pub(crate) fn manifest(&self, behaviour: &str) -> Option<Arc<Manifest>> {
        self.manifests.read().get(behaviour).cloned()
    }

    /// The limits of actors of `behaviour`: its manifest's, else the node's.
    pub(crate) fn settings(&self, behaviour: &str) -> Settings {
        Settings::resolve(&self.config, self.manifest(behaviour).as_deref())
    }

    pub(crate) async fn spawn(self: &Arc<Self>, behaviour: &str, args: Vec<u8>) -> Result<Pid, SpawnError> {
        let b = self
            .behaviour(behaviour)
            .ok_or_else(|| SpawnError::UnknownBehaviour(behaviour.to_string()))?;
        self.spawn_actor(b, args).await
    }

    pub(crate) fn whereis(&self, name: &str) -> Option<Pid> {
        self.names.whereis(self.local_name(name)?)
    }
}

/// One host's actor system. Cheap to clone.
#[derive(Clone)]
pub struct Node {
    inner: Arc<NodeInner>,
}

impl Node {
    /// A node with the given settings. Must be called inside a tokio
    /// runtime.
    pub fn new(config: NodeConfig) -> anyhow::Result<Node> {
        let engine = engine::new_engine(&config)?;
        let mut linker = Linker::<ActorData>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker)?;
        ActorBindings::add_to_linker::<ActorData, HasSelf<ActorData>>(&mut linker, |d| d)?;
        let node_name: Arc<str> = Arc::from(config.node_name.as_str());
        // Never 0, and different on every start of a node.
        let creation = rand::random::<u64>() | 1;
        let host_pid = Pid {
            node: node_name.clone(),
            id: 0,
            creation,
        };
        let (exits, _) = broadcast::channel(1024);
        let cache = config
            .cache_dir
            .as_deref()
            .map(|dir| CompileCache::new(dir, &engine));
        let inner = Arc::new(NodeInner {
            config,
            node_name,
            creation,
            engine,
            linker,
            cache,
            behaviours: RwLock::new(HashMap::new()),
            manifests: RwLock::new(HashMap::new()),
            processes: FastMap::default(),
            next_id: AtomicU64::new(1),
            names: Names::default(),
            calls: Calls::default(),
            timers: Timers::default(),
            exits,
            spawn_counts: SpawnCounts::default(),
            policies: DashMap::new(),
            metrics: Metrics::default(),
            instances: Instances::default(),
            host_pid,
            cluster: std::sync::OnceLock::new(),
            dir_started: parking_lot::Mutex::new(HashMap::new()),
        });
        crate::messaging::calls::keep_timer_armed(&inner);
        Ok(Node { inner })
    }

    /// Joins the cluster of [`NodeConfig::cluster`]; does nothing when the
    /// node runs alone.
    pub async fn join_cluster(&self) -> Result<(), crate::core::error::ClusterError> {
        match self.inner.config.cluster.clone() {
            Some(config) => crate::cluster::join(&self.inner, config).await,
            None => Ok(()),
        }
    }

    /// Tells the cluster this node is going away, once everything queued
    /// for other nodes is sent; call after [`shutdown`](Node::shutdown).
    /// Other nodes treat it as down at once instead of after missed
    /// heartbeats.
    pub async fn leave_cluster(&self) {
        crate::cluster::leave(&self.inner).await;
    }

    /// The other nodes of the cluster that are up, by name.
    pub fn peers(&self) -> Vec<String> {
        self.inner.cluster.get().map(|c| c.peers()).unwrap_or_default()
    }

    /// The node's settings.
    pub fn config(&self) -> &NodeConfig {
        &self.inner.config
    }

    /// The node's own pid: the sender of messages that come from outside.
    pub fn pid(&self) -> &Pid {
        &self.inner.host_pid
    }

    /// Compiles and checks `bytes` as behaviour `name` (off the async
    /// threads) and installs it. A failure changes nothing.
    pub async fn load(&self, name: &str, bytes: Vec<u8>) -> Result<Arc<Behaviour>, LoadError> {
        self.load_as(name, name.to_string(), bytes).await
    }

    /// Loads `DIR/NAME.wasm` as behaviour `NAME`.
    pub async fn load_file(&self, path: &Path) -> Result<Arc<Behaviour>, LoadError> {
        let name = behaviour_name(path)?;
        let bytes = tokio::fs::read(path).await.map_err(|source| LoadError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        self.load_as(&name, path.display().to_string(), bytes).await
    }

    async fn load_as(&self, name: &str, what: String, bytes: Vec<u8>) -> Result<Arc<Behaviour>, LoadError> {
        Names::validate(name).map_err(|e| LoadError::BadName {
            path: what.clone().into(),
            reason: format!("cannot be a behaviour name: {e}"),
        })?;
        let inner = self.inner.clone();
        let name_owned = name.to_string();
        let what_owned = what.clone();
        let b = tokio::task::spawn_blocking(move || {
            engine::compile(
                &inner.engine,
                &inner.linker,
                inner.cache.as_ref(),
                &name_owned,
                &what_owned,
                &bytes,
            )
        })
        .await
        .map_err(|e| LoadError::Compile {
            what,
            reason: format!("the compiler task failed: {e}"),
        })
        .and_then(|r| r)
        .inspect_err(|_| self.inner.metrics.load_failures.inc())?;
        self.inner.metrics.loads.inc();
        if self
            .inner
            .behaviours
            .write()
            .insert(name.to_string(), b.clone())
            .is_some()
        {
            self.inner.metrics.reloads.inc();
        }
        Ok(b)
    }

    /// What the compile cache has done (all zero without a cache).
    pub fn cache_stats(&self) -> CacheStats {
        self.inner
            .cache
            .as_ref()
            .map(CompileCache::stats)
            .unwrap_or_default()
    }

    /// Gives `behaviour` a manifest (replacing any it had): actors of it
    /// started from now on get its limits and grants. The behaviour need
    /// not be loaded yet.
    pub fn set_manifest(&self, behaviour: &str, manifest: Manifest) {
        self.inner
            .manifests
            .write()
            .insert(behaviour.to_string(), Arc::new(manifest));
    }

    /// Takes the manifest of `behaviour` away: actors started from now on
    /// get the node's defaults and no grants. Returns the manifest it had.
    pub fn clear_manifest(&self, behaviour: &str) -> Option<Arc<Manifest>> {
        self.inner.manifests.write().remove(behaviour)
    }

    /// The manifest of `behaviour`, if it has one.
    pub fn manifest(&self, behaviour: &str) -> Option<Arc<Manifest>> {
        self.inner.manifest(behaviour)
    }

    /// The limits actors of `behaviour` start with: its manifest's where
    /// it sets them, the node's otherwise.
    pub fn settings(&self, behaviour: &str) -> Settings {
        self.inner.settings(behaviour)
    }

    /// The loaded behaviours.
    pub fn behaviours(&self) -> Vec<Arc<Behaviour>> {
        let mut v: Vec<_> = self.inner.behaviours.read().values().cloned().collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        v
    }

    /// Starts an actor of a loaded behaviour with `args` for its `init`.
    pub async fn spawn(&self, behaviour: &str, args: Vec<u8>) -> Result<Pid, SpawnError> {
        self.inner.spawn(behaviour, args).await
    }

    /// Starts a pool: one pid in front of `size` workers of `behaviour`,
    /// each started with `args`. Messages and calls to the pool's pid go
    /// round-robin to the workers, which answer callers directly.
    pub async fn spawn_pool(&self, behaviour: &str, size: usize, args: Vec<u8>) -> Result<Pid, SpawnError> {
        self.inner.spawn_pool(behaviour, size, args).await
    }

    fn pool(&self, pool: &Address) -> Result<Arc<crate::process::pool::Pool>, DeliveryError> {
        let front = self.inner.resolve(pool)?;
        front
            .pool
            .clone()
            .ok_or_else(|| DeliveryError::NotAllowed(format!("{pool} is not a pool")))
    }

    /// Adds `n` workers to a pool; returns their pids.
    pub async fn pool_add(&self, pool: impl Into<Address>, n: usize) -> Result<Vec<Pid>, PoolError> {
        let pool = self.pool(&pool.into())?;
        let mut added = Vec::with_capacity(n);
        for _ in 0..n {
            added.push(self.inner.add_worker(&pool).await?);
        }
        Ok(added)
    }

    /// Retires the `n` oldest workers of a pool (they stop after their
    /// current message); returns their pids.
    pub fn pool_remove(&self, pool: impl Into<Address>, n: usize) -> Result<Vec<Pid>, PoolError> {
        let pool = self.pool(&pool.into())?;
        Ok(self.inner.retire(&pool, n))
    }

    /// A pool's workers, oldest first.
    pub fn pool_workers(&self, pool: impl Into<Address>) -> Result<Vec<Pid>, PoolError> {
        Ok(self.pool(&pool.into())?.workers())
    }

    /// A pool's counters.
    pub fn pool_stats(&self, pool: impl Into<Address>) -> Result<PoolStats, PoolError> {
        Ok(self.pool(&pool.into())?.stats())
    }

    /// Registers `name` for the live local process `pid`.
    pub fn register(&self, name: &str, pid: &Pid) -> Result<(), RegisterError> {
        let p = self
            .inner
            .check_local(pid)
            .ok()
            .and_then(|_| self.inner.processes.get(&pid.id).map(|p| p.value().clone()))
            .ok_or_else(|| RegisterError::Invalid(format!("{pid} is not a live process of this node")))?;
        self.inner.names.hold(name, &p)
    }

    /// Looks up a registered name.
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.inner.whereis(name)
    }

    /// Sends a message from the host.
    pub fn send(&self, to: impl Into<Address>, payload: Vec<u8>) -> Result<(), DeliveryError> {
        self.inner.send(&self.inner.host_pid, &to.into(), payload)
    }

    /// Calls an actor from the host and waits for the answer; `timeout`
    /// defaults to the node's call timeout.
    pub async fn call(
        &self,
        to: impl Into<Address>,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, DeliveryError> {
        self.inner
            .call(&self.inner.host_pid, None, &to.into(), payload, timeout)
            .await
    }

    /// Calls an actor from the host with a JSON request: the call's ref
    /// says so (see [`Encoding`](crate::Encoding)), and the answer is
    /// expected as JSON. A callee that cannot decode the request answers
    /// [`DeliveryError::BadRequest`].
    pub async fn call_json(
        &self,
        to: impl Into<Address>,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, DeliveryError> {
        let how = CallOptions {
            timeout,
            encoding: Encoding::Json,
            ..CallOptions::default()
        };
        let host = &self.inner.host_pid;
        self.inner.call_with(host, None, &to.into(), payload, how).await
    }

    /// Sends a message from the host with confirmed delivery: to an actor
    /// on another node, it returns once that node put the message in the
    /// mailbox, or with why not (`unknown-process`, `mailbox-full`,
    /// `no-connection`, `timeout`). Locally it is [`send`](Node::send).
    pub async fn send_important(
        &self,
        to: impl Into<Address>,
        payload: Vec<u8>,
    ) -> Result<(), DeliveryError> {
        self.inner
            .send_important(&self.inner.host_pid, &to.into(), payload)
            .await
    }

    /// Calls an actor from the host with confirmed delivery of the request:
    /// a request another node cannot take fails at once with the reason
    /// instead of waiting for the timeout. Locally it is [`call`](Node::call).
    pub async fn call_important(
        &self,
        to: impl Into<Address>,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, DeliveryError> {
        let how = CallOptions {
            timeout,
            delivery: Delivery::Important,
            ..CallOptions::default()
        };
        let host = &self.inner.host_pid;
        self.inner.call_with(host, None, &to.into(), payload, how).await
    }

    /// Asks a process to end after its current message (its `terminate`
    /// runs). False if there is no such live process.
    pub fn stop(&self, pid: &Pid, reason: &str) -> bool {
        self.with_process(pid, |p| match p.pool {
            Some(_) => self.inner.close_pool(p, reason),
            None => p.stop(reason),
        })
    }

    /// Counts a manifest applied, or refused, for the metrics.
    pub(crate) fn count_manifest(&self, applied: bool) {
        match applied {
            true => self.inner.metrics.manifests_applied.inc(),
            false => self.inner.metrics.manifests_rejected.inc(),
        }
    }

    /// The live actors of `behaviour` that stand on their own: plain
    /// actors and pools' own pids, not pool workers; oldest first, each
    /// with whether it is a pool.
    pub fn actors_of(&self, behaviour: &str) -> Vec<(Pid, bool)> {
        let mut found: Vec<(Pid, bool)> = self
            .inner
            .processes
            .iter()
            .filter(|e| e.value().behaviour == behaviour && e.value().member_of.get().is_none())
            .map(|e| (e.value().pid.clone(), e.value().pool.is_some()))
            .collect();
        found.sort_by_key(|(pid, _)| pid.id);
        found
    }

    /// Notes that a watched directory started `pid` (an actor or a pool)
    /// for `behaviour`.
    pub(crate) fn note_dir_started(&self, behaviour: &str, pid: &Pid) {
        self.inner
            .dir_started
            .lock()
            .entry(behaviour.to_string())
            .or_default()
            .push(pid.clone());
    }

    /// Forgets the actors a watched directory started for `behaviour`.
    pub(crate) fn forget_dir_started(&self, behaviour: &str) {
        self.inner.dir_started.lock().remove(behaviour);
    }

    /// The live actors and pools a watched directory started for
    /// `behaviour` (not those other actors spawned), oldest first, each
    /// with whether it is a pool.
    pub fn dir_started(&self, behaviour: &str) -> Vec<(Pid, bool)> {
        let mut started = self.inner.dir_started.lock();
        let Some(pids) = started.get_mut(behaviour) else {
            return Vec::new();
        };
        let processes = &self.inner.processes;
        // One look-up per pid: the ended are dropped, the live listed.
        let mut found = Vec::with_capacity(pids.len());
        pids.retain(|pid| match processes.get(&pid.id) {
            Some(p) if p.pid == *pid => {
                found.push((pid.clone(), p.pool.is_some()));
                true
            }
            _ => false,
        });
        found.sort_by_key(|(pid, _)| pid.id);
        found
    }

    /// Ends a process at once, even mid-message. False if there is no such
    /// live process.
    pub fn kill(&self, pid: &Pid, reason: &str) -> bool {
        self.with_process(pid, |p| match p.pool {
            Some(_) => self.inner.close_pool(p, reason),
            None => p.kill(reason),
        })
    }

    fn with_process(&self, pid: &Pid, f: impl FnOnce(&Process)) -> bool {
        if self.inner.check_local(pid).is_err() {
            return false;
        }
        // Clone out of the table first: `f` may remove the process from it.
        let p = self.inner.processes.get(&pid.id).map(|p| p.value().clone());
        match p {
            Some(p) => {
                f(&p);
                true
            }
            None => false,
        }
    }

    /// True while `pid` is a live process of this node.
    pub fn is_alive(&self, pid: &Pid) -> bool {
        self.with_process(pid, |_| {})
    }

    /// The actor table, ordered by pid.
    pub fn actors(&self) -> Vec<ActorInfo> {
        let describe = |v: &Version| {
            let ms = v
                .loaded_at
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            (v.short().to_string(), ms)
        };
        let mut rows: Vec<(u64, ActorInfo)> = self
            .inner
            .processes
            .iter()
            .map(|e| {
                let p = e.value();
                // What the actor runs, which may lag the newest load.
                let (version, loaded_at_ms) = match &*p.version.lock() {
                    Some(v) => describe(v),
                    None => self
                        .inner
                        .behaviour(&p.behaviour)
                        .map(|b| describe(&b.version))
                        .unwrap_or_default(),
                };
                (
                    p.pid.id,
                    ActorInfo {
                        pid: p.pid.to_string(),
                        behaviour: p.behaviour.clone(),
                        version,
                        loaded_at_ms,
                        names: p.names.lock().clone(),
                        mailbox_depth: p.mailbox.depth(),
                        handled: p.handled.load(Ordering::Relaxed),
                        restarts: p.sup.restarts.load(Ordering::Relaxed),
                        state: p.state(),
                        pool: p.pool.as_ref().map(|pool| pool.stats()),
                    },
                )
            })
            .collect();
        rows.sort_by_key(|(id, _)| *id);
        rows.into_iter().map(|(_, r)| r).collect()
    }

    /// Sets the restart policy of `behaviour`, over what its manifest says
    /// (default: temporary). It applies to the next end of each of its
    /// actors.
    pub fn set_restart_policy(&self, behaviour: &str, policy: RestartPolicy) {
        self.inner.policies.insert(behaviour.to_string(), policy);
    }

    /// Times `pid` was restarted in place, if it is alive.
    pub fn restarts(&self, pid: &Pid) -> Option<u64> {
        let mut n = None;
        self.with_process(pid, |p| n = Some(p.sup.restarts.load(Ordering::Relaxed)));
        n
    }

    /// The version `pid` runs, if it is alive.
    pub fn version_of(&self, pid: &Pid) -> Option<Version> {
        let mut v = None;
        self.with_process(pid, |p| v = p.version.lock().clone());
        v
    }

    /// Loads `bytes` as the new version of behaviour `name` and switches
    /// every live actor of it, between two of its messages, keeping its
    /// state (see [`reload`](crate::runtime::reload)). A load failure changes
    /// nothing and is returned; actors that could not switch stay on their
    /// old version and are listed in the report.
    pub async fn upgrade(&self, name: &str, bytes: Vec<u8>) -> Result<UpgradeReport, LoadError> {
        let next = self.load(name, bytes).await?;
        Ok(self.inner.upgrade_actors(&next, false).await)
    }

    /// Switches every live actor of behaviour `name` to the version now
    /// loaded under that name (see [`Node::upgrade`], which loads first).
    pub async fn upgrade_running(&self, name: &str) -> Option<UpgradeReport> {
        let next = self.inner.behaviour(name)?;
        Some(self.inner.upgrade_actors(&next, false).await)
    }

    /// Gives every live actor of behaviour `name` a new instance of the
    /// version it runs, with the limits and grants now in force, keeping
    /// its state. An actor that has no state to hand over is left as it
    /// is, rather than started again empty: it is listed in the report's
    /// `unchanged`, and only actors started later get the new settings.
    pub async fn reapply_settings(&self, name: &str) -> Option<UpgradeReport> {
        let next = self.inner.behaviour(name)?;
        Some(self.inner.upgrade_actors(&next, true).await)
    }

    /// Removes behaviour `name` and stops its actors and pools (each runs
    /// `terminate`; pending callers get `terminated` at once). Returns how
    /// many were stopped.
    pub fn unload(&self, name: &str) -> usize {
        self.inner.unload(name)
    }

    /// What `pid` is doing, if it is alive.
    pub fn state(&self, pid: &Pid) -> Option<ActorState> {
        let mut s = None;
        self.with_process(pid, |p| s = Some(p.state()));
        s
    }

    /// A stream of process exits from now on.
    pub fn exits(&self) -> broadcast::Receiver<Exit> {
        self.inner.exits.subscribe()
    }

    /// Answers that arrived after their caller had stopped waiting.
    pub fn late_answers(&self) -> u64 {
        self.inner.calls.late_answers()
    }

    /// The node's metrics in the Prometheus text format (see
    /// [`metrics`](crate::metrics)).
    pub fn metrics_text(&self) -> String {
        let mut c = Census {
            instances: self.inner.instances.live() as u64,
            behaviours: self.inner.behaviours.read().len() as u64,
            late_answers: self.inner.calls.late_answers(),
            ..Census::default()
        };
        for p in self.inner.processes.iter() {
            if p.pool.is_some() {
                c.pools += 1;
                continue;
            }
            c.actors += 1;
            if p.state() == ActorState::Hibernating {
                c.hibernating += 1;
            }
            let d = p.mailbox.depth() as u64;
            c.depth += d;
            c.deepest = c.deepest.max(d);
        }
        self.inner.metrics.render_page(&c)
    }

    /// Behaviours loaded, and loads that failed, since the node started.
    pub fn load_counts(&self) -> (u64, u64) {
        let m = &self.inner.metrics;
        (m.loads.get(), m.load_failures.get())
    }

    /// Stops every actor (each runs `terminate`), waiting up to `grace`
    /// before killing the ones still busy.
    pub async fn shutdown(&self, grace: Duration) {
        let mut exits = self.exits();
        let live: Vec<Arc<Process>> = self.inner.processes.iter().map(|e| e.value().clone()).collect();
        for p in &live {
            match p.pool {
                Some(_) => self.inner.close_pool(p, "shutdown"),
                None => p.stop("shutdown"),
            }
        }
        let deadline = tokio::time::Instant::now() + grace;
        while !self.inner.processes.is_empty() {
            match tokio::time::timeout_at(deadline, exits.recv()).await {
                Ok(Ok(_)) | Ok(Err(broadcast::error::RecvError::Lagged(_))) => {}
                Ok(Err(broadcast::error::RecvError::Closed)) => break,
                Err(_) => {
                    for e in self.inner.processes.iter() {
                        e.value().kill("shutdown: did not stop in time");
                    }
                    break;
                }
            }
        }
    }
}

/// The behaviour name of a `.wasm` file: its stem.
pub fn behaviour_name(path: &Path) -> Result<String, LoadError> {
    path.file_stem()
        .and_then(|s| s.to_str())
        .map(str::to_string)
        .ok_or_else(|| LoadError::BadName {
            path: path.to_path_buf(),
            reason: "the file name is not valid UTF-8".into(),
        })
}
