//! The wire format between hosts: versioned frames.
//!
//! Every frame on the wire is one version byte ([`WIRE_VERSION`]) followed by
//! the postcard encoding of a [`Frame`], then that of its [`Stamp`]: who sent
//! it and its place in the sender's stream to this receiver. Postcard's wire
//! format is frozen for 1.x, so two hosts built at different times agree on
//! bytes as long as they agree on the version byte; a change to [`Frame`]
//! that is not purely additive at the end of an enum needs a new version.
//!
//! The stamp comes last so that a sender can number a frame after it has
//! encoded it: [`encode`] gives an [`Encoded`] body, and [`Encoded::seal`]
//! appends the stamp in the moment the frame is queued, which keeps the
//! numbers in the order the frames leave.
//!
//! Decoding is defensive: a frame comes from the network, so anything may
//! arrive. [`decode`] checks the size against a limit before it looks at the
//! bytes, refuses an unknown version, a truncated or malformed body and
//! trailing bytes, each with its own [`FrameError`]; it never panics.
//!
//! The types here are the wire forms of the library's pids, refs, addresses
//! and delivery errors; they are kept apart from the library types so that
//! the library can change without changing the wire (the conversions are in
//! the host's `cluster.rs`). A crate of its own, with no engine and no
//! runtime, so that the fuzz target (`fuzz/`) builds it in a minute.

use serde::{Deserialize, Serialize};

/// The version byte every frame starts with.
pub const WIRE_VERSION: u8 = 2;

/// Room a frame takes beyond its payload (pids, refs, names); added to the
/// payload limit to get the frame limit.
pub const FRAME_OVERHEAD: usize = 64 * 1024;

/// Why bytes from the wire are not a frame.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FrameError {
    /// Nothing at all, not even the version byte.
    #[error("empty frame: no version byte")]
    Empty,
    /// A version this host does not speak.
    #[error("unknown wire version {0} (this host speaks version {WIRE_VERSION}); are both hosts the same release?")]
    UnknownVersion(u8),
    /// More bytes than the limit allows.
    #[error("frame of {len} bytes is over the limit of {limit} bytes")]
    TooLarge {
        /// The frame's size.
        len: usize,
        /// The limit.
        limit: usize,
    },
    /// The body ends before the frame does.
    #[error("truncated frame: the body ends early")]
    Truncated,
    /// The body is not a frame.
    #[error("malformed frame: {0}")]
    Malformed(String),
}

/// A pid on the wire.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub struct WirePid {
    /// The node.
    pub node: String,
    /// The process number.
    pub id: u64,
    /// The node's incarnation.
    pub creation: u64,
}

/// A ref on the wire.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct WireRef {
    /// The 128-bit id.
    pub id: u128,
    /// The caller's deadline, in milliseconds since the Unix epoch.
    pub deadline_ms: u64,
}

/// An address on the wire.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum WireAddress {
    /// A process.
    Pid(WirePid),
    /// A name registered on the receiving node.
    Name(String),
}

/// A delivery error on the wire.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum WireError {
    /// `unknown-process`.
    UnknownProcess,
    /// `mailbox-full`.
    MailboxFull,
    /// `timeout`.
    Timeout,
    /// `no-connection`.
    NoConnection,
    /// `response-ignored`.
    ResponseIgnored,
    /// `terminated(reason)`.
    Terminated(String),
    /// `remote(text)`.
    Remote(String),
    /// `not-allowed(reason)`.
    NotAllowed(String),
    /// `payload-too-large(limit)`.
    PayloadTooLarge(u32),
    /// A request the callee could not decode (`refuse-request`); carries
    /// what was expected. Last, so the frames of older hosts decode as before.
    BadRequest(String),
}

/// A call's outcome on the wire.
pub type WireResult = Result<Vec<u8>, WireError>;

