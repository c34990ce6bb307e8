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

/// True for a name a node can have: it is one token of a NATS subject
/// (no `.`, `*`, `>`), holds no `@` (which separates a name from its
/// node), no whitespace or control characters, and is 1 to 128 bytes.
/// Pids are written with `.` between their parts, so a pid's text always
/// splits back the same way.
pub fn is_valid_node_name(node: &str) -> bool {
    !node.is_empty()
        && node.len() <= 128
        && !node
            .chars()
            .any(|c| matches!(c, '.' | '*' | '>' | '@') || c.is_whitespace() || c.is_control())
}

/// Why a text is not a pid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "malformed pid {text:?}: {why}; a pid is written `<NODE.ID.CREATION>` as `wactor ps` \
     prints it, or `NODE.ID.CREATION` without the brackets (for URLs)"
)]
pub struct BadPid {
    /// The text, cut to 80 characters.
    pub text: String,
    /// What is wrong with it.
    pub why: &'static str,
}

impl Pid {
    /// Reads a pid in the form [`Display`](fmt::Display) writes,
    /// `<node.id.creation>`, or the same without the brackets, which needs
    /// no escaping in a URL.
    pub fn parse(text: &str) -> Result<Pid, BadPid> {
        let bad = |why| BadPid {
            text: text.chars().take(80).collect(),
            why,
        };
        let inner = match text.strip_prefix('<') {
            Some(rest) => rest
                .strip_suffix('>')
                .ok_or_else(|| bad("it opens with `<` but does not close with `>`"))?,
            None => text,
        };
        let mut parts = inner.rsplitn(3, '.');
        let (Some(creation), Some(id), Some(node)) = (parts.next(), parts.next(), parts.next()) else {
            return Err(bad("it needs three parts separated by `.`"));
        };
        if !is_valid_node_name(node) {
            return Err(bad("its node is not a node name"));
        }
        let number = |s: &str| {
            (!s.is_empty() && s.bytes().all(|b| b.is_ascii_digit()))
                .then(|| s.parse::<u64>().ok())
                .flatten()
        };
        let id = number(id).ok_or_else(|| bad("its id is not a whole number"))?;
        let creation = number(creation).ok_or_else(|| bad("its creation is not a whole number"))?;
        Ok(Pid {
            node: Arc::from(node),
            id,
            creation,
        })
    }

    /// True when `text` can only be meant as a pid: it is written in
    /// brackets, or it parses as one. A name never looks like this (see
    /// `wactor_manifest::check_name`), so an address in text is read one
    /// way only.
    pub fn looks_like_pid(text: &str) -> bool {
        text.starts_with('<') || Pid::parse(text).is_ok()
    }
}

impl std::str::FromStr for Pid {
    type Err = BadPid;

