//! The wasmtime engine, and turning bytes into a checked, ready-to-run
//! behaviour.
//!
//! One [`Engine`] serves every actor of a node. It is configured for
//! epoch interruption: a ticker thread outside the tokio runtime advances
//! the epoch every [`EPOCH_TICK`], and every running guest yields to the
//! scheduler at each tick, so a guest in a busy loop cannot starve the
//! actors that share its thread, and one that runs past its CPU budget
//! traps.
//!
//! Loading checks, in this order, and reports the first failure with what
//! to do about it: the bytes are WebAssembly; they are a component (not a
//! core module); they compile; their imports can be satisfied; their exports
//! are the `actor` world's. Only then is a behaviour installed, so a bad file
//! never replaces a good one.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use sha2::{Digest, Sha256};
use wasmtime::component::{Component, Linker};
use wasmtime::{Config, Engine};

use crate::actor::ActorData;
use crate::bindings::ActorPre;
use crate::config::EPOCH_TICK;
use crate::error::LoadError;

/// Builds the engine every actor of a node runs on.
pub(crate) fn new_engine() -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Actors use plain (non-async-ABI) exports; leaving the component-model
    // concurrency machinery off makes every guest call cheaper.
    config.concurrency_support(false);
    let engine = Engine::new(&config)?;
    start_epoch_ticker(&engine);
    Ok(engine)
}

/// Advances the engine's epoch every tick from a plain thread, so the tick
/// keeps coming even when every tokio worker is busy running guests. The
/// thread ends when the engine is dropped.
fn start_epoch_ticker(engine: &Engine) {
    let weak = engine.weak();
    let spawned = std::thread::Builder::new()
        .name("wactor-epoch".into())
        .spawn(move || loop {
            std::thread::sleep(EPOCH_TICK);
            match weak.upgrade() {
                Some(engine) => engine.increment_epoch(),
                None => break,
            }
        });
    if let Err(e) = spawned {
        tracing::error!(error = %e, "cannot start the epoch ticker thread; guests will not be preempted");
    }
}

/// Which version of a behaviour an actor runs.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Version {
    /// SHA-256 of the component bytes, hex.
    pub hash: String,
    /// When this version was loaded.
    #[serde(with = "unix_ms")]
    pub loaded_at: SystemTime,
    /// How long compiling and checking took.
    pub compile_time: Duration,
}

impl Version {
    /// The first 12 hex digits of the hash: enough to tell versions apart.
    pub fn short(&self) -> &str {
        &self.hash[..12.min(self.hash.len())]
    }
}

mod unix_ms {
    use std::time::{SystemTime, UNIX_EPOCH};
    pub fn serialize<S: serde::Serializer>(t: &SystemTime, s: S) -> Result<S::Ok, S::Error> {
        let ms = t
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_millis() as u64)
            .unwrap_or(0);
        s.serialize_u64(ms)
    }
}

/// A loaded actor program: a compiled component checked against the
/// `actor` world, ready to instantiate.
pub struct Behaviour {
    /// The behaviour's name (the file stem of its `.wasm`).
    pub name: String,
    /// Its version.
    pub version: Version,
    pub(crate) pre: ActorPre<ActorData>,
}

impl std::fmt::Debug for Behaviour {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Behaviour")
            .field("name", &self.name)
            .field("version", &self.version)
            .finish()
    }
}

const WASM_MAGIC: &[u8; 4] = b"\0asm";
const CORE_MODULE_VERSION: [u8; 4] = [0x01, 0x00, 0x00, 0x00];

/// Compiles and checks `bytes` as the behaviour `name`. CPU-heavy: call it
/// off the actor threads.
pub(crate) fn compile(
    engine: &Engine,
    linker: &Linker<ActorData>,
    name: &str,
    what: &str,
    bytes: &[u8],
) -> Result<Arc<Behaviour>, LoadError> {
    let started = std::time::Instant::now();
    if bytes.len() < 8 || &bytes[..4] != WASM_MAGIC {
        return Err(LoadError::NotWasm {
            what: what.to_string(),
        });
    }
    if bytes[4..8] == CORE_MODULE_VERSION {
        return Err(LoadError::CoreModule {
            what: what.to_string(),
        });
    }
    let component = Component::new(engine, bytes).map_err(|e| LoadError::Compile {
        what: what.to_string(),
        reason: format!("{e:#}"),
    })?;
    let wrong_world = |e: wasmtime::Error| LoadError::WrongWorld {
        what: what.to_string(),
        reason: format!("{e:#}"),
    };
    let instance_pre = linker.instantiate_pre(&component).map_err(wrong_world)?;
    let pre = ActorPre::new(instance_pre).map_err(wrong_world)?;
    Ok(Arc::new(Behaviour {
        name: name.to_string(),
        version: Version {
            hash: hex::encode(Sha256::digest(bytes)),
            loaded_at: SystemTime::now(),
            compile_time: started.elapsed(),
        },
        pre,
    }))
}
