//! Hibernation: an idle actor hands its state to the host, drops its
//! instance, and wakes on its next message, transparently to its senders.
//!
//! A live instance costs its linear memory, a fiber stack and a few memory
//! mappings; a hibernated actor costs only its state bytes, its mailbox and
//! its task. That is what lets one host hold far more actors than it could
//! keep instantiated (the kernel's default limit on memory mappings alone
//! stops at a few tens of thousands of instances).
//!
//! When an actor goes idle (its mailbox is empty after a message), it
//! hibernates
//!
//! - at once, if the node holds more live instances than
//!   [`NodeConfig::live_instance_budget`](crate::NodeConfig::live_instance_budget);
//! - otherwise after [`NodeConfig::hibernate_after`](crate::NodeConfig::hibernate_after)
//!   without a message, if that is set.
//!
//! Hibernating uses the same pair of exports as a hot upgrade (see
//! [`reload`](crate::runtime::reload)): `snapshot` hands over the state, and the next
//! envelope (a message, a call, an info, an upgrade, a stop) wakes the
//! actor with a new instance whose `restore` takes it back. The envelope
//! that woke it is then handled as if nothing had happened. Pid, names,
//! mailbox, links, monitors, timers and the calls it owes belong to the
//! process, not the instance, so they stay.
//!
//! An actor whose `snapshot` answers `none` has no state to hand over and
//! would lose what it holds, so it never hibernates: its instance stays.
//! A trap in `snapshot`, or a failed `restore` on waking, ends the run as a
//! trap would, and the actor's restart policy applies.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::watch;

use crate::node::NodeInner;
use crate::process::mailbox::MailboxReceiver;
use crate::process::supervision::Ending;
use crate::process::table::{ActorState, Control, Process};
use crate::runtime::instance::{Instance, Start};
use crate::sandbox::engine::Behaviour;

/// The node's count of live instances, against the budget.
#[derive(Debug, Default)]
pub(crate) struct Instances {
    live: Arc<AtomicUsize>,
}

impl Instances {
    /// Live instances on the node now.
    pub(crate) fn live(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Counts one more live instance until the returned guard is dropped.
    pub(crate) fn count(&self) -> LiveInstance {
        self.live.fetch_add(1, Ordering::Relaxed);
        LiveInstance(self.live.clone())
    }
}

/// Held by every [`Instance`]: it counts as live until dropped.
#[derive(Debug)]
pub(crate) struct LiveInstance(Arc<AtomicUsize>);

impl Drop for LiveInstance {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Resolves when an idle actor should hibernate; never, when hibernation
/// is off or the instance keeps no state. Raced against the actor's mailbox,
/// so any envelope that arrives first wins.
pub(crate) async fn idle(node: &NodeInner, keeps_no_state: bool) {
    if keeps_no_state {
        return std::future::pending().await;
    }
    if let Some(budget) = node.config.live_instance_budget {
        if node.instances.live() > budget {
            return;
        }
    }
    match node.config.hibernate_after {
        Some(after) => tokio::time::sleep(after).await,
        None => std::future::pending().await,
    }
}

/// Hibernates the idle actor `me`: takes its state, drops `inst`, waits for
/// the next envelope or control request, and wakes it with a new instance
/// of `behaviour`. Returns the instance to carry on with (the same one, if
/// the actor has no state to hand over), or how the run ended.
pub(crate) async fn hibernate(
    node: &Arc<NodeInner>,
    me: &Arc<Process>,
    mut inst: Instance,
    behaviour: &Behaviour,
    rx: &mut MailboxReceiver,
    control: &mut watch::Receiver<Option<Control>>,
) -> Result<Instance, Ending> {
    inst.store.data_mut().ticks = 0;
    let state = match inst.actor.call_snapshot(&mut inst.store).await {
        Ok(Some(state)) => state,
        Ok(None) => {
            inst.store.data_mut().keeps_no_state = true;
            node.metrics.hibernation_refusals.inc();
            return Ok(inst);
        }
        Err(e) => {
            return Err(Ending::Trap(format!(
                "{} (in `snapshot`, hibernating)",
                inst.store.data().trap_reason(&e)
            )))
        }
    };
    drop(inst);
    me.set_state(ActorState::Hibernating);
    node.metrics.hibernations.inc();
    tracing::debug!(state_bytes = state.data.len(), "actor hibernated");

    // Asleep until the next envelope or control request.
    loop {
        tokio::select! {
            biased;
            changed = control.changed() => {
                if changed.is_err() {
                    return Err(Ending::Host("normal".into()));
                }
                let request = control.borrow().clone();
                match request {
                    // Woken so that `terminate` runs on the actor's state;
                    // its loop sees the request again.
                    Some(Control::Stop(_)) => {
                        control.mark_changed();
                        break;
                    }
                    Some(ends_now) => return Err(ends_now.ending()),
                    None => {}
                }
            }
            letter = rx.recv() => {
                rx.put_back(letter);
                break;
            }
        }
    }

    node.metrics.wakes.inc();
    match Instance::start(node, me, behaviour, Start::Restore(state)).await {
        Ok(woken) => {
            me.set_state(ActorState::Running);
            Ok(woken)
        }
        Err(e) => Err(Ending::Trap(format!("waking from hibernation failed: {e}"))),
    }
}