/// One message between hosts.
///
/// `ack` fields carry an id chosen by the sender when it wants to learn the
/// outcome (important delivery); the receiver answers with [`Frame::Ack`]
/// under that id, to the node named in the frame.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum Frame {
    /// "I am alive", published to every node every heartbeat period.
    Heartbeat {
        /// The sending node.
        node: String,
        /// Its incarnation: a new value means the node restarted.
        creation: u64,
    },
    /// A plain or important message.
    Send {
        /// The sender.
        from: WirePid,
        /// The recipient on the receiving node.
        to: WireAddress,
        /// The message.
        payload: Vec<u8>,
        /// The trace the message belongs to.
        trace: u128,
        /// Important: acknowledge with this id.
        ack: Option<u64>,
    },
    /// A request; the answer comes back as [`Frame::Response`].
    Call {
        /// The caller.
        from: WirePid,
        /// The callee on the receiving node.
        to: WireAddress,
        /// The call's ref.
        r: WireRef,
        /// The request.
        payload: Vec<u8>,
        /// The trace the request belongs to.
        trace: u128,
        /// Important: a request that cannot be delivered is answered at
        /// once with the reason, instead of being dropped.
        important: bool,
    },
    /// The answer to a call, or why there is none.
    Response {
        /// The caller, on the receiving node.
        caller: WirePid,
        /// The call's ref.
        r: WireRef,
        /// The answer.
        result: WireResult,
        /// Important: the node to acknowledge to, and the id.
        ack: Option<(String, u64)>,
    },
    /// The outcome of an important send or response.
    Ack {
        /// The id the sender chose.
        id: u64,
        /// Delivered, or why not.
        result: Result<(), WireError>,
    },
    /// Watch a process on the receiving node for a watcher elsewhere.
    Monitor {
        /// The monitor's id, chosen by the watcher's node.
        id: u64,
        /// The watcher.
        watcher: WirePid,
        /// The process to watch.
        target: WireAddress,
    },
    /// Stop watching.
    Demonitor {
        /// The monitor's id.
        id: u64,
        /// The watcher.
        watcher: WirePid,
    },
    /// A watched process ended (or was not alive).
    Down {
        /// The monitor's id.
        id: u64,
        /// The watcher, on the receiving node.
        watcher: WirePid,
        /// The process that ended.
        pid: WirePid,
        /// Its exit reason.
        reason: String,
    },
    /// Link `from` and `to` (on the receiving node); acknowledged with
    /// `unknown-process` if `to` is not alive.
    Link {
        /// The process on the sending node.
        from: WirePid,
        /// The process on the receiving node.
        to: WirePid,
        /// The acknowledgement id.
        ack: u64,
    },
    /// Remove the link between `from` and `to`.
    Unlink {
        /// The process on the sending node.
        from: WirePid,
        /// The process on the receiving node.
        to: WirePid,
    },
    /// `from`, linked to `to` (on the receiving node), ended.
    Exit {
        /// The process that ended.
        from: WirePid,
        /// Its partner.
        to: WirePid,
        /// Its exit reason.
        reason: String,
    },
    /// The sending node is shutting down: it is down from now on. Sent to
    /// each node on its own subject, after everything else for it.
    Leaving {
        /// The node.
        node: String,
        /// Its incarnation.
        creation: u64,
    },
    /// Looks for a cycle of calls: `initiator` is parked in its call `r`,
    /// and the waits from it lead to `waiter`'s call `call`, which a process
    /// of the receiving node owes. The receiving node goes on from that
    /// process.
    Probe {
        /// The process whose call may close a cycle.
        initiator: WirePid,
        /// The id of the initiator's call.
        r: u128,
        /// The caller of the call to go on from.
        waiter: WirePid,
        /// The id of that call.
        call: u128,
        /// The processes passed so far, from the initiator to `waiter`.
        path: Vec<WirePid>,
        /// How many more nodes the probe may visit.
        hops: u16,
    },
}

