//! The watched directory: every `NAME.wasm` in it is a behaviour, started
//! as its manifest `NAME.toml` says, or as one instance named `NAME` when
//! there is no manifest.
//!
//! At start-up every `.wasm` file is loaded (a file that fails, or whose
//! manifest is malformed, is reported with its reason and skipped; the
//! others still start). Afterwards the directory is watched with `notify`:
//!
//! - a behaviour file that appears is loaded and started the same way;
//! - one that is replaced (written in place, or renamed over) upgrades the
//!   running actors, keeping their state (see [`reload`](crate::runtime::reload));
//! - one that is removed stops its actors;
//! - a manifest that appears, changes or is removed is applied to the
//!   loaded behaviour: see [`reconfigure`].
//!
//! Only changes of content count: a file created, written, renamed or
//! removed. Reading a file (the host's own reads, `cat`, a backup) changes
//! nothing; neither does a file written again with what the host already
//! runs. Events are debounced, so a file written in several steps is read
//! once, when it has settled. Dot-files and names that editors and copy
//! tools use for temporary files are ignored.
//!
//! [`load_behaviour`] and [`start_behaviour`] are the two steps for one
//! file; they can be called again for a file that changed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::event::{AccessKind, AccessMode, EventKind, MetadataKind, ModifyKind};
use notify::{RecursiveMode, Watcher as _};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::core::error::{LoadError, RegisterError, SpawnError};
use crate::core::manifest::{Manifest, ManifestError, Settings, Start, WasiGrants};
use crate::core::pid::Pid;
use crate::node::{behaviour_name, Node};
use crate::sandbox::engine::Behaviour;

/// How long the directory must be quiet before changes are acted on.
pub const DEBOUNCE: Duration = Duration::from_millis(250);

/// True for files the host treats as behaviours: `*.wasm`, not hidden,
/// not a temporary name.
pub fn is_behaviour_file(path: &Path) -> bool {
    let Some(file) = path.file_name().and_then(|f| f.to_str()) else {
        return false;
    };
    !file.starts_with('.')
        && !file.starts_with('~')
        && !file.ends_with('~')
        && path.extension().is_some_and(|e| e == "wasm")
}

/// What loading a directory did.
#[derive(Debug, Default)]
pub struct LoadReport {
    /// Behaviours loaded, by name, whether or not they start actors.
    pub loaded: Vec<String>,
    /// Behaviours whose actors all started, by name.
    pub started: Vec<String>,
    /// Files that failed (the `.wasm`, or its `.toml` when that is what
    /// failed), with why.
    pub failed: Vec<(PathBuf, String)>,
}

/// Why a behaviour file was not loaded.
#[derive(Debug, thiserror::Error)]
pub enum BehaviourError {
    /// Its manifest is malformed, or grants a directory that is not there.
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    /// The `.wasm` itself did not load.
    #[error("{0}")]
    Load(#[from] LoadError),
}

impl BehaviourError {
    /// The file at fault: the manifest, or the behaviour file `wasm`.
    pub fn file(&self, wasm: &Path) -> PathBuf {
        match self {
            BehaviourError::Manifest(e) => e.file.clone().unwrap_or_else(|| Manifest::path_for(wasm)),
            BehaviourError::Load(_) => wasm.to_path_buf(),
        }
    }
}

/// Why the actors of a loaded behaviour did not all start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// An actor or a pool did not start.
    #[error("{0}")]
    Spawn(#[from] SpawnError),
    /// The actor started, but its name is not available.
    #[error("started as {pid}, but the name `{name}` cannot be registered: {error}")]
    Register {
        /// The name asked for.
        name: String,
        /// The process that runs without it.
        pid: Pid,
        /// Why.
        error: RegisterError,
    },
}

/// Loads every behaviour file in `dir`, then starts each as its manifest
/// says.
pub async fn load_dir(node: &Node, dir: &Path) -> std::io::Result<LoadReport> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_behaviour_file(p))
        .collect();
    files.sort();
    let mut report = LoadReport::default();
    let total = files.len();
    for (i, path) in files.iter().enumerate() {
        tracing::info!(file = %path.display(), "loading behaviour {}/{}", i + 1, total);
        match load_behaviour(node, path).await {
            Ok(b) => report.loaded.push(b.name.clone()),
            Err(e) => report.failed.push((e.file(path), e.to_string())),
        }
    }
    for name in report.loaded.clone() {
        match start_behaviour(node, &name).await {
            Ok(_) => report.started.push(name),
            Err(e) => report
                .failed
                .push((dir.join(format!("{name}.wasm")), e.to_string())),
        }
    }
    Ok(report)
}

