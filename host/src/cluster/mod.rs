//! Clusters: several hosts as one actor system.
//!
//! A node joins a cluster by connecting to a NATS server (see
//! [`transport`](crate::cluster::transport)). From then on:
//!
//! - **Liveness.** Every node publishes a heartbeat every
//!   [`ClusterConfig::heartbeat`] (250 ms by default). A node is *up* from
//!   its first heartbeat, and *down* once [`ClusterConfig::missed_heartbeats`]
//!   periods (3) pass without one, or when it comes back with a new
//!   incarnation (it restarted). Both are logged (`node up`, `node down`).
//! - **Addressing.** A pid names its node; a name may be `name@node`. An
//!   address of another node goes over the wire as a frame (see
//!   [`frame`](crate::frame)); one of a node that is not up fails at once
//!   with `no-connection`.
//! - **Messages and calls** keep their local meaning: a remote send is
//!   queued and forgotten (it may be lost; see important delivery), a
//!   remote call waits for its answer, which any host may send (deferred
//!   answers, `send-response-error`), with the caller's timeout; a call
//!   that closes a cycle through other nodes fails with `not-allowed` (see
//!   the `cycles` module). Monitors and links work across nodes as they do
//!   on one.
//! - **Node failure.** When a node goes down, every call waiting on it fails
//!   at once with `terminated("node-down: ...")`, every important send
//!   waiting for its acknowledgement with `no-connection`, every monitor
//!   of its processes fires and every link to them signals, with a reason
//!   starting with `node-down`.
//!
//! Important delivery across hosts is in [`important`](crate::messaging::important).

pub mod transport;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Weak};
use std::time::{Duration, Instant};

use dashmap::DashMap;
use parking_lot::Mutex;
use tokio::sync::oneshot;

use crate::cluster::transport::{Inbox, Transport};
use crate::core::error::{ClusterError, DeliveryError};
use crate::core::pid::{Address, Pid, Ref, RefId};
use crate::core::trace::{self, TraceId};
use crate::frame::{Frame, FrameError, WireAddress, WireError, WirePid, WireRef};
use crate::messaging::routing::Route;
use crate::node::NodeInner;
use crate::process::mailbox::{Envelope, Info};
use crate::process::table::Process;

pub use crate::cluster::transport::redact_url;
pub use crate::core::config::{
    ClusterConfig, NatsSecurity, DEFAULT_ACK_TIMEOUT, DEFAULT_HEARTBEAT, DEFAULT_INBOUND_BUFFER,
    DEFAULT_MISSED_HEARTBEATS,
};

/// A node this one hears from.
struct Peer {
    creation: u64,
    last_seen: Instant,
}

/// Someone waiting for an acknowledgement.
struct AckWaiter {
    node: Arc<str>,
    tx: oneshot::Sender<Result<(), DeliveryError>>,
}

/// A monitor this node's actor holds on a process of another node.
struct RemoteMonitor {
    watcher: Pid,
    node: Arc<str>,
}

/// What a node knows about its cluster.
pub(crate) struct Cluster {
    pub(crate) config: ClusterConfig,
    transport: Transport,
    peers: Mutex<HashMap<Arc<str>, Peer>>,
    acks: DashMap<u64, AckWaiter>,
    next_ack: AtomicU64,
    /// Monitors held here on processes elsewhere, by monitor id.
    monitors: DashMap<u64, RemoteMonitor>,
    /// Monitors held elsewhere on processes here: (watcher's node, monitor
    /// id) → (watcher, watched process id).
    watched: DashMap<(Arc<str>, u64), (Pid, u64)>,
}

impl Cluster {
    /// Fails with `no-connection` unless `node` is up.
    pub(crate) fn check_up(&self, peer: &str) -> Result<(), DeliveryError> {
        if self.peers.lock().contains_key(peer) {
            Ok(())
        } else {
            Err(DeliveryError::NoConnection)
        }
    }