    fn from_str(s: &str) -> Result<Pid, BadPid> {
        Pid::parse(s)
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

/// Where an address leads, seen from one node: the decision whether it is
/// that node's or another's, made by [`Route::of`] alone (the node's
/// `route` uses it for every send, call, answer, link and monitor).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Route<'a> {
    /// A process of this node (looked up by the node).
    Local,
    /// A process of the node named, reached through the cluster.
    Remote(&'a str),
}

impl<'a> Route<'a> {
    /// Where `to` leads from the node named `here`: the node of its pid, or
    /// of a name's `@node`; a bare name is `here`'s.
    pub(crate) fn of(here: &str, to: &'a Address) -> Route<'a> {
        match to {
            Address::Pid(pid) => Route::of_node(here, &pid.node),
            Address::Name(name) => match name.split_once('@') {
                Some((_, node)) => Route::of_node(here, node),
                None => Route::Local,
            },
        }
    }

    /// Where a process of `node` is, from the node named `here`.
    pub(crate) fn of_node(here: &str, node: &'a str) -> Route<'a> {
        match node == here {
            true => Route::Local,
            false => Route::Remote(node),
        }
    }
}

/// How a message, call or answer is delivered: plain (a send to another
/// host is queued and forgotten) or important (confirmed by the other host;
/// see the `important` module). On one host both are the same.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Delivery {
    /// Queued and forgotten across hosts.
    #[default]
    Plain,
    /// Confirmed across hosts: it fails with why when the other host did
    /// not take it.
    Important,
}

impl Delivery {
    /// `Important` when `important` is set (the wire's flag).
    pub fn from_flag(important: bool) -> Delivery {
        match important {
            true => Delivery::Important,
            false => Delivery::Plain,
        }
    }

    /// True for `Important`.
    pub fn is_important(self) -> bool {
        self == Delivery::Important
    }
}

/// How a call is made: its timeout (`None`: the caller's default), its
/// delivery and its encoding.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CallOptions {
    /// How long the caller waits; `None` takes the caller's default.
    pub timeout: Option<Duration>,
    /// Plain or important.
    pub delivery: Delivery,
    /// The encoding the ref carries to whoever answers.
    pub encoding: Encoding,
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

impl Address {
    /// Reads an address written by a person: a pid (see [`Pid::parse`]),
    /// or else a registered name (`name` or `name@node`). A text in
    /// brackets that is not a pid is an error, not a name.
    pub fn parse(text: &str) -> Result<Address, BadPid> {
        if Pid::looks_like_pid(text) {
            Pid::parse(text).map(Address::Pid)
        } else {
            Ok(Address::Name(text.to_string()))
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn pid_of(node: &str) -> Pid {
        Pid {
            node: Arc::from(node),
            id: 3,
            creation: 7,
        }
    }

    #[test]
    fn an_address_routes_to_the_node_it_names() {
        let here = "alpha";
        let local = Address::Pid(pid_of("alpha"));
        let remote = Address::Pid(pid_of("beta"));
        assert_eq!(Route::of(here, &local), Route::Local);
        assert_eq!(Route::of(here, &remote), Route::Remote("beta"));
        let bare = Address::Name("counter".into());
        let own = Address::Name("counter@alpha".into());
        let other = Address::Name("counter@beta".into());
        assert_eq!(Route::of(here, &bare), Route::Local, "a bare name is this node's");
        assert_eq!(Route::of(here, &own), Route::Local);
        assert_eq!(Route::of(here, &other), Route::Remote("beta"));
        // Node names are compared whole, not by prefix.
        assert_eq!(
            Route::of(here, &Address::Pid(pid_of("alphabet"))),
            Route::Remote("alphabet")
        );
        assert_eq!(Route::of_node(here, "alph"), Route::Remote("alph"));
    }

    #[test]
    fn delivery_follows_the_wire_flag() {
        assert_eq!(Delivery::from_flag(true), Delivery::Important);
        assert_eq!(Delivery::from_flag(false), Delivery::Plain);
        assert!(Delivery::Important.is_important());
        assert!(!Delivery::default().is_important(), "plain unless asked");
        assert_eq!(CallOptions::default().encoding, Encoding::Native);
    }

    #[test]
    fn a_pid_reads_back_from_both_of_its_written_forms() {
        let pid = Pid {
            node: Arc::from("eu-west_2"),
            id: 9,
            creation: 1_764_690_000_123,
        };
        let shown = pid.to_string();
        assert_eq!(shown, "<eu-west_2.9.1764690000123>");
        assert_eq!(Pid::parse(&shown), Ok(pid.clone()));
        assert_eq!(shown.parse::<Pid>(), Ok(pid.clone()));
        assert_eq!(Pid::parse(&shown[1..shown.len() - 1]), Ok(pid.clone()));
        assert_eq!(Address::parse(&shown), Ok(Address::Pid(pid)));
    }

    #[test]
    fn a_malformed_pid_says_what_is_wrong() {
        for (text, why) in [
            ("<local.1.2", "does not close"),
            ("<local.1>", "three parts"),
            ("<.1.2>", "node name"),
            ("<a*b.1.2>", "node name"),
            ("<local.x.2>", "id"),
            ("<local.1.-2>", "creation"),
            ("<local.1.99999999999999999999>", "creation"),
        ] {
            let e = Pid::parse(text).expect_err(text);
            assert!(e.why.contains(why), "{text}: {e}");
            assert!(e.to_string().contains("malformed pid"), "{e}");
            assert_eq!(Address::parse(text), Err(e));
        }
    }

    #[test]
    fn text_that_is_no_pid_is_a_name() {
        for name in ["echo", "calc@beta", "a.b", "v1.2", "x>"] {
            assert_eq!(
                Address::parse(name),
                Ok(Address::Name(name.to_string())),
                "{name}"
            );
        }
    }
}
