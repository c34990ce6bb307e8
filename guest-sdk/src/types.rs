//! The plain values actors pass around: pids, refs, addresses, calls, timers
//! and log levels.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::__private::bindings::wactor::actor::types as wit;

/// Names one actor process, anywhere in a cluster.
///
/// Pids are never reused: a host numbers its processes upwards from 1, and
/// `creation` changes every time a host starts, so a pid kept from an earlier
/// run of a host can never reach a new actor by accident.
///
/// A pid is an ordinary value: store it, compare it, put it in a message to
/// another actor. It displays as `<node.id.creation>`.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Pid {
    /// The node (host) the process lives on.
    pub node: String,
    /// The process number on that node. `0` is the host itself: messages
    /// that come from outside (HTTP, the CLI) carry it as their sender.
    pub id: u64,
    /// The incarnation of the node that created the process.
    pub creation: u64,
}

impl Pid {
    /// True for the host's own pid (`id == 0`), the sender of messages and
    /// calls that come from outside any actor.
    pub fn is_host(&self) -> bool {
        self.id == 0
    }

    pub(crate) fn from_wit(pid: wit::Pid) -> Self {
        Pid {
            node: pid.node,
            id: pid.id,
            creation: pid.creation,
        }
    }

    pub(crate) fn to_wit(&self) -> wit::Pid {
        wit::Pid {
            node: self.node.clone(),
            id: self.id,
            creation: self.creation,
        }
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}.{}.{}>", self.node, self.id, self.creation)
    }
}

/// Identifies one pending call; part of [`Call`].
///
/// The 127 random bits make a ref unguessable: the host accepts a response
/// only for a ref its caller is waiting on. The top bit of `id_hi` is the
/// call's [`Encoding`](crate::codec::Encoding): see [`Ref::encoding`].
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ref {
    /// High 64 bits of the identifier; its top bit is the encoding.
    pub id_hi: u64,
    /// Low 64 bits of the random identifier.
    pub id_lo: u64,
    /// When the caller stops waiting, in milliseconds since the Unix epoch.
    pub deadline_ms: u64,
}

impl Ref {
    /// The bit of `id_hi` that marks a JSON call.
    pub const JSON_BIT: u64 = 1 << 63;

    /// How the call's request is encoded, and so how its answer must be:
    /// [`Encoding::Json`](crate::codec::Encoding::Json) when the caller
    /// asked in JSON (the CLI's `--json`, HTTP with `Content-Type:
    /// application/json`), [`Encoding::Native`](crate::codec::Encoding::Native)
    /// otherwise. The SDK reads it for typed requests and replies; an actor
    /// with [`Raw`](crate::Raw) requests reads it to know what it was sent.
    pub fn encoding(&self) -> crate::codec::Encoding {
        if self.id_hi & Self::JSON_BIT == 0 {
            crate::codec::Encoding::Native
        } else {
            crate::codec::Encoding::Json
        }
    }

    pub(crate) fn from_wit(r: wit::Ref) -> Self {
        Ref {
            id_hi: r.id_hi,
            id_lo: r.id_lo,
            deadline_ms: r.deadline_ms,
        }
    }

    pub(crate) fn to_wit(self) -> wit::Ref {
        wit::Ref {
            id_hi: self.id_hi,
            id_lo: self.id_lo,
            deadline_ms: self.deadline_ms,
        }
    }
}

/// Where a message or call goes: a process, or a registered name.
///
/// Every function that sends takes `impl Into<Address>`, so a [`Pid`], a
/// `&Pid`, a `&str` or a `String` can be passed directly. A name may be
/// `name@node` to address a name registered on another node.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// A process.
    Pid(Pid),
    /// A registered name, optionally `name@node`.
    Name(String),
}

impl Address {
    pub(crate) fn to_wit(&self) -> wit::Address {
        match self {
            Address::Pid(pid) => wit::Address::Pid(pid.to_wit()),
            Address::Name(name) => wit::Address::Name(name.clone()),
        }
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Pid(pid) => pid.fmt(f),
            Address::Name(name) => f.write_str(name),
        }
    }
}

impl From<Pid> for Address {
    fn from(pid: Pid) -> Self {
        Address::Pid(pid)
    }
}

impl From<&Pid> for Address {
    fn from(pid: &Pid) -> Self {
        Address::Pid(pid.clone())
    }
}

impl From<&str> for Address {
    fn from(name: &str) -> Self {
        Address::Name(name.to_owned())
    }
}

