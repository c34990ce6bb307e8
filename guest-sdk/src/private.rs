//! Glue between the generated component bindings and [`Actor`]; used by
//! [`export_actor!`](crate::export_actor). Not part of the public API.

use std::any::{type_name, Any};
use std::cell::RefCell;
use std::marker::PhantomData;

pub use wit_bindgen;

use crate::actor::{Actor, Outcome};
use crate::codec::{Decode, Encode};
use crate::context::Context;
use crate::types::{Call, Info, Pid, Ref};

/// Bindings for `wit/actor.wit`. The export macro is public so that the
/// user's crate (which does not depend on `wit-bindgen` itself) can expand
/// it through `export_actor!`.
#[allow(clippy::all)]
pub mod bindings {
    wit_bindgen::generate!({
        path: "../wit",
        world: "actor-batched",
        pub_export_macro: true,
        default_bindings_module: "wactor_guest::__private::bindings",
        runtime_path: "wactor_guest::__private::wit_bindgen::rt",
    });
}

use bindings::wactor::actor::types as wit;

thread_local! {
    // One component instance runs exactly one actor, so a single slot is
    // enough. It is type-erased because statics cannot be generic; the
    // downcast always succeeds as only `Glue<A>` for one `A` is exported.
    static ACTOR: RefCell<Option<Box<dyn Any>>> = const { RefCell::new(None) };
}

/// Puts `instance` in the actor slot and returns what was there: how
/// [`testing`](crate::testing) runs several instances, one at a time, on
/// one thread. Must not be called while a callback runs (the slot is
/// borrowed then).
#[cfg(not(target_arch = "wasm32"))]
pub(crate) fn swap_instance(instance: Option<Box<dyn Any>>) -> Option<Box<dyn Any>> {
    ACTOR.with(|slot| std::mem::replace(&mut *slot.borrow_mut(), instance))
}

/// Runs `f` on the live actor. The borrow is held for the whole callback,
/// which is sound because the host never re-enters a component instance
/// while one of its exports is running.
fn with_actor<A: Actor, T>(f: impl FnOnce(&mut A, &mut Context) -> T) -> T {
    ACTOR.with(|slot| {
        let mut slot = slot.borrow_mut();
        let Some(actor) = slot.as_mut().and_then(|a| a.downcast_mut::<A>()) else {
            // Only a host that breaks the world's protocol gets here; a trap
            // is the honest answer.
            panic!("{}: called before a successful init", type_name::<A>());
        };
        f(actor, &mut Context::new())
    })
}

/// The type `export_actor!` exports: it implements the world's `Guest`
/// trait for any [`Actor`].
pub struct Glue<A>(PhantomData<A>);

/// How an actor type hands its state to its next instance. `export_actor!`
/// implements it for the exported type: through serde when the type is
/// `Serialize + DeserializeOwned`, and not at all otherwise.
pub trait Handoff: Sized {
    /// The state to hand over, if any.
    fn snapshot(&self) -> Option<Vec<u8>>;
    /// The actor rebuilt from a state of `version`.
    fn restore(ctx: &mut Context, version: u32, state: Vec<u8>) -> Result<Self, String>;
}

/// Picks the hand-off for `A` at the `export_actor!` site, where `A` is a
/// concrete type: method resolution prefers [`ViaSerde`] (implemented on
/// `&Probe<A>` only when `A` is serde) over [`ViaNothing`] (on `Probe<A>`).
pub struct Probe<A>(pub PhantomData<A>);

/// The functions behind a [`Handoff`].
pub struct HandoffFns<A> {
    pub snapshot: fn(&A) -> Option<Vec<u8>>,
    pub restore: fn(&mut Context, u32, Vec<u8>) -> Result<A, String>,
}

pub trait ViaSerde<A> {
    fn handoff(&self) -> HandoffFns<A>;
}

impl<A> ViaSerde<A> for &Probe<A>
where
    A: Actor + serde::Serialize + serde::de::DeserializeOwned,
{
    fn handoff(&self) -> HandoffFns<A> {
        HandoffFns {
            snapshot: |actor| postcard::to_allocvec(actor).ok(),
            restore: |ctx, version, state| {
                if version == A::STATE_VERSION {
                    postcard::from_bytes(&state)
                        .map_err(|e| format!("cannot decode the state of version {version}: {e}"))
                } else {
                    A::migrate(ctx, version, &state)
                }
            },
        }
    }
}

pub trait ViaNothing<A> {
    fn handoff(&self) -> HandoffFns<A>;
}

impl<A: Actor> ViaNothing<A> for Probe<A> {
    fn handoff(&self) -> HandoffFns<A> {
        HandoffFns {
            snapshot: |_| None,
            restore: |_, version, _| {
                Err(format!(
                    "state version {version} cannot be restored: the actor keeps no state across versions"
                ))
            },
        }
    }
}

impl<A: Actor + Handoff> bindings::Guest for Glue<A> {
    fn init(args: Vec<u8>) -> Result<(), String> {
        let args = if args.is_empty() {
            A::Args::default()
        } else {
            A::Args::decode(args).map_err(|e| format!("bad init arguments: {e}"))?
        };
        let actor = A::init(&mut Context::new(), args)?;
        ACTOR.with(|slot| *slot.borrow_mut() = Some(Box::new(actor)));
        Ok(())
    }

    fn handle_message(from: wit::Pid, message: Vec<u8>) {
        deliver::<A>(Pid::from_wit(from), message);
    }

