//! `testkit`: an actor that does on request whatever a host test needs to
//! see happen: answer, defer, forward a call, time out, trap, stop, spawn,
//! register, allocate, spin.
//!
//! Its protocol is the `testkit-proto` crate. The reply type is [`Raw`]:
//! each request's answer is postcard-encoded here, as the type named for it
//! in `testkit-proto`, so that a test decodes it with
//! `postcard::from_bytes::<T>`.

use std::hint::black_box;
use std::time::Duration;

use serde::Serialize;
use testkit_proto::{Target, TestArgs, TestMessage, TestRequest, WireCall, WireError, WirePid, WireRef};
use wactor_guest::{Actor, Address, Call, Context, Encode, Error, Outcome, Pid, Raw, Ref};

struct Testkit {
    /// Payloads of `TestMessage::Record`, in order of arrival.
    received: Vec<Vec<u8>>,
}

impl Actor for Testkit {
    type Args = TestArgs;
    type Message = TestMessage;
    type Request = TestRequest;
    type Reply = Raw;

    fn init(ctx: &mut Context, args: TestArgs) -> Result<Self, String> {
        if let Some(name) = args.register {
            ctx.register(&name)
                .map_err(|e| format!("testkit: cannot register {name:?}: {e}"))?;
        }
        Ok(Testkit { received: Vec::new() })
    }

    fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: TestMessage) {
        match msg {
            TestMessage::Record(payload) => self.received.push(payload),
            TestMessage::AnswerLater { call, payload } => answer(ctx, &call, &payload, None),
            TestMessage::Answer { call, payload, error } => answer(ctx, &call, &payload, error.as_deref()),
            TestMessage::Spin => spin(),
        }
    }

    fn handle_call(&mut self, ctx: &mut Context, call: Call, req: TestRequest) -> Outcome<Raw> {
        match req {
            TestRequest::Echo(bytes) => reply(&bytes),
            TestRequest::Call {
                to,
                payload,
                timeout_ms,
            } => {
                let timeout = timeout_ms.map(|ms| Duration::from_millis(ms.into()));
                reply(&ctx.call_raw(address(to), &payload, timeout).map_err(wire_error))
            }
            TestRequest::CallSelf => {
                let me = ctx.self_pid();
                let answer =
                    encode(&TestRequest::Echo(Vec::new())).and_then(|req| ctx.call_raw(me, &req, None));
                reply(&answer.map_err(wire_error))
            }
            TestRequest::Send { to, payload } => {
                reply(&ctx.send_raw(address(to), &payload).map_err(wire_error))
            }
            TestRequest::NeverAnswer => Outcome::Defer,
            TestRequest::Trap => panic!("testkit: trap requested"),
            TestRequest::SlowReply { ms, payload } => {
                let me = ctx.self_pid();
                let msg = TestMessage::AnswerLater {
                    call: wire_call(&call),
                    payload,
                };
                if let Err(e) = ctx.send_after(me, &msg, Duration::from_millis(ms.into())) {
                    let _ = ctx.reply_error(&call, &format!("testkit: send_after failed: {e}"));
                }
                Outcome::Defer
            }
            TestRequest::Forward { to, error } => {
                let msg = TestMessage::Answer {
                    call: wire_call(&call),
                    payload: b"forwarded".to_vec(),
                    error,
                };
                if let Err(e) = ctx.send(address(to), &msg) {
                    let _ = ctx.reply_error(&call, &format!("testkit: forward failed: {e}"));
                }
                Outcome::Defer
            }
            TestRequest::Stop(reason) => Outcome::Stop(reason),
            // The one reply sent as raw bytes: the test reads the exact
            // answer that went out before the actor ended.
            TestRequest::ReplyAndStop(bytes) => Outcome::ReplyAndStop(Raw(bytes)),
            TestRequest::Spawn { behaviour, args } => reply(
                &ctx.spawn(&behaviour, &Raw(args))
                    .map(|pid| wire_pid(&pid))
                    .map_err(|e| e.to_string()),
            ),
            TestRequest::Register(name) => reply(&ctx.register(&name).map_err(|e| e.to_string())),
            TestRequest::Whereis(name) => reply(&ctx.whereis(&name).map(|pid| wire_pid(&pid))),
            TestRequest::SelfPid => reply(&wire_pid(&ctx.self_pid())),
            TestRequest::Received => reply(&self.received),
            TestRequest::IsAlive => reply(&ctx.is_alive(&call)),
            TestRequest::Alloc { bytes } => reply(&alloc(bytes)),
            TestRequest::Spin => spin(),
            TestRequest::SendBig { to, len } => {
                let payload = vec![0u8; len as usize];
                reply(&ctx.send_raw(address(to), &payload).map_err(wire_error))
            }
            TestRequest::ReplyBig { len } => Outcome::Reply(Raw(vec![0u8; len as usize])),
        }
    }
}

