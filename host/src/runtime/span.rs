//! The span of one message: what an actor's handling runs inside.
//!
//! Every envelope an actor handles, through its mailbox or as a direct
//! call, runs in a `message` span with the envelope's trace id in force
//! (see [`trace`](crate::core::trace)), so that every log line of the
//! handling, and every message it sends, carries that id.

use std::future::Future;
use std::time::Instant;

use crate::core::trace::{sync_scope, TraceId};
use crate::process::mailbox::Envelope;

/// The target of the span and of its `handled` line (`RUST_LOG=wactor::trace=debug`
/// shows how long each message took), kept from before the layers had folders.
const TARGET: &str = "wactor::trace";

/// Runs an actor's handling of one envelope inside its `message` span,
/// with the envelope's trace id in force.
pub(crate) async fn handling<F: Future>(
    env: Envelope,
    trace: TraceId,
    handle: impl FnOnce(Envelope) -> F,
) -> F::Output {
    let span = match &env {
        Envelope::Message { .. } => tracing::info_span!(target: TARGET, "message", kind = "message", %trace),
        Envelope::Call { r, .. } => {
            tracing::info_span!(target: TARGET, "message", kind = "call", r = %r.id, %trace)
        }
        Envelope::Info(_) => tracing::info_span!(target: TARGET, "message", kind = "info", %trace),
        Envelope::Upgrade(_) => tracing::info_span!(target: TARGET, "message", kind = "upgrade", %trace),
    };
    // Reading the clock twice per envelope is measurable at a million
    // messages a second; only pay for it when the line would be written.
    let started = tracing::enabled!(target: TARGET, tracing::Level::DEBUG).then(Instant::now);
    // The trace and the span are put in force around each poll, in place:
    // wrapping the handler's (large) future would move it twice.
    let handling = handle(env);
    let mut handling = std::pin::pin!(handling);
    let out = std::future::poll_fn(|cx| {
        let _entered = span.enter();
        sync_scope(trace, || handling.as_mut().poll(cx))
    })
    .await;
    if let Some(started) = started {
        span.in_scope(
            || tracing::debug!(target: TARGET, elapsed_us = started.elapsed().as_micros() as u64, "handled"),
        );
    }
    out
}
