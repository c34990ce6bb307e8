//! The runtime layer: running actors.
//!
//! Owns spawning an actor and its task (`actor`): the loop that takes one
//! message at a time and dispatches it into the guest; calls run directly
//! on the caller's thread when the callee is idle (`direct`); runs of
//! messages handed over in one guest call (`batch`); idle actors swapped
//! out until their next message ([`hibernate`]); hot upgrades that keep
//! state and mailbox ([`reload`]); the span each message is handled in
//! (`span`).
//!
//! May use: [`core`](crate::core), [`sandbox`](crate::sandbox),
//! [`process`](crate::process).

pub(crate) mod actor;
pub(crate) mod batch;
pub(crate) mod direct;
pub mod hibernate;
pub mod reload;
pub(crate) mod span;
