//! The watched directory: every `NAME.wasm` in it is a behaviour, and one
//! instance of each runs under the name `NAME`.
//!
//! At start-up every `.wasm` file is loaded (a file that fails is reported
//! with its reason and skipped; the others still start). Afterwards the
//! directory is watched with `notify`: a file that appears is loaded and
//! started; a file that is replaced (written in place, or renamed over)
//! upgrades the running actors, keeping their state (see
//! [`reload`](crate::reload)); a file that is removed stops its actors.
//! Events are debounced, so a file written in several steps is read
//! once, when it has settled. Dot-files and names that editors and copy
//! tools use for temporary files are ignored.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{RecursiveMode, Watcher as _};
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::error::LoadError;
use crate::node::{behaviour_name, Node};

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
    /// Behaviours started, by name.
    pub started: Vec<String>,
    /// Files that failed, with why.
    pub failed: Vec<(PathBuf, String)>,
}

/// Loads every behaviour file in `dir`, then starts one instance of each.
pub async fn load_dir(node: &Node, dir: &Path) -> std::io::Result<LoadReport> {
    let mut files: Vec<PathBuf> = std::fs::read_dir(dir)?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.is_file() && is_behaviour_file(p))
        .collect();
    files.sort();
    let mut report = LoadReport::default();
    let mut loaded = Vec::new();
    let total = files.len();
    for (i, path) in files.iter().enumerate() {
        tracing::info!(file = %path.display(), "loading behaviour {}/{}", i + 1, total);
        match node.load_file(path).await {
            Ok(b) => loaded.push(b.name.clone()),
            Err(e) => {
                tracing::error!(file = %path.display(), error = %e, "behaviour not loaded");
                report.failed.push((path.clone(), e.to_string()));
            }
        }
    }
    for name in loaded {
        match start_instance(node, &name).await {
            Ok(()) => report.started.push(name),
            Err(e) => report.failed.push((dir.join(format!("{name}.wasm")), e)),
        }
    }
    Ok(report)
}

/// Starts one instance of `name`, registered under `name`.
async fn start_instance(node: &Node, name: &str) -> Result<(), String> {
    let pid = node.spawn(name, Vec::new()).await.map_err(|e| {
        tracing::error!(behaviour = name, error = %e, "actor did not start");
        e.to_string()
    })?;
    node.register(name, &pid).map_err(|e| {
        tracing::error!(behaviour = name, %pid, error = %e, "actor started but its name is taken");
        e.to_string()
    })?;
    tracing::info!(behaviour = name, %pid, "actor started");
    Ok(())
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
            let stopped = node.unload(&name);
            tracing::warn!(file = %path.display(), behaviour = %name, stopped, "behaviour file removed: its actors were stopped");
        }
        return;
    }
    let Ok(bytes) = tokio::fs::read(path).await else {
        return tracing::error!(file = %path.display(), "cannot read changed file");
    };
    let hash = hex::encode(Sha256::digest(&bytes));
    let known = node.behaviours().into_iter().find(|b| b.name == name);
    if known.as_ref().is_some_and(|b| b.version.hash == hash) {
        return;
    }
    let result: Result<_, LoadError> = node.load(&name, bytes).await;
    match (result, known) {
        (Err(e), _) => tracing::error!(file = %path.display(), error = %e, "behaviour not loaded"),
        (Ok(b), None) => {
            tracing::info!(behaviour = %name, version = b.version.short(), "new behaviour loaded");
            let _ = start_instance(node, &name).await;
        }
        (Ok(b), Some(old)) => {
            let report = node.upgrade_running(&name).await.unwrap_or_default();
            let failed: Vec<String> = report.failed.iter().map(|(p, e)| format!("{p}: {e}")).collect();
            tracing::info!(
                behaviour = %name,
                from = old.version.short(),
                to = b.version.short(),
                compile_ms = b.version.compile_time.as_millis() as u64,
                switch_ms = report.switch_time.as_millis() as u64,
                upgraded = report.upgraded.len(),
                failed = report.failed.len(),
                "behaviour upgraded"
            );
            for f in failed {
                tracing::error!(behaviour = %name, "actor stayed on its old version: {f}");
            }
        }
    }
}