impl From<String> for Address {
    fn from(name: String) -> Self {
        Address::Name(name)
    }
}

impl From<&String> for Address {
    fn from(name: &String) -> Self {
        Address::Name(name.clone())
    }
}

impl From<&Address> for Address {
    fn from(address: &Address) -> Self {
        address.clone()
    }
}

/// One pending call: who is waiting ([`from`](Call::from)) and for what
/// ([`r`](Call::r)).
///
/// [`Actor::handle_call`](crate::Actor::handle_call) receives it. To answer
/// later, keep it and return [`Outcome::Defer`](crate::Outcome::Defer), then
/// call [`Context::reply`](crate::Context::reply) or
/// [`Context::reply_error`](crate::Context::reply_error). A `Call` is
/// serializable, so it can also be forwarded inside a message to another
/// actor, which may answer the original caller itself.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub struct Call {
    /// The process waiting for the answer.
    pub from: Pid,
    /// The ref that identifies this call.
    pub r: Ref,
}

/// A pending timer, returned by [`Context::send_after`](crate::Context::send_after).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Timer(pub(crate) u64);

impl Timer {
    /// The host's number for this timer.
    pub fn id(&self) -> u64 {
        self.0
    }
}

/// Severity of a log line; see [`Context::log`](crate::Context::log).
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Level {
    /// Very detailed tracing.
    Trace,
    /// Information useful while debugging.
    Debug,
    /// Normal operation worth noting.
    Info,
    /// Something unexpected that the actor survived.
    Warn,
    /// A failure.
    Error,
}

impl Level {
    pub(crate) fn to_wit(self) -> wit::Level {
        match self {
            Level::Trace => wit::Level::Trace,
            Level::Debug => wit::Level::Debug,
            Level::Info => wit::Level::Info,
            Level::Warn => wit::Level::Warn,
            Level::Error => wit::Level::Error,
        }
    }
}

/// A monitor, returned by [`Context::monitor`](crate::Context::monitor) and
/// named again in the [`Info::Down`] it produces.
#[derive(Serialize, Deserialize, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Monitor(pub(crate) u64);

impl Monitor {
    /// The monitor with the host's number `id` (as kept, say, in a
    /// message). Only the actor that set a monitor up can remove it.
    pub fn from_id(id: u64) -> Self {
        Monitor(id)
    }

    /// The host's number for this monitor.
    pub fn id(&self) -> u64 {
        self.0
    }
}

/// What the host tells an actor outside of messages and calls; handled by
/// [`Actor::handle_info`](crate::Actor::handle_info).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Info {
    /// The outcome of [`Context::call_async`](crate::Context::call_async),
    /// tagged with the ref it returned. Decode the answer with
    /// [`decode`](crate::Decode::decode) as the callee's reply type, or use
    /// [`Info::response`].
    Response {
        /// The ref `call_async` returned.
        r: Ref,
        /// The raw answer, or why there is none.
        result: Result<Vec<u8>, crate::Error>,
    },
    /// A process this actor monitors ended (or was not alive).
    Down {
        /// The monitor that fired.
        monitor: Monitor,
        /// The process.
        pid: Pid,
        /// Its exit reason (`"unknown-process"` if it was not alive).
        reason: String,
    },
    /// A linked process ended; only for an actor that traps exits (see
    /// [`Context::trap_exits`](crate::Context::trap_exits)).
    Exit {
        /// The process.
        pid: Pid,
        /// Its exit reason.
        reason: String,
    },
}

impl Info {
    /// For a [`Info::Response`]: its ref and the answer decoded as `R`.
    pub fn response<R: crate::Decode>(self) -> Option<(Ref, Result<R, crate::Error>)> {
        match self {
            Info::Response { r, result } => Some((r, result.and_then(R::decode))),
            _ => None,
        }
    }

    pub(crate) fn from_wit(info: wit::Info) -> Self {
        match info {
            wit::Info::Response(resp) => Info::Response {
                r: Ref::from_wit(resp.r),
                result: resp.outcome.map_err(crate::Error::from_wit),
            },
            wit::Info::Down(d) => Info::Down {
                monitor: Monitor(d.monitor),
                pid: Pid::from_wit(d.pid),
                reason: d.reason,
            },
            wit::Info::Exit(e) => Info::Exit {
                pid: Pid::from_wit(e.pid),
                reason: e.reason,
            },
        }
    }
}
