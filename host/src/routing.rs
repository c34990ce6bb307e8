//! Routing: from an address to a live local process, and plain sends.

use std::sync::Arc;

use crate::error::DeliveryError;
use crate::mailbox::Envelope;
use crate::node::NodeInner;
use crate::pid::{Address, Pid};
use crate::process::Process;

impl NodeInner {
    /// The live local process an address names.
    pub(crate) fn resolve(&self, to: &Address) -> Result<Arc<Process>, DeliveryError> {
        let pid = match to {
            Address::Pid(pid) => {
                self.check_local(pid)?;
                pid.id
            }
            Address::Name(name) => {
                let local = match name.split_once('@') {
                    Some((name, node)) if node == &*self.node_name => name,
                    // Without a cluster, no other node can be reached.
                    Some(_) => return Err(DeliveryError::NoConnection),
                    None => name.as_str(),
                };
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
        if pid.node != self.node_name {
            // Without a cluster, no other node can be reached.
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

    /// Puts a message in the mailbox of the process `to` names.
    pub(crate) fn send(&self, from: &Pid, to: &Address, payload: Vec<u8>) -> Result<(), DeliveryError> {
        self.check_size(payload.len())?;
        let target = self.resolve(to)?;
        target.mailbox.push(Envelope::Message {
            from: from.clone(),
            payload,
        })
    }

    pub(crate) fn pid_node(&self) -> &str {
        &self.node_name
    }
}
