//! Important (confirmed) delivery.
//!
//! A plain send to another node is queued and forgotten: it may be lost, and
//! the sender cannot tell "the process does not exist" from "its mailbox is
//! full" from "it arrived". Important delivery closes that gap; each form
//! waits for the other host's word, and only the calling actor waits:
//!
//! - **`send-important`** returns once the other host has put the message
//!   in the mailbox (it acknowledges), or with the reason it did not:
//!   `unknown-process`, `mailbox-full`, `no-connection` (the node is not up,
//!   or this node is not connected to the NATS server: the message was not
//!   sent). Each of these means *not delivered*, so a retry cannot deliver
//!   it twice. `timeout` means *not known*: no acknowledgement within
//!   [`ClusterConfig::ack_timeout`](crate::cluster::ClusterConfig), or the
//!   node went down while we waited (the message may have arrived, or may
//!   still arrive from the client's buffer once the connection is back).
//! - **`call-important`** sends the request flagged important: the other
//!   host answers an undeliverable request at once with the reason, instead
//!   of dropping it as it drops a plain one (whose caller then times out).
//!   A delivered request is not acknowledged; the caller waits for the
//!   answer as a plain call does.
//! - **`send-response-important`** returns once the caller's host handed the
//!   answer to the waiting caller, or `response-ignored` when the caller had
//!   stopped waiting (timed out, ended).
//! - **`set-important-delivery(true)`** makes every send, call and response
//!   of the actor important, including the answer it returns from
//!   `handle-call`.
//!
//! On one host the plain forms already report every failure at once, so the
//! important forms are the plain ones.

use crate::core::error::DeliveryError;
use crate::core::pid::{Address, Delivery, Pid, Ref};
use crate::messaging::routing::Route;
use crate::node::NodeInner;

impl NodeInner {
    /// Sends a message, plain or important.
    pub(crate) async fn send_with(
        &self,
        from: &Pid,
        to: &Address,
        payload: Vec<u8>,
        delivery: Delivery,
    ) -> Result<(), DeliveryError> {
        match delivery {
            Delivery::Plain => self.send(from, to, payload),
            Delivery::Important => self.send_important(from, to, payload).await,
        }
    }

    /// Answers a call, plain or important.
    pub(crate) async fn respond_with(
        &self,
        caller: &Pid,
        r: &Ref,
        result: Result<Vec<u8>, DeliveryError>,
        delivery: Delivery,
    ) -> Result<(), DeliveryError> {
        match delivery {
            Delivery::Plain => self.respond(caller, r, result),
            Delivery::Important => self.respond_important(caller, r, result).await,
        }
    }

    /// Sends a message and, across hosts, waits until it is in the
    /// recipient's mailbox.
    pub(crate) async fn send_important(
        &self,
        from: &Pid,
        to: &Address,
        payload: Vec<u8>,
    ) -> Result<(), DeliveryError> {
        let Route::Remote(node) = self.route(to) else {
            let r = self.send(from, to, payload);
            self.metrics.important(&r);
            return r;
        };
        let r = self.send_confirmed(from, node, to, payload).await;
        self.metrics.sent(&r);
        self.metrics.important(&r);
        r
    }

    async fn send_confirmed(
        &self,
        from: &Pid,
        peer: &str,
        to: &Address,
        payload: Vec<u8>,
    ) -> Result<(), DeliveryError> {
        self.check_size(payload.len())?;
        let cluster = self.cluster()?;
        cluster.check_reachable(peer)?;
        let (id, rx) = cluster.expect_ack(peer);
        if let Err(e) = self.send_remote(from, peer, to, payload, Some(id)) {
            cluster.cancel_ack(id);
            return Err(e);
        }
        cluster.wait_ack(id, rx).await
    }

    /// Answers a call and, across hosts, waits until the caller took the
    /// answer.
    pub(crate) async fn respond_important(
        &self,
        caller: &Pid,
        r: &Ref,
        result: Result<Vec<u8>, DeliveryError>,
    ) -> Result<(), DeliveryError> {
        if let Route::Local = self.route_pid(caller) {
            let res = self.respond(caller, r, result);
            self.metrics.important(&res);
            return res;
        }
        let res = self.respond_confirmed(caller, r, result).await;
        self.metrics.important(&res);
        res
    }

    async fn respond_confirmed(
        &self,
        caller: &Pid,
        r: &Ref,
        result: Result<Vec<u8>, DeliveryError>,
    ) -> Result<(), DeliveryError> {
        if let Ok(payload) = &result {
            if let Err(too_large) = self.check_size(payload.len()) {
                // The caller learns why no answer comes, and so does the
                // responder.
                self.respond_remote(caller, r, Err(too_large.clone()), None)?;
                return Err(too_large);
            }
        }
        let cluster = self.cluster()?;
        cluster.check_reachable(&caller.node)?;
        let (id, rx) = cluster.expect_ack(&caller.node);
        if let Err(e) = self.respond_remote(caller, r, result, Some(id)) {
            cluster.cancel_ack(id);
            return Err(e);
        }
        cluster.wait_ack(id, rx).await
    }
}
