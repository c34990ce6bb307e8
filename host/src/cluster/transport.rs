//! The NATS transport: how frames get from one host to another.
//!
//! Each node subscribes to its own subject, `wactor.node.<NAME>`, and to the
//! shared heartbeat subject `wactor.heartbeat`. A frame for a node is
//! published on that node's subject; a heartbeat on the shared one.
//!
//! Outgoing frames go straight into the NATS client's queue, in the order
//! they are published, so two messages from one actor to another arrive in
//! the order they were sent. Publishing never waits: a full queue (the
//! connection cannot keep up, or has been down for long) is reported to the
//! sender as `mailbox-full`, back-pressure it may retry, rather than
//! growing without bound. Incoming frames are decoded and handed to the
//! node by the task that reads the subscriptions, with no queue between.
//! Each frame would otherwise cross one more task on each side, and on a
//! small machine every wake-up of another task costs several microseconds
//! of a remote call's round trip.
//!
//! Every frame is stamped with its sender and a number that counts the
//! frames one node sent to another (see [`Stamp`](crate::frame::Stamp)).
//! A receiver that sees the number jump knows how many frames it never got:
//! dropped by a NATS client that could not hand them over fast enough (a
//! burst larger than [`ClusterConfig::inbound_buffer`](crate::ClusterConfig)),
//! or lost with a broken connection. Plain messages are at most once, so
//! this is not an error, but it is counted
//! (`wactor_remote_frames_lost_total`) and logged, never silent. Numbering
//! starts from the first frame a receiver sees of a sender's incarnation;
//! frames lost before it are not counted.
//!
//! A node proves who it is with a user and password or a token in the URL
//! (`nats://USER:PASSWORD@HOST:PORT`, `nats://TOKEN@HOST:PORT`) or with a
//! NATS credentials file, and talks TLS to a `tls://` URL or when given
//! root certificates ([`NatsSecurity`]). Credentials never reach the logs:
//! every URL shown is [redacted](redact_url).
//!
//! The NATS client reconnects on its own, forever, with a short backoff;
//! every change of the connection is logged. Frames queued while the
//! connection is down are sent after it comes back, so a plain message may
//! still arrive late; an important one is only reported delivered once the
//! other host acknowledged it.

use bytes::Bytes;
use futures_util::{FutureExt as _, StreamExt as _};
use parking_lot::Mutex;
use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::core::config::{ClusterConfig, NatsSecurity};
use crate::core::error::{ClusterError, DeliveryError};
use crate::frame::{self, Frame, FrameError, Stamp};

/// The subject every heartbeat is published on.
pub const HEARTBEAT_SUBJECT: &str = "wactor.heartbeat";

/// Frames queued in the client for the server at most.
const OUT_QUEUE: usize = 64 * 1024;

/// Longest time between two warnings about lost frames from one node.
const LOSS_LOG_PERIOD: Duration = Duration::from_secs(1);

/// Longest wait between two reconnection attempts.
const MAX_RECONNECT_DELAY: Duration = Duration::from_secs(1);

/// The subject a node receives its frames on.
pub fn node_subject(node: &str) -> String {
    format!("wactor.node.{node}")
}

/// Checks that a node name can be part of a subject: one token, no
/// wildcards, no whitespace.
pub fn validate_node_name(node: &str) -> Result<(), ClusterError> {
    if crate::core::pid::is_valid_node_name(node) {
        Ok(())
    } else {
        Err(ClusterError::BadNodeName(node.to_string()))
    }
}

/// The sending side of a node's connection.
pub(crate) struct Transport {
    client: async_nats::Client,
    max_frame: usize,
    /// This node and its incarnation, for the stamps.
    node: String,
    creation: u64,
    /// The last number stamped on a frame, per subject.
    streams: Mutex<HashMap<String, u64>>,
}

/// The receiving side of a node's connection: its own subject and the
/// heartbeats.
pub(crate) struct Inbox {
    direct: async_nats::Subscriber,
    beats: async_nats::Subscriber,
    max_frame: usize,
}

impl Inbox {
    /// Decodes every frame as it arrives (with the limit given to
    /// [`Transport::connect`]) and hands it to `handle` with its subject,
    /// until the connection is closed or `handle` says to stop. Frames
    /// found missing from a sender's stream are reported to `lost` with the
    /// sender's name.
    pub(crate) async fn read(
        mut self,
        mut handle: impl FnMut(&str, Result<Frame, FrameError>) -> bool,
        mut lost: impl FnMut(&str, u64),
    ) {
        let mut streams = Streams::default();
        loop {
            let msg = tokio::select! {
                m = self.direct.next() => m,
                m = self.beats.next() => m,
            };
            let Some(msg) = msg else { break };
            let frame = frame::decode(&msg.payload, self.max_frame).map(|(frame, stamp)| {
                if let Some(missing) = streams.next(&stamp) {
                    lost(stamp.node, missing);
                }
                frame
            });
            if !handle(&msg.subject, frame) {
                break;
            }
        }
    }
}

