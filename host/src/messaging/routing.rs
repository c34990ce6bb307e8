//! Routing: where an address leads, from an address to a live local
//! process, and plain sends.
//!
//! Whether an address is this node's or another's is decided here, once,
//! by [`NodeInner::route`], for every send, call, answer, link and monitor.
//! An address of another node is handed to the cluster (see
//! [`cluster`](crate::cluster)); without one it cannot be reached
//! (`no-connection`).

use std::sync::Arc;
use std::time::Duration;

use crate::core::error::DeliveryError;
pub(crate) use crate::core::pid::Route;
use crate::core::pid::{Address, Pid};
use crate::node::NodeInner;
use crate::process::mailbox::Envelope;
use crate::process::table::Process;

impl NodeInner {
    /// Where `to` leads: this node, or the other node it names (by its pid,
    /// or a name's `@node`).
    pub(crate) fn route<'a>(&self, to: &'a Address) -> Route<'a> {
        Route::of(&self.node_name, to)
    }

    /// Where a pid leads; see [`route`](Self::route).
    pub(crate) fn route_pid<'a>(&self, pid: &'a Pid) -> Route<'a> {
        Route::of_node(&self.node_name, &pid.node)
    }

    /// The name a registered name of this node is held under (without its
    /// `@node`), or `None` for a name of another node.
    pub(crate) fn local_name<'a>(&self, name: &'a str) -> Option<&'a str> {
        match name.split_once('@') {
            Some((name, node)) => (Route::of_node(&self.node_name, node) == Route::Local).then_some(name),
            None => Some(name),
        }
    }

    /// The live local process an address names.
    pub(crate) fn resolve(&self, to: &Address) -> Result<Arc<Process>, DeliveryError> {
        let pid = match to {
            Address::Pid(pid) => {
                self.check_local(pid)?;
                pid.id
            }
            Address::Name(name) => {
                // Another node's processes are reached through the
                // cluster, not resolved here.
                let local = self.local_name(name).ok_or(DeliveryError::NoConnection)?;
                self.names.whereis(local).ok_or(DeliveryError::UnknownProcess)?.id
            }
        };
        self.processes
            .get(&pid)
            .map(|p| p.value().clone())
            .ok_or(DeliveryError::UnknownProcess)
    }

    /// Checks that a pid belongs to this node's current incarnation.
    pub(crate) fn check_local(&self, pid: &Pid) -> Result<(), DeliveryError> {
        if let Route::Remote(_) = self.route_pid(pid) {
            // Another node's processes are reached through the cluster.
            return Err(DeliveryError::NoConnection);
        }
        if pid.creation != self.creation {
            // A pid from an earlier run of this node: that actor is gone.
            return Err(DeliveryError::UnknownProcess);
        }
        Ok(())
    }

    /// Refuses payloads over the configured limit.
    pub(crate) fn check_size(&self, len: usize) -> Result<(), DeliveryError> {
        if len > self.config.max_message_bytes {
            Err(DeliveryError::PayloadTooLarge(
                u32::try_from(self.config.max_message_bytes).unwrap_or(u32::MAX),
            ))
        } else {
            Ok(())
        }
    }

    /// Sends `payload` from `from` to `to` after `delay`; returns the timer
    /// (see [`Timers`](crate::messaging::timers::Timers)).
    pub(crate) fn send_after(
        self: &Arc<Self>,
        from: Pid,
        to: Address,
        payload: Vec<u8>,
        delay: Duration,
    ) -> u64 {
        let node = Arc::downgrade(self);
        self.timers.after(delay, move |timer| {
            let Some(node) = node.upgrade() else { return };
            if let Err(e) = node.send(&from, &to, payload) {
                tracing::debug!(timer, %to, error = %e, "timer message not delivered");
            }
        })
    }

    /// Puts a message in the mailbox of the process `to` names (for a
    /// pool, of the next worker with room).
    pub(crate) fn send(&self, from: &Pid, to: &Address, payload: Vec<u8>) -> Result<(), DeliveryError> {
        let r = self.send_uncounted(from, to, payload);
        self.metrics.sent(&r);
        r
    }

    fn send_uncounted(&self, from: &Pid, to: &Address, payload: Vec<u8>) -> Result<(), DeliveryError> {
        self.check_size(payload.len())?;
        if let Route::Remote(node) = self.route(to) {
            return self.send_remote(from, node, to, payload, None);
        }
        let target = self.resolve(to)?;
        let mut env = Envelope::Message {
            from: from.clone(),
            payload,
        };
        let mut failure = DeliveryError::UnknownProcess;
        for w in target.candidates(Some(from)) {
            match w.mailbox.push(env) {
                Ok(()) => {
                    target.forwarded();
                    return Ok(());
                }
                Err(refused) => {
                    env = refused.env;
                    failure = worst(failure, refused.error);
                }
            }
        }
        target.rejected();
        Err(failure)
    }
}

/// Of two reasons no mailbox took an envelope, the one to report: a full
/// mailbox says more than a worker that just ended.
pub(crate) fn worst(a: DeliveryError, b: DeliveryError) -> DeliveryError {
    if a == DeliveryError::MailboxFull || b == DeliveryError::MailboxFull {
        DeliveryError::MailboxFull
    } else {
        b
    }
}
