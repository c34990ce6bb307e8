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
//! The host is built in layers; a module uses only the layers above it in
//! this list, never one below (`host/tests/layers.rs` checks it). Each
//! layer's `mod.rs` says what it owns.
//!
//! | layer | concepts |
//! | --- | --- |
//! | `core` | [`pid`]s, refs, addresses and routes; [`error`] types; [`trace`] ids; node and cluster settings ([`config`]); what a [`manifest`] resolves to; the counters behind [`metrics`] |
//! | `sandbox` | the [`engine`] that compiles and checks components; the compile [`cache`]; turning `wasm32-wasip1` modules into components ([`convert`]); the [`bindings`] of `wit/actor.wit`; the `host` imports; guest stdout/stderr; linear memories and fiber stacks |
//! | `process` | one live actor's table entry; its mailbox; registered names; links, monitors and restart policies ([`supervision`]); pools; spawn limits |
//! | `runtime` | spawning and ending an actor; one instance and its store; the actor's task; dispatch into the guest; direct calls; batches of messages; idle actors swapped out ([`hibernate`]); hot upgrades ([`reload`]) |
//! | `messaging` | where an address leads (one decision) and plain sends; calls, refs and deadlines; call cycles, on one node and through others; timers; important delivery |
//! | [`cluster`] | liveness, remote sends, calls, links and monitors; the NATS [`transport`]; the wire format ([`frame`]) |
//! | [`node`] | the [`Node`] that ties the layers together |
//! | edges | the watched directory ([`watch`]); the HTTP API ([`http`]); the metrics page ([`metrics`]); the command line |
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
