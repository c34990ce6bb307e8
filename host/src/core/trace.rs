//! Trace ids: one id per request, from the edge where it enters to every
//! actor that takes part in it.
//!
//! A [`TraceId`] is minted where a request enters the system: an HTTP
//! request (or the id its client sent in [`HEADER`]), a send or call made
//! by the embedding program through [`Node`](crate::Node), or a send made
//! with no trace in force (an actor's `init`, for instance).
//!
//! The id travels with every envelope in a mailbox. While an actor handles
//! an envelope, that envelope's id is the *current* trace id of the actor's
//! task, and every send, call, forwarded call, timer and spawn the handler
//! makes carries it on. So a request that crosses five actors leaves the
//! same `trace` field in the log lines of all five, guest log lines
//! included: each handled envelope runs inside one `message` span (with the
//! message kind, the call's ref and the trace id) nested in the actor's
//! `actor` span (behaviour and pid).

use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::str::FromStr;

/// The HTTP header that carries a trace id, both ways.
pub const HEADER: &str = "x-wactor-trace-id";

/// A request's trace id: 128 random bits, shown as 32 hex digits (the size
/// of a W3C trace-context id, so the two can be mapped onto each other).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct TraceId(u128);

impl TraceId {
    /// A fresh random id (never zero).
    pub fn new() -> TraceId {
        TraceId(rand::random::<u128>() | 1)
    }

    /// The id as the number a frame carries between hosts.
    pub fn to_bits(self) -> u128 {
        self.0
    }

    /// The id a frame carries; zero (a frame without one) gets a fresh id.
    pub fn from_bits(bits: u128) -> TraceId {
        match bits {
            0 => TraceId::new(),
            bits => TraceId(bits),
        }
    }
}

impl Default for TraceId {
    fn default() -> Self {
        TraceId::new()
    }
}

impl fmt::Display for TraceId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// Why a text is not a trace id.
#[derive(Debug, thiserror::Error)]
#[error("a trace id is 32 hexadecimal digits, not zero; got {0:?}")]
pub struct BadTraceId(pub String);

impl FromStr for TraceId {
    type Err = BadTraceId;

    fn from_str(s: &str) -> Result<TraceId, BadTraceId> {
        let bad = || BadTraceId(s.chars().take(64).collect());
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        match u128::from_str_radix(s, 16) {
            Ok(0) | Err(_) => Err(bad()),
            Ok(v) => Ok(TraceId(v)),
        }
    }
}

tokio::task_local! {
    // A cell, so that an actor handling a batch of messages can move the
    // id on from one message to the next (see `batch`).
    static CURRENT: Cell<TraceId>;
}

/// The trace id in force on this task, if any.
pub fn current() -> Option<TraceId> {
    CURRENT.try_with(Cell::get).ok()
}

/// Replaces the trace id in force (for the rest of the innermost scope);
/// nothing happens outside any scope.
pub(crate) fn set_current(trace: TraceId) {
    let _ = CURRENT.try_with(|c| c.set(trace));
}

/// The trace id in force, or a new one: what a send or call carries.
pub fn current_or_new() -> TraceId {
    current().unwrap_or_default()
}

/// Runs `f` with `trace` as the current trace id: whatever `f` sends or
/// calls carries it.
pub async fn scope<F: Future>(trace: TraceId, f: F) -> F::Output {
    CURRENT.scope(Cell::new(trace), f).await
}

/// [`scope`] for code that does not wait.
pub fn sync_scope<R>(trace: TraceId, f: impl FnOnce() -> R) -> R {
    CURRENT.sync_scope(Cell::new(trace), f)
}

/// [`sync_scope`] that also returns the id in force when `f` returned
/// (which [`set_current`] may have changed).
pub(crate) fn sync_scope_kept<R>(trace: TraceId, f: impl FnOnce() -> R) -> (R, TraceId) {
    CURRENT.sync_scope(Cell::new(trace), || {
        let out = f();
        (out, CURRENT.with(Cell::get))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_trace_id_crosses_the_wire_as_its_number() {
        let t = TraceId::new();
        assert_eq!(TraceId::from_bits(t.to_bits()), t);
        assert_eq!(t.to_bits(), u128::from_str_radix(&t.to_string(), 16).unwrap());
        assert_ne!(
            TraceId::from_bits(0).to_bits(),
            0,
            "a frame without an id gets a fresh one"
        );
    }

    #[test]
    fn a_trace_id_reads_back_from_its_text() {
        let t = TraceId::new();
        assert_eq!(t.to_string().parse::<TraceId>().unwrap(), t);
        assert!("0".repeat(32).parse::<TraceId>().is_err());
        assert!("xyz".parse::<TraceId>().is_err());
        assert!("g".repeat(32).parse::<TraceId>().is_err());
    }

    #[test]
    fn an_id_moved_on_inside_a_scope_is_the_one_kept() {
        let (a, b) = (TraceId::new(), TraceId::new());
        let (seen, kept) = sync_scope_kept(a, || {
            let before = current();
            set_current(b);
            (before, current())
        });
        assert_eq!(seen, (Some(a), Some(b)));
        assert_eq!(kept, b);
        assert_eq!(current(), None, "nothing leaks out of the scope");
        set_current(a);
        assert_eq!(current(), None, "outside any scope nothing is set");
    }

    #[tokio::test]
    async fn the_current_id_is_the_innermost_scope() {
        assert_eq!(current(), None);
        let (a, b) = (TraceId::new(), TraceId::new());
        scope(a, async {
            assert_eq!(current(), Some(a));
            scope(b, async { assert_eq!(current(), Some(b)) }).await;
            assert_eq!(current(), Some(a));
        })
        .await;
    }
}