    /// `no-connection` unless `node` is up and this node is connected to
    /// the NATS server now: a confirmed frame is not queued in the client
    /// while it reconnects, so that `no-connection` always means the frame
    /// was not sent and cannot arrive later.
    pub(crate) fn check_reachable(&self, peer: &str) -> Result<(), DeliveryError> {
        self.check_up(peer)?;
        if self.transport.connected() {
            Ok(())
        } else {
            Err(DeliveryError::NoConnection)
        }
    }

    /// Queues `frame` for `node`.
    pub(crate) fn publish(&self, peer: &str, frame: &Frame) -> Result<(), DeliveryError> {
        self.transport.publish_to(peer, frame)
    }

    /// A new acknowledgement id to wait on, for a frame to `node`.
    pub(crate) fn expect_ack(&self, peer: &str) -> (u64, oneshot::Receiver<Result<(), DeliveryError>>) {
        let id = self.next_ack.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = oneshot::channel();
        self.acks.insert(
            id,
            AckWaiter {
                node: Arc::from(peer),
                tx,
            },
        );
        (id, rx)
    }

    /// Stops waiting for the acknowledgement `id`.
    pub(crate) fn cancel_ack(&self, id: u64) {
        self.acks.remove(&id);
    }

    /// Waits for the acknowledgement `id`, at most the ack timeout.
    pub(crate) async fn wait_ack(
        &self,
        id: u64,
        rx: oneshot::Receiver<Result<(), DeliveryError>>,
    ) -> Result<(), DeliveryError> {
        match tokio::time::timeout(self.config.ack_timeout, rx).await {
            Ok(Ok(result)) => result,
            // Dropped: the node went down (see `node_down`).
            Ok(Err(_)) => Err(DeliveryError::Timeout),
            Err(_) => {
                self.acks.remove(&id);
                Err(DeliveryError::Timeout)
            }
        }
    }

    /// Nodes that are up, by name.
    pub(crate) fn peers(&self) -> Vec<String> {
        let mut v: Vec<String> = self.peers.lock().keys().map(|k| k.to_string()).collect();
        v.sort();
        v
    }
}

/// Connects `node` to its cluster and starts the heartbeat and the frame
/// handler.
pub(crate) async fn join(node: &Arc<NodeInner>, config: ClusterConfig) -> Result<(), ClusterError> {
    if node.cluster.get().is_some() {
        return Err(ClusterError::AlreadyJoined);
    }
    let max_frame = node
        .config
        .max_message_bytes
        .saturating_add(crate::frame::FRAME_OVERHEAD);
    let (transport, inbox) = Transport::connect(&config, &node.node_name, node.creation, max_frame).await?;
    let cluster = Arc::new(Cluster {
        config,
        transport,
        peers: Mutex::new(HashMap::new()),
        acks: DashMap::new(),
        next_ack: AtomicU64::new(1),
        monitors: DashMap::new(),
        watched: DashMap::new(),
    });
    node.cluster
        .set(cluster.clone())
        .map_err(|_| ClusterError::AlreadyJoined)?;
    tracing::info!(
        node = %node.node_name,
        url = %transport::redact_url(&cluster.config.nats_url),
        heartbeat_ms = cluster.config.heartbeat.as_millis() as u64,
        "joined the cluster"
    );
    tokio::spawn(receive(Arc::downgrade(node), inbox));
    tokio::spawn(heartbeat(Arc::downgrade(node)));
    Ok(())
}

/// Tells the cluster this node is leaving, after sending whatever is
/// queued (the ends of its actors, for their links and monitors elsewhere).
pub(crate) async fn leave(node: &NodeInner) {
    let Some(cluster) = node.cluster.get() else { return };
    let bye = Frame::Leaving {
        node: node.node_name.to_string(),
        creation: node.creation,
    };
    // On each node's own subject, behind the frames queued for it before
    // (the heartbeat subject is read apart from it, in no set order).
    for peer in cluster.peers() {
        let _ = cluster.transport.publish_to(&peer, &bye);
    }
    cluster.transport.flush(Duration::from_secs(2)).await;
    tracing::info!(node = %node.node_name, "left the cluster");
}

