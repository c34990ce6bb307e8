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
//! | one actor's store, task and message loop | `actor` |
//! | mailboxes | `mailbox` |
//! | addresses, routing, plain sends | `routing` |
//! | calls, refs, deadlines, cycle refusal | `calls` |
//! | registered names | `names` |
//! | pools of workers behind one pid | `pool` |
//! | timers | `timers` |
//! | the `host` imports | `imports` |
//! | guest stdout/stderr | `stdio` |
//! | the node that ties them together | [`node`] |
//! | behaviour manifests (`NAME.toml`): start-up, limits, WASI grants | [`manifest`] |
//! | the watched directory | [`watch`] |
//!
//! ## Important delivery
//!
//! `send-important`, `call-important`, `send-response-important` and
//! `set-important-delivery` confirm delivery across hosts. On one host a
//! send already reports every failure at once (`unknown-process`,
//! `mailbox-full`), and a response is known to be taken or refused
//! (`response-ignored`) the moment it is delivered, so each important import
//! behaves exactly as its plain form.

mod actor;
pub mod bindings;
mod calls;
pub mod config;
pub mod engine;
pub mod error;
mod imports;
mod mailbox;
pub mod manifest;
mod names;
pub mod node;
pub mod pid;
mod pool;
mod process;
mod routing;
mod stdio;
mod timers;
pub mod watch;

pub use actor::CpuBudgetExceeded;
pub use config::NodeConfig;
pub use engine::{Behaviour, Version};
pub use error::{DeliveryError, LoadError, PoolError, RegisterError, SpawnError};
pub use manifest::{Manifest, ManifestError};
pub use node::{ActorInfo, Exit, Node};
pub use pid::{Address, Pid, Ref, RefId};
pub use pool::PoolStats;
pub use process::ActorState;