/// Where each sender's stream to this node stands.
#[derive(Default)]
struct Streams(HashMap<String, Stream>);

struct Stream {
    creation: u64,
    last: u64,
    /// Frames found lost and not yet logged, and when the last warning was.
    unlogged: u64,
    logged_at: Option<Instant>,
}

impl Streams {
    /// Takes note of a frame; says how many frames before it never came.
    fn next(&mut self, stamp: &Stamp<'_>) -> Option<u64> {
        if stamp.seq == 0 {
            return None;
        }
        let Some(s) = self.0.get_mut(stamp.node) else {
            self.0.insert(
                stamp.node.to_string(),
                Stream {
                    creation: stamp.creation,
                    last: stamp.seq,
                    unlogged: 0,
                    logged_at: None,
                },
            );
            return None;
        };
        if s.creation != stamp.creation {
            // The sender restarted: a new stream.
            s.creation = stamp.creation;
            s.last = stamp.seq;
            return None;
        }
        let missing = stamp.seq.saturating_sub(s.last.saturating_add(1));
        s.last = s.last.max(stamp.seq);
        if missing == 0 {
            return None;
        }
        s.unlogged += missing;
        if s.logged_at.is_none_or(|t| t.elapsed() >= LOSS_LOG_PERIOD) {
            tracing::warn!(
                from = %stamp.node,
                frames = s.unlogged,
                "frames from another node were lost (a burst larger than the inbound buffer, or a broken \
                 connection); plain messages among them are gone, important ones were reported undelivered"
            );
            s.unlogged = 0;
            s.logged_at = Some(Instant::now());
        }
        Some(missing)
    }
}

impl Transport {
    /// Connects to NATS at `url` as `node` and subscribes to its subjects.
    /// Incoming frames (decoded with a limit of `max_frame` bytes) are read
    /// from the returned [`Inbox`].
    pub(crate) async fn connect(
        config: &ClusterConfig,
        node: &str,
        creation: u64,
        max_frame: usize,
    ) -> Result<(Transport, Inbox), ClusterError> {
        validate_node_name(node)?;
        let url = config.nats_url.as_str();
        let shown = redact_url(url);
        let options = config
            .security
            .options(url, &shown)
            .await?
            .name(format!("wactor node {node}"))
            .max_reconnects(None)
            .client_capacity(OUT_QUEUE)
            .subscription_capacity(config.inbound_buffer.max(1));
        let log_node = node.to_string();
        let client = options
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
            .map_err(|e| connect_error(&shown, &e))?;
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
        let direct = subscribe(node_subject(node)).await?;
        let beats = subscribe(HEARTBEAT_SUBJECT.to_string()).await?;
        // Make sure the server has the subscriptions before anyone is told
        // this node exists.
        client.flush().await.map_err(|e| ClusterError::Connect {
            url: shown.clone(),
            reason: format!("flush after subscribing: {e}"),
            hint: "is the server shutting down?",
        })?;

        let max_frame_in = max_frame;
        // The limit of this host, or of the NATS server, whichever is lower.
        let server_max = client.server_info().max_payload;
        let max_frame = if server_max == 0 {
            max_frame
        } else {
            max_frame.min(server_max)
        };
        let inbox = Inbox {
            direct,
            beats,
            max_frame: max_frame_in,
        };
        let transport = Transport {
            client,
            max_frame,
            node: node.to_string(),
            creation,
            streams: Mutex::new(HashMap::new()),
        };
        Ok((transport, inbox))
    }

    /// Queues `frame` for `subject` without waiting.
    pub(crate) fn publish(&self, subject: String, frame: &Frame) -> Result<(), DeliveryError> {
        let body = frame::encode(frame).map_err(|e| {
            tracing::error!(error = %e, "cannot encode a frame");
            DeliveryError::NoConnection
        })?;
        // Refused here rather than by the other host, which would drop it.
        let limit = self.max_frame;
        if body.len() + frame::STAMP_OVERHEAD + self.node.len() > limit {
            return Err(DeliveryError::PayloadTooLarge(
                u32::try_from(limit.saturating_sub(frame::FRAME_OVERHEAD)).unwrap_or(u32::MAX),
            ));
        }
        // Numbered and queued under one lock, so numbers leave in order.
        let mut streams = self.streams.lock();
        let seq = if subject == HEARTBEAT_SUBJECT {
            None
        } else {
            if !streams.contains_key(&subject) {
                streams.insert(subject.clone(), 0);
            }
            streams.get_mut(&subject)
        };
        let stamp = Stamp {
            node: &self.node,
            creation: self.creation,
            seq: seq.as_ref().map_or(0, |last| **last + 1),
        };
        let bytes = Bytes::from(body.seal(&stamp));
        // The client's queue has room, or the first poll is pending. A
        // pending poll is dropped at once, which takes nothing from the
        // queue; outside the cooperative budget, so that a busy task is not
        // told the queue is full when it is not.
        let publish = tokio::task::unconstrained(self.client.publish(subject, bytes));
        let published = publish.now_or_never();
        if let (Some(Ok(())), Some(last)) = (&published, seq) {
            // Only a frame that left takes a number.
            *last += 1;
        }
        drop(streams);
        match published {
            Some(Ok(())) => Ok(()),
            // A full queue is back-pressure (the connection is behind), not
            // a lost connection: the sender may try again, as with a full
            // mailbox.
            None => Err(DeliveryError::MailboxFull),
            Some(Err(e)) => {
                tracing::warn!(error = %e, "cannot publish a frame");
                Err(DeliveryError::NoConnection)
            }
        }
    }