/// Publishes this node's heartbeat and expires silent peers, every period.
async fn heartbeat(node: Weak<NodeInner>) {
    let period = match node
        .upgrade()
        .and_then(|n| n.cluster.get().map(|c| c.config.heartbeat))
    {
        Some(p) => p,
        None => return,
    };
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(node) = node.upgrade() else { return };
        let Some(cluster) = node.cluster.get() else { return };
        let beat = Frame::Heartbeat {
            node: node.node_name.to_string(),
            creation: node.creation,
        };
        if cluster.transport.connected() {
            if let Err(e) = cluster
                .transport
                .publish(transport::HEARTBEAT_SUBJECT.to_string(), &beat)
            {
                tracing::warn!(error = %e, "cannot queue a heartbeat");
            }
        }
        let limit = cluster.config.down_after();
        let silent: Vec<Arc<str>> = {
            let mut peers = cluster.peers.lock();
            let silent: Vec<Arc<str>> = peers
                .iter()
                .filter(|(_, p)| p.last_seen.elapsed() > limit)
                .map(|(n, _)| n.clone())
                .collect();
            for n in &silent {
                peers.remove(n);
            }
            silent
        };
        for n in silent {
            let why = format!(
                "node-down: node `{n}` sent no heartbeat for {} ms",
                limit.as_millis()
            );
            node.node_down(&n, &why);
        }
    }
}

/// Hands every incoming frame to the node, until the node is gone; logs
/// and drops bad ones.
async fn receive(node: Weak<NodeInner>, inbox: Inbox) {
    let counter = node.clone();
    inbox
        .read(
            |subject, frame| {
                let Some(node) = node.upgrade() else { return false };
                match frame {
                    Ok(frame) => match bad_node_name(&frame) {
                        // Such a name would become a peer that can never be
                        // answered (its subject is not one token), going up
                        // and down with every frame.
                        Some(name) => tracing::warn!(
                            %subject,
                            node = %name.escape_debug(),
                            "dropped a frame that names a node by an invalid name (empty, over 128 bytes, or with `.`, `*`, `>`, `@` or whitespace)"
                        ),
                        None => node.on_frame(frame),
                    },
                    Err(e) => bad_frame(subject, &e),
                }
                true
            },
            |_from, n| {
                if let Some(node) = counter.upgrade() {
                    node.metrics.remote_frames_lost.add(n);
                }
            },
        )
        .await;
}

/// The first node name in `frame` that no node can have, if any.
fn bad_node_name(frame: &Frame) -> Option<&str> {
    fn pids<'a>(pids: &[&'a WirePid]) -> Vec<&'a str> {
        pids.iter().map(|p| p.node.as_str()).collect()
    }
    let names: Vec<&str> = match frame {
        Frame::Heartbeat { node, .. } | Frame::Leaving { node, .. } => vec![node.as_str()],
        Frame::Send { from, .. } | Frame::Call { from, .. } => pids(&[from]),
        Frame::Response { caller, ack, .. } => {
            let mut v = pids(&[caller]);
            v.extend(ack.as_ref().map(|(node, _)| node.as_str()));
            v
        }
        Frame::Ack { .. } => Vec::new(),
        Frame::Monitor { watcher, .. } | Frame::Demonitor { watcher, .. } => pids(&[watcher]),
        Frame::Down { watcher, pid, .. } => pids(&[watcher, pid]),
        Frame::Link { from, to, .. } | Frame::Unlink { from, to } | Frame::Exit { from, to, .. } => {
            pids(&[from, to])
        }
        Frame::Probe {
            initiator,
            waiter,
            path,
            ..
        } => {
            let mut v = pids(&[initiator, waiter]);
            v.extend(path.iter().map(|p| p.node.as_str()));
            v
        }
    };
    names
        .into_iter()
        .find(|n| !crate::core::pid::is_valid_node_name(n))
}

