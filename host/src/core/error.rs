//! The errors of the host library.
//!
//! [`DeliveryError`] is the host form of the WIT `delivery-error`: it is
//! what a sender or caller learns, and it crosses into guests unchanged,
//! but for [`DeliveryError::BadRequest`], which a guest sees as
//! `not-allowed("bad request: ...")` (the WIT's variant cannot grow within
//! 0.2 without breaking older components).
//! The others describe failures of loading, spawning and naming.

use std::path::PathBuf;

use crate::core::pid::Pid;

/// The WIT package this host implements, `wit/actor.wit`'s `package` line
/// (a test in `bindings` keeps the two the same).
pub const WIT_PACKAGE: &str = "wactor:actor@0.2.2";

/// Why a message or call did not get through.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum DeliveryError {
    /// No live process has that pid or name.
    #[error("unknown process: no live actor has that pid or name")]
    UnknownProcess,
    /// The recipient's mailbox is at capacity; nothing was enqueued.
    #[error("mailbox full: the recipient is not keeping up; nothing was enqueued")]
    MailboxFull,
    /// No answer (or acknowledgement) in time.
    #[error("timeout: no answer in time")]
    Timeout,
    /// The recipient's node cannot be reached.
    #[error("no connection to the recipient's node")]
    NoConnection,
    /// A response arrived for a call whose caller had stopped waiting.
    #[error("response ignored: the caller is no longer waiting")]
    ResponseIgnored,
    /// The callee ended before answering.
    #[error("terminated: the callee ended before answering ({0})")]
    Terminated(String),
    /// The callee answered with an error.
    #[error("remote error: {0}")]
    Remote(String),
    /// The host refused the operation.
    #[error("not allowed: {0}")]
    NotAllowed(String),
    /// The payload is over the host's limit (in bytes).
    #[error("payload too large: the limit is {0} bytes")]
    PayloadTooLarge(u32),
    /// The callee could not decode the request (`refuse-request`): the
    /// caller's fault. Carries what was expected.
    #[error("bad request: {0}")]
    BadRequest(String),
}

impl DeliveryError {
    /// A short stable name for the kind of error (metrics, HTTP, CLI).
    pub fn kind(&self) -> &'static str {
        match self {
            DeliveryError::UnknownProcess => "unknown-process",
            DeliveryError::MailboxFull => "mailbox-full",
            DeliveryError::Timeout => "timeout",
            DeliveryError::NoConnection => "no-connection",
            DeliveryError::ResponseIgnored => "response-ignored",
            DeliveryError::Terminated(_) => "terminated",
            DeliveryError::Remote(_) => "remote",
            DeliveryError::NotAllowed(_) => "not-allowed",
            DeliveryError::PayloadTooLarge(_) => "payload-too-large",
            DeliveryError::BadRequest(_) => "bad-request",
        }
    }
}

/// Why a behaviour could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file could not be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The bytes are not WebAssembly at all.
    #[error("{what} is not a WebAssembly file (it does not start with the `\\0asm` magic); build actors with `scripts/build-guests` or `cargo build --target wasm32-wasip2`")]
    NotWasm {
        /// The file or behaviour name.
        what: String,
    },
    /// A core module that cannot become an actor: it carries no type
    /// information for the `actor` world (it was not built against the
    /// guest SDK or the WIT).
    #[error("{what} is a core WebAssembly module that cannot be turned into an actor: {reason}; build actors against the wactor guest SDK (wactor-guest, `wactor_guest::export_actor!`) for `wasm32-wasip2`, or for `wasm32-wasip1` (converted on load), e.g. with `scripts/build-guests`")]
    CoreModule {
        /// The file or behaviour name.
        what: String,
        /// What it lacks.
        reason: String,
    },
    /// A `wasm32-wasip1` core module with type information that still could
    /// not be turned into a component.
    #[error("{what}: the core module could not be turned into a component: {source}")]
    Convert {
        /// The file or behaviour name.
        what: String,
        /// Why.
        source: ConvertError,
    },
    /// The component did not compile.
    #[error("{what} failed to compile: {reason}")]
    Compile {
        /// The file or behaviour name.
        what: String,
        /// The compiler's message.
        reason: String,
    },
    /// The component does not fit the `actor` world.
    #[error("{what} does not implement the {WIT_PACKAGE} `actor` world that this host speaks (it runs components of 0.2.0 and later 0.2 versions too): {reason}; build it with the wactor guest SDK (wactor-guest) and `wactor_guest::export_actor!`")]
    WrongWorld {
        /// The file or behaviour name.
        what: String,
        /// What did not fit.
        reason: String,
    },
    /// The file name is not a usable behaviour name.
    #[error("{path}: {reason}")]
    BadName {
        /// The file.
        path: PathBuf,
        /// Why the name is unusable.
        reason: String,
    },
}