/// Loads the behaviour file `wasm` with its manifest, if it has one: a
/// malformed manifest rejects the behaviour and changes nothing. On success
/// the node holds the new manifest (or none, when the file has none).
/// Nothing is started. Failures are logged with the file at fault.
pub async fn load_behaviour(node: &Node, wasm: &Path) -> Result<Arc<Behaviour>, BehaviourError> {
    let result: Result<_, BehaviourError> = async {
        let manifest = read_manifest(wasm).inspect_err(|_| node.count_manifest(false))?;
        if manifest.is_some() {
            tracing::info!(file = %Manifest::path_for(wasm).display(), "manifest read");
        }
        let b = node.load_file(wasm).await?;
        apply_manifest(node, &b.name, manifest);
        Ok(b)
    }
    .await;
    if let Err(e) = &result {
        tracing::error!(file = %e.file(wasm).display(), error = %e, "behaviour not loaded");
    }
    result
}

/// Puts `manifest` (or none) in force for `behaviour`.
fn apply_manifest(node: &Node, behaviour: &str, manifest: Option<Manifest>) {
    match manifest {
        Some(m) => {
            node.set_manifest(behaviour, m);
            node.count_manifest(true);
        }
        None => {
            node.clear_manifest(behaviour);
        }
    }
}

/// The manifest beside `wasm`, read and checked, or `None` if there is no
/// manifest file.
fn read_manifest(wasm: &Path) -> Result<Option<Manifest>, ManifestError> {
    let path = Manifest::path_for(wasm);
    if !path.exists() {
        return Ok(None);
    }
    let m = Manifest::read(&path)?;
    m.check_dirs().map_err(|mut e| {
        e.file = Some(path.clone());
        e
    })?;
    Ok(Some(m))
}

/// Starts the actors of the loaded behaviour `behaviour` as its manifest
/// says: `instances` actors with the name on the first, or one pool with
/// the name on its pid; one named instance without a manifest. Returns the
/// pids started (a pool's own pid, not its workers'), which the node
/// notes as the directory's (see [`Node::dir_started`]). Failures are
/// logged.
pub async fn start_behaviour(node: &Node, behaviour: &str) -> Result<Vec<Pid>, StartError> {
    let manifest = node.manifest(behaviour);
    let start = manifest.as_ref().map_or(Start::Instances(1), |m| m.start);
    let name = manifest
        .as_ref()
        .and_then(|m| m.name.clone())
        .unwrap_or_else(|| behaviour.to_string());
    let result: Result<_, StartError> = async {
        let mut pids = Vec::new();
        match start {
            Start::Instances(n) => {
                for _ in 0..n {
                    let pid = node.spawn(behaviour, Vec::new()).await?;
                    node.note_dir_started(behaviour, &pid);
                    pids.push(pid);
                }
            }
            Start::Pool(n) => {
                let pid = node.spawn_pool(behaviour, n as usize, Vec::new()).await?;
                node.note_dir_started(behaviour, &pid);
                pids.push(pid);
            }
        }
        if let Some(first) = pids.first() {
            node.register(&name, first)
                .map_err(|error| StartError::Register {
                    name: name.clone(),
                    pid: first.clone(),
                    error,
                })?;
        }
        Ok(pids)
    }
    .await;
    match &result {
        Ok(pids) => {
            for pid in pids {
                tracing::info!(behaviour, %pid, "actor started");
            }
        }
        Err(e) => tracing::error!(behaviour, error = %e, "actors did not all start"),
    }
    result
}

/// Keeps a directory watched for as long as it lives.
pub struct DirWatcher {
    _watcher: notify::RecommendedWatcher,
}

/// Watches `dir`: behaviour files that appear later are loaded and started.
pub fn watch_dir(node: Node, dir: &Path) -> Result<DirWatcher, notify::Error> {
    let (tx, rx) = mpsc::unbounded_channel::<PathBuf>();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| match res {
        Ok(event) if changes_content(&event.kind) => {
            for p in event.paths {
                let _ = tx.send(p);
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "directory watch error"),
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    tokio::spawn(apply_changes(node, rx));
    Ok(DirWatcher { _watcher: watcher })
}

/// True for events that may change what a file holds. Opening, reading and
/// closing a file unwritten are not: counting them, the host's own read of
/// a changed file was a change again, and it read the file every
/// [`DEBOUNCE`] for ever. Metadata (`touch`, `chmod`) is not either,
/// except a new modification time, which some platforms report for a
/// write.
fn changes_content(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) | EventKind::Any => true,
        EventKind::Modify(ModifyKind::Metadata(m)) => *m == MetadataKind::WriteTime,
        EventKind::Modify(_) => true,
        EventKind::Access(a) => *a == AccessKind::Close(AccessMode::Write),
        EventKind::Other => false,
    }
}

