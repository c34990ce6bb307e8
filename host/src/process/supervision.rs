//! Supervision: links, monitors, exit trapping and restart policies.
//!
//! - A **link** ties two processes both ways. When one ends with a reason
//!   other than `normal`, the other is ended too, with the reason
//!   `linked <pid> ended: <reason>`; an actor that **traps exits** gets an
//!   `exit` info instead (for a `normal` end as well) and keeps running.
//! - A **monitor** watches one process: when it ends, the watcher gets one
//!   `down` info with the monitor and the reason. Monitoring a process that
//!   is not alive gives the `down` (reason `unknown-process`) at once, so a
//!   watcher never waits for an end that already happened.
//! - A **restart policy** per behaviour says what happens when an actor
//!   ends on its own (a trap, its own `stop`, a link's exit signal):
//!   `permanent` restarts it always, `transient` only after an abnormal end,
//!   `temporary` never. A restart keeps the pid, the names, the mailbox,
//!   links and monitors; the state is fresh (`init` runs again with the
//!   original arguments) and calls the actor owed get `terminated` with
//!   the reason. Restarts are counted per actor. Past the restart intensity
//!   (`max_restarts` within `within`), the actor stays down and the failure
//!   is reported. An actor the host stops or kills is never restarted, and
//!   pool workers are replaced by their pool instead.
//!
//! Monitors and links of processes of other nodes work the same way
//! through the cluster. When such a node goes down, its monitors fire and
//! its links signal with a reason that starts with `node-down`.
//!
//! Links and monitors fire only when an actor finally ends: a restarted
//! actor is the same process, still there for whoever watches it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Instant;

use parking_lot::Mutex;

use crate::core::error::DeliveryError;
use crate::core::pid::Route;
use crate::core::pid::{Address, Pid};
use crate::node::NodeInner;
use crate::process::mailbox::{Envelope, Info};
use crate::process::table::Process;

pub use wactor_manifest::{Restart, RestartPolicy};

/// How an actor's life (or one run of it, between restarts) ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Ending {
    /// The guest trapped.
    Trap(String),
    /// The guest asked to end (`stop`, `reply-and-stop`).
    Stopped(String),
    /// A linked process ended and this one does not trap exits.
    LinkExit(String),
    /// The host stopped or killed it; never restarted.
    Host(String),
}

impl Ending {
    pub(crate) fn reason(&self) -> &str {
        match self {
            Ending::Trap(r) | Ending::Stopped(r) | Ending::LinkExit(r) | Ending::Host(r) => r,
        }
    }
}

/// The restarts of one actor in the current window.
#[derive(Debug, Default)]
pub(crate) struct RestartHistory {
    recent: VecDeque<Instant>,
}

impl RestartHistory {
    /// Whether an actor that ended this way is restarted under `policy`:
    /// `Ok(())` to restart (and the restart is recorded), or `Err(reason)`
    /// with its final exit reason.
    pub(crate) fn decide(&mut self, policy: &RestartPolicy, ending: &Ending) -> Result<(), String> {
        let reason = ending.reason();
        let wanted = match ending {
            Ending::Host(_) => false,
            _ => match policy.restart {
                Restart::Permanent => true,
                Restart::Transient => reason != "normal",
                Restart::Temporary => false,
            },
        };
        if !wanted {
            return Err(reason.to_string());
        }
        let now = Instant::now();
        while self
            .recent
            .front()
            .is_some_and(|t| now.duration_since(*t) > policy.within)
        {
            self.recent.pop_front();
        }
        if self.recent.len() >= policy.max_restarts as usize {
            return Err(format!(
                "{reason} (restart intensity reached: {} restarts within {:?}; not restarted again)",
                self.recent.len(),
                policy.within
            ));
        }
        self.recent.push_back(now);
        Ok(())
    }
}

/// One process's links and monitors.
#[derive(Debug, Default)]
pub(crate) struct Supervision {
    inner: Mutex<Bonds>,
    /// Exit signals from links become `exit` infos instead of ending it.
    pub(crate) trap_exits: AtomicBool,
    /// Times the actor was restarted in place.
    pub(crate) restarts: AtomicU64,
}

#[derive(Debug)]
struct Bonds {
    /// False once the process ended: no new link or monitor may attach.
    open: bool,
    links: HashSet<Pid>,
    /// Monitors on this process: id → watcher.
    watchers: HashMap<u64, Pid>,
    /// Monitors this process holds: id → watched process.
    watching: HashMap<u64, Pid>,
}

impl Default for Bonds {
    fn default() -> Self {
        Bonds {
            open: true,
            links: HashSet::new(),
            watchers: HashMap::new(),
            watching: HashMap::new(),
        }
    }
}

/// Monitor ids are unique across the host, so a forged or stale id names
/// no one else's monitor.
static NEXT_MONITOR: AtomicU64 = AtomicU64::new(1);

