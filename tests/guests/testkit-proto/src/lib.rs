//! The protocol of the `testkit` test actor.
//!
//! The host's integration tests drive a `testkit` actor with these types:
//! they encode a [`TestRequest`] with postcard, call the actor, and decode
//! the reply with `postcard::from_bytes::<T>` for the `T` given on each
//! request. Every reply is the postcard encoding of its named type, with no
//! exception (a `Vec<u8>` reply is length-prefixed like any other).
//!
//! The `Wire*` types have exactly the shape (and so the postcard encoding)
//! of the guest SDK's `Pid`, `Ref`, `Call` and `Error`, so the two can be
//! read as each other.
//!
//! This crate is plain `no_std` + `alloc` Rust with serde only, so it builds
//! both for the test guests and natively for the host's tests.

#![no_std]

extern crate alloc;

use alloc::string::String;
use alloc::vec::Vec;

use serde::{Deserialize, Serialize};

/// A process id, shaped like the SDK's `Pid`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Hash)]
pub struct WirePid {
    pub node: String,
    pub id: u64,
    pub creation: u64,
}

/// A call ref, shaped like the SDK's `Ref`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Hash)]
pub struct WireRef {
    pub id_hi: u64,
    pub id_lo: u64,
    pub deadline_ms: u64,
}

/// A pending call, shaped like the SDK's `Call`.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Hash)]
pub struct WireCall {
    pub from: WirePid,
    pub r: WireRef,
}

/// A delivery error, shaped like the SDK's `Error` (the host's
/// `delivery-error` plus `Decode`, a guest-side codec failure).
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Hash)]
pub enum WireError {
    UnknownProcess,
    MailboxFull,
    Timeout,
    NoConnection,
    ResponseIgnored,
    Terminated(String),
    Remote(String),
    NotAllowed(String),
    PayloadTooLarge(u32),
    Decode(String),
}

/// Where a request sends or calls to.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    Name(String),
    Pid(WirePid),
}

/// Init arguments. No arguments (an empty payload) means the default.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq, Default)]
pub struct TestArgs {
    /// A name the testkit registers in `init`; init fails if it cannot.
    pub register: Option<String>,
}

