//! The `wactor:actor/host` imports, natively: the same signatures as the
//! generated bindings, answered by the current test's [`World`].
//! [`sys`](crate::sys) picks these on every target but wasm32.

use std::time::Duration;

use crate::__private::bindings::wactor::actor::types as wit;
use crate::codec::Encoding;
use crate::error::{Error, RegisterError, SpawnError};
use crate::types::{Address, Level, Monitor, Pid, Ref, Timer};

use super::world::{self, Answer, CallStep};

fn address(a: &wit::Address) -> Address {
    match a {
        wit::Address::Pid(pid) => Address::Pid(Pid::from_wit(pid.clone())),
        wit::Address::Name(name) => Address::Name(name.clone()),
    }
}

fn pid(p: &wit::Pid) -> Pid {
    Pid::from_wit(p.clone())
}

fn timeout(ms: Option<u32>) -> Option<Duration> {
    ms.map(|ms| Duration::from_millis(ms.into()))
}

pub(crate) fn error_to_wit(e: Error) -> wit::DeliveryError {
    use wit::DeliveryError as D;
    match e {
        Error::UnknownProcess => D::UnknownProcess,
        Error::MailboxFull => D::MailboxFull,
        Error::Timeout => D::Timeout,
        Error::NoConnection => D::NoConnection,
        Error::ResponseIgnored => D::ResponseIgnored,
        Error::Terminated(reason) => D::Terminated(reason),
        Error::Remote(text) => D::Remote(text),
        Error::NotAllowed(reason) => D::NotAllowed(reason),
        Error::PayloadTooLarge(limit) => D::PayloadTooLarge(limit),
        // The host has no such error: an answer that is not what the
        // caller expects is found out on the caller's side. A script that
        // gives one is reported as the host would a refused request.
        Error::Decode(text) => D::NotAllowed(format!("bad request: {text}")),
    }
}

fn spawn_error_to_wit(e: SpawnError) -> wit::SpawnError {
    match e {
        SpawnError::UnknownBehaviour(name) => wit::SpawnError::UnknownBehaviour(name),
        SpawnError::LimitReached(which) => wit::SpawnError::LimitReached(which),
        SpawnError::InitFailed(reason) => wit::SpawnError::InitFailed(reason),
    }
}

fn register_error_to_wit(e: RegisterError) -> wit::RegisterError {
    match e {
        RegisterError::Taken(pid) => wit::RegisterError::Taken(pid.to_wit()),
        RegisterError::Invalid(reason) => wit::RegisterError::Invalid(reason),
    }
}

/// Finishes a scripted call outside the world's borrow, so a script's
/// closure runs like the callee would: on its own.
fn finish(step: CallStep) -> Result<Vec<u8>, Error> {
    match step {
        CallStep::Done(answer) => answer,
        CallStep::Compute {
            mut script,
            index,
            request,
            encoding,
        } => {
            let answer = match &mut script.answer {
                Answer::With(f) => f(request, encoding),
                Answer::Fail(e) => Err(e.clone()),
                Answer::Reply { native, json } => match encoding {
                    Encoding::Native => native.clone(),
                    Encoding::Json => json.clone(),
                },
            };
            if script.repeat {
                world::with(|w| {
                    let at = index.min(w.scripts.len());
                    w.scripts.insert(at, script);
                });
            }
            answer
        }
        // A test failure, with the reason: the actor did something the
        // test did not prepare for.
        CallStep::Unscripted(why) => panic!("{why}"),
    }
}

fn blocking_call(
    to: &wit::Address,
    request: &[u8],
    timeout_ms: Option<u32>,
    important: bool,
    encoding: Encoding,
) -> Result<Vec<u8>, wit::DeliveryError> {
    let step = world::with(|w| w.call(address(to), request, timeout(timeout_ms), important, encoding));
    finish(step).map_err(error_to_wit)
}

pub(crate) fn self_() -> wit::Pid {
    world::with(|w| w.me.to_wit())
}

pub(crate) fn send(to: &wit::Address, message: &[u8]) -> Result<(), wit::DeliveryError> {
    world::with(|w| w.send(address(to), message, false)).map_err(error_to_wit)
}

pub(crate) fn send_important(to: &wit::Address, message: &[u8]) -> Result<(), wit::DeliveryError> {
    world::with(|w| w.send(address(to), message, true)).map_err(error_to_wit)
}

pub(crate) fn call(
    to: &wit::Address,
    request: &[u8],
    timeout_ms: Option<u32>,
) -> Result<Vec<u8>, wit::DeliveryError> {
    blocking_call(to, request, timeout_ms, false, Encoding::Native)
}

pub(crate) fn call_important(
    to: &wit::Address,
    request: &[u8],
    timeout_ms: Option<u32>,
) -> Result<Vec<u8>, wit::DeliveryError> {
    blocking_call(to, request, timeout_ms, true, Encoding::Native)
}

