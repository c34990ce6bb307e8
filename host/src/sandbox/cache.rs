//! The compile cache on disk: compiled components kept between runs, so a
//! restart neither recompiles nor converts again.
//!
//! An entry is the output of [`Component::serialize`] for one input file,
//! stored at `DIR/engine-E/C.cwasm`, where `C` is the SHA-256 of the bytes
//! that were loaded (for a converted `wasm32-wasip1` module, the original
//! module, not the conversion) and `E` is a digest of the wactor version and
//! the engine's [`precompile_compatibility_hash`]: a different wasmtime, a
//! different engine configuration or a different host never reads another's
//! entries. Behind the artifact each entry carries a trailer: a SHA-256 over
//! `E`, `C` and the artifact, then a magic. An entry is used only if its
//! trailer checks out, so a truncated, bit-flipped or misplaced file is
//! detected before it reaches wasmtime.
//!
//! Entries are written to a temporary file in the same directory and renamed
//! into place, so a reader sees a whole entry or none, also with several
//! hosts sharing one directory. Nothing here is fatal: a directory that
//! cannot be created or written, an unreadable or corrupt entry, is logged
//! and counted in [`CacheStats::errors`], and the load goes on by compiling
//! (a corrupt entry is then overwritten).
//!
//! The default directory is `$WACTOR_CACHE_DIR`, else `$XDG_CACHE_HOME/wactor`,
//! else `$HOME/.cache/wactor` ([`default_dir`]); `wactor run` uses it unless
//! given `--cache-dir` or `--no-cache`. A library [`Node`](crate::Node) uses
//! a disk cache only when [`NodeConfig::cache_dir`](crate::NodeConfig) says
//! where.
//!
//! [`precompile_compatibility_hash`]: wasmtime::Engine::precompile_compatibility_hash

use std::hash::{Hash, Hasher};
use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use sha2::{Digest, Sha256};
use wasmtime::component::Component;
use wasmtime::Engine;

/// Marks the end of a cache entry written by this format.
const MAGIC: &[u8; 8] = b"wactorC1";
/// Checksum and magic behind the artifact.
const TRAILER_LEN: usize = 32 + MAGIC.len();
/// The file extension of entries.
const EXTENSION: &str = "cwasm";

/// The default cache directory: `$WACTOR_CACHE_DIR`, else
/// `$XDG_CACHE_HOME/wactor`, else `$HOME/.cache/wactor`; `None` if none of
/// them is set (and not empty).
pub fn default_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
    };
    var("WACTOR_CACHE_DIR")
        .or_else(|| var("XDG_CACHE_HOME").map(|d| d.join("wactor")))
        .or_else(|| var("HOME").map(|d| d.join(".cache").join("wactor")))
}

/// What the compile cache of a node has done since the node started.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct CacheStats {
    /// Loads served from a cache entry, without compiling.
    pub hits: u64,
    /// Loads that found no usable entry and compiled.
    pub misses: u64,
    /// Entries written.
    pub writes: u64,
    /// Problems with the cache (directory not writable, entry unreadable,
    /// corrupt or rejected by the engine); each one was logged, and the load
    /// went on by compiling.
    pub errors: u64,
}

#[derive(Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    writes: AtomicU64,
    errors: AtomicU64,
}

/// Feeds what is hashed into SHA-256, so the engine digest is the same from
/// one build of the host to the next (std's hasher promises no such thing).
struct Sha256Hasher(Sha256);

