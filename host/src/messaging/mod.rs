//! The messaging layer: getting a message or a call to its actor.
//!
//! Owns the one decision whether an address is local or remote and plain
//! sends (`routing`), calls, refs and deadlines (`calls`), call cycles
//! through other nodes (`cycles`), timers (`timers`), and delivery plain or
//! important (`important`).
//!
//! May use: [`core`](crate::core), [`sandbox`](crate::sandbox),
//! [`process`](crate::process), [`runtime`](crate::runtime).

pub(crate) mod calls;
pub(crate) mod cycles;
pub(crate) mod important;
pub(crate) mod routing;
pub(crate) mod timers;