fn bad_frame(subject: &str, e: &FrameError) {
    tracing::warn!(%subject, error = %e, "dropped a bad frame");
}

impl NodeInner {
    /// The cluster, or `no-connection` when the node runs alone.
    pub(crate) fn cluster(&self) -> Result<&Arc<Cluster>, DeliveryError> {
        self.cluster.get().ok_or(DeliveryError::NoConnection)
    }

    /// Queues a plain message for a process of another node. It is not
    /// known whether it arrives.
    pub(crate) fn send_remote(
        &self,
        from: &Pid,
        peer: &str,
        to: &Address,
        payload: Vec<u8>,
        ack: Option<u64>,
    ) -> Result<(), DeliveryError> {
        let cluster = self.cluster()?;
        cluster.check_up(peer)?;
        let frame = Frame::Send {
            from: from.into(),
            to: to.into(),
            payload,
            trace: trace::current_or_new().to_bits(),
            ack,
        };
        cluster.publish(peer, &frame)
    }

    /// Sends the answer to a call whose caller is on another node.
    /// `ack` asks the caller's node to acknowledge under that id.
    pub(crate) fn respond_remote(
        &self,
        caller: &Pid,
        r: &Ref,
        result: Result<Vec<u8>, DeliveryError>,
        ack: Option<u64>,
    ) -> Result<(), DeliveryError> {
        let cluster = self.cluster()?;
        cluster.check_up(&caller.node)?;
        // A call that came through this node is settled here: its callee no
        // longer owes it.
        self.calls.forget_proxy(caller, r.id);
        let frame = Frame::Response {
            caller: caller.into(),
            r: r.into(),
            result: result.map_err(|e| (&e).into()),
            ack: ack.map(|id| (self.node_name.to_string(), id)),
        };
        cluster.publish(&caller.node, &frame)
    }