/// What a test asks of the testkit with a call. The comment on each variant
/// names the type its reply decodes as.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum TestRequest {
    /// Reply: `Vec<u8>`, the same bytes.
    Echo(Vec<u8>),
    /// Calls `to` with `payload` as raw bytes, waiting `timeout_ms` (`None`:
    /// the host's default). Reply: `Result<Vec<u8>, WireError>`, the callee's raw answer.
    Call {
        to: Target,
        payload: Vec<u8>,
        timeout_ms: Option<u32>,
    },
    /// Calls its own pid with `TestRequest::Echo(vec![])`, which the host
    /// must refuse. Reply: `Result<Vec<u8>, WireError>`.
    CallSelf,
    /// Sends `payload` to `to` as raw bytes. Reply: `Result<(), WireError>`.
    Send { to: Target, payload: Vec<u8> },
    /// Defers and never answers: the caller times out.
    NeverAnswer,
    /// Panics inside the handler, which traps the instance.
    Trap,
    /// Defers and answers after `ms` milliseconds, through a timer message to
    /// itself. Reply: `Vec<u8>`, `payload`.
    SlowReply { ms: u32, payload: Vec<u8> },
    /// Defers and hands the call to `to` (another testkit) in a
    /// `TestMessage::Answer` with payload `b"forwarded"`; that actor answers
    /// the original caller, with `reply_error(error)` when `error` is set.
    /// Reply: `Vec<u8>`, `b"forwarded"` (or `Remote(error)`).
    Forward { to: Target, error: Option<String> },
    /// Ends with this reason without answering: the caller sees
    /// `Terminated(reason)`.
    Stop(String),
    /// Answers, then ends normally. Reply: the bytes themselves, raw (not
    /// postcard).
    ReplyAndStop(Vec<u8>),
    /// Spawns `behaviour` with `args` as raw init bytes.
    /// Reply: `Result<WirePid, String>` (the error's text).
    Spawn { behaviour: String, args: Vec<u8> },
    /// Registers a name for the testkit. Reply: `Result<(), String>`.
    Register(String),
    /// Looks up a name. Reply: `Option<WirePid>`.
    Whereis(String),
    /// Reply: `WirePid`, the testkit's own pid.
    SelfPid,
    /// Reply: `Vec<Vec<u8>>`, the payloads of every `TestMessage::Record`
    /// received so far, in order.
    Received,
    /// Reply: `bool`, whether this very call is alive (true).
    IsAlive,
    /// Allocates and touches `bytes` bytes. Reply: `u64`, the length. Past
    /// the memory limit, the instance traps instead.
    Alloc { bytes: u64 },
    /// Loops forever inside the handler.
    Spin,
    /// Sends `len` zero bytes to `to` (a payload made inside the guest, so
    /// it can be larger than any request). Reply: `Result<(), WireError>`.
    SendBig { to: Target, len: u32 },
    /// Replies with `len` raw zero bytes (not postcard), to test the limit
    /// on replies.
    ReplyBig { len: u32 },
    /// Reads a file with `std::fs::read`. Reply: `Result<Vec<u8>, String>`,
    /// the contents or the error's text.
    ReadFile(String),
    /// Opens a TCP connection to `addr` (`ip:port`) through `wasi:sockets`,
    /// as `std::net::TcpStream::connect` does. Reply: `Result<(), String>`.
    Connect(String),
    /// Reply: `Vec<(String, String)>`, the guest's environment variables.
    Env,
    /// Reply: `Vec<String>`, the guest's command-line arguments.
    Args,
    /// Reply: `u64`, the guest's wall clock in milliseconds since the Unix
    /// epoch.
    Now,
    /// Reply: `u64`, eight fresh bytes from the host's random source
    /// (`wasi:random`).
    Random,
    /// Spawns `behaviour` (empty args) again and again until a spawn fails.
    /// Reply: `(u32, String)`, how many spawns succeeded and the text of the
    /// error that ended the loop.
    SpawnForever { behaviour: String },
    /// Starts a pool of `size` workers of `behaviour` with `args` as raw
    /// init bytes. Reply: `Result<WirePid, String>`.
    SpawnPool {
        behaviour: String,
        size: u32,
        args: Vec<u8>,
    },
    /// Calls `to` with `payload` (raw) without waiting. Reply:
    /// `Result<WireRef, WireError>`; the outcome later shows in `Infos`.
    CallAsync {
        to: Target,
        payload: Vec<u8>,
        timeout_ms: Option<u32>,
    },
    /// Reply: `Vec<WireInfo>`, every info received so far, in order.
    Infos,
    /// Links to a process. Reply: `Result<(), WireError>`.
    Link(WirePid),
    /// Removes a link. Reply: `()`.
    Unlink(WirePid),
    /// Turns exit trapping on or off. Reply: `()`.
    TrapExits(bool),
    /// Monitors a process. Reply: `u64`, the monitor.
    Monitor(Target),
    /// Removes a monitor. Reply: `bool`.
    Demonitor(u64),
    /// Defers and keeps the call in the actor's state (which a hot upgrade
    /// hands over), to be answered by `AnswerHeld`.
    Hold,
    /// Answers every held call with `Vec<u8>` `payload`. Reply: `u32`, how
    /// many were answered.
    AnswerHeld(Vec<u8>),
    /// Writes `contents` to the file `path` with `std::fs::write` (creating
    /// or truncating it). Reply: `Result<(), String>`, the error's text.
    WriteFile { path: String, contents: Vec<u8> },
    /// Writes `stdout` to standard output and `stderr` to standard error,
    /// each as one line (with `println!` and `eprintln!`). Reply: `()`.
    Print { stdout: String, stderr: String },
    /// Sends `payload` to `to` as raw bytes with `send-important`. Reply:
    /// `Result<(), WireError>`.
    SendImportant { to: Target, payload: Vec<u8> },
    /// Calls `to` with `payload` as raw bytes with `call-important`. Reply:
    /// `Result<Vec<u8>, WireError>`.
    CallImportant {
        to: Target,
        payload: Vec<u8>,
        timeout_ms: Option<u32>,
    },
    /// Answers every held call with `Vec<u8>` `payload` through
    /// `send-response-important`. Reply: `Vec<Result<(), WireError>>`, the
    /// outcome of each, in the order the calls were held.
    AnswerHeldImportant(Vec<u8>),
    /// Turns important delivery on or off for everything the testkit sends,
    /// calls and answers. Reply: `()`.
    SetImportant(bool),
    /// Sends `count` plain `TestMessage::Record(vec![])` to `to`, as fast as
    /// it can. Reply: `u32`, how many of them the host accepted.
    SendMany { to: Target, count: u32 },
    /// [`Call`](TestRequest::Call), timed by the testkit's own wall clock.
    /// Reply: `(u64, u64, Result<Vec<u8>, WireError>)`, the microseconds
    /// since the Unix epoch when the request reached the handler and when
    /// the answer came back, and the callee's raw answer.
    TimedCall {
        to: Target,
        payload: Vec<u8>,
        timeout_ms: Option<u32>,
    },
    /// Calls `to` with `json` (JSON text) through `call-json`. Reply:
    /// `Result<Vec<u8>, WireError>`, the callee's JSON answer as it came.
    CallJson {
        to: Target,
        json: Vec<u8>,
        timeout_ms: Option<u32>,
    },
}

/// An info the testkit received, shaped for the tests.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum WireInfo {
    Response {
        r: WireRef,
        result: Result<Vec<u8>, WireError>,
    },
    Down {
        monitor: u64,
        pid: WirePid,
        reason: String,
    },
    Exit {
        pid: WirePid,
        reason: String,
    },
}

/// What the testkit does with a message.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum TestMessage {
    /// Kept, and listed by `TestRequest::Received`.
    Record(Vec<u8>),
    /// Answers `call` with `payload` (encoded as `Vec<u8>`); the timer
    /// message behind `TestRequest::SlowReply`.
    AnswerLater { call: WireCall, payload: Vec<u8> },
    /// Answers `call` with `payload` (encoded as `Vec<u8>`), or with
    /// `reply_error(error)` when `error` is set.
    Answer {
        call: WireCall,
        payload: Vec<u8>,
        error: Option<String>,
    },
    /// Loops forever inside the message handler.
    Spin,
    /// Traps inside the message handler.
    Trap,
}