/// The pid and reason of the `down` for a monitor whose target was not
/// there (`error` says why: `unknown-process`, or `no-connection` for a node
/// that cannot be reached). A pid is itself. A name that resolves to no one
/// has no pid: the down carries the pid of no process on `node` (the node
/// the name was looked up on, with id and creation 0, which no node uses),
/// and its reason names what was asked for.
pub(crate) fn down_of_missing(to: &Address, here: &str, error: &DeliveryError) -> (Pid, String) {
    match to {
        Address::Pid(p) => (p.clone(), error.kind().to_string()),
        Address::Name(name) => (
            Pid {
                node: std::sync::Arc::from(here),
                id: 0,
                creation: 0,
            },
            format!("{}: no live actor is registered as `{name}`", error.kind()),
        ),
    }
}

impl NodeInner {
    fn live(&self, pid: &Pid) -> Option<Arc<Process>> {
        self.check_local(pid).ok()?;
        self.processes.get(&pid.id).map(|p| p.value().clone())
    }

    /// Links `me` and `to` both ways; `to` on another node answers once
    /// that node made its side of the link.
    pub(crate) async fn link(&self, me: &Arc<Process>, to: &Pid) -> Result<(), DeliveryError> {
        if let Route::Remote(_) = self.route_pid(to) {
            return self.link_remote(me, to).await;
        }
        if *to == me.pid {
            return Ok(());
        }
        self.check_local(to)?;
        let other = self.live(to).ok_or(DeliveryError::UnknownProcess)?;
        {
            let mut b = other.sup.inner.lock();
            if !b.open {
                return Err(DeliveryError::UnknownProcess);
            }
            b.links.insert(me.pid.clone());
        }
        me.sup.inner.lock().links.insert(to.clone());
        Ok(())
    }

    /// Removes the link between `me` and `to`, if any.
    pub(crate) fn unlink(&self, me: &Arc<Process>, to: &Pid) {
        if let Route::Remote(_) = self.route_pid(to) {
            return self.unlink_remote(me, to);
        }
        me.sup.inner.lock().links.remove(to);
        if let Some(other) = self.live(to) {
            other.sup.inner.lock().links.remove(&me.pid);
        }
    }

    /// Makes `watcher` monitor the process `to` names; returns the monitor.
    pub(crate) fn monitor(&self, watcher: &Process, to: &Address) -> u64 {
        let id = NEXT_MONITOR.fetch_add(1, Ordering::Relaxed);
        if let Route::Remote(node) = self.route(to) {
            self.monitor_remote(&watcher.pid, id, node, to);
            return id;
        }
        let attached = self.resolve(to).ok().and_then(|target| {
            let mut b = target.sup.inner.lock();
            b.open.then(|| {
                b.watchers.insert(id, watcher.pid.clone());
                target.pid.clone()
            })
        });
        match attached {
            Some(target) => {
                watcher.sup.inner.lock().watching.insert(id, target);
            }
            None => {
                let (pid, reason) = down_of_missing(to, &self.node_name, &DeliveryError::UnknownProcess);
                watcher.mailbox.push_system(Envelope::Info(Info::Down {
                    monitor: id,
                    pid,
                    reason,
                }));
            }
        }
        id
    }

    /// Removes a monitor `watcher` holds; false if it had fired or was not
    /// its own.
    pub(crate) fn demonitor(&self, watcher: &Process, id: u64) -> bool {
        let Some(target) = watcher.sup.inner.lock().watching.remove(&id) else {
            return self.demonitor_remote(&watcher.pid, id);
        };
        if let Some(t) = self.live(&target) {
            t.sup.inner.lock().watchers.remove(&id);
        }
        true
    }

    /// Tells `p`'s links and monitors that it ended with `reason`. Called
    /// once, from `finish`.
    pub(crate) fn announce_exit(&self, p: &Process, reason: &str) {
        let (links, watchers, watching) = {
            let mut b = p.sup.inner.lock();
            b.open = false;
            (
                std::mem::take(&mut b.links),
                std::mem::take(&mut b.watchers),
                std::mem::take(&mut b.watching),
            )
        };
        self.announce_remote_exit(&p.pid, reason);
        for (id, target) in watching {
            if let Some(t) = self.live(&target) {
                t.sup.inner.lock().watchers.remove(&id);
            }
        }
        for (id, watcher) in watchers {
            if let Some(w) = self.live(&watcher) {
                w.sup.inner.lock().watching.remove(&id);
                w.mailbox.push_system(Envelope::Info(Info::Down {
                    monitor: id,
                    pid: p.pid.clone(),
                    reason: reason.to_string(),
                }));
            }
        }
        for partner in links {
            if let Route::Remote(_) = self.route_pid(&partner) {
                self.send_exit_remote(&p.pid, &partner, reason);
                continue;
            }
            let Some(q) = self.live(&partner) else { continue };
            self.exit_from(&q, &p.pid, reason);
        }
    }