    /// Acts on one frame from another node.
    fn on_frame(self: &Arc<Self>, frame: Frame) {
        match frame {
            Frame::Heartbeat { node, creation } => self.heard(node, creation),
            Frame::Leaving { node, creation } => {
                let known = self.cluster.get().is_some_and(|c| {
                    let mut peers = c.peers.lock();
                    let same = peers.get(node.as_str()).is_some_and(|p| p.creation == creation);
                    if same {
                        peers.remove(node.as_str());
                    }
                    same
                });
                if known {
                    self.node_down(&node, &format!("node-down: node `{node}` shut down"));
                }
            }
            Frame::Send {
                from,
                to,
                payload,
                trace,
                ack,
            } => {
                let from = Pid::from(&from);
                self.seen(&from);
                let to = Address::from(&to);
                let result = trace::sync_scope(TraceId::from_bits(trace), || {
                    if let Route::Remote(_) = self.route(&to) {
                        // Frames carry only addresses of the node they go to.
                        return Err(DeliveryError::UnknownProcess);
                    }
                    self.send(&from, &to, payload)
                });
                if let Some(id) = ack {
                    self.ack(&from.node, id, result);
                } else if let Err(e) = result {
                    tracing::debug!(%from, %to, error = %e, "a message from another node was not delivered");
                }
            }
            Frame::Call {
                from,
                to,
                r,
                payload,
                trace,
                important,
            } => {
                let from = Pid::from(&from);
                self.seen(&from);
                let to = Address::from(&to);
                let r = Ref::from(r);
                trace::sync_scope(TraceId::from_bits(trace), || {
                    self.inbound_call(from, &to, r, payload, important)
                });
            }
            Frame::Response {
                caller,
                r,
                result,
                ack,
            } => {
                let caller = Pid::from(&caller);
                let r = Ref::from(r);
                let result = match self.check_local(&caller) {
                    Ok(()) => self.calls.answer(&caller, r.id, result.map_err(Into::into)),
                    Err(_) => Err(DeliveryError::ResponseIgnored),
                };
                if let Some((node, id)) = ack {
                    self.ack(&node, id, result);
                }
            }
            Frame::Ack { id, result } => {
                if let Some((_, w)) = self.cluster.get().and_then(|c| c.acks.remove(&id)) {
                    let _ = w.tx.send(result.map_err(Into::into));
                }
            }
            Frame::Monitor { id, watcher, target } => self.inbound_monitor(id, Pid::from(&watcher), &target),
            Frame::Demonitor { id, watcher } => {
                let watcher = Pid::from(&watcher);
                if let Some(c) = self.cluster.get() {
                    c.watched
                        .remove_if(&(watcher.node.clone(), id), |_, (w, _)| *w == watcher);
                }
            }
            Frame::Link { from, to, ack } => {
                let (from, to) = (Pid::from(&from), Pid::from(&to));
                let linked = self
                    .local_process(&to)
                    .filter(|q| self.add_link(q, &from))
                    .map(|_| ())
                    .ok_or(DeliveryError::UnknownProcess);
                self.ack(&from.node, ack, linked);
            }
            Frame::Unlink { from, to } => {
                if let Some(q) = self.local_process(&Pid::from(&to)) {
                    self.remove_link(&q, &Pid::from(&from));
                }
            }
            Frame::Exit { from, to, reason } => {
                if let Some(q) = self.local_process(&Pid::from(&to)) {
                    self.exit_from(&q, &Pid::from(&from), &reason);
                }
            }
            Frame::Probe {
                initiator,
                r,
                waiter,
                call,
                path,
                hops,
            } => self.on_probe(&initiator, r, &waiter, call, &path, hops),
            Frame::Down {
                id,
                watcher,
                pid,
                reason,
            } => {
                let watcher = Pid::from(&watcher);
                let removed = self
                    .cluster
                    .get()
                    .and_then(|c| c.monitors.remove_if(&id, |_, m| m.watcher == watcher));
                if removed.is_some() {
                    self.deliver_down(&watcher, id, Pid::from(&pid), reason);
                }
            }
        }
    }

    /// Answers an acknowledgement request.
    fn ack(&self, peer: &str, id: u64, result: Result<(), DeliveryError>) {
        if let Ok(c) = self.cluster() {
            let frame = Frame::Ack {
                id,
                result: result.map_err(|e| (&e).into()),
            };
            if let Err(e) = c.publish(peer, &frame) {
                tracing::warn!(node = %peer, error = %e, "cannot send an acknowledgement");
            }
        }
    }

    /// A message or request from `from`: its node is up, if it was not
    /// known yet (its heartbeat may come later, on another subscription),
    /// so that the answer can go back. Heartbeats alone keep it up.
    fn seen(&self, from: &Pid) {
        if *from.node == *self.node_name {
            return;
        }
        let Ok(cluster) = self.cluster() else { return };
        let new = {
            let mut peers = cluster.peers.lock();
            let new = !peers.contains_key(&*from.node);
            if new {
                peers.insert(
                    from.node.clone(),
                    Peer {
                        creation: from.creation,
                        last_seen: Instant::now(),
                    },
                );
            }
            new
        };
        if new {
            tracing::info!(node = %from.node, "node up");
        }
    }

    /// A heartbeat: `node` is up.
    fn heard(&self, node: String, creation: u64) {
        if *node == *self.node_name {
            if creation != self.creation {
                tracing::error!(%node, "another host uses this node's name; pids of the two would be confused");
            }
            return;
        }
        let Ok(cluster) = self.cluster() else { return };
        let restarted = {
            let mut peers = cluster.peers.lock();
            match peers.get_mut(node.as_str()) {
                Some(p) if p.creation == creation => {
                    p.last_seen = Instant::now();
                    return;
                }
                Some(p) => {
                    p.creation = creation;
                    p.last_seen = Instant::now();
                    true
                }
                None => {
                    peers.insert(
                        Arc::from(node.as_str()),
                        Peer {
                            creation,
                            last_seen: Instant::now(),
                        },
                    );
                    false
                }
            }
        };
        if restarted {
            self.node_down(&node, &format!("node-down: node `{node}` restarted"));
        }
        tracing::info!(%node, "node up");
    }

