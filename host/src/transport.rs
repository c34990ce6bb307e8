//! The NATS transport: how frames get from one host to another.
//!
//! Each node subscribes to its own subject, `wactor.node.<NAME>`, and to the
//! shared heartbeat subject `wactor.heartbeat`. A frame for a node is
//! published on that node's subject; a heartbeat on the shared one.
//!
//! Outgoing frames go through one queue to one writer task, so frames leave
//! in the order they were queued: two messages from one actor to another
//! arrive in the order they were sent. Queuing never waits; a full queue
//! (the connection cannot keep up, or is down for long) is reported to the
//! sender as `no-connection` rather than growing without bound.
//!
//! The NATS client reconnects on its own, forever, with a short backoff;
//! every change of the connection is logged. Frames queued while the
//! connection is down are sent after it comes back, so a plain message may
//! still arrive late; an important one is only reported delivered once the
//! other host acknowledged it.

use bytes::Bytes;
use futures_util::StreamExt as _;
use std::time::Duration;
use tokio::sync::{mpsc, oneshot};

use crate::error::{ClusterError, DeliveryError};
use crate::frame::{self, Frame, FrameError};

/// The subject every heartbeat is published on.
pub const HEARTBEAT_SUBJECT: &str = "wactor.heartbeat";

/// Frames queued for the writer at most.
const OUT_QUEUE: usize = 64 * 1024;

/// Longest wait between two reconnection attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// The subject a node receives its frames on.
pub fn node_subject(node: &str) -> String {
    format!("wactor.node.{node}")
}

/// Checks that a node name can be part of a subject: one token, no
/// wildcards, no whitespace.
pub fn validate_node_name(node: &str) -> Result<(), ClusterError> {
    let bad = node.is_empty()
        || node.len() > 128
        || node
            .chars()
            .any(|c| c == '.' || c == '*' || c == '>' || c == '@' || c.is_whitespace() || c.is_control());
    if bad {
        Err(ClusterError::BadNodeName(node.to_string()))
    } else {
        Ok(())
    }
}

/// A frame as it arrived, decoded or not.
pub(crate) type Incoming = Result<Frame, FrameError>;

/// What the writer task is asked to do.
enum Out {
    /// Publish these bytes on this subject.
    Frame(String, Bytes),
    /// Tell once everything queued before is with the server.
    Flush(oneshot::Sender<()>),
}

/// The sending side of a node's connection.
pub(crate) struct Transport {
    out: mpsc::Sender<Out>,
    client: async_nats::Client,
    max_frame: usize,
}