impl Hasher for Sha256Hasher {
    fn write(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    fn finish(&self) -> u64 {
        // Never used: the digest is read with `finalize`.
        0
    }
}

/// The key of an input: its SHA-256, hex.
pub(crate) fn content_key(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The compile cache of one node.
pub(crate) struct CompileCache {
    /// `DIR/engine-E`: where this engine's entries live.
    engine_dir: PathBuf,
    engine_key: String,
    counters: Counters,
}

impl CompileCache {
    /// A cache in `dir` for components compiled by `engine`. Nothing is
    /// touched on disk until the first entry is written.
    pub(crate) fn new(dir: &Path, engine: &Engine) -> CompileCache {
        let mut h = Sha256Hasher(Sha256::new());
        h.0.update(b"wactor ");
        h.0.update(env!("CARGO_PKG_VERSION").as_bytes());
        h.0.update(b"\0");
        engine.precompile_compatibility_hash().hash(&mut h);
        let engine_key = hex::encode(&h.0.finalize()[..8]);
        let engine_dir = dir.join(format!("engine-{engine_key}"));
        CompileCache {
            engine_dir,
            engine_key,
            counters: Counters::default(),
        }
    }

    /// Counters so far.
    pub(crate) fn stats(&self) -> CacheStats {
        let c = &self.counters;
        CacheStats {
            hits: c.hits.load(Ordering::Relaxed),
            misses: c.misses.load(Ordering::Relaxed),
            writes: c.writes.load(Ordering::Relaxed),
            errors: c.errors.load(Ordering::Relaxed),
        }
    }

    fn entry_path(&self, key: &str) -> PathBuf {
        self.engine_dir.join(format!("{key}.{EXTENSION}"))
    }

    fn checksum(&self, key: &str, artifact: &[u8]) -> [u8; 32] {
        let mut h = Sha256::new();
        h.update(self.engine_key.as_bytes());
        h.update(b"\0");
        h.update(key.as_bytes());
        h.update(b"\0");
        h.update(artifact);
        h.finalize().into()
    }

    fn error(&self) {
        self.counters.errors.fetch_add(1, Ordering::Relaxed);
    }

    /// The compiled component for the input with content key `key`, if a
    /// sound entry exists. Logs the hit or miss (and why an entry was not
    /// usable) for `what`, the file or behaviour being loaded. A miss is
    /// counted; the caller compiles and calls [`CompileCache::store`].
    pub(crate) fn lookup(&self, engine: &Engine, key: &str, what: &str) -> Option<Component> {
        let started = Instant::now();
        let path = self.entry_path(key);
        match self.read_entry(engine, key, &path) {
            Ok(Some(component)) => {
                self.counters.hits.fetch_add(1, Ordering::Relaxed);
                tracing::info!(
                    file = what,
                    entry = %path.display(),
                    elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                    "compile cache hit"
                );
                Some(component)
            }
            Ok(None) => {
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                tracing::info!(file = what, entry = %path.display(), "compile cache miss; compiling");
                None
            }
            Err(reason) => {
                self.counters.misses.fetch_add(1, Ordering::Relaxed);
                self.error();
                tracing::warn!(
                    file = what,
                    entry = %path.display(),
                    %reason,
                    "compile cache miss: the entry is unusable; compiling and replacing it"
                );
                None
            }
        }
    }

    /// Reads and checks the entry at `path`: `Ok(None)` if there is none,
    /// `Err` with the reason if it exists but cannot be used.
    fn read_entry(&self, engine: &Engine, key: &str, path: &Path) -> Result<Option<Component>, String> {
        let bytes = match std::fs::read(path) {
            Ok(b) => b,
            // No entry (or not even a directory for it): a plain miss; if
            // the directory is unusable, writing the entry reports it.
            Err(e) if matches!(e.kind(), ErrorKind::NotFound | ErrorKind::NotADirectory) => return Ok(None),
            Err(e) => return Err(format!("cannot read it: {e}")),
        };
        let Some(artifact_len) = bytes.len().checked_sub(TRAILER_LEN) else {
            return Err(format!("it is truncated ({} bytes)", bytes.len()));
        };
        let (artifact, trailer) = bytes.split_at(artifact_len);
        let (sum, magic) = trailer.split_at(32);
        if magic != MAGIC {
            return Err("it is not a wactor cache entry (bad trailer)".into());
        }
        if sum != self.checksum(key, artifact) {
            return Err("its checksum does not match (corrupt or moved)".into());
        }
        // SAFETY: `Component::deserialize` runs machine code from `artifact`,
        // so the bytes must be the unaltered output of `Component::serialize`
        // for this engine's configuration. They are: the checksum just
        // verified (over exactly these in-memory bytes, so nothing can change
        // between check and use) proves that they are what `store` wrote under
        // this engine key and content key, and the engine key pins the wactor
        // version and the engine's compatibility hash; wasmtime checks that
        // compatibility again itself. The entry could only be forged by
        // someone who can write the cache directory, whom the host trusts as
        // it trusts its own executable (it is created private to the user).
        let component = unsafe { Component::deserialize(engine, artifact) }
            .map_err(|e| format!("the engine rejects it: {e:#}"))?;
        Ok(Some(component))
    }

    /// Writes the entry for `key` (atomically: a temporary file in the same
    /// directory, renamed into place). A failure is logged and counted,
    /// never returned: the component is compiled and usable either way.
    pub(crate) fn store(&self, key: &str, component: &Component, what: &str) {
        let path = self.entry_path(key);
        match self.write_entry(key, component, &path) {
            Ok(()) => {
                self.counters.writes.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(file = what, entry = %path.display(), "compile cache entry written");
            }
            Err(reason) => {
                self.error();
                tracing::warn!(
                    file = what,
                    entry = %path.display(),
                    %reason,
                    "cannot write the compile cache entry; the next start compiles again"
                );
            }
        }
    }

    fn write_entry(&self, key: &str, component: &Component, path: &Path) -> Result<(), String> {
        let artifact = component
            .serialize()
            .map_err(|e| format!("cannot serialize the component: {e:#}"))?;
        create_private_dir(&self.engine_dir)
            .map_err(|e| format!("cannot create {}: {e}", self.engine_dir.display()))?;
        let tmp = self.engine_dir.join(format!(
            ".{key}.{}.{:016x}.tmp",
            std::process::id(),
            rand::random::<u64>()
        ));
        let written = (|| -> std::io::Result<()> {
            let mut f = std::fs::File::create(&tmp)?;
            f.write_all(&artifact)?;
            f.write_all(&self.checksum(key, &artifact))?;
            f.write_all(MAGIC)?;
            f.sync_all()?;
            std::fs::rename(&tmp, path)
        })();
        if let Err(e) = written {
            let _ = std::fs::remove_file(&tmp);
            return Err(format!("cannot write it: {e}"));
        }
        Ok(())
    }
}

/// Creates `dir` and its missing parents, readable by the user only: the
/// entries hold machine code the host will run.
fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir)
}
