//! Hot reload: running actors switch to a new version of their behaviour
//! without losing their state, their mailbox or a single message.
//!
//! An upgrade has two halves:
//!
//! 1. **Off the actor threads**, the new bytes are compiled and checked
//!    against the `actor` world ([`Node::load`](crate::Node::load)). If that
//!    fails, nothing changes: the old version keeps serving.
//! 2. **In each actor's own task, between two messages**, the actor
//!    switches. The request travels on the system lane of its mailbox, so
//!    it is handled after the message in progress and before the next one;
//!    messages and calls that arrive meanwhile simply wait in the mailbox
//!    and are handled by the new version, in order, exactly once.
//!
//! The switch: the old instance's `snapshot` export hands over its state,
//! a new instance of the new version is created and its `restore` export
//! takes the state (an actor with no state to hand over, `snapshot`
//! returning `none`, is started with `init` and its original arguments
//! instead). Pid, names, mailbox, timers, links and monitors belong to the
//! process, not the instance, so they stay; so do the calls the old
//! version deferred, which the new one can still answer with the
//! `(from, ref)` it finds in its restored state.
//!
//! **Rollback**: if the new instance fails to start (its `restore` or
//! `init` returns an error or traps), the actor stays on the old instance,
//! which is untouched, and the failure is reported. The one case where the
//! old instance is lost is a trap in its own `snapshot`: then the new
//! version is started fresh with `init`, and if that fails too the actor
//! ends as a trap would end it.

use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

use crate::core::pid::Pid;
use crate::node::NodeInner;
use crate::process::mailbox::{Envelope, Switch, Upgrade};
use crate::process::supervision::Ending;
use crate::process::table::Process;
use crate::runtime::instance::{Instance, Start};
use crate::sandbox::engine::Behaviour;

/// What an upgrade of one behaviour did.
#[derive(Clone, Debug, Default)]
pub struct UpgradeReport {
    /// Actors now running the new version.
    pub upgraded: Vec<Pid>,
    /// Actors that stayed on their old version, and why.
    pub failed: Vec<(Pid, String)>,
    /// Actors left as they were because they keep no state to hand over
    /// and the switch was asked to keep state (see
    /// [`Node::reapply_settings`](crate::Node::reapply_settings)).
    pub unchanged: Vec<Pid>,
    /// Time from the first switch request to the last answer.
    pub switch_time: Duration,
}

/// Switches one actor's instance to `upgrade.behaviour`; runs in the actor's
/// task. `Err` only when the actor has no usable instance left.
pub(crate) async fn upgrade(
    node: &Arc<NodeInner>,
    me: &Arc<Process>,
    inst: &mut Instance,
    behaviour: &mut Arc<Behaviour>,
    args: &[u8],
    upgrade: Upgrade,
) -> Result<(), Ending> {
    let Upgrade {
        behaviour: next,
        keep_state,
        done,
    } = upgrade;
    inst.store.data_mut().ticks = 0;
    let (start, snapshot_trap) = match inst.actor.call_snapshot(&mut inst.store).await {
        Ok(Some(state)) => (Start::Restore(state), None),
        // Starting again with `init` would lose what the actor holds.
        Ok(None) if keep_state => {
            let _ = done.send(Switch::Unchanged);
            return Ok(());
        }
        Ok(None) => (Start::Init(args), None),
        Err(e) => (Start::Init(args), Some(inst.store.data().trap_reason(&e))),
    };
    match Instance::start(node, me, &next, start).await {
        Ok(fresh) => {
            *inst = fresh;
            *behaviour = next.clone();
            *me.version.lock() = Some(next.version.clone());
            let _ = done.send(match snapshot_trap {
                None => Switch::Done,
                Some(trap) => Switch::Failed(format!(
                    "the old version trapped in `snapshot` ({trap}); the new version started fresh with `init`"
                )),
            });
            Ok(())
        }
        Err(e) => match snapshot_trap {
            None => {
                let _ = done.send(Switch::Failed(format!(
                    "the new version failed to start ({e}); the actor stays on version {}",
                    behaviour.version.short()
                )));
                Ok(())
            }
            Some(trap) => {
                let reason = format!(
                    "upgrade failed: the old version trapped in `snapshot` ({trap}) and the new one failed to start ({e})"
                );
                let _ = done.send(Switch::Failed(reason.clone()));
                Err(Ending::Trap(reason))
            }
        },
    }
}

impl NodeInner {
    /// Asks every live actor of `next.name` to switch to `next`, and waits
    /// until each has answered. With `keep_state`, actors that have no
    /// state to hand over are left as they are.
    pub(crate) async fn upgrade_actors(&self, next: &Arc<Behaviour>, keep_state: bool) -> UpgradeReport {
        let began = Instant::now();
        let targets: Vec<Arc<Process>> = self
            .processes
            .iter()
            .filter(|e| e.value().behaviour == next.name && e.value().pool.is_none())
            .map(|e| e.value().clone())
            .collect();
        let mut waiting = Vec::with_capacity(targets.len());
        for p in targets {
            let (done, answer) = oneshot::channel();
            let sent = p.mailbox.push_system(Envelope::Upgrade(Upgrade {
                behaviour: next.clone(),
                keep_state,
                done,
            }));
            if sent {
                waiting.push((p.pid.clone(), answer));
            }
        }
        let mut report = UpgradeReport::default();
        for (pid, answer) in waiting {
            match answer.await {
                Ok(Switch::Done) => report.upgraded.push(pid),
                Ok(Switch::Unchanged) => report.unchanged.push(pid),
                Ok(Switch::Failed(e)) => report.failed.push((pid, e)),
                // The actor ended before it got to the switch.
                Err(_) => {}
            }
        }
        report.switch_time = began.elapsed();
        report
    }

    /// Removes behaviour `name`: no new actor of it can start, and each of
    /// its live actors and pools is stopped (their `terminate` runs; their
    /// pending callers get `terminated`). Returns how many were stopped.
    pub(crate) fn unload(&self, name: &str) -> usize {
        self.behaviours.write().remove(name);
        let reason = format!("behaviour `{name}` was removed");
        let targets: Vec<Arc<Process>> = self
            .processes
            .iter()
            .filter(|e| e.value().behaviour == name && e.value().member_of.get().is_none())
            .map(|e| e.value().clone())
            .collect();
        for p in &targets {
            match p.pool {
                Some(_) => self.close_pool(p, &reason),
                None => p.stop(&reason),
            }
        }
        targets.len()
    }
}