impl Transport {
    /// Connects to NATS at `url` as `node` and subscribes to its subjects.
    /// Incoming frames (decoded with a limit of `max_frame` bytes) come
    /// out of the returned receiver.
    pub(crate) async fn connect(
        url: &str,
        node: &str,
        max_frame: usize,
    ) -> Result<(Transport, mpsc::Receiver<(String, Incoming)>), ClusterError> {
        validate_node_name(node)?;
        let log_node = node.to_string();
        let client = async_nats::ConnectOptions::new()
            .name(format!("wactor node {node}"))
            .max_reconnects(None)
            .reconnect_delay_callback(|attempts| {
                Duration::from_millis(50u64.saturating_mul(attempts as u64)).min(MAX_RECONNECT_DELAY)
            })
            .event_callback(move |event| {
                let node = log_node.clone();
                async move {
                    match event {
                        async_nats::Event::Connected => {
                            tracing::info!(node = %node, "NATS connection (re)established")
                        }
                        async_nats::Event::Disconnected => {
                            tracing::warn!(node = %node, "NATS connection lost; reconnecting")
                        }
                        other => tracing::warn!(node = %node, event = %other, "NATS connection event"),
                    }
                }
            })
            .connect(url)
            .await
            .map_err(|e| ClusterError::Connect {
                url: url.to_string(),
                reason: e.to_string(),
            })?;
        let subscribe = |subject: String| {
            let client = client.clone();
            async move {
                client
                    .subscribe(subject.clone())
                    .await
                    .map_err(|e| ClusterError::Subscribe {
                        subject,
                        reason: e.to_string(),
                    })
            }
        };
        let mut direct = subscribe(node_subject(node)).await?;
        let mut beats = subscribe(HEARTBEAT_SUBJECT.to_string()).await?;
        // Make sure the server has the subscriptions before anyone is told
        // this node exists.
        client.flush().await.map_err(|e| ClusterError::Connect {
            url: url.to_string(),
            reason: format!("flush after subscribing: {e}"),
        })?;

        let (in_tx, in_rx) = mpsc::channel(OUT_QUEUE);
        tokio::spawn(async move {
            loop {
                let msg = tokio::select! {
                    m = direct.next() => m,
                    m = beats.next() => m,
                };
                let Some(msg) = msg else { break };
                let decoded = frame::decode(&msg.payload, max_frame);
                if in_tx.send((msg.subject.to_string(), decoded)).await.is_err() {
                    break;
                }
            }
        });

        let (out, mut out_rx) = mpsc::channel::<Out>(OUT_QUEUE);
        let writer = client.clone();
        tokio::spawn(async move {
            while let Some(out) = out_rx.recv().await {
                match out {
                    Out::Frame(subject, bytes) => {
                        if let Err(e) = writer.publish(subject.clone(), bytes).await {
                            tracing::warn!(%subject, error = %e, "cannot publish a frame");
                        }
                    }
                    Out::Flush(done) => {
                        if let Err(e) = writer.flush().await {
                            tracing::warn!(error = %e, "cannot flush the NATS connection");
                        }
                        let _ = done.send(());
                    }
                }
            }
        });
        // The limit of this host, or of the NATS server, whichever is lower.
        let server_max = client.server_info().max_payload;
        let max_frame = if server_max == 0 {
            max_frame
        } else {
            max_frame.min(server_max)
        };
        Ok((
            Transport {
                out,
                client,
                max_frame,
            },
            in_rx,
        ))
    }

    /// Queues `frame` for `subject` without waiting.
    pub(crate) fn publish(&self, subject: String, frame: &Frame) -> Result<(), DeliveryError> {
        let bytes = frame::encode(frame).map_err(|e| {
            tracing::error!(error = %e, "cannot encode a frame");
            DeliveryError::NoConnection
        })?;
        // Refused here rather than by the other host, which would drop it.
        let limit = self.max_frame;
        if bytes.len() > limit {
            return Err(DeliveryError::PayloadTooLarge(
                u32::try_from(limit.saturating_sub(frame::FRAME_OVERHEAD)).unwrap_or(u32::MAX),
            ));
        }
        // A full queue is back-pressure (the writer is behind), not a lost
        // connection: the sender may try again, as with a full mailbox.
        self.out
            .try_send(Out::Frame(subject, Bytes::from(bytes)))
            .map_err(|e| match e {
                mpsc::error::TrySendError::Full(_) => DeliveryError::MailboxFull,
                mpsc::error::TrySendError::Closed(_) => DeliveryError::NoConnection,
            })
    }

    /// Waits (at most `limit`) until every frame queued so far is with the
    /// server.
    pub(crate) async fn flush(&self, limit: Duration) {
        let (done, flushed) = oneshot::channel();
        if self.out.send(Out::Flush(done)).await.is_ok() {
            let _ = tokio::time::timeout(limit, flushed).await;
        }
    }

    /// Queues `frame` for `node`.
    pub(crate) fn publish_to(&self, node: &str, frame: &Frame) -> Result<(), DeliveryError> {
        self.publish(node_subject(node), frame)
    }

    /// True while the client is connected to the server.
    pub(crate) fn connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_names_must_be_one_subject_token() {
        for good in ["alpha", "node-1", "eu_west_2", "ä"] {
            assert_eq!(validate_node_name(good), Ok(()), "{good}");
            assert_eq!(node_subject(good), format!("wactor.node.{good}"));
        }
        for bad in ["", "a.b", "a*", ">", "a b", "a@b", "tab\there", &"x".repeat(129)] {
            assert_eq!(
                validate_node_name(bad),
                Err(ClusterError::BadNodeName(bad.to_string())),
                "{bad:?}"
            );
        }
    }
}
