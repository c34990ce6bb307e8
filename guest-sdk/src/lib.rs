//! Write wactor actors in Rust.
//!
//! A wactor actor is a WebAssembly component that exports the
//! `wactor:actor/actor` world (`wit/actor.wit` in the wactor repository);
//! this crate builds its `actor-batched` form, which also takes messages that
//! piled up in one call. The host runs each actor in its own sandbox, has it
//! handle one message or call at a time, and lets it talk to other actors
//! through the host's imports. This crate turns that contract into ordinary
//! Rust: a trait to implement, typed messages, and a [`Context`] with safe
//! methods for everything the host offers. User code needs no `unsafe` and
//! never sees the raw interface types.
//!
//! # A first actor
//!
//! A counter that can be bumped with a message or a call, and read with a
//! call:
//!
//! ```no_run
//! use serde::{Deserialize, Serialize};
//! use wactor_guest::{Actor, Call, Context, Outcome, Pid};
//!
//! #[derive(Serialize, Deserialize)]
//! pub enum CounterRequest {
//!     Increment,
//!     Get,
//! }
//!
//! struct Counter {
//!     count: u64,
//! }
//!
//! impl Actor for Counter {
//!     type Args = u64; // the starting value; no arguments means 0
//!     type Message = CounterRequest;
//!     type Request = CounterRequest;
//!     type Reply = u64;
//!
//!     fn init(ctx: &mut Context, start: u64) -> Result<Self, String> {
//!         ctx.info(format!("counter {} starts at {start}", ctx.self_pid()));
//!         Ok(Counter { count: start })
//!     }
//!
//!     fn handle_message(&mut self, _ctx: &mut Context, _from: Pid, msg: CounterRequest) {
//!         if let CounterRequest::Increment = msg {
//!             self.count += 1;
//!         }
//!     }
//!
//!     fn handle_call(&mut self, _ctx: &mut Context, _call: Call, req: CounterRequest) -> Outcome<u64> {
//!         if let CounterRequest::Increment = req {
//!             self.count += 1;
//!         }
//!         Outcome::Reply(self.count)
//!     }
//! }
//!
//! wactor_guest::export_actor!(Counter);
//! ```
//!
//! [`export_actor!`] generates the component's exports; there is exactly one
//! actor type per crate. The crate is a `cdylib`:
//!
//! ```toml
//! [lib]
//! crate-type = ["cdylib"]
//!
//! [dependencies]
//! wactor-guest = { path = "../guest-sdk" }
//! serde = { version = "1", features = ["derive"] }
//! ```
//!
//! and is built for `wasm32-wasip2`, which produces a component directly:
//!
//! ```text
//! cargo build --release --target wasm32-wasip2
//! ```
//!
//! The host loads `counter.wasm` as the behaviour `counter` (the file stem).
//! In the wactor repository, `scripts/build-guests` builds every example this
//! way.
//!
//! # Lifecycle
//!
//! * [`Actor::init`] runs once, with the arguments given to `spawn`, decoded
//!   as [`Actor::Args`]. An actor started by the host from a file gets an
//!   empty payload, which becomes `Args::default()` (so `Args = ()` or any
//!   `Default` struct works). Returning `Err(text)` stops the actor before it
//!   handles anything; a spawner sees [`SpawnError::InitFailed`] with `text`.
//! * [`Actor::handle_message`] runs for each message sent with `send` or
//!   `send_after`. Messages have no answer.
//! * [`Actor::handle_call`] runs for each request sent with `call`, and
//!   returns an [`Outcome`]: reply now, defer, reply and stop, or stop.
//! * [`Actor::terminate`] runs when the actor ends for a reason other than a
//!   trap, with that reason: `"normal"` after [`Outcome::ReplyAndStop`], the
//!   reason given to [`Outcome::Stop`], or the host's when it stops the actor
//!   (at shutdown, for instance).
//!
//! The actor's value lives inside the component between callbacks; `&mut
//! self` is that state. Callbacks never overlap: while one runs (including
//! while it waits in [`Context::call`]), nothing else enters the actor.
//!
//! # Messages, calls and the codec
//!
//! The four associated types of [`Actor`] are the actor's protocol. Each is
//! either a `serde` type, carried as [postcard](https://docs.rs/postcard)
//! bytes, or [`Raw`], carried as its bytes unchanged (useful for JSON coming
//! from an HTTP client, or any format of your own). The same single codec
//! ([`Encode`]/[`Decode`], see [`codec`]) is used on every path: init
//! arguments, messages, requests, replies, [`Context::send`],
//! [`Context::call`], [`Context::reply`], [`Context::send_after`] and
//! [`Context::spawn`]. Two actors understand each other when the types on
//! both sides have the same shape: the usual way is a small shared crate with
//! the message enums, used by both.
//!
//! Postcard is not self-describing: the enum variant order and the field
//! order are the wire format. Add variants at the end to stay compatible.
//!
//! # JSON: calls from outside and from other languages
//!
//! A typed actor also answers calls made in JSON, with no code of its own:
//! `wactor call calculator --json '{"Divide":[7,2]}'` prints `{"Ok":3}`,
//! and so does an HTTP `POST /v1/actors/calculator/call` with
//! `Content-Type: application/json`. The call's [`Ref`] carries the
//! encoding ([`Ref::encoding`]); the SDK decodes the request with
//! serde_json and encodes the reply the same way, including a deferred one
//! given with [`Context::reply`]. The JSON form is serde's default
//! (externally tagged): `{"Divide":[7,2]}` for a tuple variant, `"Get"`
//! for a unit variant, `{"Ok":3}` and `{"Err":"DivisionByZero"}` for a
//! `Result`; see [`codec`] for the whole table. [`Raw`] requests and
//! replies pass through unchanged in both encodings. Postcard stays the
//! encoding between Rust actors.
//!
//! Bad input never brings an actor down:
//!
//! * a request that does not decode as `Request` (in either encoding) is
//!   refused by the SDK: the caller gets
//!   [`Error::NotAllowed`]`("bad request: could not decode ...")`, which
//!   names the expected type and the decoder's complaint (over HTTP and the
//!   CLI, kind `bad-request`, status 400), and the actor keeps running;
//! * a message that does not decode as `Message` is logged as a warning
//!   through the host's log and dropped;
//! * a reply that fails to encode is reported to the caller the same way
//!   (`"bad reply: ..."`).
//!
//! # Two error channels
//!
//! A caller can get two kinds of "no":
//!
//! * **Application errors are part of the reply.** If a request can fail in
//!   a way the caller should handle, say so in the type:
//!   `type Reply = Result<i64, CalcError>`, and answer
//!   `Outcome::Reply(Err(CalcError::DivisionByZero))`. The caller decodes it
//!   like any reply; the actor keeps running.
//! * **Transport-class errors are [`Error`]s.** The call did not produce a
//!   reply: [`Error::Timeout`], [`Error::UnknownProcess`],
//!   [`Error::Terminated`] when the callee ended first, or [`Error::Remote`]
//!   when the callee answered with [`Context::reply_error`] ("I cannot give
//!   you an answer at all").
//!
//! Ending the actor is always explicit ([`Outcome::Stop`],
//! [`Outcome::ReplyAndStop`]), so an actor never ends by accident while it
//! means to report an error.
//!
//! # Answering later
//!
//! A call does not have to be answered from `handle_call`. Return
//! [`Outcome::Defer`], keep the [`Call`], and answer when the result is ready
//! with [`Context::reply`] (or [`Context::reply_error`]):
//!
//! ```no_run
//! # use wactor_guest::{Actor, Call, Context, Outcome, Pid};
//! # use serde::{Deserialize, Serialize};
//! #[derive(Serialize, Deserialize)]
//! enum Msg { Done(u64) }
//!
//! struct Batcher { waiting: Vec<Call> }
//!
//! impl Actor for Batcher {
//!     type Args = ();
//!     type Message = Msg;
//!     type Request = ();
//!     type Reply = u64;
//!
//!     fn init(_: &mut Context, _: ()) -> Result<Self, String> {
//!         Ok(Batcher { waiting: Vec::new() })
//!     }
//!
//!     fn handle_call(&mut self, _: &mut Context, call: Call, _: ()) -> Outcome<u64> {
//!         self.waiting.push(call);
//!         Outcome::Defer
//!     }
//!
//!     fn handle_message(&mut self, ctx: &mut Context, _: Pid, Msg::Done(n): Msg) {
//!         for call in self.waiting.drain(..) {
//!             // A caller that gave up meanwhile is simply skipped by the host.
//!             let _ = ctx.reply(&call, &n);
//!         }
//!     }
//! }
//! # wactor_guest::export_actor!(Batcher);
//! ```
//!
//! A [`Call`] is serializable: it can be put in a message to another actor,
//! which then answers the original caller itself with `ctx.reply(&call, ..)`.
//! [`Context::is_alive`] tells whether the caller is still waiting, before
//! doing expensive work for it.
//!
//! # Timers, names and spawning
//!
//! * [`Context::send_after`] delivers a message (to anyone, often
//!   [`Context::self_pid`]) after a delay; [`Context::cancel_timer`] cancels
//!   it.
//! * [`Context::register`] gives the actor a name, released when it ends;
//!   [`Context::whereis`] looks one up; every sending function accepts a name
//!   wherever it accepts a pid (see [`Address`]). `name@node` addresses a
//!   name on another node.
//! * [`Context::spawn`] starts another actor from a behaviour loaded on the
//!   host, and returns once its `init` succeeded.
//!
//! # Calls that do not wait
//!
//! [`Context::call_async`] sends a request and returns its [`Ref`] at once;
//! the answer arrives later in [`Actor::handle_info`] as
//! [`Info::Response`] with that ref (decode it with [`Info::response`]).
//! Errors known at once (no such process, full mailbox) are returned by
//! `call_async` itself; a timeout or the callee's end comes as the
//! response's error.
//!
//! # Supervision
//!
//! * [`Context::monitor`] watches another process: when it ends,
//!   [`Actor::handle_info`] gets one [`Info::Down`] with the reason.
//! * [`Context::link`] ties two processes: when one ends abnormally, the
//!   other ends too, unless it called [`Context::trap_exits`]`(true)`, in
//!   which case it gets [`Info::Exit`] instead.
//! * What happens to an actor that fails is its behaviour's restart policy,
//!   set on the host (`NAME.toml` beside `NAME.wasm`): `permanent`,
//!   `transient` or `temporary`, with a restart intensity. A restarted
//!   actor keeps its pid, names and mailbox, with fresh state from `init`.
//!
//! # State hand-off
//!
//! When a new version of an actor is dropped into the host's directory,
//! each running actor switches to it between two messages, keeping its
//! pid, names, mailbox and the calls it deferred. Its state goes along when
//! the actor type is `serde` (`Serialize + Deserialize`): [`export_actor!`]
//! notices and hands the state over as postcard bytes tagged with
//! [`Actor::STATE_VERSION`]. When the state changes shape, raise
//! `STATE_VERSION` and implement [`Actor::migrate`] to read the older
//! shape. If `migrate` fails (or panics), the actor stays on its old
//! version. An actor type that is not `serde` starts the new version with
//! `init` and its original arguments.
//!
//! ```no_run
//! # use wactor_guest::{Actor, Call, Context, Outcome};
//! # use serde::{Deserialize, Serialize};
//! #[derive(Serialize, Deserialize)]
//! struct Counter { count: u64, label: String }
//!
//! impl Actor for Counter {
//!     type Args = ();
//!     type Message = ();
//!     type Request = ();
//!     type Reply = u64;
//!
//!     const STATE_VERSION: u32 = 2; // version 1 was a bare `u64`
//!
//!     fn init(_: &mut Context, _: ()) -> Result<Self, String> {
//!         Ok(Counter { count: 0, label: String::new() })
//!     }
//!
//!     fn migrate(_: &mut Context, from: u32, state: &[u8]) -> Result<Self, String> {
//!         use wactor_guest::Decode;
//!         match from {
//!             1 => Ok(Counter { count: u64::decode(state.to_vec()).map_err(|e| e.to_string())?, label: String::new() }),
//!             v => Err(format!("unknown state version {v}")),
//!         }
//!     }
//!
//!     fn handle_call(&mut self, _: &mut Context, _: Call, _: ()) -> Outcome<u64> {
//!         self.count += 1;
//!         Outcome::Reply(self.count)
//!     }
//! }
//! # wactor_guest::export_actor!(Counter);
//! ```
//!
//! # Important delivery
//!
//! Across hosts, plain sends are fire-and-forget. [`Context::send_important`],
//! [`Context::call_important`] and [`Context::reply_important`] wait for the
//! other side to take the message (or fail with the reason), and
//! [`Context::set_important_delivery`] makes every later operation of the
//! actor important. On a single host they behave like the plain ones.
//!
//! # Testing without a host
//!
//! [`testing::TestActor`] runs an actor natively under `cargo test`,
//! against a fake host that records what the actor does, answers its calls
//! from a script, moves time only when the test says, and hands its state
//! over as an upgrade does. See [`testing`].
//!
//! # Logging
//!
//! [`Context::log`] and its shorthands ([`Context::info`],
//! [`Context::warn`], ...) write to the host's log, tagged with the actor.
//! `println!` and `eprintln!` write to WASI stdout and stderr; the wactor
//! host logs each line, tagged the same way, but prefer the log, which has
//! levels.
//!
//! # Panics and traps
//!
//! A panic in actor code is a trap: the instance is gone, `terminate` does
//! not run, a pending caller sees [`Error::Terminated`], and what happens
//! next is the host's policy. The wactor host puts the panic's message and
//! place in the reason (`trap: ... (the guest panicked at src/lib.rs:42:9:
//! MESSAGE)`). Use panics for bugs, not for errors a caller
//! should see. Build with `panic = "abort"` to keep binaries small; the
//! outcome is the same.
//!
//! # Time and randomness
//!
//! The host grants the WASI clocks and random interfaces, so
//! `std::time::Instant`, `std::time::SystemTime` and crates that read OS
//! randomness work as usual. An actor that blocks (a long loop,
//! `std::thread::sleep`) handles nothing else meanwhile, and the host may
//! bound how long a callback can run; to wait, schedule a message with
//! [`Context::send_after`] and return.

