//! [`Context`]: what an actor can ask of its host.

use std::time::Duration;

use crate::codec::{Decode, Encode, Encoding};
use crate::error::{Error, RegisterError, SpawnError};
use crate::sys as host;
use crate::types::{Address, Call, Level, Monitor, Pid, Ref, Timer};

/// The actor's handle on its host, passed to every callback.
///
/// Everything an actor does besides computing goes through here: sending
/// messages, making and answering calls, timers, spawning, the name registry
/// and logging. Every operation acts on behalf of the actor being run.
///
/// A `Context` is zero-sized and cannot be built by hand: the SDK creates one
/// for each callback. Methods that change the world take `&mut self`; lookups
/// take `&self`.
///
/// Typed values are encoded with the crate's single codec (postcard, or
/// [`Raw`](crate::Raw) bytes as they are); see [`codec`](crate::codec).
#[derive(Debug)]
pub struct Context {
    _not_constructible: (),
}

/// Milliseconds for the host, rounded up so that a short non-zero duration
/// never becomes "now", and capped at what the host interface can carry.
fn millis(d: Duration) -> u32 {
    u32::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u32::MAX)
}

impl Context {
    pub(crate) fn new() -> Self {
        Context {
            _not_constructible: (),
        }
    }

    /// This actor's own pid.
    pub fn self_pid(&self) -> Pid {
        Pid::from_wit(host::self_())
    }

    // ----- messages -------------------------------------------------------

    /// Puts a message in the recipient's mailbox and returns.
    ///
    /// Errors are immediate for local recipients: [`Error::UnknownProcess`],
    /// [`Error::MailboxFull`], [`Error::PayloadTooLarge`].
    pub fn send<M: Encode + ?Sized>(&mut self, to: impl Into<Address>, msg: &M) -> Result<(), Error> {
        let bytes = msg.encode()?;
        self.send_bytes(false, to.into(), &bytes)
    }

    /// Like [`send`](Context::send), with bytes that are sent as they are.
    pub fn send_raw(&mut self, to: impl Into<Address>, bytes: &[u8]) -> Result<(), Error> {
        self.send_bytes(false, to.into(), bytes)
    }

    /// Like [`send`](Context::send), but across hosts it returns only once
    /// the message is in the recipient's mailbox, or with the reason it is
    /// not. On one host it is `send`.
    pub fn send_important<M: Encode + ?Sized>(
        &mut self,
        to: impl Into<Address>,
        msg: &M,
    ) -> Result<(), Error> {
        let bytes = msg.encode()?;
        self.send_bytes(true, to.into(), &bytes)
    }

    fn send_bytes(&mut self, important: bool, to: Address, bytes: &[u8]) -> Result<(), Error> {
        let to = to.to_wit();
        let sent = if important {
            host::send_important(&to, bytes)
        } else {
            host::send(&to, bytes)
        };
        sent.map_err(Error::from_wit)
    }

    /// Sends `msg` to `to` after `delay`, and returns the timer so it can be
    /// [cancelled](Context::cancel_timer).
    ///
    /// A timer that fires for a process that no longer exists is dropped.
    /// The only error is a message that does not encode.
    pub fn send_after<M: Encode + ?Sized>(
        &mut self,
        to: impl Into<Address>,
        msg: &M,
        delay: Duration,
    ) -> Result<Timer, Error> {
        let bytes = msg.encode()?;
        Ok(Timer(host::send_after(
            &to.into().to_wit(),
            &bytes,
            millis(delay),
        )))
    }

    /// Cancels a timer; true if it had not fired yet.
    pub fn cancel_timer(&mut self, timer: Timer) -> bool {
        host::cancel_timer(timer.0)
    }

    // ----- calls ----------------------------------------------------------

