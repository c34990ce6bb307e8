//! The watched directory: every `NAME.wasm` in it is a behaviour, started
//! as its manifest `NAME.toml` says, or as one instance named `NAME` when
//! there is no manifest.
//!
//! At start-up every `.wasm` file is loaded (a file that fails, or whose
//! manifest is malformed, is reported with its reason and skipped; the
//! others still start). Afterwards the directory is watched with `notify`:
//! a behaviour file that appears is loaded and started the same way. Events
//! are debounced, so a file written in several steps is read once, when it
//! has settled. Dot-files and names that editors and copy tools use for
//! temporary files are ignored.
//!
//! [`load_behaviour`] and [`start_behaviour`] are the two steps for one
//! file; they can be called again for a file that changed.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::engine::Behaviour;
use crate::error::{LoadError, RegisterError, SpawnError};
use crate::manifest::{Manifest, ManifestError, Start};
use crate::node::{behaviour_name, Node};
use crate::pid::Pid;

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
        let manifest = read_manifest(wasm)?;
        let b = node.load_file(wasm).await?;
        match manifest {
            Some(m) => node.set_manifest(&b.name, m),
            None => {
                node.clear_manifest(&b.name);
            }
        }
        Ok(b)
    }
    .await;
    if let Err(e) = &result {
        tracing::error!(file = %e.file(wasm).display(), error = %e, "behaviour not loaded");
    }
    result
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
    tracing::info!(file = %path.display(), "manifest read");
    Ok(Some(m))
}

/// Starts the actors of the loaded behaviour `behaviour` as its manifest
/// says: `instances` actors with the name on the first, or one pool with
/// the name on its pid; one named instance without a manifest. Returns the
/// pids started (a pool's own pid, not its workers'). Failures are logged.
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
                    pids.push(node.spawn(behaviour, Vec::new()).await?);
                }
            }
            Start::Pool(n) => pids.push(node.spawn_pool(behaviour, n as usize, Vec::new()).await?),
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
        Ok(event) => {
            for p in event.paths {
                let _ = tx.send(p);
            }
        }
        Err(e) => tracing::warn!(error = %e, "directory watch error"),
    })?;
    watcher.watch(dir, RecursiveMode::NonRecursive)?;
    tokio::spawn(apply_changes(node, rx));
    Ok(DirWatcher { _watcher: watcher })
}

async fn apply_changes(node: Node, mut rx: mpsc::UnboundedReceiver<PathBuf>) {
    while let Some(first) = rx.recv().await {
        let mut changed = BTreeSet::from([first]);
        // Debounce: wait until the directory has been quiet for a while.
        while let Ok(Some(p)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {
            changed.insert(p);
        }
        for path in changed.into_iter().filter(|p| is_behaviour_file(p)) {
            apply_change(&node, &path).await;
        }
    }
}

async fn apply_change(node: &Node, path: &Path) {
    let name = match behaviour_name(path) {
        Ok(n) => n,
        Err(e) => return tracing::error!(error = %e, "ignored"),
    };
    if !path.exists() {
        if node.behaviours().iter().any(|b| b.name == name) {
            tracing::warn!(file = %path.display(), "behaviour file removed; its running actors keep running");
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
    let hash = hex::encode(Sha256::digest(&bytes));
    if old.version.hash == hash {
        return;
    }
    match node.load(&name, bytes).await {
        Err(e) => tracing::error!(file = %path.display(), error = %e, "behaviour not loaded"),
        Ok(b) => tracing::warn!(
            behaviour = %name,
            from = old.version.short(),
            to = b.version.short(),
            "behaviour replaced: new actors get the new version; running ones keep theirs"
        ),
    }
}
