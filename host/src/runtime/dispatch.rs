//! Dispatch into the guest: one envelope handed to `handle-message`,
//! `handle-info` or `handle-call`, and what the handler's outcome leads to.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use wasmtime::Store;

use crate::core::pid::Pid;
use crate::node::NodeInner;
use crate::process::mailbox::Envelope;
use crate::process::table::Process;
use crate::runtime::instance::ActorData;
use crate::sandbox::bindings::{wit, ActorBindings};

/// What handling one envelope leads to.
pub(crate) enum Step {
    Continue,
    /// The guest asked to end with this reason.
    Stop(String),
    /// The guest trapped.
    Trap(String),
}

/// Counts `n` envelopes handled by the actor `me`.
pub(crate) fn count_handled(node: &NodeInner, me: &Process, n: usize) {
    me.handled.fetch_add(n as u64, Ordering::Relaxed);
    node.metrics.messages_handled.add(n as u64);
}

/// Hands one envelope to the guest.
pub(crate) async fn handle(
    node: &Arc<NodeInner>,
    actor: &ActorBindings,
    store: &mut Store<ActorData>,
    env: Envelope,
    senders: &mut SenderCache,
) -> Step {
    match env {
        Envelope::Message { from, payload } => {
            let from = senders.wit(&from);
            match actor.call_handle_message(&mut *store, from, &payload).await {
                Ok(()) => Step::Continue,
                Err(e) => Step::Trap(store.data().trap_reason(&e)),
            }
        }
        Envelope::Info(info) => {
            let info = wit::Info::from(info);
            match actor.call_handle_info(&mut *store, &info).await {
                Ok(()) => Step::Continue,
                Err(e) => Step::Trap(store.data().trap_reason(&e)),
            }
        }
        // Handled by `serve` before it gets here.
        Envelope::Upgrade(_) => Step::Continue,
        Envelope::Call { from, r, payload } => {
            let wfrom = senders.wit(&from);
            let me = store.data().me.clone();
            me.handling(Some(r.id));
            let outcome = actor
                .call_handle_call(&mut *store, wfrom, r.into(), &payload)
                .await;
            me.handling(None);
            // `set-important-delivery(true)` covers the returned answer too.
            let delivery = me.delivery();
            let answer = |payload: Vec<u8>| async move {
                let sent = node.respond_with(&from, &r, Ok(payload), delivery).await;
                if let Err(e) = sent {
                    tracing::debug!(caller = %from, error = %e, "reply not taken");
                }
            };
            match outcome {
                Ok(wit::CallOutcome::Reply(p)) => {
                    answer(p).await;
                    Step::Continue
                }
                Ok(wit::CallOutcome::Defer) => Step::Continue,
                Ok(wit::CallOutcome::ReplyAndStop(p)) => {
                    answer(p).await;
                    Step::Stop("normal".into())
                }
                Ok(wit::CallOutcome::Stop(reason)) => Step::Stop(reason),
                Err(e) => Step::Trap(store.data().trap_reason(&e)),
            }
        }
    }
}

/// The WIT form of the last sender an actor heard from. Most actors hear
/// from the same few senders in a row; reusing the converted pid saves
/// copying the node name for every envelope.
#[derive(Default)]
pub(crate) struct SenderCache {
    last: Option<(Pid, wit::Pid)>,
}

impl SenderCache {
    fn wit(&mut self, from: &Pid) -> &wit::Pid {
        if self.last.as_ref().is_some_and(|(pid, _)| pid != from) {
            self.last = None;
        }
        let (_, wit) = self
            .last
            .get_or_insert_with(|| (from.clone(), wit::Pid::from(from)));
        wit
    }
}
