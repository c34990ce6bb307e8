//! The bottom layer: the vocabulary every other layer speaks.
//!
//! Owns pids, refs and addresses ([`pid`]), the error types ([`error`]),
//! trace ids and the per-message span ([`trace`]), the node's settings
//! ([`config`]) and the limits a behaviour's manifest resolves to
//! ([`manifest`]), and the counters the layers above increment
//! ([`counters`]), and the hash maps of the hot paths (`maps`).
//!
//! May use: nothing of the host. Every other layer may use it.

pub mod config;
pub mod counters;
pub mod error;
pub mod manifest;
pub(crate) mod maps;
pub mod pid;
pub mod trace;