#![deny(missing_docs)]

// Lets the generated bindings name this crate by the same path from inside
// it and from the user's crate.
extern crate self as wactor_guest;

mod actor;
pub mod codec;
mod context;
mod error;
mod sys;
#[cfg(not(target_arch = "wasm32"))]
pub mod testing;
mod types;

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

pub use crate::actor::{Actor, Outcome};
pub use crate::codec::{Decode, Encode, Encoding, Raw};
pub use crate::context::Context;
pub use crate::error::{Error, RegisterError, SpawnError};
pub use crate::types::{Address, Call, Info, Level, Monitor, Pid, Ref, Timer};

/// Exports an [`Actor`] type as the component's actor: one line per crate.
///
/// ```no_run
/// # use wactor_guest::{Actor, Call, Context, Outcome};
/// struct Nothing;
///
/// impl Actor for Nothing {
///     type Args = ();
///     type Message = ();
///     type Request = ();
///     type Reply = ();
///
///     fn init(_: &mut Context, _: ()) -> Result<Self, String> {
///         Ok(Nothing)
///     }
///
///     fn handle_call(&mut self, _: &mut Context, _: Call, _: ()) -> Outcome<()> {
///         Outcome::Reply(())
///     }
/// }
///
/// wactor_guest::export_actor!(Nothing);
/// ```
#[macro_export]
macro_rules! export_actor {
    ($ty:ty) => {
        const _: () = {
            $crate::__impl_handoff!($ty);
            // The generated export macro takes a plain identifier.
            type __WactorActor = $crate::__private::Glue<$ty>;
            $crate::__private::bindings::export!(
                __WactorActor with_types_in $crate::__private::bindings
            );
        };
    };
}

/// The state hand-off of `$ty` (serde when the type is serde, none
/// otherwise), chosen where the type is concrete. [`export_actor!`] uses
/// it; so do tests that run several actor types in one crate with
/// [`testing`], where only one type can be exported.
#[doc(hidden)]
#[macro_export]
macro_rules! __impl_handoff {
    ($ty:ty) => {
        impl $crate::__private::Handoff for $ty {
            fn snapshot(&self) -> ::core::option::Option<::std::vec::Vec<u8>> {
                #[allow(unused_imports)]
                use $crate::__private::{ViaNothing as _, ViaSerde as _};
                let fns = (&&$crate::__private::Probe::<$ty>(::core::marker::PhantomData)).handoff();
                (fns.snapshot)(self)
            }
            fn restore(
                ctx: &mut $crate::Context,
                version: u32,
                state: ::std::vec::Vec<u8>,
            ) -> ::core::result::Result<Self, ::std::string::String> {
                #[allow(unused_imports)]
                use $crate::__private::{ViaNothing as _, ViaSerde as _};
                let fns = (&&$crate::__private::Probe::<$ty>(::core::marker::PhantomData)).handoff();
                (fns.restore)(ctx, version, state)
            }
        }
    };
}