    /// Settles everything that waits on `node`, which is down.
    pub(crate) fn node_down(&self, peer: &str, why: &str) {
        tracing::warn!(node = %peer, reason = %why, "node down");
        self.calls
            .fail_node(peer, DeliveryError::Terminated(why.to_string()));
        let Ok(cluster) = self.cluster() else { return };
        let waiting: Vec<u64> = cluster
            .acks
            .iter()
            .filter(|e| &*e.value().node == peer)
            .map(|e| *e.key())
            .collect();
        // The frame may still be in this node's NATS client, waiting for
        // the connection to come back, and arrive then: `no-connection`
        // would tell the sender it was not delivered, so the outcome is
        // reported as unknown, as when no acknowledgement comes in time.
        for id in waiting {
            if let Some((_, w)) = cluster.acks.remove(&id) {
                let _ = w.tx.send(Err(DeliveryError::Timeout));
            }
        }
        let fired: Vec<u64> = cluster
            .monitors
            .iter()
            .filter(|e| &*e.value().node == peer)
            .map(|e| *e.key())
            .collect();
        for id in fired {
            if let Some((_, m)) = cluster.monitors.remove(&id) {
                // The pid is not known to the watcher's node beyond its node.
                let pid = Pid {
                    node: Arc::from(peer),
                    id: 0,
                    creation: 0,
                };
                self.deliver_down(&m.watcher, id, pid, why.to_string());
            }
        }
        cluster.watched.retain(|(n, _), _| &**n != peer);
        self.exit_links_to(peer, why);
    }

    /// A call from a process of another node.
    fn inbound_call(self: &Arc<Self>, from: Pid, to: &Address, r: Ref, payload: Vec<u8>, important: bool) {
        let delivered = if let Route::Remote(_) = self.route(to) {
            Err(DeliveryError::UnknownProcess)
        } else {
            self.resolve(to)
                .and_then(|target| self.deliver_proxy_call(&target, &from, r, payload))
        };
        match delivered {
            Ok(()) => {}
            Err(e) if important => {
                if let Err(e) = self.respond_remote(&from, &r, Err(e), None) {
                    tracing::debug!(caller = %from, error = %e, "cannot report an undeliverable request");
                }
            }
            // A plain request that cannot be delivered is lost, as a plain
            // message is: the caller times out (see important delivery).
            Err(e) => {
                tracing::debug!(caller = %from, error = %e, "a request from another node was not delivered")
            }
        }
    }

    /// Someone on another node monitors a process here.
    fn inbound_monitor(&self, id: u64, watcher: Pid, target: &WireAddress) {
        let Ok(cluster) = self.cluster() else { return };
        let to = Address::from(target);
        let key = (watcher.node.clone(), id);
        let target = match self.route(&to) {
            Route::Remote(_) => None,
            Route::Local => self.resolve(&to).ok(),
        };
        if let Some(p) = target {
            // Registered first, then checked: a process that ends in between
            // has either seen the entry (and announces its end) or is gone
            // from the table now.
            cluster.watched.insert(key.clone(), (watcher.clone(), p.pid.id));
            if self.processes.contains_key(&p.pid.id) || cluster.watched.remove(&key).is_none() {
                return;
            }
        }
        let (pid, reason) = crate::process::supervision::down_of_missing(
            &to,
            &self.node_name,
            &DeliveryError::UnknownProcess,
        );
        let down = Frame::Down {
            id,
            watcher: (&watcher).into(),
            pid: (&pid).into(),
            reason,
        };
        let _ = cluster.publish(&watcher.node, &down);
    }

