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
//! to do about it: the bytes are WebAssembly; a core module carries the type
//! information to become a component ([`convert`](crate::sandbox::convert)) and
//! converts; the component compiles; its imports can be satisfied; its
//! exports are the `actor` world's. Only then is a behaviour installed, so a
//! bad file never replaces a good one.
//!
//! With a [compile cache](crate::sandbox::cache), the compiled component is looked up
//! by the hash of the bytes as loaded before anything is converted or
//! compiled, and stored after every check has passed: a restart does
//! neither again, and the cache holds only behaviours that loaded.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use wasmtime::component::{Component, ComponentExportIndex, Linker};
use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

use crate::core::config::{NodeConfig, EPOCH_TICK};
use crate::core::error::LoadError;
use crate::runtime::instance::ActorData;
use crate::sandbox::bindings::{ActorIndices, ActorPre};
use crate::sandbox::cache::{self, CompileCache};
use crate::sandbox::convert::{self, ConvertError};
use crate::sandbox::{memories, stacks};

/// Core instances, tables and memories one actor's component may use
/// from an instance pool: a guest built with the SDK has one memory and a
/// handful of core instances (its module and the shims that tie it to
/// WASI), each with at most one table.
const POOLED_CORE_INSTANCES_PER_ACTOR: u32 = 8;
const POOLED_MEMORIES_PER_ACTOR: u32 = 2;
/// Freed pool slots reset together, in one batch.
const POOL_DECOMMIT_BATCH: usize = 32;

/// Builds the engine every actor of a node runs on.
pub(crate) fn new_engine(node: &NodeConfig) -> anyhow::Result<Engine> {
    let mut config = Config::new();
    config.wasm_component_model(true);
    config.epoch_interruption(true);
    // Actors use plain (non-async-ABI) exports; leaving the component-model
    // concurrency machinery off makes every guest call cheaper.
    config.concurrency_support(false);
    // Copy data segments into each new linear memory instead of mapping a
    // copy-on-write image: the image costs two more memory mappings per
    // instance, and the kernel's default cap on mappings is what bounds the
    // live instances of a node (see `NodeConfig::live_instance_budget`).
    // Actor data segments are small, so the copy costs no measurable spawn
    // time (BENCHMARKS.md).
    config.memory_init_cow(false);
    if let Some(slots) = node.instance_pool {
        // Instances, memories and fiber stacks come from slots reserved up
        // front and are reset (not unmapped) when an actor lets go of them:
        // instantiating is cheaper and takes no new memory mappings.
        let mut pool = PoolingAllocationConfig::new();
        pool.total_component_instances(slots)
            .total_core_instances(slots.saturating_mul(POOLED_CORE_INSTANCES_PER_ACTOR))
            .total_tables(slots.saturating_mul(POOLED_CORE_INSTANCES_PER_ACTOR))
            .total_memories(slots.saturating_mul(POOLED_MEMORIES_PER_ACTOR))
            .total_stacks(slots)
            .max_memory_size(node.memory_limit_bytes)
            // Resetting a freed slot is a system call per memory, table and
            // stack; batched, a spawn that reuses the slot of an actor that
            // just hibernated costs half as much (BENCHMARKS.md). A slot
            // waiting in a batch is reset at once when the pool runs short.
            .decommit_batch_size(POOL_DECOMMIT_BATCH);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    } else {
        // Without a pool, the fiber stacks and linear memories of dropped
        // instances are still kept for the next ones (see `mappings`).
        config.with_host_stack(Arc::new(stacks::Creator(Arc::default())));
        config.with_host_memory(Arc::new(memories::Creator(Arc::default())));
    }
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

/// What kind of WebAssembly a behaviour was loaded from.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    /// A component (a `wasm32-wasip2` build).
    Component,
    /// A core module with embedded world type information (a `wasm32-wasip1`
    /// build), turned into a component with the WASI preview-1 adapter.
    CoreModule,
}

/// Which version of a behaviour an actor runs.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Version {
    /// SHA-256 of the bytes as loaded (the file's contents), hex.
    pub hash: String,
    /// When this version was loaded.
    #[serde(with = "unix_ms")]
    pub loaded_at: SystemTime,
    /// How long loading took: converting, compiling (or reading the compile
    /// cache) and checking.
    pub compile_time: Duration,
    /// What the bytes were.
    pub format: Format,
    /// True if the compiled component came from the compile cache, so
    /// nothing was converted or compiled.
    pub from_cache: bool,
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
    /// Where the `actor` world's exports are, for loading them from an
    /// instance made from `pre`.
    pub(crate) indices: ActorIndices,
    /// The optional `handle-messages` export (see [`batch`](crate::runtime::batch)).
    pub(crate) batch_export: Option<ComponentExportIndex>,
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

/// Compiles and checks `bytes` as the behaviour `name`, through `cache` when
/// there is one. `what` names the input in errors and logs. CPU-heavy: call
/// it off the actor threads.
pub(crate) fn compile(
    engine: &Engine,
    linker: &Linker<ActorData>,
    cache: Option<&CompileCache>,
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
    let format = if bytes[4..8] == CORE_MODULE_VERSION {
        Format::CoreModule
    } else {
        Format::Component
    };
    let key = cache::content_key(bytes);
    let cached = cache.and_then(|c| c.lookup(engine, &key, what));
    let from_cache = cached.is_some();
    let component = match cached {
        Some(component) => component,
        None => compile_fresh(engine, format, what, bytes)?,
    };
    let wrong_world = |e: wasmtime::Error| LoadError::WrongWorld {
        what: what.to_string(),
        reason: format!("{e:#}"),
    };
    let instance_pre = linker.instantiate_pre(&component).map_err(wrong_world)?;
    let indices = ActorIndices::new(&instance_pre).map_err(wrong_world)?;
    let pre = ActorPre::new(instance_pre).map_err(wrong_world)?;
    let batch_export = component.get_export_index(None, "handle-messages");
    if let (Some(cache), false) = (cache, from_cache) {
        cache.store(&key, &component, what);
    }
    let compile_time = started.elapsed();
    tracing::info!(
        file = what,
        format = ?format,
        from_cache,
        elapsed_ms = compile_time.as_secs_f64() * 1e3,
        "behaviour `{name}` ready"
    );
    Ok(Arc::new(Behaviour {
        name: name.to_string(),
        version: Version {
            hash: key,
            loaded_at: SystemTime::now(),
            compile_time,
            format,
            from_cache,
        },
        pre,
        indices,
        batch_export,
    }))
}

/// Converts (for a core module) and compiles `bytes`.
fn compile_fresh(engine: &Engine, format: Format, what: &str, bytes: &[u8]) -> Result<Component, LoadError> {
    let converted;
    let component_bytes = match format {
        Format::Component => bytes,
        Format::CoreModule => {
            let started = std::time::Instant::now();
            converted = convert::to_component(bytes).map_err(|e| match e {
                ConvertError::NoTypeInformation => LoadError::CoreModule {
                    what: what.to_string(),
                    reason: e.to_string(),
                },
                e => LoadError::Convert {
                    what: what.to_string(),
                    source: e,
                },
            })?;
            tracing::info!(
                file = what,
                elapsed_ms = started.elapsed().as_secs_f64() * 1e3,
                "converted a wasm32-wasip1 core module into a component"
            );
            &converted[..]
        }
    };
    Component::new(engine, component_bytes).map_err(|e| LoadError::Compile {
        what: what.to_string(),
        reason: format!("{e:#}"),
    })
}
