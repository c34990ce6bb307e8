//! Timers: `send-after` and `cancel-timer`.
//!
//! A timer is a sleeping task that sends one message when it wakes. A timer
//! outlives the actor that set it (like a letter already posted); sending to
//! a process that has ended is simply dropped.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::oneshot;

use crate::core::pid::{Address, Pid};
use crate::node::NodeInner;

/// The pending timers of one node.
#[derive(Default)]
pub(crate) struct Timers {
    next: AtomicU64,
    pending: DashMap<u64, oneshot::Sender<()>>,
}

impl NodeInner {
    /// Sends `payload` from `from` to `to` after `delay`; returns the timer.
    pub(crate) fn send_after(
        self: &Arc<Self>,
        from: Pid,
        to: Address,
        payload: Vec<u8>,
        delay: Duration,
    ) -> u64 {
        let id = self.timers.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (cancel_tx, cancel_rx) = oneshot::channel();
        // Registered before the task starts, so a zero delay cannot fire
        // before it can be cancelled.
        self.timers.pending.insert(id, cancel_tx);
        let node = Arc::downgrade(self);
        // The message continues the trace of whoever set the timer.
        tokio::spawn(crate::core::trace::scope(
            crate::core::trace::current_or_new(),
            async move {
                tokio::select! {
                    _ = cancel_rx => {}
                    _ = tokio::time::sleep(delay) => {
                        let Some(node) = node.upgrade() else { return };
                        // Whoever removes the entry decides: fire or cancel.
                        if node.timers.pending.remove(&id).is_some() {
                            if let Err(e) = node.send(&from, &to, payload) {
                                tracing::debug!(timer = id, %to, error = %e, "timer message not delivered");
                            }
                        }
                    }
                }
            },
        ));
        id
    }

    /// Cancels a timer; true if it had not fired.
    pub(crate) fn cancel_timer(&self, id: u64) -> bool {
        match self.timers.pending.remove(&id) {
            Some((_, tx)) => {
                let _ = tx.send(());
                true
            }
            None => false,
        }
    }
}