    /// Tells watchers on other nodes that the process `pid` ended.
    pub(crate) fn announce_remote_exit(&self, pid: &Pid, reason: &str) {
        let Some(cluster) = self.cluster.get() else { return };
        let fired: Vec<((Arc<str>, u64), Pid)> = cluster
            .watched
            .iter()
            .filter(|e| e.value().1 == pid.id)
            .map(|e| (e.key().clone(), e.value().0.clone()))
            .collect();
        for (key, watcher) in fired {
            if cluster.watched.remove(&key).is_none() {
                continue;
            }
            let id = key.1;
            let down = Frame::Down {
                id,
                watcher: (&watcher).into(),
                pid: pid.into(),
                reason: reason.to_string(),
            };
            let _ = cluster.publish(&watcher.node, &down);
        }
    }

    /// Monitors a process of another node for the local actor `watcher`.
    /// If the monitor cannot be set up, the `down` comes at once, with the
    /// reason.
    pub(crate) fn monitor_remote(&self, watcher: &Pid, id: u64, peer: &str, to: &Address) {
        let sent = self.cluster().and_then(|c| {
            c.check_up(peer)?;
            c.monitors.insert(
                id,
                RemoteMonitor {
                    watcher: watcher.clone(),
                    node: Arc::from(peer),
                },
            );
            let frame = Frame::Monitor {
                id,
                watcher: watcher.into(),
                target: to.into(),
            };
            c.publish(peer, &frame).inspect_err(|_| {
                c.monitors.remove(&id);
            })
        });
        if let Err(e) = sent {
            let (pid, reason) = crate::process::supervision::down_of_missing(to, peer, &e);
            self.deliver_down(watcher, id, pid, reason);
        }
    }

    /// Removes a monitor held on a process of another node; false if there
    /// was none.
    pub(crate) fn demonitor_remote(&self, watcher: &Pid, id: u64) -> bool {
        let Some(c) = self.cluster.get() else { return false };
        let Some((_, m)) = c.monitors.remove_if(&id, |_, m| m.watcher == *watcher) else {
            return false;
        };
        let _ = c.publish(
            &m.node,
            &Frame::Demonitor {
                id,
                watcher: watcher.into(),
            },
        );
        true
    }

    /// The live local process `pid`, if any.
    fn local_process(&self, pid: &Pid) -> Option<Arc<Process>> {
        self.check_local(pid).ok()?;
        self.processes.get(&pid.id).map(|p| p.value().clone())
    }

    /// Links the local actor `me` and `to`, a process of another node, once
    /// that node confirmed `to` is alive.
    pub(crate) async fn link_remote(&self, me: &Process, to: &Pid) -> Result<(), DeliveryError> {
        let cluster = self.cluster()?;
        cluster.check_up(&to.node)?;
        // Recorded first, so an exit that comes right after the
        // confirmation finds the link.
        self.add_link(me, to);
        let (id, rx) = cluster.expect_ack(&to.node);
        let frame = Frame::Link {
            from: (&me.pid).into(),
            to: to.into(),
            ack: id,
        };
        let linked = match cluster.publish(&to.node, &frame) {
            Ok(()) => cluster.wait_ack(id, rx).await,
            Err(e) => {
                cluster.cancel_ack(id);
                Err(e)
            }
        };
        if linked.is_err() {
            self.remove_link(me, to);
        }
        linked
    }

    /// Removes a link between the local actor `me` and `to`, a process of
    /// another node.
    pub(crate) fn unlink_remote(&self, me: &Process, to: &Pid) {
        self.remove_link(me, to);
        if let Ok(c) = self.cluster() {
            let frame = Frame::Unlink {
                from: (&me.pid).into(),
                to: to.into(),
            };
            let _ = c.publish(&to.node, &frame);
        }
    }