/// Who sent a frame, and where it stands in the sender's stream of frames
/// to one receiver.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp<'a> {
    /// The sending node (borrowed from the frame's bytes when decoded).
    pub node: &'a str,
    /// Its incarnation: a node that restarts starts a new stream.
    pub creation: u64,
    /// 1 for the first frame of the stream, one more for each next one; 0
    /// for a frame outside any stream (heartbeats, which every node gets).
    /// A receiver that sees a number jump knows how many frames were lost.
    pub seq: u64,
}

/// Longest encoding of a [`Stamp`] beyond its node name: two varint `u64`s
/// and the name's length.
pub const STAMP_OVERHEAD: usize = 3 * 10;

/// A frame's version byte and body, waiting for its [`Stamp`].
#[derive(Debug)]
pub struct Encoded(Vec<u8>);

impl Encoded {
    /// The size of the body, without the stamp.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// True when there is no body (never, for an encoded frame).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// Appends `stamp`: the bytes to send.
    pub fn seal(mut self, stamp: &Stamp<'_>) -> Vec<u8> {
        // A stamp of a String and two u64s always encodes.
        match postcard::to_extend(stamp, std::mem::take(&mut self.0)) {
            Ok(bytes) => bytes,
            Err(_) => unreachable!("a stamp always encodes"),
        }
    }
}

/// Encodes a frame: the version byte, then the postcard body. The result
/// is sent once [sealed](Encoded::seal) with its stamp.
pub fn encode(frame: &Frame) -> Result<Encoded, FrameError> {
    let mut bytes = postcard::to_extend(frame, vec![WIRE_VERSION])
        .map_err(|e| FrameError::Malformed(format!("cannot encode: {e}")))?;
    // Room for the stamp, so that sealing does not move the body.
    bytes.reserve(STAMP_OVERHEAD + 32);
    Ok(Encoded(bytes))
}

/// Decodes a sealed frame of at most `limit` bytes.
pub fn decode(bytes: &[u8], limit: usize) -> Result<(Frame, Stamp<'_>), FrameError> {
    if bytes.len() > limit {
        return Err(FrameError::TooLarge {
            len: bytes.len(),
            limit,
        });
    }
    let (&version, body) = bytes.split_first().ok_or(FrameError::Empty)?;
    if version != WIRE_VERSION {
        return Err(FrameError::UnknownVersion(version));
    }
    let (frame, rest) = postcard::take_from_bytes::<Frame>(body).map_err(body_error)?;
    match postcard::take_from_bytes::<Stamp>(rest).map_err(body_error)? {
        (stamp, []) => Ok((frame, stamp)),
        (_, rest) => Err(FrameError::Malformed(format!(
            "{} bytes after the end of the frame",
            rest.len()
        ))),
    }
}

