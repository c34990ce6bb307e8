//! `testkit`: an actor that does on request whatever a host test needs to
//! see happen: answer, defer, forward a call, time out, trap, stop, spawn,
//! register, allocate, spin, and probe its sandbox (files, sockets,
//! environment, arguments, clock, randomness, spawning without bound).
//!
//! Its protocol is the `testkit-proto` crate. The reply type is [`Raw`]:
//! each request's answer is postcard-encoded here, as the type named for it
//! in `testkit-proto`, so that a test decodes it with
//! `postcard::from_bytes::<T>`.

use std::hint::black_box;
use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};
use testkit_proto::{
    Target, TestArgs, TestMessage, TestRequest, WireCall, WireError, WireInfo, WirePid, WireRef,
};
use wactor_guest::{Actor, Address, Call, Context, Encode, Error, Info, Monitor, Outcome, Pid, Raw, Ref};

/// The state is serde, so a hot upgrade hands all of it to the next
/// version, held calls included.
#[derive(Serialize, Deserialize)]
struct Testkit {
    /// Payloads of `TestMessage::Record`, in order of arrival.
    received: Vec<Vec<u8>>,
    /// Infos, in order of arrival.
    infos: Vec<WireInfo>,
    /// Calls deferred by `Hold`.
    held: Vec<WireCall>,
}

impl Actor for Testkit {
    type Args = TestArgs;
    type Message = TestMessage;
    type Request = TestRequest;
    type Reply = Raw;

    fn init(ctx: &mut Context, args: TestArgs) -> Result<Self, String> {
        // Granted by a manifest, so that tests can make a whole behaviour
        // fail to start when the host loads it from a directory.
        match std::env::var("TESTKIT_INIT").as_deref() {
            Ok("trap") => panic!("testkit: told to trap in init"),
            Ok("fail") => return Err("testkit: told to fail in init".into()),
            _ => {}
        }
        if let Some(name) = args.register {
            ctx.register(&name)
                .map_err(|e| format!("testkit: cannot register {name:?}: {e}"))?;
        }
        Ok(Testkit {
            received: Vec::new(),
            infos: Vec::new(),
            held: Vec::new(),
        })
    }

    fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: TestMessage) {
        match msg {
            TestMessage::Record(payload) => self.received.push(payload),
            TestMessage::AnswerLater { call, payload } => answer(ctx, &call, &payload, None),
            TestMessage::Answer { call, payload, error } => answer(ctx, &call, &payload, error.as_deref()),
            TestMessage::Spin => spin(),
            TestMessage::Trap => panic!("testkit: told to trap in a message"),
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
            TestRequest::CallJson { to, json, timeout_ms } => {
                let timeout = timeout_ms.map(|ms| Duration::from_millis(ms.into()));
                let answer: Result<Raw, Error> = ctx.call_json(address(to), &Raw(json), timeout);
                reply(&answer.map(Raw::into_inner).map_err(wire_error))
            }
            TestRequest::TimedCall {
                to,
                payload,
                timeout_ms,
            } => {
                let timeout = timeout_ms.map(|ms| Duration::from_millis(ms.into()));
                let began = now_us();
                let answer = ctx.call_raw(address(to), &payload, timeout).map_err(wire_error);
                reply(&(began, now_us(), answer))
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
            TestRequest::ReadFile(path) => reply(&std::fs::read(&path).map_err(|e| e.to_string())),
            TestRequest::WriteFile { path, contents } => {
                reply(&std::fs::write(&path, &contents).map_err(|e| e.to_string()))
            }
            TestRequest::Print { stdout, stderr } => {
                println!("{stdout}");
                eprintln!("{stderr}");
                reply(&())
            }
            TestRequest::Connect(addr) => reply(&connect(&addr)),
            TestRequest::Env => reply(&std::env::vars().collect::<Vec<(String, String)>>()),
            TestRequest::Args => reply(&std::env::args().collect::<Vec<String>>()),
            TestRequest::Now => reply(&now_ms()),
            TestRequest::Random => reply(&random_u64()),
            TestRequest::SpawnForever { behaviour } => reply(&spawn_forever(ctx, &behaviour)),
            TestRequest::SpawnPool { behaviour, size, args } => reply(
                &ctx.spawn_pool(&behaviour, size, &Raw(args))
                    .map(|pid| wire_pid(&pid))
                    .map_err(|e| e.to_string()),
            ),
            TestRequest::CallAsync {
                to,
                payload,
                timeout_ms,
            } => {
                let timeout = timeout_ms.map(|ms| Duration::from_millis(ms.into()));
                let r = ctx.call_async(address(to), &Raw(payload), timeout);
                reply(&r.map(|r| wire_ref(&r)).map_err(wire_error))
            }
            TestRequest::Infos => reply(&self.infos),
            TestRequest::Link(pid) => reply(&ctx.link(&sdk_pid(pid)).map_err(wire_error)),
            TestRequest::Unlink(pid) => reply(&ctx.unlink(&sdk_pid(pid))),
            TestRequest::TrapExits(on) => reply(&ctx.trap_exits(on)),
            TestRequest::Monitor(to) => reply(&ctx.monitor(address(to)).id()),
            TestRequest::Demonitor(id) => reply(&ctx.demonitor(Monitor::from_id(id))),
            TestRequest::Hold => {
                self.held.push(wire_call(&call));
                Outcome::Defer
            }
            TestRequest::AnswerHeld(payload) => {
                let held = std::mem::take(&mut self.held);
                for c in &held {
                    answer(ctx, c, &payload, None);
                }
                reply(&(held.len() as u32))
            }
            TestRequest::SendImportant { to, payload } => {
                reply(&ctx.send_important(address(to), &Raw(payload)).map_err(wire_error))
            }
            TestRequest::CallImportant {
                to,
                payload,
                timeout_ms,
            } => {
                let answer: Result<Raw, Error> = match timeout_ms {
                    Some(ms) => {
                        let timeout = Duration::from_millis(ms.into());
                        ctx.call_important_timeout(address(to), &Raw(payload), timeout)
                    }
                    None => ctx.call_important(address(to), &Raw(payload)),
                };
                reply(&answer.map(|r| r.0).map_err(wire_error))
            }
            TestRequest::AnswerHeldImportant(payload) => {
                let held = std::mem::take(&mut self.held);
                let outcomes: Vec<Result<(), WireError>> = held
                    .iter()
                    .map(|c| ctx.reply_important(&sdk_call(c), &payload).map_err(wire_error))
                    .collect();
                reply(&outcomes)
            }
            TestRequest::SetImportant(on) => reply(&ctx.set_important_delivery(on)),
            TestRequest::SendMany { to, count } => {
                let to = address(to);
                let record = TestMessage::Record(Vec::new());
                let accepted = (0..count)
                    .filter(|_| ctx.send(to.clone(), &record).is_ok())
                    .count();
                reply(&(accepted as u32))
            }
        }
    }

    fn handle_info(&mut self, _ctx: &mut Context, info: Info) {
        self.infos.push(match info {
            Info::Response { r, result } => WireInfo::Response {
                r: wire_ref(&r),
                result: result.map_err(wire_error),
            },
            Info::Down { monitor, pid, reason } => WireInfo::Down {
                monitor: monitor.id(),
                pid: wire_pid(&pid),
                reason,
            },
            Info::Exit { pid, reason } => WireInfo::Exit {
                pid: wire_pid(&pid),
                reason,
            },
        });
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

/// The wall clock, in microseconds since the Unix epoch (0 before it).
fn now_us() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// The wall clock, in milliseconds since the Unix epoch (0 before it).
fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Eight bytes from `wasi:random/random`, the host's random source.
fn random_u64() -> u64 {
    wasip2::random::random::get_random_u64()
}

/// Opens a TCP connection to `addr` (`ip:port`) through `wasi:sockets`,
/// the interface `std::net::TcpStream` uses on wasm32-wasip2 (called
/// directly, so the guest does not depend on a libc with socket support).
fn connect(addr: &str) -> Result<(), String> {
    use wasip2::sockets::instance_network::instance_network;
    use wasip2::sockets::network::{IpAddressFamily, IpSocketAddress, Ipv4SocketAddress, Ipv6SocketAddress};
    use wasip2::sockets::tcp_create_socket::create_tcp_socket;

    let addr: SocketAddr = addr.parse().map_err(|e| format!("bad address {addr:?}: {e}"))?;
    let (family, remote) = match addr {
        SocketAddr::V4(a) => {
            let [x, y, z, w] = a.ip().octets();
            let remote = IpSocketAddress::Ipv4(Ipv4SocketAddress {
                port: a.port(),
                address: (x, y, z, w),
            });
            (IpAddressFamily::Ipv4, remote)
        }
        SocketAddr::V6(a) => {
            let [s0, s1, s2, s3, s4, s5, s6, s7] = a.ip().segments();
            let remote = IpSocketAddress::Ipv6(Ipv6SocketAddress {
                port: a.port(),
                flow_info: a.flowinfo(),
                address: (s0, s1, s2, s3, s4, s5, s6, s7),
                scope_id: a.scope_id(),
            });
            (IpAddressFamily::Ipv6, remote)
        }
    };
    let network = instance_network();
    let socket = create_tcp_socket(family).map_err(|e| format!("create-tcp-socket: {e}"))?;
    socket
        .start_connect(&network, remote)
        .map_err(|e| format!("start-connect: {e}"))?;
    socket.subscribe().block();
    socket
        .finish_connect()
        .map(drop)
        .map_err(|e| format!("finish-connect: {e}"))
}

/// Spawns `behaviour` until the host refuses; returns the number spawned
/// and the refusal's text.
fn spawn_forever(ctx: &mut Context, behaviour: &str) -> (u32, String) {
    let mut count = 0u32;
    loop {
        match ctx.spawn(behaviour, &Raw(Vec::new())) {
            Ok(_) => count += 1,
            Err(e) => return (count, e.to_string()),
        }
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

fn wire_ref(r: &Ref) -> WireRef {
    WireRef {
        id_hi: r.id_hi,
        id_lo: r.id_lo,
        deadline_ms: r.deadline_ms,
    }
}

fn wire_call(call: &Call) -> WireCall {
    WireCall {
        from: wire_pid(&call.from),
        r: wire_ref(&call.r),
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