async fn apply_changes(node: Node, mut rx: mpsc::UnboundedReceiver<PathBuf>) {
    while let Some(first) = rx.recv().await {
        let mut changed = BTreeSet::from([first]);
        // Debounce: wait until the directory has been quiet for a while.
        while let Ok(Some(p)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {
            changed.insert(p);
        }
        // One action per behaviour: a changed `.wasm` is read with its
        // manifest, so a manifest that changed with it needs nothing more.
        let wasm: BTreeSet<PathBuf> = changed.iter().filter(|p| is_behaviour_file(p)).cloned().collect();
        for path in &wasm {
            apply_change(&node, path).await;
        }
        for path in changed.iter().filter(|p| is_manifest_file(p)) {
            let behaviour_file = path.with_extension("wasm");
            if !wasm.contains(&behaviour_file) {
                if let Ok(name) = behaviour_name(&behaviour_file) {
                    reconfigure(&node, &name, &behaviour_file).await;
                }
            }
        }
    }
}

/// True for files the host treats as manifests: `*.toml`, not hidden, not
/// a temporary name.
fn is_manifest_file(path: &Path) -> bool {
    is_behaviour_file(&path.with_extension("wasm")) && path.extension().is_some_and(|e| e == "toml")
}

async fn apply_change(node: &Node, path: &Path) {
    let name = match behaviour_name(path) {
        Ok(n) => n,
        Err(e) => return tracing::error!(error = %e, "ignored"),
    };
    if !path.exists() {
        if node.behaviours().iter().any(|b| b.name == name) {
            let stopped = node.unload(&name);
            node.clear_manifest(&name);
            node.forget_dir_started(&name);
            tracing::warn!(file = %path.display(), behaviour = %name, stopped, "behaviour file removed: its actors were stopped");
        }
        return;
    }
    let Some(old) = node.behaviours().into_iter().find(|b| b.name == name) else {
        // A new behaviour: loaded with its manifest and started.
        if let Ok(b) = load_behaviour(node, path).await {
            tracing::info!(behaviour = %name, version = b.version.short(), "new behaviour loaded");
            let _ = start_behaviour(node, &name).await;
        }
        return;
    };
    let Ok(bytes) = tokio::fs::read(path).await else {
        return tracing::error!(file = %path.display(), "cannot read changed file");
    };
    if old.version.hash == hex::encode(Sha256::digest(&bytes)) {
        // Same code (the same file copied again): the manifest may still
        // have changed with it; if not, this does nothing.
        return reconfigure(node, &name, path).await;
    }
    let before = node.manifest(&name);
    let Ok(b) = load_behaviour(node, path).await else {
        return;
    };
    let report = node.upgrade_running(&name).await.unwrap_or_default();
    let (from, to) = (old.version.short(), b.version.short());
    let compile_ms = b.version.compile_time.as_millis() as u64;
    let switch_ms = report.switch_time.as_millis() as u64;
    let (upgraded, failed) = (report.upgraded.len(), report.failed.len());
    if failed == 0 {
        tracing::info!(behaviour = %name, from, to, compile_ms, switch_ms, upgraded, failed, "behaviour upgraded");
    } else {
        // The version is loaded, but some actors did not take it: that is
        // a failure to act on, not an upgrade.
        tracing::error!(
            behaviour = %name, from, to, compile_ms, switch_ms, upgraded, failed,
            "behaviour upgrade failed for {failed} of {} actors", upgraded + failed
        );
    }
    for (pid, e) in &report.failed {
        tracing::error!(behaviour = %name, %pid, "actor stayed on its old version: {e}");
    }
    if before != node.manifest(&name) {
        scale(node, &name).await;
    }
}

/// Applies the manifest beside `wasm` (or its absence) to the loaded
/// behaviour `name`, when it differs from the one in force:
///
/// - a malformed manifest changes nothing; the error names the file, line
///   and column;
/// - the restart policy and call timeout apply at once;
/// - when the memory limit, CPU budget or WASI grants change, which
///   concern every actor of the behaviour (those other actors spawned
///   too), running actors are re-instantiated in place with them, keeping
///   their state, exactly as a hot upgrade to the same version; an actor
///   that cannot hand its state over keeps its instance, and the log says
///   that only new actors get the change (a mailbox keeps its capacity, so
///   no message already accepted is dropped; actors started later get the
///   new one);
/// - `instances` or `pool` are met by starting or stopping the actors the
///   directory started, or resizing its pool (the newest actors are
///   stopped first); actors and pools that other actors spawned are not
///   counted and not stopped.
///
/// A manifest of a behaviour that is not loaded is read when its `.wasm`
/// appears.
pub async fn reconfigure(node: &Node, name: &str, wasm: &Path) {
    if !node.behaviours().iter().any(|b| b.name == name) {
        return;
    }
    let manifest = match read_manifest(wasm) {
        Ok(m) => m,
        Err(e) => {
            node.count_manifest(false);
            let file = e.file.clone().unwrap_or_else(|| Manifest::path_for(wasm));
            return tracing::error!(file = %file.display(), error = %e, "manifest not applied: the behaviour keeps its current one");
        }
    };
    let before = node.manifest(name);
    if before.as_deref() == manifest.as_ref() {
        return;
    }
    let every_actor = asks_every_actor(node, before.as_deref(), manifest.as_ref());
    apply_manifest(node, name, manifest);
    let report = match every_actor {
        true => node.reapply_settings(name).await.unwrap_or_default(),
        false => Default::default(),
    };
    for (pid, e) in &report.failed {
        tracing::error!(behaviour = %name, %pid, "actor kept its old settings: {e}");
    }
    if !report.unchanged.is_empty() {
        let pids: Vec<String> = report.unchanged.iter().map(ToString::to_string).collect();
        tracing::warn!(
            behaviour = %name,
            actors = %pids.join(","),
            "the new memory limit, CPU budget or WASI grants apply to new actors only: these actors keep no state to hand over, so they keep their old settings rather than start again empty"
        );
    }
    scale(node, name).await;
    tracing::info!(
        behaviour = %name,
        reconfigured = report.upgraded.len(),
        unchanged = report.unchanged.len(),
        "manifest applied"
    );
}

/// True when going from manifest `before` to `after` changes what every
/// running actor of the behaviour runs with: its memory limit, CPU budget
/// or WASI grants. The rest (restart policy, call timeout, mailbox of new
/// actors, instances, pool) needs no new instance.
fn asks_every_actor(node: &Node, before: Option<&Manifest>, after: Option<&Manifest>) -> bool {
    let (was, will) = (
        Settings::resolve(node.config(), before),
        Settings::resolve(node.config(), after),
    );
    let none = WasiGrants::default();
    was.memory_limit_bytes != will.memory_limit_bytes
        || was.cpu_budget_ticks != will.cpu_budget_ticks
        || before.map_or(&none, |m| &m.wasi) != after.map_or(&none, |m| &m.wasi)
}

/// Starts or stops the actors the directory started for `name` until they
/// match its manifest's `instances` or `pool`. Actors and pools that other
/// actors spawned are theirs: not counted, never stopped.
async fn scale(node: &Node, name: &str) {
    let manifest = node.manifest(name);
    let start = manifest.as_ref().map_or(Start::Instances(1), |m| m.start);
    let running = node.dir_started(name);
    let (pools, plain): (Vec<_>, Vec<_>) = running.into_iter().partition(|(_, pool)| *pool);
    let reason = "the manifest no longer asks for it";
    match start {
        Start::Instances(n) => {
            for (pid, _) in &pools {
                node.stop(pid, reason);
            }
            let n = n as usize;
            for (pid, _) in plain.iter().skip(n).rev() {
                node.stop(pid, reason);
            }
            if plain.len() < n {
                if plain.is_empty() {
                    let _ = start_behaviour(node, name).await;
                } else {
                    for _ in plain.len()..n {
                        match node.spawn(name, Vec::new()).await {
                            Ok(pid) => {
                                node.note_dir_started(name, &pid);
                                tracing::info!(behaviour = name, %pid, "actor started");
                            }
                            Err(e) => tracing::error!(behaviour = name, error = %e, "actor did not start"),
                        }
                    }
                }
            }
        }
        Start::Pool(n) => {
            for (pid, _) in &plain {
                node.stop(pid, reason);
            }
            let Some((pool, _)) = pools.first() else {
                let _ = start_behaviour(node, name).await;
                return;
            };
            let have = node.pool_workers(pool.clone()).map_or(0, |w| w.len());
            let n = n as usize;
            let resized = match have.cmp(&n) {
                std::cmp::Ordering::Less => node.pool_add(pool.clone(), n - have).await.map(|_| ()),
                std::cmp::Ordering::Greater => node.pool_remove(pool.clone(), have - n).map(|_| ()),
                std::cmp::Ordering::Equal => Ok(()),
            };
            match resized {
                Ok(()) => tracing::info!(behaviour = name, %pool, workers = n, "pool resized"),
                Err(e) => tracing::error!(behaviour = name, %pool, error = %e, "pool not resized"),
            }
        }
    }
}
