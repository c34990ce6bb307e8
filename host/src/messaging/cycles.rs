//! Call cycles across nodes, found by chasing the chain of waits.
//!
//! On one node a caller walks the chain of actors waiting on each other
//! before it parks (see [`calls`](crate::messaging::calls)). A wait on a process of
//! another node ends that walk, because only the callee's node knows which
//! of its processes took the request (a name, a pool's worker) and whom
//! that one waits on. So the chain is followed there, by a probe:
//!
//! - Whenever an actor has been parked in a call (to this node or another)
//!   for [`PROBE_AFTER`] and the chain of waits from it leads to a call
//!   into another node, a [`Frame::Probe`] goes to that node: the
//!   *initiator* (the parked actor) and the ref of its call, the call to go
//!   on from (its caller and ref), the processes passed so far, and a hop
//!   budget. Most calls are answered sooner, and cost no probe; one that
//!   closes a cycle never is.
//! - The receiving node finds the local process that owes that call and
//!   walks the waits from it. Back at the initiator, which still waits under
//!   the same ref: the initiator's call fails at once with `not-allowed`,
//!   naming the cycle, the error a cycle on one node gives. At a process
//!   waiting on yet another node: the probe goes on there. At a process
//!   waiting on nothing, or a call no longer pending: it is dropped, as
//!   there is no cycle now.
//!
//! The call that closes a cycle starts the probe that finds it, whichever
//! call that is and wherever the actors are, so every cycle is found. The
//! refusal is asynchronous: it comes [`PROBE_AFTER`] and a few network hops
//! after the call was sent (the request is already in the callee's
//! mailbox), not before.
//!
//! As on one node, it is the closing call that fails, not an older one of
//! the cycle: a probe can be slower than the actors, and an older call's
//! probe may find the cycle closed when it arrives. So a probe stops at
//! once when the process that took the initiator's request is, while
//! handling that very request, parked in a call of its own: that call is
//! newer and has its own probe. (Two calls that close a cycle at the same
//! moment may both fail, as they may on one node.)
//!
//! A probe never circulates for ever: it carries at most
//! [`MAX_WAIT_CHAIN`] processes and [`MAX_HOPS`] hops, and one that meets a
//! process already on its path is dropped (the initiator only waits *into*
//! a cycle, which the call closing it found by itself). Each wait is read
//! when the probe passes it and the initiator's at the end, under the ref
//! the probe carries, so a probe that outlived the call it was sent for
//! refuses nothing.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use crate::core::error::DeliveryError;
use crate::core::maps::FastMap;
use crate::core::pid::{Pid, RefId};
use crate::frame::{Frame, WirePid};
use crate::messaging::calls::MAX_WAIT_CHAIN;
use crate::node::NodeInner;
use crate::process::table::{Parked, Process, WAITS_REMOTE};

/// How long a call waits for its answer before it looks for a cycle
/// through other nodes.
pub(crate) const PROBE_AFTER: Duration = Duration::from_millis(10);

/// Most nodes a probe visits after the one that sent it.
pub(crate) const MAX_HOPS: u16 = 256;

/// Where a walk of waits on this node ends.
enum WalkEnd {
    /// At a process waiting on nothing, one already on the path, or the
    /// end of the path's room: no cycle through the initiator.
    Free,
    /// Back at the initiator.
    Cycle,
    /// At `waiter`, parked in its call `call` to a process of `node`.
    Remote {
        node: Arc<str>,
        waiter: Pid,
        call: RefId,
    },
}

/// A probe as it travels (see [`Frame::Probe`]).
struct Probe {
    initiator: Pid,
    r: RefId,
    path: Vec<Pid>,
    hops: u16,
}