    /// Waits (at most `limit`) until every frame queued so far is with the
    /// server.
    pub(crate) async fn flush(&self, limit: Duration) {
        match tokio::time::timeout(limit, self.client.flush()).await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => tracing::warn!(error = %e, "cannot flush the NATS connection"),
            Err(_) => tracing::warn!(
                limit_ms = limit.as_millis() as u64,
                "flushing the NATS connection took too long"
            ),
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

impl NatsSecurity {
    /// Connection options carrying these settings and the URL's user and
    /// password or token (the client does not take them from the URL).
    async fn options(&self, url: &str, shown: &str) -> Result<async_nats::ConnectOptions, ClusterError> {
        let addr: async_nats::ServerAddr = url.parse().map_err(|e| ClusterError::Connect {
            url: shown.to_string(),
            reason: format!("{e}"),
            hint: "a NATS URL looks like nats://HOST:PORT, tls://HOST:PORT or nats://USER:PASSWORD@HOST:PORT",
        })?;
        let mut options = match (addr.username(), addr.password()) {
            (Some(user), Some(password)) => {
                async_nats::ConnectOptions::new().user_and_password(user.to_string(), password.to_string())
            }
            (Some(token), None) => async_nats::ConnectOptions::new().token(token.to_string()),
            _ => async_nats::ConnectOptions::new(),
        };
        // Checked here: the client would only say "TLS error" later.
        let readable = |what: &'static str, path: &PathBuf| {
            std::fs::metadata(path)
                .map(|_| ())
                .map_err(|e| ClusterError::Security {
                    what,
                    path: path.clone(),
                    reason: e.to_string(),
                })
        };
        if let Some(path) = &self.credentials_file {
            options = options
                .credentials_file(path)
                .await
                .map_err(|e| ClusterError::Security {
                    what: "the NATS credentials file",
                    path: path.clone(),
                    reason: e.to_string(),
                })?;
        }
        if let Some(path) = &self.tls_root_certificates {
            readable("the TLS root certificates", path)?;
            options = options.add_root_certificates(path.clone()).require_tls(true);
        }
        if let Some((cert, key)) = &self.tls_client_certificate {
            readable("the TLS client certificate", cert)?;
            readable("the TLS client key", key)?;
            options = options.add_client_certificate(cert.clone(), key.clone());
        }
        Ok(options)
    }
}

/// Why the first connection failed, with what to check next.
fn connect_error(shown: &str, e: &async_nats::ConnectError) -> ClusterError {
    use async_nats::ConnectErrorKind as Kind;
    let url = shown.to_string();
    let reason = e.to_string();
    // A certificate either side cannot check comes as an IO error.
    let lower = reason.to_lowercase();
    let tls = e.kind() == Kind::Tls
        || ["certificate", "tls", "handshake"]
            .iter()
            .any(|w| lower.contains(w));
    if tls {
        return ClusterError::Refused {
            url,
            reason,
            hint:
                "the server's certificate must chain to the root certificates given (--nats-tls-ca) and name \
                   the host of the URL, and a server that verifies its clients needs --nats-tls-cert and \
                   --nats-tls-key; use tls:// or --nats-tls-ca only with a server that has TLS",
        };
    }
    match e.kind() {
        Kind::Authentication | Kind::AuthorizationViolation => ClusterError::Refused {
            url,
            reason,
            hint: "check the user and password or token in the URL (nats://USER:PASSWORD@HOST:PORT), or the \
                   credentials file (--nats-creds)",
        },
        _ => ClusterError::Connect {
            url,
            reason,
            hint: "is `nats-server` running there?",
        },
    }
}

/// `url` without its user, password or token, to be shown and logged.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{scheme}://***@{}", &rest[at + 1..]),
        None => url.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_never_show_in_a_url() {
        for (url, shown) in [
            ("nats://127.0.0.1:4222", "nats://127.0.0.1:4222"),
            ("nats://alice:s3cr%40t@host:4222", "nats://***@host:4222"),
            ("tls://token@host:4222/", "tls://***@host:4222/"),
            ("nats://u:p@host/a@b", "nats://***@host/a@b"),
            ("host:4222", "host:4222"),
        ] {
            assert_eq!(redact_url(url), shown, "{url}");
        }
    }

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