    fn handle_messages(batch: Vec<u8>) {
        let mut frames = Frames {
            rest: &batch,
            from: None,
        };
        let mut first = true;
        // A malformed batch is the host's fault: a trap says so, and the
        // messages not reached stay in the mailbox.
        while let Some((from, message)) = frames.next_frame().unwrap_or_else(|_| panic!("malformed batch")) {
            if !first && !crate::sys::batch_next() {
                return;
            }
            first = false;
            deliver::<A>(from, message.to_vec());
        }
    }

    fn handle_call(from: wit::Pid, r: wit::Ref, request: Vec<u8>) -> wit::CallOutcome {
        let call = Call {
            from: Pid::from_wit(from),
            r: Ref::from_wit(r),
        };
        // The caller chose the encoding; the reply follows it.
        let encoding = call.r.encoding();
        let req = match A::Request::decode_as(request, encoding) {
            Ok(req) => req,
            Err(e) => {
                // The caller learns at once what it got wrong; the actor's
                // state is untouched, so it keeps running.
                refuse(&call, &e.to_string());
                return wit::CallOutcome::Defer;
            }
        };
        let outcome = with_actor::<A, _>(|actor, ctx| actor.handle_call(ctx, call.clone(), req));
        match outcome {
            Outcome::Reply(reply) => match reply.encode_as(encoding) {
                Ok(bytes) => wit::CallOutcome::Reply(bytes.into_owned()),
                Err(e) => {
                    answer_error(&call, &format!("bad reply: {e}"));
                    wit::CallOutcome::Defer
                }
            },
            Outcome::Defer => wit::CallOutcome::Defer,
            Outcome::ReplyAndStop(reply) => match reply.encode_as(encoding) {
                Ok(bytes) => wit::CallOutcome::ReplyAndStop(bytes.into_owned()),
                Err(e) => {
                    // The actor meant to stop anyway; it still does, and the
                    // caller is told why it gets no reply.
                    answer_error(&call, &format!("bad reply: {e}"));
                    wit::CallOutcome::Stop(format!("bad reply: {e}"))
                }
            },
            Outcome::Stop(reason) => wit::CallOutcome::Stop(reason),
        }
    }

    fn handle_info(info: wit::Info) {
        let info = Info::from_wit(info);
        with_actor::<A, _>(|actor, ctx| actor.handle_info(ctx, info))
    }

    fn snapshot() -> Option<wit::State> {
        let data = with_actor::<A, _>(|actor, _| actor.snapshot())?;
        Some(wit::State {
            version: A::STATE_VERSION,
            data,
        })
    }

    fn restore(state: wit::State) -> Result<(), String> {
        let actor = A::restore(&mut Context::new(), state.version, state.data)?;
        ACTOR.with(|slot| *slot.borrow_mut() = Some(Box::new(actor)));
        Ok(())
    }

    fn terminate(reason: String) {
        // Take the actor out first so it is dropped after `terminate`, and
        // so a later call (there should be none) traps instead of running a
        // terminated actor.
        let actor = ACTOR.with(|slot| slot.borrow_mut().take());
        if let Some(mut actor) = actor.and_then(|a| a.downcast::<A>().ok()) {
            actor.terminate(&mut Context::new(), &reason);
        }
    }
}

/// Hands one message to the actor, or logs why it could not be decoded.
fn deliver<A: Actor>(from: Pid, message: Vec<u8>) {
    match A::Message::decode(message) {
        Ok(msg) => with_actor::<A, _>(|actor, ctx| actor.handle_message(ctx, from, msg)),
        Err(e) => Context::new().warn(format!("dropped a message from {from}: {e}")),
    }
}

/// Reads the frames of a `handle-messages` batch (see the WIT file).
struct Frames<'a> {
    rest: &'a [u8],
    /// The sender of the last frame read.
    from: Option<Pid>,
}

/// Bytes that are not a batch. Without words: every byte of text here
/// would be in each actor's memory, and only a broken host gets here.
struct Malformed;

impl<'a> Frames<'a> {
    /// The next message and its sender; `None` at the end.
    fn next_frame(&mut self) -> Result<Option<(Pid, &'a [u8])>, Malformed> {
        let Some((&tag, rest)) = self.rest.split_first() else {
            return Ok(None);
        };
        self.rest = rest;
        if tag == 1 {
            let len = self.u32()? as usize;
            let node = String::from_utf8(self.bytes(len)?.to_vec()).map_err(|_| Malformed)?;
            let id = self.u64()?;
            let creation = self.u64()?;
            self.from = Some(Pid { node, id, creation });
        } else if tag != 0 {
            return Err(Malformed);
        }
        let from = self.from.clone().ok_or(Malformed)?;
        let len = self.u32()? as usize;
        Ok(Some((from, self.bytes(len)?)))
    }

    fn bytes(&mut self, n: usize) -> Result<&'a [u8], Malformed> {
        if self.rest.len() < n {
            return Err(Malformed);
        }
        let (taken, rest) = self.rest.split_at(n);
        self.rest = rest;
        Ok(taken)
    }

    fn u32(&mut self) -> Result<u32, Malformed> {
        let mut a = [0; 4];
        a.copy_from_slice(self.bytes(4)?);
        Ok(u32::from_le_bytes(a))
    }

    fn u64(&mut self) -> Result<u64, Malformed> {
        let mut a = [0; 8];
        a.copy_from_slice(self.bytes(8)?);
        Ok(u64::from_le_bytes(a))
    }
}

fn refuse(call: &Call, reason: &str) {
    let ctx = &mut Context::new();
    if let Err(e) = ctx.refuse_request(call, reason) {
        ctx.debug(format!("could not refuse a request of {}: {e}", call.from));
    }
}

fn answer_error(call: &Call, text: &str) {
    let ctx = &mut Context::new();
    if let Err(e) = ctx.reply_error(call, text) {
        ctx.debug(format!("could not report `{text}` to {}: {e}", call.from));
    }
}