/// The cycle that `me`, waiting on `target`, closes on this node, named
/// for the caller's error: the chain of waits from `target` read from
/// `processes`, back to `me`. `None` when the chain ends (at a process
/// waiting on nothing, or on another node, where probes go on) or is
/// longer than [`MAX_WAIT_CHAIN`].
pub(crate) fn local_cycle(
    processes: &FastMap<u64, Arc<Process>>,
    me: &Process,
    target: &Process,
) -> Option<String> {
    let mut chain = vec![target.pid.to_string()];
    let mut cur = target.pid.id;
    for _ in 0..MAX_WAIT_CHAIN {
        let next = match processes.get(&cur) {
            Some(p) => p.waiting_on.load(Ordering::SeqCst),
            None => 0,
        };
        if next == 0 || next == WAITS_REMOTE {
            return None;
        }
        if next == me.pid.id {
            return Some(format!(
                "call cycle: {} -> {} -> {}; the call would deadlock",
                me.pid,
                chain.join(" -> "),
                me.pid
            ));
        }
        chain.push(format!("<{}.{}>", me.pid.node, next));
        cur = next;
    }
    None
}

impl NodeInner {
    /// The actor `me` is parked in its call `r`: if the chain of waits
    /// from it leads to another node, sends a probe there.
    pub(crate) fn chase(&self, me: &Process, r: RefId) {
        let mut probe = Probe {
            initiator: me.pid.clone(),
            r,
            path: vec![me.pid.clone()],
            hops: MAX_HOPS,
        };
        let end = match me.waiting_on.load(Ordering::SeqCst) {
            0 => return,
            WAITS_REMOTE => match me.parked() {
                Some(p) if p.r == r => match p.node {
                    Some(node) => WalkEnd::Remote {
                        node,
                        waiter: me.pid.clone(),
                        call: r,
                    },
                    None => return,
                },
                _ => return,
            },
            next => match self.processes.get(&next).map(|p| p.value().clone()) {
                Some(p) => self.follow(p, &mut probe),
                None => return,
            },
        };
        self.act(probe, end);
    }

    /// A probe from another node ([`Frame::Probe`]): goes on from the
    /// process here that owes `waiter`'s call `call`.
    pub(crate) fn on_probe(
        &self,
        initiator: &WirePid,
        r: u128,
        waiter: &WirePid,
        call: u128,
        path: &[WirePid],
        hops: u16,
    ) {
        if hops == 0 {
            return;
        }
        let Some(owner) = self.calls.owner(&Pid::from(waiter), RefId(call)) else {
            return;
        };
        let mut probe = Probe {
            initiator: Pid::from(initiator),
            r: RefId(r),
            path: path.iter().map(Pid::from).collect(),
            hops: hops - 1,
        };
        let end = self.follow(owner, &mut probe);
        self.act(probe, end);
    }

    /// Follows the waits on this node from `p`, adding each process passed
    /// to the probe's path.
    fn follow(&self, mut p: Arc<Process>, probe: &mut Probe) -> WalkEnd {
        loop {
            if p.pid == probe.initiator {
                return WalkEnd::Cycle;
            }
            if probe.path.len() >= MAX_WAIT_CHAIN || probe.path.contains(&p.pid) {
                return WalkEnd::Free;
            }
            let parked = p.parked();
            // The process that took the initiator's request and, handling
            // it, made a call of its own: that wait is newer than the
            // initiator's, so if they close a cycle, it is the newer call
            // that closed it, and its own probe refuses it.
            if probe.path.len() == 1 && parked.as_ref().is_some_and(|w| w.during == Some(probe.r)) {
                return WalkEnd::Free;
            }
            probe.path.push(p.pid.clone());
            match p.waiting_on.load(Ordering::SeqCst) {
                0 => return WalkEnd::Free,
                WAITS_REMOTE => {
                    return match parked {
                        Some(Parked {
                            node: Some(node), r, ..
                        }) => WalkEnd::Remote {
                            node,
                            waiter: p.pid.clone(),
                            call: r,
                        },
                        _ => WalkEnd::Free,
                    }
                }
                next => match self.processes.get(&next) {
                    Some(q) => p = q.value().clone(),
                    None => return WalkEnd::Free,
                },
            }
        }
    }

