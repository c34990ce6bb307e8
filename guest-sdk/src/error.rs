//! Errors returned by [`Context`](crate::Context) operations.

use core::fmt;

use serde::{Deserialize, Serialize};

use crate::__private::bindings::wactor::actor::types as wit;
use crate::types::Pid;

/// Why a message, call or response did not get through.
///
/// All variants but [`Decode`](Error::Decode) come from the host. These are
/// transport-class failures; an application's own errors belong in its reply
/// type (see the crate docs on the two error channels).
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub enum Error {
    /// No live process has that pid or name.
    UnknownProcess,
    /// The recipient's mailbox is at capacity; nothing was enqueued.
    MailboxFull,
    /// No answer (or, for important delivery, no acknowledgement) in time.
    Timeout,
    /// The recipient's node cannot be reached.
    NoConnection,
    /// A response arrived for a call whose caller had stopped waiting.
    ResponseIgnored,
    /// The callee ended before answering; carries its exit reason.
    Terminated(String),
    /// The callee answered with [`Context::reply_error`](crate::Context::reply_error);
    /// carries its text.
    Remote(String),
    /// The host refused the operation (a call to oneself, a call cycle, a
    /// forbidden target); carries the reason.
    NotAllowed(String),
    /// The payload is larger than the host's limit (carried, in bytes).
    PayloadTooLarge(u32),
    /// A payload could not be encoded or decoded on this side: a request or
    /// message that did not encode, or an answer that was not the expected
    /// type. The text says which type and why.
    Decode(String),
}

impl Error {
    pub(crate) fn from_wit(e: wit::DeliveryError) -> Self {
        use wit::DeliveryError as D;
        match e {
            D::UnknownProcess => Error::UnknownProcess,
            D::MailboxFull => Error::MailboxFull,
            D::Timeout => Error::Timeout,
            D::NoConnection => Error::NoConnection,
            D::ResponseIgnored => Error::ResponseIgnored,
            D::Terminated(reason) => Error::Terminated(reason),
            D::Remote(text) => Error::Remote(text),
            D::NotAllowed(reason) => Error::NotAllowed(reason),
            D::PayloadTooLarge(limit) => Error::PayloadTooLarge(limit),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::UnknownProcess => f.write_str("unknown process"),
            Error::MailboxFull => f.write_str("mailbox full"),
            Error::Timeout => f.write_str("timed out"),
            Error::NoConnection => f.write_str("no connection to the recipient's node"),
            Error::ResponseIgnored => f.write_str("response ignored: the caller stopped waiting"),
            Error::Terminated(reason) => write!(f, "terminated: {reason}"),
            Error::Remote(text) => write!(f, "remote error: {text}"),
            Error::NotAllowed(reason) => write!(f, "not allowed: {reason}"),
            Error::PayloadTooLarge(limit) => {
                write!(f, "payload larger than the limit of {limit} bytes")
            }
            Error::Decode(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for Error {}

/// Why [`Context::spawn`](crate::Context::spawn) failed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub enum SpawnError {
    /// No behaviour of that name is loaded on the host.
    UnknownBehaviour(String),
    /// A limit on live actors was reached; carries which.
    LimitReached(String),
    /// The new actor's `init` failed or trapped (or its arguments could not
    /// be encoded); carries the reason.
    InitFailed(String),
}

impl SpawnError {
    pub(crate) fn from_wit(e: wit::SpawnError) -> Self {
        use wit::SpawnError as S;
        match e {
            S::UnknownBehaviour(name) => SpawnError::UnknownBehaviour(name),
            S::LimitReached(which) => SpawnError::LimitReached(which),
            S::InitFailed(reason) => SpawnError::InitFailed(reason),
        }
    }
}

impl fmt::Display for SpawnError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SpawnError::UnknownBehaviour(name) => write!(f, "unknown behaviour `{name}`"),
            SpawnError::LimitReached(which) => write!(f, "limit reached: {which}"),
            SpawnError::InitFailed(reason) => write!(f, "init failed: {reason}"),
        }
    }
}

impl std::error::Error for SpawnError {}

/// Why [`Context::register`](crate::Context::register) failed.
#[derive(Serialize, Deserialize, Clone, Debug, PartialEq, Eq, Hash)]
pub enum RegisterError {
    /// Another live process holds the name.
    Taken(Pid),
    /// The name is empty, too long, or contains `@`; carries the reason.
    Invalid(String),
}

impl RegisterError {
    pub(crate) fn from_wit(e: wit::RegisterError) -> Self {
        match e {
            wit::RegisterError::Taken(pid) => RegisterError::Taken(Pid::from_wit(pid)),
            wit::RegisterError::Invalid(reason) => RegisterError::Invalid(reason),
        }
    }
}

impl fmt::Display for RegisterError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RegisterError::Taken(pid) => write!(f, "name taken by {pid}"),
            RegisterError::Invalid(reason) => write!(f, "invalid name: {reason}"),
        }
    }
}

impl std::error::Error for RegisterError {}