    /// Sends a request and waits for the answer, up to the host's default
    /// call timeout.
    ///
    /// Only this actor waits; the host keeps running every other actor. The
    /// answer is decoded as `R`, which must match the callee's `Reply` type.
    ///
    /// Calling oneself, or a process that is (transitively) waiting on this
    /// actor, fails at once with [`Error::NotAllowed`].
    pub fn call<Q: Encode + ?Sized, R: Decode>(
        &mut self,
        to: impl Into<Address>,
        req: &Q,
    ) -> Result<R, Error> {
        let bytes = req.encode()?;
        R::decode(self.call_bytes(false, to.into(), &bytes, None)?)
    }

    /// Like [`call`](Context::call), with an explicit timeout.
    pub fn call_timeout<Q: Encode + ?Sized, R: Decode>(
        &mut self,
        to: impl Into<Address>,
        req: &Q,
        timeout: Duration,
    ) -> Result<R, Error> {
        let bytes = req.encode()?;
        R::decode(self.call_bytes(false, to.into(), &bytes, Some(timeout))?)
    }

    /// Like [`call`](Context::call), with bytes sent and returned as they
    /// are. `None` as the timeout means the host's default.
    pub fn call_raw(
        &mut self,
        to: impl Into<Address>,
        bytes: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, Error> {
        self.call_bytes(false, to.into(), bytes, timeout)
    }

    /// Like [`call`](Context::call), in the JSON encoding: the request goes
    /// as JSON and the answer is read as JSON, so that it reaches a typed
    /// actor that shares no Rust types with this one (another language's
    /// actor, or a Rust actor whose types are only known by their shape;
    /// see the JSON mapping in [`codec`](crate::codec)). `None` as the
    /// timeout means the host's default. A request the callee cannot
    /// decode fails with [`Error::NotAllowed`] (`bad request: ...`).
    pub fn call_json<Q: Encode + ?Sized, R: Decode>(
        &mut self,
        to: impl Into<Address>,
        req: &Q,
        timeout: Option<Duration>,
    ) -> Result<R, Error> {
        let bytes = req.encode_as(Encoding::Json)?;
        let answer =
            host::call_json(&to.into().to_wit(), &bytes, timeout.map(millis)).map_err(Error::from_wit)?;
        R::decode_as(answer, Encoding::Json)
    }

    /// Like [`call`](Context::call), but a request that cannot be delivered
    /// fails at once instead of waiting for the timeout. On one host it is
    /// `call`.
    pub fn call_important<Q: Encode + ?Sized, R: Decode>(
        &mut self,
        to: impl Into<Address>,
        req: &Q,
    ) -> Result<R, Error> {
        let bytes = req.encode()?;
        R::decode(self.call_bytes(true, to.into(), &bytes, None)?)
    }

    /// Like [`call_important`](Context::call_important), with an explicit
    /// timeout.
    pub fn call_important_timeout<Q: Encode + ?Sized, R: Decode>(
        &mut self,
        to: impl Into<Address>,
        req: &Q,
        timeout: Duration,
    ) -> Result<R, Error> {
        let bytes = req.encode()?;
        R::decode(self.call_bytes(true, to.into(), &bytes, Some(timeout))?)
    }

    /// Sends a request without waiting: returns the call's [`Ref`] at once,
    /// and the answer (or why there is none, e.g. [`Error::Timeout`]) comes
    /// later to [`Actor::handle_info`](crate::Actor::handle_info) as
    /// [`Info::Response`](crate::Info::Response) tagged with that ref.
    ///
    /// Errors known at once ([`Error::UnknownProcess`],
    /// [`Error::MailboxFull`], [`Error::PayloadTooLarge`]) are returned
    /// here. An actor may have as many async calls outstanding as its
    /// mailbox holds; past that it gets [`Error::NotAllowed`]. Unlike
    /// [`call`](Context::call), an async call to oneself or around a cycle
    /// is fine: nobody waits.
    pub fn call_async<Q: Encode + ?Sized>(
        &mut self,
        to: impl Into<Address>,
        req: &Q,
        timeout: Option<Duration>,
    ) -> Result<Ref, Error> {
        let bytes = req.encode()?;
        host::call_async(&to.into().to_wit(), &bytes, timeout.map(millis))
            .map(Ref::from_wit)
            .map_err(Error::from_wit)
    }

    fn call_bytes(
        &mut self,
        important: bool,
        to: Address,
        bytes: &[u8],
        timeout: Option<Duration>,
    ) -> Result<Vec<u8>, Error> {
        let to = to.to_wit();
        let timeout = timeout.map(millis);
        let answer = if important {
            host::call_important(&to, bytes, timeout)
        } else {
            host::call(&to, bytes, timeout)
        };
        answer.map_err(Error::from_wit)
    }

    // ----- supervision ----------------------------------------------------

    /// Links this actor to `to`, both ways: when either ends with a reason
    /// other than `"normal"`, the other ends too (reason `linked <pid>
    /// ended: <reason>`), unless it [traps exits](Context::trap_exits).
    /// Fails with [`Error::UnknownProcess`] if `to` is not alive.
    pub fn link(&mut self, to: &Pid) -> Result<(), Error> {
        host::link(&to.to_wit()).map_err(Error::from_wit)
    }

    /// Removes a link; no effect if there was none.
    pub fn unlink(&mut self, to: &Pid) {
        host::unlink(&to.to_wit());
    }

    /// With `true`, a linked process's end arrives as
    /// [`Info::Exit`](crate::Info::Exit) instead of ending this actor.
    pub fn trap_exits(&mut self, on: bool) {
        host::trap_exits(on);
    }

    /// Watches `to`: when it ends, [`Actor::handle_info`](crate::Actor::handle_info)
    /// gets one [`Info::Down`](crate::Info::Down) with this monitor and the
    /// reason. If `to` is not alive, the down comes at once.
    pub fn monitor(&mut self, to: impl Into<Address>) -> Monitor {
        Monitor(host::monitor(&to.into().to_wit()))
    }

    /// Stops watching; false if the monitor had already fired.
    pub fn demonitor(&mut self, monitor: Monitor) -> bool {
        host::demonitor(monitor.0)
    }

    // ----- answering calls ------------------------------------------------

    /// Answers a call that was deferred with [`Outcome::Defer`](crate::Outcome::Defer).
    ///
    /// Any actor holding the [`Call`] may answer it, not only the one that
    /// received it. An answer for a caller that stopped waiting is dropped
    /// by the host. The answer is encoded as the caller asked: in JSON for
    /// a JSON call (see [`Ref::encoding`]), postcard otherwise.
    pub fn reply<R: Encode + ?Sized>(&mut self, call: &Call, resp: &R) -> Result<(), Error> {
        match resp.encode_as(call.r.encoding()) {
            Ok(bytes) => {
                host::send_response(&call.from.to_wit(), call.r.to_wit(), &bytes).map_err(Error::from_wit)
            }
            Err(e) => {
                // The caller is still owed an answer: tell it why none comes.
                let _ = self.reply_error(call, &format!("bad reply: {e}"));
                Err(e)
            }
        }
    }

    /// Like [`reply`](Context::reply), but returns only once the caller took
    /// the answer, or with [`Error::ResponseIgnored`] if it had stopped
    /// waiting.
    pub fn reply_important<R: Encode + ?Sized>(&mut self, call: &Call, resp: &R) -> Result<(), Error> {
        match resp.encode_as(call.r.encoding()) {
            Ok(bytes) => host::send_response_important(&call.from.to_wit(), call.r.to_wit(), &bytes)
                .map_err(Error::from_wit),
            Err(e) => {
                let _ = self.reply_error(call, &format!("bad reply: {e}"));
                Err(e)
            }
        }
    }

    /// Answers a deferred call with an error: the caller sees
    /// [`Error::Remote`] carrying `error`.
    ///
    /// This is the transport-class channel, for "no answer can be given"
    /// (next to a timeout). An error that is part of the application's
    /// protocol belongs in the reply type instead.
    pub fn reply_error(&mut self, call: &Call, error: &str) -> Result<(), Error> {
        host::send_response_error(&call.from.to_wit(), call.r.to_wit(), error).map_err(Error::from_wit)
    }

    /// Answers a call whose request could not be decoded: the caller sees
    /// [`Error::NotAllowed`]`("bad request: " + reason)` (over HTTP, a 400
    /// `bad-request`), its own fault rather than this actor's. `reason`
    /// should say what was expected. The SDK does this itself for typed
    /// requests; an actor with [`Raw`](crate::Raw) requests that parses
    /// them itself uses it for input it cannot read.
    pub fn refuse_request(&mut self, call: &Call, reason: &str) -> Result<(), Error> {
        host::refuse_request(&call.from.to_wit(), call.r.to_wit(), reason).map_err(Error::from_wit)
    }

    /// True while the caller behind `call` is still waiting for an answer.
    ///
    /// Useful before starting expensive work for a deferred call.
    pub fn is_alive(&self, call: &Call) -> bool {
        host::ref_is_alive(call.r.to_wit())
    }

    /// Makes every later send, call and response of this actor important
    /// (`on = true`), or plain again (`on = false`).
    pub fn set_important_delivery(&mut self, on: bool) {
        host::set_important_delivery(on)
    }

    // ----- processes and names ---------------------------------------------

    /// Starts a new actor of a loaded behaviour (the file stem of its
    /// `.wasm`) with `args` as its init arguments, and returns its pid once
    /// its `init` has succeeded.
    ///
    /// Pass `&()` for "no arguments": it encodes to an empty payload, which
    /// the new actor reads as its `Args::default()`.
    pub fn spawn<A: Encode + ?Sized>(&mut self, behaviour: &str, args: &A) -> Result<Pid, SpawnError> {
        let bytes = args
            .encode()
            .map_err(|e| SpawnError::InitFailed(format!("bad arguments: {e}")))?;
        host::spawn(behaviour, &bytes)
            .map(Pid::from_wit)
            .map_err(SpawnError::from_wit)
    }

    /// Starts a pool: one pid in front of `size` workers of `behaviour`,
    /// each started with `args`. Messages and calls to the returned pid go
    /// round-robin to the workers, which answer callers directly; a worker
    /// that ends is replaced.
    pub fn spawn_pool<A: Encode + ?Sized>(
        &mut self,
        behaviour: &str,
        size: u32,
        args: &A,
    ) -> Result<Pid, SpawnError> {
        let bytes = args
            .encode()
            .map_err(|e| SpawnError::InitFailed(format!("bad arguments: {e}")))?;
        host::spawn_pool(behaviour, size, &bytes)
            .map(Pid::from_wit)
            .map_err(SpawnError::from_wit)
    }

    /// Registers `name` for this actor. The name is released when the actor
    /// ends.
    pub fn register(&mut self, name: &str) -> Result<(), RegisterError> {
        host::register(name).map_err(RegisterError::from_wit)
    }

    /// Releases a name this actor holds; false if it held no such name.
    pub fn unregister(&mut self, name: &str) -> bool {
        host::unregister(name)
    }

    /// Looks up a registered name (`name` or `name@node`).
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        host::whereis(name).map(Pid::from_wit)
    }

    // ----- logging ----------------------------------------------------------

    /// Writes a line to the host's log, tagged with this actor.
    pub fn log(&self, level: Level, msg: impl AsRef<str>) {
        host::log(level.to_wit(), msg.as_ref())
    }

    /// Logs at [`Level::Trace`].
    pub fn trace(&self, msg: impl AsRef<str>) {
        self.log(Level::Trace, msg)
    }

    /// Logs at [`Level::Debug`].
    pub fn debug(&self, msg: impl AsRef<str>) {
        self.log(Level::Debug, msg)
    }

    /// Logs at [`Level::Info`].
    pub fn info(&self, msg: impl AsRef<str>) {
        self.log(Level::Info, msg)
    }

    /// Logs at [`Level::Warn`].
    pub fn warn(&self, msg: impl AsRef<str>) {
        self.log(Level::Warn, msg)
    }

    /// Logs at [`Level::Error`].
    pub fn error(&self, msg: impl AsRef<str>) {
        self.log(Level::Error, msg)
    }
}