/// Why `spawn` failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum SpawnError {
    /// No behaviour of that name is loaded.
    #[error("unknown behaviour `{0}`: no such .wasm is loaded")]
    UnknownBehaviour(String),
    /// A limit on live actors was reached.
    #[error("spawn limit reached: {0}")]
    LimitReached(String),
    /// The new actor's `init` failed or trapped.
    #[error("init failed: {0}")]
    InitFailed(String),
}

/// Why `register` failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RegisterError {
    /// Another live process holds the name.
    #[error("the name is taken by {0}")]
    Taken(Pid),
    /// The name is not acceptable.
    #[error("invalid name: {0}")]
    Invalid(String),
}

/// Why a pool operation failed.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PoolError {
    /// The address is not a live pool.
    #[error("{0}")]
    NotAPool(#[from] DeliveryError),
    /// A new worker did not start.
    #[error("a new worker did not start: {0}")]
    Spawn(#[from] SpawnError),
}

/// Why a node could not join its cluster.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum ClusterError {
    /// The NATS server could not be reached.
    #[error("cannot connect to the NATS server at {url}: {reason}; {hint}")]
    Connect {
        /// The server's URL, without its credentials.
        url: String,
        /// The client's error.
        reason: String,
        /// What to check next.
        hint: &'static str,
    },
    /// The server refused this node's credentials, or TLS failed.
    #[error("the NATS server at {url} refused the connection: {reason}; {hint}")]
    Refused {
        /// The server's URL, without its credentials.
        url: String,
        /// The client's error.
        reason: String,
        /// What to check next.
        hint: &'static str,
    },
    /// A credentials or certificate file could not be used.
    #[error("cannot use {what} {path}: {reason}")]
    Security {
        /// Which file it is.
        what: &'static str,
        /// Its path.
        path: std::path::PathBuf,
        /// Why.
        reason: String,
    },
    /// A subscription was refused.
    #[error("cannot subscribe to {subject}: {reason}")]
    Subscribe {
        /// The subject.
        subject: String,
        /// The client's error.
        reason: String,
    },
    /// The node name cannot be used on the wire.
    #[error(
        "`{0}` cannot name a node in a cluster: use 1 to 128 characters without `.`, `*`, `>`, `@` or spaces"
    )]
    BadNodeName(String),
    /// The node is already in a cluster.
    #[error("the node has already joined its cluster")]
    AlreadyJoined,
}

/// Why a core module could not be turned into a component.
#[derive(Debug, thiserror::Error)]
pub enum ConvertError {
    /// The module is not valid WebAssembly.
    #[error("it is not a valid core module: {0}")]
    Invalid(String),
    /// The module carries no world type information, so it cannot become an
    /// actor component.
    #[error("it carries no component type information (no `component-type` custom section), so nothing says which world it implements")]
    NoTypeInformation,
    /// `wit-component` refused the module (for example an import that is
    /// neither WASI preview 1 nor in its world).
    #[error("{0}")]
    Encode(String),
}