    /// Refuses the initiator's call, sends the probe on, or drops it.
    fn act(&self, probe: Probe, end: WalkEnd) {
        match end {
            WalkEnd::Free => {}
            WalkEnd::Cycle => self.refuse_cycle(&probe),
            WalkEnd::Remote { node, waiter, call } => {
                if probe.hops == 0 {
                    return;
                }
                let frame = Frame::Probe {
                    initiator: (&probe.initiator).into(),
                    r: probe.r.0,
                    waiter: (&waiter).into(),
                    call: call.0,
                    path: probe.path.iter().map(WirePid::from).collect(),
                    hops: probe.hops,
                };
                let sent = self.cluster().and_then(|c| {
                    c.check_up(&node)?;
                    c.publish(&node, &frame)
                });
                if let Err(e) = sent {
                    // The node is down or unreachable: the calls into it
                    // fail on their own.
                    tracing::debug!(%node, error = %e, "cannot send a cycle probe");
                }
            }
        }
    }

    /// The probe came back to its initiator: fails the initiator's call if
    /// it is still parked in it.
    fn refuse_cycle(&self, probe: &Probe) {
        let initiator = &probe.initiator;
        if self.check_local(initiator).is_err() {
            return;
        }
        let Some(p) = self.processes.get(&initiator.id).map(|p| p.value().clone()) else {
            return;
        };
        if p.parked().is_none_or(|parked| parked.r != probe.r) {
            return;
        }
        let cycle: Vec<String> = probe.path.iter().map(Pid::to_string).collect();
        let why = format!(
            "call cycle: {} -> {initiator}; the call would deadlock",
            cycle.join(" -> ")
        );
        tracing::debug!(caller = %initiator, reason = %why, "refused a call that closes a cycle across nodes");
        self.calls
            .refuse(initiator, probe.r, DeliveryError::NotAllowed(why));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::mailbox::Mailbox;

    /// A table of `n` processes of node `here`, ids 1 to `n`, none waiting.
    fn table(n: u64) -> FastMap<u64, Arc<Process>> {
        let processes = FastMap::default();
        for id in 1..=n {
            let pid = Pid {
                node: Arc::from("here"),
                id,
                creation: 1,
            };
            let (mailbox, _rx) = Mailbox::new(4);
            let (p, _control) = Process::new(pid, "t".into(), mailbox);
            processes.insert(id, p);
        }
        processes
    }

    fn waits(processes: &FastMap<u64, Arc<Process>>, who: u64, on: u64) {
        processes
            .get(&who)
            .unwrap()
            .waiting_on
            .store(on, Ordering::SeqCst);
    }

    fn check(processes: &FastMap<u64, Arc<Process>>, me: u64, target: u64) -> Option<String> {
        let me = processes.get(&me).unwrap().clone();
        let target = processes.get(&target).unwrap().clone();
        me.waiting_on.store(target.pid.id, Ordering::SeqCst);
        local_cycle(processes, &me, &target)
    }

    #[test]
    fn a_call_that_closes_a_chain_of_waits_is_a_cycle_named_in_full() {
        let p = table(3);
        waits(&p, 2, 3);
        waits(&p, 3, 1);
        let cycle = check(&p, 1, 2).expect("1 -> 2 -> 3 -> 1 is a cycle");
        assert_eq!(
            cycle,
            "call cycle: <here.1.1> -> <here.2.1> -> <here.3> -> <here.1.1>; the call would deadlock"
        );
    }

    #[test]
    fn a_chain_that_ends_is_no_cycle() {
        let p = table(4);
        waits(&p, 2, 3);
        // 3 waits on nothing.
        assert_eq!(check(&p, 1, 2), None);
        // A wait on another node ends the walk here: probes go on there.
        waits(&p, 3, WAITS_REMOTE);
        assert_eq!(check(&p, 1, 2), None);
        // A process that is gone waits on nothing.
        waits(&p, 3, 99);
        assert_eq!(check(&p, 1, 2), None);
    }

    #[test]
    fn a_cycle_that_does_not_pass_the_caller_is_not_its_cycle() {
        // 2 and 3 wait on each other already; 1 waiting on 2 joins the
        // deadlock but does not close it, and the walk stops at its bound.
        let p = table(3);
        waits(&p, 2, 3);
        waits(&p, 3, 2);
        assert_eq!(check(&p, 1, 2), None);
    }
}
