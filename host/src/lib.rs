//! # wactor
//!
//! A host for actors written as WebAssembly components.
//!
//! Every actor is one component instance in its own `Store`, driven by its
//! own tokio task that takes one message at a time from a bounded mailbox.
//! Actors talk by `send` (asynchronous, errors immediate) and `call` (the
//! calling actor waits; nothing else does). The contract between host and
//! guests is the WIT package `wactor:actor` in `wit/actor.wit`.
//!
//! ```no_run
//! # async fn demo() -> anyhow::Result<()> {
//! use wactor::{Node, NodeConfig};
//!
//! let node = Node::new(NodeConfig::default())?;
//! node.load_file(std::path::Path::new("target/actors/echo.wasm")).await?;
//! let pid = node.spawn("echo", Vec::new()).await?;
//! let answer = node.call(&pid, b"hello".to_vec(), None).await?;
//! assert_eq!(answer, b"hello");
//! # Ok(()) }
//! ```
//!
//! ## Where things are
//!
//! | concept | module |
//! | --- | --- |
//! | engine, compiling and checking components | [`engine`] |
//! | the compile cache on disk | [`cache`] |
//! | turning `wasm32-wasip1` core modules into components | [`convert`] |
//! | one actor's store, task and message loop | `actor` |
//! | mailboxes | `mailbox` |
//! | runs of messages handed over in one call | `batch` |
//! | addresses, routing, plain sends | `routing` |
//! | calls, refs, deadlines, cycle refusal | `calls` |
//! | call cycles through other nodes, found by probes | `cycles` |
//! | registered names | `names` |
//! | pools of workers behind one pid | `pool` |
//! | links, monitors, restart policies | [`supervision`] |
//! | hot upgrades of running actors | [`reload`] |
//! | idle actors swapped out until their next message | [`hibernate`] |
//! | timers | `timers` |
//! | the `host` imports | `imports` |
//! | guest stdout/stderr | `stdio` |
//! | the node that ties them together | [`node`] |
//! | behaviour manifests (`NAME.toml`): start-up, limits, WASI grants | [`manifest`] |
//! | the watched directory | [`watch`] |
//! | the HTTP API (call, send, actors, health, metrics) | [`http`] |
//! | metrics in the Prometheus text format | [`metrics`] |
//! | trace ids and the per-message span | [`trace`] |
//! | clusters: liveness, remote sends, calls, monitors | [`cluster`] |
//! | the wire format between hosts | [`frame`] |
//! | the NATS transport | [`transport`] |
//! | important (confirmed) delivery | `important` |
//!
//! ## Important delivery
//!
//! `send-important`, `call-important`, `send-response-important` and
//! `set-important-delivery` confirm delivery across hosts; see the
//! `important` module. On one host a send already reports every failure at
//! once (`unknown-process`, `mailbox-full`), and a response is known to be
//! taken or refused (`response-ignored`) the moment it is delivered, so each
//! important import behaves exactly as its plain form.

// The layers, from the bottom; a layer uses only the layers above it in
// this list (checked by `scripts/check-layers`).
pub mod cluster;
pub(crate) mod core;
pub(crate) mod messaging;
pub mod node;
pub(crate) mod process;
pub(crate) mod runtime;
pub(crate) mod sandbox;
// The edges: what talks to the outside.
pub mod http;
pub mod metrics;
pub mod watch;

// The public modules, where embedders have always found them.
pub use crate::cluster::transport;
pub use crate::core::{config, error, manifest, pid, trace};
pub use crate::process::supervision;
pub use crate::runtime::{hibernate, reload};
pub use crate::sandbox::{bindings, cache, convert, engine};
/// The wire format between hosts (the `wactor-wire` crate).
pub use wactor_wire as frame;

pub use crate::process::pool::PoolStats;
pub use crate::process::table::ActorState;
pub use crate::runtime::instance::CpuBudgetExceeded;
pub use cache::CacheStats;
pub use cluster::ClusterConfig;
pub use config::NodeConfig;
pub use engine::{Behaviour, Format, Version};
pub use error::{ClusterError, DeliveryError, LoadError, PoolError, RegisterError, SpawnError};
pub use manifest::{Manifest, ManifestError};
pub use node::{ActorInfo, Exit, Node};
pub use pid::{Address, Encoding, Pid, Ref, RefId};
pub use reload::UpgradeReport;
pub use supervision::{Restart, RestartPolicy};
pub use trace::TraceId;
