//! The [`Actor`] trait and [`Outcome`].

use crate::codec::{Decode, Encode};
use crate::context::Context;
use crate::types::{Call, Info, Pid};

/// The behaviour of one actor.
///
/// Implement it for the actor's state and export the type with
/// [`export_actor!`](crate::export_actor). The host creates one instance per
/// process with [`init`](Actor::init), hands it one message or call at a
/// time, and calls [`terminate`](Actor::terminate) when it ends (unless it
/// trapped).
///
/// The associated types are the actor's protocol. Each must be a `serde`
/// type (sent with postcard) or [`Raw`](crate::Raw) (bytes as they are).
pub trait Actor: Sized + 'static {
    /// Arguments of [`init`](Actor::init), from `spawn`. An empty argument
    /// payload (an actor started from a file, or spawned with `&()`) gives
    /// `Args::default()`.
    type Args: Decode + Default;
    /// Messages handled by [`handle_message`](Actor::handle_message).
    type Message: Decode;
    /// Requests handled by [`handle_call`](Actor::handle_call).
    type Request: Decode;
    /// Answers to requests.
    type Reply: Encode;

    /// Creates the actor. An `Err` stops it before it handles anything; the
    /// spawner sees [`SpawnError::InitFailed`](crate::SpawnError::InitFailed)
    /// with the text.
    fn init(ctx: &mut Context, args: Self::Args) -> Result<Self, String>;

    /// Handles one message sent with `send` or `send_after`.
    ///
    /// The default ignores it. A message that does not decode as
    /// `Self::Message` never gets here: it is logged as a warning and
    /// dropped.
    fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: Self::Message) {
        let _ = (ctx, from, msg);
    }

    /// Handles one request and decides what happens to it; see [`Outcome`].
    ///
    /// A request that does not decode as `Self::Request` never gets here:
    /// the caller receives [`Error::NotAllowed`](crate::Error::NotAllowed)
    /// with `"bad request: ..."` (a 400 `bad-request` over HTTP) and the
    /// actor keeps running.
    fn handle_call(&mut self, ctx: &mut Context, call: Call, req: Self::Request) -> Outcome<Self::Reply>;

    /// Handles one [`Info`]: the answer to a
    /// [`call_async`](Context::call_async), a monitor's
    /// [`Down`](Info::Down), a link's [`Exit`](Info::Exit). The default logs
    /// it at debug level.
    fn handle_info(&mut self, ctx: &mut Context, info: Info) {
        ctx.debug(format!("unhandled info: {info:?}"));
    }

    /// The shape of this actor's state, for hot upgrades (see
    /// [state hand-off](crate#state-hand-off)). Raise it when the state
    /// type changes shape, and teach [`migrate`](Actor::migrate) the old one.
    const STATE_VERSION: u32 = 1;

    /// Builds the actor from the state of an older version whose
    /// [`STATE_VERSION`](Actor::STATE_VERSION) was `from_version` (`state`
    /// is that version's postcard encoding). The default refuses, and the
    /// host keeps the actor on its old version.
    fn migrate(ctx: &mut Context, from_version: u32, state: &[u8]) -> Result<Self, String> {
        let _ = (ctx, state);
        Err(format!(
            "no migration from state version {from_version} to {}",
            Self::STATE_VERSION
        ))
    }

    /// Runs when the actor ends for a reason other than a trap, with that
    /// reason: `"normal"` for a regular stop, the reason given to
    /// [`Outcome::Stop`], or the host's when it stops the actor.
    fn terminate(&mut self, ctx: &mut Context, reason: &str) {
        let _ = (ctx, reason);
    }
}

/// What [`Actor::handle_call`] does with a request.
///
/// Every outcome is explicit, so an actor cannot end itself by accident while
/// it means to report an error to its caller: an application error is part of
/// the reply, e.g. `Outcome::Reply(Err(MyError::NotFound))` with
/// `type Reply = Result<T, MyError>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Outcome<R> {
    /// Answer the caller now and keep running.
    Reply(R),
    /// Answer later with [`Context::reply`] or [`Context::reply_error`],
    /// possibly from another actor that was handed the [`Call`].
    Defer,
    /// Answer the caller, then end normally.
    ReplyAndStop(R),
    /// End with this reason without answering; the caller gets
    /// [`Error::Terminated`](crate::Error::Terminated) at once.
    Stop(String),
}

impl<R> Outcome<R> {
    /// Maps the reply, if any, keeping the outcome.
    pub fn map<S>(self, f: impl FnOnce(R) -> S) -> Outcome<S> {
        match self {
            Outcome::Reply(r) => Outcome::Reply(f(r)),
            Outcome::Defer => Outcome::Defer,
            Outcome::ReplyAndStop(r) => Outcome::ReplyAndStop(f(r)),
            Outcome::Stop(reason) => Outcome::Stop(reason),
        }
    }
}
