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

use crate::actor::ActorData;
use crate::bindings::ActorBindings;
use crate::calls::Calls;
use crate::config::NodeConfig;
use crate::engine::{self, Behaviour};
use crate::error::{DeliveryError, LoadError, RegisterError, SpawnError};
use crate::names::Names;
use crate::pid::{Address, Pid};
use crate::process::{ActorState, Process};
use crate::timers::Timers;

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
    /// Names it holds.
    pub names: Vec<String>,
    /// Messages waiting in its mailbox.
    pub mailbox_depth: usize,
    /// Messages and calls it has handled.
    pub handled: u64,
    /// What it is doing.
    pub state: ActorState,
}

/// The shared state behind a [`Node`]; the concept modules (routing,
/// calls, names, timers, actor) add their operations to it.
pub(crate) struct NodeInner {
    pub(crate) config: NodeConfig,
    pub(crate) node_name: Arc<str>,
    pub(crate) creation: u64,
    pub(crate) engine: Engine,
    pub(crate) linker: Linker<ActorData>,
    pub(crate) behaviours: RwLock<HashMap<String, Arc<Behaviour>>>,
    pub(crate) processes: DashMap<u64, Arc<Process>>,
    next_id: AtomicU64,
    pub(crate) names: Names,
    pub(crate) calls: Calls,
    pub(crate) timers: Timers,
    pub(crate) exits: broadcast::Sender<Exit>,
    host_pid: Pid,
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

    pub(crate) async fn spawn(self: &Arc<Self>, behaviour: &str, args: Vec<u8>) -> Result<Pid, SpawnError> {
        let b = self
            .behaviour(behaviour)
            .ok_or_else(|| SpawnError::UnknownBehaviour(behaviour.to_string()))?;
        self.spawn_actor(b, args).await
    }

    pub(crate) fn whereis(&self, name: &str) -> Option<Pid> {
        match name.split_once('@') {
            Some((name, node)) if node == &*self.node_name => self.names.whereis(name),
            Some(_) => None,
            None => self.names.whereis(name),
        }
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
        let engine = engine::new_engine()?;
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
        Ok(Node {
            inner: Arc::new(NodeInner {
                config,
                node_name,
                creation,
                engine,
                linker,
                behaviours: RwLock::new(HashMap::new()),
                processes: DashMap::new(),
                next_id: AtomicU64::new(1),
                names: Names::default(),
                calls: Calls::default(),
                timers: Timers::default(),
                exits,
                host_pid,
            }),
        })
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
            engine::compile(&inner.engine, &inner.linker, &name_owned, &what_owned, &bytes)
        })
        .await
        .map_err(|e| LoadError::Compile {
            what,
            reason: format!("the compiler task failed: {e}"),
        })??;
        self.inner.behaviours.write().insert(name.to_string(), b.clone());
        Ok(b)
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

    /// Registers `name` for the live local process `pid`.
    pub fn register(&self, name: &str, pid: &Pid) -> Result<(), RegisterError> {
        let p = self
            .inner
            .check_local(pid)
            .ok()
            .and_then(|_| self.inner.processes.get(&pid.id).map(|p| p.value().clone()))
            .ok_or_else(|| RegisterError::Invalid(format!("{pid} is not a live process of this node")))?;
        self.inner.register_name(name, &p)
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

    /// Asks a process to end after its current message (its `terminate`
    /// runs). False if there is no such live process.
    pub fn stop(&self, pid: &Pid, reason: &str) -> bool {
        self.with_process(pid, |p| p.stop(reason))
    }

    /// Ends a process at once, even mid-message. False if there is no such
    /// live process.
    pub fn kill(&self, pid: &Pid, reason: &str) -> bool {
        self.with_process(pid, |p| p.kill(reason))
    }

    fn with_process(&self, pid: &Pid, f: impl FnOnce(&Process)) -> bool {
        if self.inner.check_local(pid).is_err() {
            return false;
        }
        match self.inner.processes.get(&pid.id) {
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
        let mut rows: Vec<(u64, ActorInfo)> = self
            .inner
            .processes
            .iter()
            .map(|e| {
                let p = e.value();
                let version = self
                    .inner
                    .behaviour(&p.behaviour)
                    .map(|b| b.version.short().to_string())
                    .unwrap_or_default();
                (
                    p.pid.id,
                    ActorInfo {
                        pid: p.pid.to_string(),
                        behaviour: p.behaviour.clone(),
                        version,
                        names: p.names.lock().clone(),
                        mailbox_depth: p.mailbox.depth(),
                        handled: p.handled.load(Ordering::Relaxed),
                        state: p.state(),
                    },
                )
            })
            .collect();
        rows.sort_by_key(|(id, _)| *id);
        rows.into_iter().map(|(_, r)| r).collect()
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

    /// Stops every actor (each runs `terminate`), waiting up to `grace`
    /// before killing the ones still busy.
    pub async fn shutdown(&self, grace: Duration) {
        let mut exits = self.exits();
        let live: Vec<Arc<Process>> = self.inner.processes.iter().map(|e| e.value().clone()).collect();
        for p in &live {
            p.stop("shutdown");
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