fn body_error(e: postcard::Error) -> FrameError {
    match e {
        postcard::Error::DeserializeUnexpectedEnd => FrameError::Truncated,
        e => FrameError::Malformed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pid(node: &str, id: u64) -> WirePid {
        WirePid {
            node: node.into(),
            id,
            creation: 7,
        }
    }

    fn samples() -> Vec<Frame> {
        let r = WireRef {
            id: u128::MAX - 3,
            deadline_ms: 1_700_000_000_000,
        };
        vec![
            Frame::Heartbeat {
                node: "a".into(),
                creation: 99,
            },
            Frame::Send {
                from: pid("a", 1),
                to: WireAddress::Name("echo".into()),
                payload: b"hello".to_vec(),
                trace: 42,
                ack: Some(5),
            },
            Frame::Call {
                from: pid("a", 1),
                to: WireAddress::Pid(pid("b", 2)),
                r,
                payload: vec![0; 300],
                trace: 1,
                important: true,
            },
            Frame::Response {
                caller: pid("a", 0),
                r,
                result: Err(WireError::Terminated("trap".into())),
                ack: Some(("b".into(), 9)),
            },
            Frame::Ack {
                id: 5,
                result: Err(WireError::MailboxFull),
            },
            Frame::Down {
                id: 3,
                watcher: pid("a", 1),
                pid: pid("b", 2),
                reason: "normal".into(),
            },
            Frame::Link {
                from: pid("a", 1),
                to: pid("b", 2),
                ack: 4,
            },
            Frame::Exit {
                from: pid("b", 2),
                to: pid("a", 1),
                reason: "node-down".into(),
            },
            Frame::Leaving {
                node: "b".into(),
                creation: 3,
            },
            Frame::Probe {
                initiator: pid("a", 1),
                r: u128::MAX - 1,
                waiter: pid("b", 2),
                call: 17,
                path: vec![pid("a", 1), pid("b", 2)],
                hops: 255,
            },
        ]
    }

    fn stamp() -> Stamp<'static> {
        Stamp {
            node: "alpha",
            creation: u64::MAX,
            seq: u64::MAX - 1,
        }
    }

    /// A sample frame, sealed.
    fn sealed(f: &Frame) -> Vec<u8> {
        encode(f).unwrap().seal(&stamp())
    }

    #[test]
    fn every_frame_round_trips() {
        for f in samples() {
            let bytes = sealed(&f);
            assert_eq!(bytes[0], WIRE_VERSION);
            assert_eq!(decode(&bytes, 1 << 20).unwrap(), (f, stamp()));
        }
    }

    #[test]
    fn the_stamp_overhead_bounds_a_stamp() {
        let body = encode(&samples()[0]).unwrap();
        let len = body.len();
        let bytes = body.seal(&stamp());
        assert!(bytes.len() - len <= STAMP_OVERHEAD + "alpha".len());
    }

    #[test]
    fn an_unknown_version_is_refused() {
        let mut bytes = sealed(&samples()[0]);
        bytes[0] = WIRE_VERSION + 1;
        assert_eq!(
            decode(&bytes, 1 << 20),
            Err(FrameError::UnknownVersion(WIRE_VERSION + 1))
        );
        assert_eq!(decode(&[], 1 << 20), Err(FrameError::Empty));
    }

    #[test]
    fn every_truncation_is_refused() {
        for f in samples() {
            let bytes = sealed(&f);
            for cut in 1..bytes.len() {
                let e = decode(&bytes[..cut], 1 << 20).unwrap_err();
                assert!(
                    matches!(e, FrameError::Truncated | FrameError::Malformed(_)),
                    "{f:?} cut at {cut}: {e:?}"
                );
            }
        }
        // A body that stops inside the payload says so.
        let bytes = sealed(&samples()[2]);
        assert_eq!(
            decode(&bytes[..bytes.len() - 10], 1 << 20),
            Err(FrameError::Truncated)
        );
    }

    #[test]
    fn an_oversized_frame_is_refused_before_decoding() {
        let bytes = sealed(&samples()[2]);
        assert_eq!(
            decode(&bytes, 100),
            Err(FrameError::TooLarge {
                len: bytes.len(),
                limit: 100
            })
        );
        // A length prefix that claims more than there is cannot allocate it.
        let mut lying = vec![WIRE_VERSION, 1];
        lying.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(decode(&lying, 1 << 20).is_err());
    }

    #[test]
    fn garbage_and_trailing_bytes_are_refused() {
        let mut bytes = sealed(&samples()[0]);
        bytes.push(0);
        assert!(matches!(decode(&bytes, 1 << 20), Err(FrameError::Malformed(_))));
        assert!(matches!(
            decode(&[WIRE_VERSION, 200, 1, 2], 1 << 20),
            Err(FrameError::Malformed(_))
        ));
        // Every single byte after the version: no panic, whatever it says.
        for b in 0..=255u8 {
            let _ = decode(&[WIRE_VERSION, b], 1 << 20);
        }
    }
}
