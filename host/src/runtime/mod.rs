//! The runtime layer: running actors.
//!
//! Owns spawning an actor and settling its end (`spawn`); one instance of
//! an actor, its store and limits (`instance`); the actor's task (`task`):
//! the loop that takes one message at a time, and dispatching it into the
//! guest (`dispatch`); calls run directly on the caller's task when the
//! callee is idle (`direct`); runs of
//! messages handed over in one guest call (`batch`); idle actors swapped
//! out until their next message ([`hibernate`]); hot upgrades that keep
//! state and mailbox ([`reload`]); the span each message is handled in
//! (`span`).
//!
//! May use: [`core`](crate::core), [`sandbox`](crate::sandbox),
//! [`process`](crate::process).

pub(crate) mod batch;
pub(crate) mod direct;
pub(crate) mod dispatch;
pub mod hibernate;
pub(crate) mod instance;
pub mod reload;
pub(crate) mod span;
pub(crate) mod spawn;
pub(crate) mod task;