    /// Tells `q` that its linked partner `from` ended with `reason`: an
    /// `exit` info if `q` traps exits, else the end of `q` unless the
    /// reason is `normal`.
    pub(crate) fn exit_from(&self, q: &Process, from: &Pid, reason: &str) {
        q.sup.inner.lock().links.remove(from);
        if q.sup.trap_exits.load(Ordering::SeqCst) {
            q.mailbox.push_system(Envelope::Info(Info::Exit {
                pid: from.clone(),
                reason: reason.to_string(),
            }));
        } else if reason != "normal" {
            q.exit_signal(&format!("linked {from} ended: {reason}"));
        }
    }

    /// Records a link of `p` to `partner` (a process of another node);
    /// false if `p` has ended.
    pub(crate) fn add_link(&self, p: &Process, partner: &Pid) -> bool {
        let mut b = p.sup.inner.lock();
        if !b.open {
            return false;
        }
        b.links.insert(partner.clone());
        true
    }

    /// Forgets a link of `p` to `partner`.
    pub(crate) fn remove_link(&self, p: &Process, partner: &Pid) {
        p.sup.inner.lock().links.remove(partner);
    }

    /// Signals every local process linked to a process of `node` (which is
    /// down) with `why`.
    pub(crate) fn exit_links_to(&self, peer: &str, why: &str) {
        let live: Vec<Arc<Process>> = self.processes.iter().map(|e| e.value().clone()).collect();
        for q in live {
            let partners: Vec<Pid> = q
                .sup
                .inner
                .lock()
                .links
                .iter()
                .filter(|l| &*l.node == peer)
                .cloned()
                .collect();
            for partner in partners {
                self.exit_from(&q, &partner, why);
            }
        }
    }

    /// The restart policy of `behaviour`: the one set through the API,
    /// else its manifest's `[restart]`, else `temporary`.
    pub(crate) fn restart_policy(&self, behaviour: &str) -> RestartPolicy {
        if let Some(p) = self.policies.get(behaviour) {
            return *p;
        }
        self.manifest(behaviour).map(|m| m.restart).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn policy(restart: Restart, max_restarts: u32) -> RestartPolicy {
        RestartPolicy {
            restart,
            max_restarts,
            within: Duration::from_secs(60),
        }
    }

    #[test]
    fn each_policy_restarts_what_it_says() {
        let trap = Ending::Trap("trap: unreachable".into());
        let normal = Ending::Stopped("normal".into());
        let link = Ending::LinkExit("partner crashed".into());
        let host = Ending::Host("shutdown".into());
        let decide = |p: Restart, e: &Ending| RestartHistory::default().decide(&policy(p, 3), e);
        assert_eq!(decide(Restart::Permanent, &trap), Ok(()));
        assert_eq!(decide(Restart::Permanent, &normal), Ok(()));
        assert_eq!(decide(Restart::Permanent, &link), Ok(()));
        assert_eq!(decide(Restart::Transient, &trap), Ok(()));
        assert_eq!(decide(Restart::Transient, &normal), Err("normal".into()));
        assert_eq!(decide(Restart::Temporary, &trap), Err("trap: unreachable".into()));
        // Whatever the policy, what the host stopped stays stopped.
        assert_eq!(decide(Restart::Permanent, &host), Err("shutdown".into()));
    }

    #[test]
    fn restarts_past_the_intensity_end_the_actor_and_say_why() {
        let mut history = RestartHistory::default();
        let p = policy(Restart::Permanent, 2);
        let trap = Ending::Trap("trap: boom".into());
        assert_eq!(history.decide(&p, &trap), Ok(()));
        assert_eq!(history.decide(&p, &trap), Ok(()));
        let refused = history
            .decide(&p, &trap)
            .expect_err("a third restart within the window");
        assert!(
            refused.starts_with("trap: boom (restart intensity reached: 2 restarts"),
            "{refused}"
        );
        // Outside the window, earlier restarts no longer count.
        let short = RestartPolicy {
            within: Duration::ZERO,
            ..p
        };
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(history.decide(&short, &trap), Ok(()));
    }

    #[test]
    fn a_monitor_of_no_one_goes_down_with_what_was_asked() {
        let beta = Pid {
            node: Arc::from("beta"),
            id: 4,
            creation: 9,
        };
        let gone = DeliveryError::UnknownProcess;
        assert_eq!(
            down_of_missing(&Address::Pid(beta.clone()), "alpha", &gone),
            (beta, "unknown-process".to_string())
        );
        let (pid, reason) =
            down_of_missing(&Address::Name("db".into()), "alpha", &DeliveryError::NoConnection);
        assert_eq!(
            (&*pid.node, pid.id, pid.creation),
            ("alpha", 0, 0),
            "the pid of no process"
        );
        assert_eq!(reason, "no-connection: no live actor is registered as `db`");
    }
}
