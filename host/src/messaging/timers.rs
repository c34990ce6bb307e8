//! Timers: `send-after` and `cancel-timer`.
//!
//! A timer is a sleeping task that does one thing when it wakes (for
//! `send-after`, send one message; see [`routing`](crate::messaging::routing)).
//! A timer outlives the actor that set it (like a letter already posted);
//! sending to a process that has ended is simply dropped. Whoever takes a
//! timer out of the table decides: it fires, or it is cancelled.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use dashmap::DashMap;
use tokio::sync::oneshot;

/// The pending timers of one node.
#[derive(Default)]
pub(crate) struct Timers {
    table: Arc<Table>,
}

#[derive(Default)]
struct Table {
    next: AtomicU64,
    pending: DashMap<u64, oneshot::Sender<()>>,
}

impl Timers {
    /// Runs `fire` after `delay` unless the timer is cancelled first;
    /// returns the timer. `fire` runs in the trace of whoever set it.
    pub(crate) fn after(&self, delay: Duration, fire: impl FnOnce(u64) + Send + 'static) -> u64 {
        let id = self.table.next.fetch_add(1, Ordering::Relaxed) + 1;
        let (cancel_tx, cancel_rx) = oneshot::channel();
        // Registered before the task starts, so a zero delay cannot fire
        // before it can be cancelled.
        self.table.pending.insert(id, cancel_tx);
        let table = Arc::downgrade(&self.table);
        tokio::spawn(crate::core::trace::scope(
            crate::core::trace::current_or_new(),
            async move {
                tokio::select! {
                    _ = cancel_rx => {}
                    _ = tokio::time::sleep(delay) => {
                        let Some(table) = table.upgrade() else { return };
                        if table.pending.remove(&id).is_some() {
                            fire(id);
                        }
                    }
                }
            },
        ));
        id
    }

    /// Cancels a timer; true if it had not fired.
    pub(crate) fn cancel(&self, id: u64) -> bool {
        match self.table.pending.remove(&id) {
            Some((_, tx)) => {
                let _ = tx.send(());
                true
            }
            None => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_timer_fires_once_after_its_delay_unless_cancelled() {
        let timers = Timers::default();
        let (tx, mut fired) = tokio::sync::mpsc::unbounded_channel();
        let a = timers.after(Duration::from_millis(50), {
            let tx = tx.clone();
            move |id| tx.send(id).unwrap_or(())
        });
        let b = timers.after(Duration::from_millis(10), move |id| tx.send(id).unwrap_or(()));
        assert!(timers.cancel(b), "b had not fired");
        assert_eq!(fired.recv().await, Some(a), "a fires, b never does");
        assert!(!timers.cancel(a), "a fired: too late to cancel");
        assert!(fired.recv().await.is_none(), "nothing else fires");
    }
}
