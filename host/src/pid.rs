//! Process identifiers, call references and addresses.
//!
//! These are the host-side forms of the WIT `pid`, `ref` and `address`
//! types. A [`Pid`] names its node and that node's incarnation
//! (`creation`), so a pid kept from an earlier run of a host never reaches a
//! new actor. A [`Ref`] carries 127 random bits, the call's [`Encoding`]
//! and the caller's deadline.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Names one actor process on one node.
// The hand-written `PartialEq` below is field-wise equality, so the
// derived `Hash` and `Ord` agree with it.
#[allow(clippy::derived_hash_with_manual_eq)]
#[derive(Clone, Debug, Eq, Hash, PartialOrd, Ord)]
pub struct Pid {
    /// The node the process lives on.
    pub node: Arc<str>,
    /// The process number on that node; 0 is the node itself.
    pub id: u64,
    /// The incarnation of the node that created the process.
    pub creation: u64,
}

impl Pid {
    /// True for the pseudo-process that stands for the host itself (the
    /// sender of messages that come from HTTP or the CLI).
    pub fn is_host(&self) -> bool {
        self.id == 0
    }
}

/// Equal when every field is. The numbers are compared first, and the node
/// names by pointer before by text: the pids of one node share one name,
/// and pids are compared on the path of every envelope.
impl PartialEq for Pid {
    fn eq(&self, other: &Pid) -> bool {
        self.id == other.id
            && self.creation == other.creation
            && (Arc::ptr_eq(&self.node, &other.node) || self.node == other.node)
    }
}

impl fmt::Display for Pid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "<{}.{}.{}>", self.node, self.id, self.creation)
    }
}

/// The id part of a [`Ref`]: 127 random bits and the [`Encoding`] bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RefId(pub u128);

impl RefId {
    /// A fresh unguessable id.
    pub fn random() -> Self {
        RefId(rand::random())
    }
}

impl fmt::Display for RefId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:032x}", self.0)
    }
}

/// Identifies one pending call, with the moment its caller stops waiting.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Ref {
    /// The unguessable id.
    pub id: RefId,
    /// Milliseconds since the Unix epoch at which the caller gives up.
    pub deadline_ms: u64,
}

impl Ref {
    /// A new ref whose caller waits `timeout` from now, for a request in
    /// the callee's native encoding.
    pub fn new(timeout: Duration) -> Self {
        Ref::encoded(timeout, Encoding::Native)
    }
}

/// How a call's request and answer are encoded. It travels in the top bit
/// of the ref's id (the WIT's `id-hi`), so it goes wherever the ref goes:
/// the mailbox, a pool's worker, another host, a deferred answer.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// The callee's own encoding (postcard for actors of the Rust SDK).
    #[default]
    Native,
    /// UTF-8 JSON text, both ways.
    Json,
}

impl RefId {
    /// The bit that marks a JSON call.
    pub const JSON_BIT: u128 = 1 << 127;

    /// The encoding this id carries.
    pub fn encoding(self) -> Encoding {
        if self.0 & Self::JSON_BIT == 0 {
            Encoding::Native
        } else {
            Encoding::Json
        }
    }

    /// The same id with its encoding bit set to `encoding`; the other 127
    /// bits, which make it unguessable, are kept.
    pub fn with_encoding(self, encoding: Encoding) -> RefId {
        match encoding {
            Encoding::Native => RefId(self.0 & !Self::JSON_BIT),
            Encoding::Json => RefId(self.0 | Self::JSON_BIT),
        }
    }
}

impl Ref {
    /// A new ref whose caller waits `timeout` from now, for a request and
    /// answer in `encoding`.
    pub fn encoded(timeout: Duration, encoding: Encoding) -> Self {
        Ref {
            id: RefId::random().with_encoding(encoding),
            deadline_ms: now_ms().saturating_add(timeout.as_millis() as u64),
        }
    }

    /// A new ref for a JSON call whose caller waits `timeout` from now.
    pub fn new_json(timeout: Duration) -> Self {
        Ref::encoded(timeout, Encoding::Json)
    }

    /// The encoding of the call this ref belongs to.
    pub fn encoding(&self) -> Encoding {
        self.id.encoding()
    }
}

#[cfg(test)]
mod encoding_tests {
    use super::*;

    #[test]
    fn a_ref_carries_its_encoding_and_stays_random() {
        let t = Duration::from_secs(1);
        let (native, json) = (Ref::new(t), Ref::new_json(t));
        assert_eq!(native.encoding(), Encoding::Native);
        assert_eq!(json.encoding(), Encoding::Json);
        assert_eq!(json.id.0 & RefId::JSON_BIT, RefId::JSON_BIT);
        // The other bits are still random: two JSON refs differ.
        assert_ne!(Ref::new_json(t).id, json.id);
        let flipped = json.id.with_encoding(Encoding::Native);
        assert_eq!(flipped.0, json.id.0 & !RefId::JSON_BIT);
    }
}

/// Milliseconds since the Unix epoch, the clock refs' deadlines use.
pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Where a message goes: a process, or a registered name.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Address {
    /// A process.
    Pid(Pid),
    /// A registered name (`name`, or `name@node` for another node).
    Name(String),
}

impl From<Pid> for Address {
    fn from(p: Pid) -> Self {
        Address::Pid(p)
    }
}

impl From<&Pid> for Address {
    fn from(p: &Pid) -> Self {
        Address::Pid(p.clone())
    }
}

impl From<&str> for Address {
    fn from(n: &str) -> Self {
        Address::Name(n.to_string())
    }
}

impl From<String> for Address {
    fn from(n: String) -> Self {
        Address::Name(n)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Pid(p) => p.fmt(f),
            Address::Name(n) => f.write_str(n),
        }
    }
}