pub(crate) fn call_json(
    to: &wit::Address,
    request: &[u8],
    timeout_ms: Option<u32>,
) -> Result<Vec<u8>, wit::DeliveryError> {
    blocking_call(to, request, timeout_ms, false, Encoding::Json)
}

pub(crate) fn call_async(
    to: &wit::Address,
    request: &[u8],
    timeout_ms: Option<u32>,
) -> Result<wit::Ref, wit::DeliveryError> {
    let (r, step) =
        world::with(|w| w.call_async(address(to), request, timeout(timeout_ms))).map_err(error_to_wit)?;
    if let Some(step) = step {
        let answer = finish(step);
        world::with(|w| w.answer_async(r, answer));
    }
    Ok(r.to_wit())
}

pub(crate) fn send_response(to: &wit::Pid, r: wit::Ref, response: &[u8]) -> Result<(), wit::DeliveryError> {
    world::with(|w| w.respond(pid(to), Ref::from_wit(r), Ok(response.to_vec()), false)).map_err(error_to_wit)
}

pub(crate) fn send_response_important(
    to: &wit::Pid,
    r: wit::Ref,
    response: &[u8],
) -> Result<(), wit::DeliveryError> {
    world::with(|w| w.respond(pid(to), Ref::from_wit(r), Ok(response.to_vec()), true)).map_err(error_to_wit)
}

pub(crate) fn send_response_error(to: &wit::Pid, r: wit::Ref, error: &str) -> Result<(), wit::DeliveryError> {
    let answer = Err(Error::Remote(error.to_owned()));
    world::with(|w| w.respond(pid(to), Ref::from_wit(r), answer, false)).map_err(error_to_wit)
}

pub(crate) fn refuse_request(to: &wit::Pid, r: wit::Ref, reason: &str) -> Result<(), wit::DeliveryError> {
    // What the caller of a real host gets for a refused request.
    let answer = Err(Error::NotAllowed(format!("bad request: {reason}")));
    world::with(|w| w.respond(pid(to), Ref::from_wit(r), answer, false)).map_err(error_to_wit)
}

pub(crate) fn ref_is_alive(r: wit::Ref) -> bool {
    world::with(|w| w.is_alive(&Ref::from_wit(r)))
}

pub(crate) fn send_after(to: &wit::Address, message: &[u8], delay_ms: u32) -> u64 {
    world::with(|w| w.send_after(address(to), message, Duration::from_millis(delay_ms.into()))).0
}

pub(crate) fn cancel_timer(t: u64) -> bool {
    world::with(|w| w.cancel_timer(Timer(t)))
}

pub(crate) fn spawn(behaviour: &str, args: &[u8]) -> Result<wit::Pid, wit::SpawnError> {
    world::with(|w| w.spawn(behaviour, args, None))
        .map(|p| p.to_wit())
        .map_err(spawn_error_to_wit)
}

pub(crate) fn spawn_pool(behaviour: &str, size: u32, args: &[u8]) -> Result<wit::Pid, wit::SpawnError> {
    world::with(|w| w.spawn(behaviour, args, Some(size)))
        .map(|p| p.to_wit())
        .map_err(spawn_error_to_wit)
}

pub(crate) fn register(name: &str) -> Result<(), wit::RegisterError> {
    world::with(|w| w.register(name)).map_err(register_error_to_wit)
}

pub(crate) fn unregister(name: &str) -> bool {
    world::with(|w| w.unregister(name))
}

pub(crate) fn whereis(name: &str) -> Option<wit::Pid> {
    world::with(|w| w.resolve(&Address::Name(name.to_owned()))).map(|p| p.to_wit())
}

pub(crate) fn link(to: &wit::Pid) -> Result<(), wit::DeliveryError> {
    world::with(|w| w.link(&pid(to))).map_err(error_to_wit)
}

pub(crate) fn unlink(to: &wit::Pid) {
    world::with(|w| w.unlink(&pid(to)))
}

pub(crate) fn trap_exits(on: bool) {
    world::with(|w| w.set_trap_exits(on))
}

pub(crate) fn monitor(to: &wit::Address) -> u64 {
    world::with(|w| w.monitor(address(to))).0
}

pub(crate) fn demonitor(m: u64) -> bool {
    world::with(|w| w.demonitor(Monitor(m)))
}

pub(crate) fn log(level: wit::Level, message: &str) {
    let level = match level {
        wit::Level::Trace => Level::Trace,
        wit::Level::Debug => Level::Debug,
        wit::Level::Info => Level::Info,
        wit::Level::Warn => Level::Warn,
        wit::Level::Error => Level::Error,
    };
    world::with(|w| w.log(level, message))
}

pub(crate) fn set_important_delivery(on: bool) {
    world::with(|w| w.set_important(on))
}

/// Only meaningful inside `handle-messages`, which the fake host does not
/// use: it delivers messages one at a time.
pub(crate) fn batch_next() -> bool {
    false
}