/// Answers a handed-over call: with `payload` as a `Vec<u8>` reply (a byte
/// slice encodes the same), or with `error` through the error channel.
fn answer(ctx: &mut Context, call: &WireCall, payload: &[u8], error: Option<&str>) {
    let call = sdk_call(call);
    let sent = match error {
        Some(error) => ctx.reply_error(&call, error),
        None => ctx.reply(&call, payload),
    };
    if let Err(e) = sent {
        ctx.warn(format!("testkit: could not answer {}: {e}", call.from));
    }
}

/// Allocates `bytes` bytes and writes to every page, so that the memory is
/// really claimed from the host and not only reserved.
fn alloc(bytes: u64) -> u64 {
    // Past the address space this asks for usize::MAX, which traps, as any
    // allocation beyond the limit should.
    let len = usize::try_from(bytes).unwrap_or(usize::MAX);
    let mut buf = vec![0u8; len];
    for i in (0..len).step_by(4096) {
        buf[i] = 1;
    }
    black_box(&mut buf);
    buf.len() as u64
}

/// Busy-loops forever; `black_box` keeps the loop from being optimized away.
fn spin() -> ! {
    let mut n = 0u64;
    loop {
        n = black_box(n.wrapping_add(1));
    }
}

fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, Error> {
    value.encode().map(|bytes| bytes.into_owned())
}

/// The reply for one request: the postcard encoding of its reply type.
fn reply<T: Serialize>(value: &T) -> Outcome<Raw> {
    match encode(value) {
        Ok(bytes) => Outcome::Reply(Raw(bytes)),
        // Cannot happen for the protocol's types; stopping makes it loud.
        Err(e) => Outcome::Stop(format!("testkit: could not encode a reply: {e}")),
    }
}

fn address(target: Target) -> Address {
    match target {
        Target::Name(name) => Address::Name(name),
        Target::Pid(pid) => Address::Pid(sdk_pid(pid)),
    }
}

fn wire_pid(pid: &Pid) -> WirePid {
    WirePid {
        node: pid.node.clone(),
        id: pid.id,
        creation: pid.creation,
    }
}

fn sdk_pid(pid: WirePid) -> Pid {
    Pid {
        node: pid.node,
        id: pid.id,
        creation: pid.creation,
    }
}

fn wire_call(call: &Call) -> WireCall {
    WireCall {
        from: wire_pid(&call.from),
        r: WireRef {
            id_hi: call.r.id_hi,
            id_lo: call.r.id_lo,
            deadline_ms: call.r.deadline_ms,
        },
    }
}

fn sdk_call(call: &WireCall) -> Call {
    Call {
        from: sdk_pid(call.from.clone()),
        r: Ref {
            id_hi: call.r.id_hi,
            id_lo: call.r.id_lo,
            deadline_ms: call.r.deadline_ms,
        },
    }
}

fn wire_error(e: Error) -> WireError {
    match e {
        Error::UnknownProcess => WireError::UnknownProcess,
        Error::MailboxFull => WireError::MailboxFull,
        Error::Timeout => WireError::Timeout,
        Error::NoConnection => WireError::NoConnection,
        Error::ResponseIgnored => WireError::ResponseIgnored,
        Error::Terminated(reason) => WireError::Terminated(reason),
        Error::Remote(text) => WireError::Remote(text),
        Error::NotAllowed(reason) => WireError::NotAllowed(reason),
        Error::PayloadTooLarge(limit) => WireError::PayloadTooLarge(limit),
        Error::Decode(text) => WireError::Decode(text),
    }
}

wactor_guest::export_actor!(Testkit);