    /// Tells `partner`, on another node, that its linked partner `from`
    /// ended.
    pub(crate) fn send_exit_remote(&self, from: &Pid, partner: &Pid, reason: &str) {
        if let Ok(c) = self.cluster() {
            let frame = Frame::Exit {
                from: from.into(),
                to: partner.into(),
                reason: reason.to_string(),
            };
            if let Err(e) = c.publish(&partner.node, &frame) {
                tracing::debug!(%partner, error = %e, "cannot tell a linked process on another node");
            }
        }
    }

    /// Puts a `down` info in a local watcher's system lane.
    fn deliver_down(&self, watcher: &Pid, id: u64, pid: Pid, reason: String) {
        if self.check_local(watcher).is_err() {
            return;
        }
        if let Some(w) = self.processes.get(&watcher.id).map(|p| p.value().clone()) {
            w.mailbox.push_system(Envelope::Info(Info::Down {
                monitor: id,
                pid,
                reason,
            }));
        }
    }
}

// The wire forms of the library's types (see `frame`).

impl From<&Pid> for WirePid {
    fn from(p: &Pid) -> Self {
        WirePid {
            node: p.node.to_string(),
            id: p.id,
            creation: p.creation,
        }
    }
}

impl From<&WirePid> for Pid {
    fn from(p: &WirePid) -> Self {
        Pid {
            node: p.node.as_str().into(),
            id: p.id,
            creation: p.creation,
        }
    }
}

impl From<&Ref> for WireRef {
    fn from(r: &Ref) -> Self {
        WireRef {
            id: r.id.0,
            deadline_ms: r.deadline_ms,
        }
    }
}

impl From<WireRef> for Ref {
    fn from(r: WireRef) -> Self {
        Ref {
            id: RefId(r.id),
            deadline_ms: r.deadline_ms,
        }
    }
}

impl From<&Address> for WireAddress {
    fn from(a: &Address) -> Self {
        match a {
            Address::Pid(p) => WireAddress::Pid(p.into()),
            Address::Name(n) => WireAddress::Name(n.clone()),
        }
    }
}

impl From<&WireAddress> for Address {
    fn from(a: &WireAddress) -> Self {
        match a {
            WireAddress::Pid(p) => Address::Pid(p.into()),
            WireAddress::Name(n) => Address::Name(n.clone()),
        }
    }
}

impl From<&DeliveryError> for WireError {
    fn from(e: &DeliveryError) -> Self {
        match e {
            DeliveryError::UnknownProcess => WireError::UnknownProcess,
            DeliveryError::MailboxFull => WireError::MailboxFull,
            DeliveryError::Timeout => WireError::Timeout,
            DeliveryError::NoConnection => WireError::NoConnection,
            DeliveryError::ResponseIgnored => WireError::ResponseIgnored,
            DeliveryError::Terminated(r) => WireError::Terminated(r.clone()),
            DeliveryError::Remote(r) => WireError::Remote(r.clone()),
            DeliveryError::NotAllowed(r) => WireError::NotAllowed(r.clone()),
            DeliveryError::PayloadTooLarge(n) => WireError::PayloadTooLarge(*n),
            DeliveryError::BadRequest(r) => WireError::BadRequest(r.clone()),
        }
    }
}

impl From<WireError> for DeliveryError {
    fn from(e: WireError) -> Self {
        match e {
            WireError::UnknownProcess => DeliveryError::UnknownProcess,
            WireError::MailboxFull => DeliveryError::MailboxFull,
            WireError::Timeout => DeliveryError::Timeout,
            WireError::NoConnection => DeliveryError::NoConnection,
            WireError::ResponseIgnored => DeliveryError::ResponseIgnored,
            WireError::Terminated(r) => DeliveryError::Terminated(r),
            WireError::Remote(r) => DeliveryError::Remote(r),
            WireError::NotAllowed(r) => DeliveryError::NotAllowed(r),
            WireError::PayloadTooLarge(n) => DeliveryError::PayloadTooLarge(n),
            WireError::BadRequest(r) => DeliveryError::BadRequest(r),
        }
    }
}
