//! Run an actor natively under `cargo test`, without a host.
//!
//! [`TestActor`] runs one actor through the same glue as
//! [`export_actor!`](crate::export_actor) on wasm (so requests and replies
//! are decoded and encoded exactly as on a host, JSON included), against a
//! fake host that:
//!
//! * **records** what the actor does: the messages it sends
//!   ([`take_sent`](TestActor::take_sent)), the calls it makes
//!   ([`take_calls`](TestActor::take_calls)), and everything else, in order,
//!   as [`Event`]s ([`events`](TestActor::events)): spawns, names, links,
//!   monitors, timers, answers to deferred calls, logs, its end;
//! * **answers the actor's calls from a script** ([`on_call`](TestActor::on_call)):
//!   per target or for any target, once or always, with a reply, an
//!   [`Error`] (a timeout, an unknown process, ...) or a closure. A call
//!   nobody scripted fails the test, naming the target, unless
//!   [`unscripted_calls`](TestActor::unscripted_calls) gives it an error;
//! * **delivers messages and calls** and returns each call's [`Outcome`]
//!   (reply, defer, reply-and-stop, stop); what the caller finally got,
//!   including a deferred answer given later with [`Context::reply`](crate::Context::reply),
//!   is [`response`](TestActor::response): nothing until the actor answers,
//!   a timeout once the caller's deadline passed, `terminated` if the actor
//!   ended first;
//! * **has a clock that moves only when the test says**:
//!   [`advance`](TestActor::advance) fires the timers of
//!   [`send_after`](crate::Context::send_after) that fall due, in order, and
//!   lets deadlines pass;
//! * **hands the state over** as a hot upgrade or hibernation does:
//!   [`upgrade`](TestActor::upgrade), or [`snapshot`](TestActor::snapshot)
//!   and [`restore`](TestActor::restore) (with [`Actor::STATE_VERSION`] and
//!   [`Actor::migrate`]).
//!
//! Messages the actor sends itself (and timers that fire for it) go to its
//! mailbox; after every step the test takes, the actor handles what its
//! mailbox holds before the step returns, as a host would run it until it
//! is idle.
//!
//! The module exists on every target but wasm32, so an actor crate's unit
//! tests need no feature and no extra dependency; a wasm build carries
//! none of it.
//!
//! ```
//! use std::time::Duration;
//!
//! use serde::{Deserialize, Serialize};
//! use wactor_guest::testing::TestActor;
//! use wactor_guest::{Actor, Call, Context, Outcome, Pid};
//!
//! #[derive(Serialize, Deserialize)]
//! enum Tick {
//!     Tick,
//! }
//!
//! /// Counts a tick a second and tells `display` each count.
//! #[derive(Serialize, Deserialize)]
//! struct Clock {
//!     ticks: u64,
//! }
//!
//! impl Actor for Clock {
//!     type Args = ();
//!     type Message = Tick;
//!     type Request = ();
//!     type Reply = u64;
//!
//!     fn init(ctx: &mut Context, _: ()) -> Result<Self, String> {
//!         let me = ctx.self_pid();
//!         ctx.send_after(me, &Tick::Tick, Duration::from_secs(1)).map_err(|e| e.to_string())?;
//!         Ok(Clock { ticks: 0 })
//!     }
//!
//!     fn handle_message(&mut self, ctx: &mut Context, _: Pid, _: Tick) {
//!         self.ticks += 1;
//!         let _ = ctx.send("display", &self.ticks);
//!         let me = ctx.self_pid();
//!         let _ = ctx.send_after(me, &Tick::Tick, Duration::from_secs(1));
//!     }
//!
//!     fn handle_call(&mut self, _: &mut Context, _: Call, _: ()) -> Outcome<u64> {
//!         Outcome::Reply(self.ticks)
//!     }
//! }
//!
//! wactor_guest::export_actor!(Clock);
//!
//! let mut t = TestActor::<Clock>::new();
//! let display = t.new_pid();
//! t.register_name("display", &display);
//! t.init(&()).expect("init");
//!
//! // No time has passed: no tick yet.
//! assert_eq!(t.call(&()).expect_reply(), 0);
//! t.advance(Duration::from_millis(2500));
//! assert_eq!(t.call(&()).expect_reply(), 2);
//! let shown: Vec<u64> = t.take_sent_to::<u64>("display").into_iter().map(|s| s.msg).collect();
//! assert_eq!(shown, [1, 2]);
//!
//! // The count survives a hot upgrade, and the pending timer still fires.
//! t.upgrade().expect("upgrade");
//! t.advance(Duration::from_secs(1));
//! assert_eq!(t.call(&()).expect_reply(), 3);
//! ```
//!
//! One actor type per crate can be exported, but `TestActor` runs any
//! number of instances (of that type) one after another on one thread.
//! A script's closure must not drive a `TestActor` itself: it runs while
//! the calling actor's callback is in progress.

pub(crate) mod imports;
mod world;

use std::any::{type_name, Any};
use std::cell::RefCell;
use std::fmt::Debug;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::rc::Rc;
use std::time::Duration;

use crate::__private::bindings::wactor::actor::types as wit;
use crate::__private::bindings::Guest as _;
use crate::__private::{swap_instance, Glue, Handoff};
use crate::actor::{Actor, Outcome};
use crate::codec::{Decode, Encode, Encoding};
use crate::error::{Error, SpawnError};
use crate::types::{Address, Call, Info, Level, Monitor, Pid, Ref, Timer};

use imports::error_to_wit;
use world::{Answer, Delivery, Owed, Script, World};

/// Steps an actor may take on its own (messages to itself, timers of no
/// delay) before the test is failed as a runaway.
const MAX_STEPS: usize = 100_000;

/// Something the actor did, as the fake host recorded it, in order.
///
/// Payloads are the bytes the actor handed over; decode them with
/// [`Decode`] (or use [`TestActor::take_sent`] and
/// [`TestActor::take_calls`], which do).
#[derive(Clone, Debug, PartialEq)]
#[non_exhaustive]
pub enum Event {
    /// A message went out: sent, or a timer that fired (`timer`).
    Sent {
        /// The address it was sent to.
        to: Address,
        /// The message.
        payload: Vec<u8>,
        /// Sent as important delivery (explicitly or by
        /// [`set_important_delivery`](crate::Context::set_important_delivery)).
        important: bool,
        /// The timer that sent it, if a timer did.
        timer: Option<Timer>,
    },
    /// The actor made a call.
    Called {
        /// The callee.
        to: Address,
        /// The request.
        request: Vec<u8>,
        /// Made as important delivery.
        important: bool,
        /// The request's encoding (JSON for [`call_json`](crate::Context::call_json)).
        encoding: Encoding,
        /// The timeout the actor asked for; `None` is the host's default.
        timeout: Option<Duration>,
        /// For [`call_async`](crate::Context::call_async): the ref it returned.
        async_ref: Option<Ref>,
    },
    /// The actor answered a call later: [`reply`](crate::Context::reply)
    /// (`Ok`), [`reply_error`](crate::Context::reply_error)
    /// ([`Error::Remote`]) or a refused request ([`Error::NotAllowed`]).
    Responded {
        /// The call answered.
        call: Call,
        /// The answer as its caller gets it.
        answer: Result<Vec<u8>, Error>,
        /// Sent as important delivery.
        important: bool,
        /// The caller was waiting and took it; false for an answer to a
        /// caller that had stopped waiting (the actor got
        /// [`Error::ResponseIgnored`]).
        taken: bool,
    },
    /// [`send_after`](crate::Context::send_after).
    TimerSet {
        /// The timer.
        timer: Timer,
        /// Where its message goes.
        to: Address,
        /// The message.
        payload: Vec<u8>,
        /// When, from the moment it was set.
        delay: Duration,
    },
    /// [`cancel_timer`](crate::Context::cancel_timer).
    TimerCancelled {
        /// The timer.
        timer: Timer,
        /// It had not fired yet.
        pending: bool,
    },
    /// [`spawn`](crate::Context::spawn) or [`spawn_pool`](crate::Context::spawn_pool).
    Spawned {
        /// The behaviour asked for.
        behaviour: String,
        /// The init arguments.
        args: Vec<u8>,
        /// The pool size, for a pool.
        pool: Option<u32>,
        /// What the actor got.
        result: Result<Pid, SpawnError>,
    },
    /// The actor registered a name.
    Registered(String),
    /// The actor released a name.
    Unregistered(String),
    /// The actor linked to a process.
    Linked(Pid),
    /// The actor removed a link.
    Unlinked(Pid),
    /// The actor set up a monitor.
    Monitored {
        /// The monitor.
        monitor: Monitor,
        /// What it watches.
        to: Address,
    },
    /// The actor removed a monitor.
    Demonitored(Monitor),
    /// [`trap_exits`](crate::Context::trap_exits).
    TrapExits(bool),
    /// [`set_important_delivery`](crate::Context::set_important_delivery).
    ImportantDelivery(bool),
    /// A log line.
    Log {
        /// Its level.
        level: Level,
        /// Its text.
        message: String,
    },
    /// The actor ended with this reason (`"normal"` after
    /// [`Outcome::ReplyAndStop`]).
    Stopped {
        /// The reason.
        reason: String,
    },
}

/// A message the actor sent, decoded; see [`TestActor::take_sent`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Sent<M> {
    /// The address it was sent to, as the actor gave it.
    pub to: Address,
    /// The message.
    pub msg: M,
    /// Sent as important delivery.
    pub important: bool,
    /// The timer that sent it, if a timer did.
    pub timer: Option<Timer>,
}

/// A call the actor made, its request decoded; see [`TestActor::take_calls`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MadeCall<Q> {
    /// The callee, as the actor gave it.
    pub to: Address,
    /// The request.
    pub request: Q,
    /// Made as important delivery.
    pub important: bool,
    /// The request's encoding.
    pub encoding: Encoding,
    /// The timeout the actor asked for; `None` is the host's default.
    pub timeout: Option<Duration>,
    /// For [`call_async`](crate::Context::call_async): the ref it returned.
    pub async_ref: Option<Ref>,
}

/// A call delivered to the actor: the [`Call`] it was handed and what
/// `handle_call` decided. For [`Outcome::Defer`], the answer (if any) is
/// [`TestActor::response`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Called<R> {
    /// The call as the actor saw it.
    pub call: Call,
    /// What the actor did with it.
    pub outcome: Outcome<R>,
}

impl<R: Debug> Called<R> {
    /// The reply of an [`Outcome::Reply`].
    ///
    /// # Panics
    ///
    /// On any other outcome, naming it: the test expected a reply.
    #[track_caller]
    pub fn expect_reply(self) -> R {
        match self.outcome {
            Outcome::Reply(r) => r,
            other => panic!("expected Outcome::Reply, the actor gave {other:?}"),
        }
    }
}

/// An actor's state as [`Actor`]'s hand-off gives it: what a hot upgrade
/// or hibernation carries to the next instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Snapshot {
    /// The [`Actor::STATE_VERSION`] of the instance that took it.
    pub version: u32,
    /// The state: postcard bytes for a serde actor.
    pub data: Vec<u8>,
}

impl Snapshot {
    /// The snapshot an instance whose state was `state`, at `version`,
    /// would give: how a test builds an older version's state to prove
    /// [`Actor::migrate`].
    pub fn of<S: serde::Serialize + ?Sized>(version: u32, state: &S) -> Result<Self, Error> {
        Ok(Snapshot {
            version,
            data: state.encode()?.into_owned(),
        })
    }
}

/// Scripts the answer to the actor's next call to one target (or any);
/// from [`TestActor::on_call`]. Nothing is scripted until one of
/// [`reply`](OnCall::reply), [`fail`](OnCall::fail) or
/// [`reply_with`](OnCall::reply_with) is called.
#[must_use = "an answer is scripted only by reply, fail or reply_with"]
pub struct OnCall<'a> {
    world: &'a RefCell<World>,
    to: Option<Address>,
    repeat: bool,
}

impl OnCall<'_> {
    /// Answers every matching call this way, not only the next one.
    pub fn always(mut self) -> Self {
        self.repeat = true;
        self
    }

    /// Answers with `reply`, encoded as the call asks (postcard, or JSON
    /// for [`call_json`](crate::Context::call_json)).
    pub fn reply<R: Encode + ?Sized>(self, reply: &R) {
        let answer = Answer::Reply {
            native: reply.encode().map(|b| b.into_owned()),
            json: reply.encode_as(Encoding::Json).map(|b| b.into_owned()),
        };
        self.script(answer);
    }

    /// Fails the call with `error`, as the host would: [`Error::Timeout`],
    /// [`Error::UnknownProcess`], [`Error::Remote`] for a callee's
    /// `reply_error`, ... The fake clock does not move for a scripted
    /// timeout: only [`TestActor::advance`] moves it.
    pub fn fail(self, error: Error) {
        self.script(Answer::Fail(error));
    }

    /// Answers with what `answer` computes from the request. A request
    /// that does not decode as `Q` is refused as a callee would refuse it
    /// ([`Error::NotAllowed`], `bad request: ...`).
    pub fn reply_with<Q, R, F>(self, mut answer: F)
    where
        Q: Decode,
        R: Encode,
        F: FnMut(Q) -> R + 'static,
    {
        self.script(Answer::With(Box::new(move |request, encoding| {
            let q = Q::decode_as(request, encoding)
                .map_err(|e| Error::NotAllowed(format!("bad request: {e}")))?;
            answer(q).encode_as(encoding).map(|b| b.into_owned())
        })));
    }

    fn script(self, answer: Answer) {
        self.world.borrow_mut().scripts.push(Script {
            to: self.to,
            answer,
            repeat: self.repeat,
        });
    }
}

/// One actor, run natively against a fake host; see the [module docs](self).
///
/// `A` is an actor type exported with [`export_actor!`](crate::export_actor)
/// in the crate under test.
pub struct TestActor<A> {
    world: Rc<RefCell<World>>,
    /// The actor's value while no callback runs (during one it is in the
    /// SDK's actor slot, where the glue finds it).
    instance: Option<Box<dyn Any>>,
    /// Init arguments, for an upgrade of an actor that hands over no state.
    args: Vec<u8>,
    started: bool,
    call_timeout: Duration,
    _actor: PhantomData<A>,
}

impl<A: Actor + Handoff> Default for TestActor<A> {
    fn default() -> Self {
        Self::new()
    }
}

/// Restores the thread's actor slot and current world when a callback
/// ends, also when it panics.
struct Entered<'a> {
    instance: &'a mut Option<Box<dyn Any>>,
    prev_world: Option<Rc<RefCell<World>>>,
    prev_instance: Option<Box<dyn Any>>,
}

impl Drop for Entered<'_> {
    fn drop(&mut self) {
        *self.instance = swap_instance(self.prev_instance.take());
        world::install(self.prev_world.take());
    }
}

impl<A: Actor + Handoff> TestActor<A> {
    /// A fake host with the actor not started yet: script calls and set up
    /// names first if `init` needs them, then [`init`](TestActor::init).
    pub fn new() -> Self {
        TestActor {
            world: Rc::new(RefCell::new(World::new())),
            instance: None,
            args: Vec::new(),
            started: false,
            call_timeout: world::DEFAULT_TIMEOUT,
            _actor: PhantomData,
        }
    }

    /// [`new`](TestActor::new) and [`init`](TestActor::init) in one.
    pub fn start<T: Encode + ?Sized>(args: &T) -> Result<Self, String> {
        let mut t = Self::new();
        t.init(args)?;
        Ok(t)
    }

    /// Starts the actor with `args` as `spawn` would give them (encoded,
    /// then decoded as `A::Args`; `&()` is "no arguments", which gives
    /// `Args::default()`). The error is `init`'s.
    ///
    /// # Panics
    ///
    /// If the actor was started already.
    pub fn init<T: Encode + ?Sized>(&mut self, args: &T) -> Result<(), String> {
        assert!(!self.started, "TestActor::init: the actor was started already");
        let args = args
            .encode()
            .map_err(|e| format!("bad init arguments: {e}"))?
            .into_owned();
        self.args = args.clone();
        self.enter(|| Glue::<A>::init(args))?;
        self.started = true;
        self.settle();
        Ok(())
    }

    // ----- the world around the actor ---------------------------------------

    /// The actor's pid.
    pub fn pid(&self) -> Pid {
        self.world.borrow().me.clone()
    }

    /// The pid the test's own messages and calls come from (id 0: the
    /// host, as for the CLI and HTTP).
    pub fn host_pid(&self) -> Pid {
        self.world.borrow().host.clone()
    }

    /// A new live process of the fake world, to send from or to name.
    pub fn new_pid(&mut self) -> Pid {
        self.world.borrow_mut().new_pid()
    }

    /// Has `pid` hold `name` (a name registered by another process, which
    /// the actor can [`whereis`](crate::Context::whereis) and send to).
    /// `name@node` works too, for a process on another node.
    pub fn register_name(&mut self, name: &str, pid: &Pid) {
        self.world.borrow_mut().names.insert(name.to_owned(), pid.clone());
    }

    /// Who holds `name` now (the actor's own registrations included).
    pub fn whereis(&self, name: &str) -> Option<Pid> {
        self.world.borrow().resolve(&Address::Name(name.to_owned()))
    }

    /// Another process ends with `reason`: its names are released, the
    /// actor's monitors of it fire ([`Info::Down`]), and a link to it
    /// delivers [`Info::Exit`] (when the actor traps exits) or ends the
    /// actor too (when `reason` is not `"normal"`). A call it was waiting
    /// on is no longer alive.
    pub fn exit(&mut self, pid: &Pid, reason: &str) {
        let linked_end = self.world.borrow_mut().end_process(pid, reason);
        if let Some(why) = linked_end {
            self.stop_now(&why);
        }
        self.settle();
    }

    /// Scripts the answer to the actor's calls to `to` (in the order
    /// scripted; a name also matches calls made to its holder's pid, and
    /// the other way round).
    pub fn on_call(&mut self, to: impl Into<Address>) -> OnCall<'_> {
        OnCall {
            world: &self.world,
            to: Some(to.into()),
            repeat: false,
        }
    }

    /// Scripts the answer to the actor's next call, whatever its target.
    /// Scripts are tried in the order they were given.
    pub fn on_any_call(&mut self) -> OnCall<'_> {
        OnCall {
            world: &self.world,
            to: None,
            repeat: false,
        }
    }

    /// Makes a call nobody scripted fail with `error` (say
    /// [`Error::Timeout`]) instead of failing the test. A call to a name
    /// nobody holds, unscripted, gets [`Error::UnknownProcess`] either way.
    pub fn unscripted_calls(&mut self, error: Error) {
        self.world.borrow_mut().unscripted = Some(error);
    }

    /// Makes sends to `to` fail with `error` (say [`Error::MailboxFull`]).
    pub fn fail_sends_to(&mut self, to: impl Into<Address>, error: Error) {
        self.world.borrow_mut().send_failures.push((to.into(), error));
    }

    /// Makes spawns of `behaviour` fail with `error`; other spawns succeed
    /// with a new pid.
    pub fn fail_spawns(&mut self, behaviour: &str, error: SpawnError) {
        self.world
            .borrow_mut()
            .spawn_failures
            .insert(behaviour.to_owned(), error);
    }

    /// The timeout of the calls the test makes from now on (5 s unless
    /// set): their deadline, which [`Context::is_alive`](crate::Context::is_alive)
    /// and a late answer see.
    pub fn set_call_timeout(&mut self, timeout: Duration) {
        self.call_timeout = timeout;
    }

    /// How much fake time has passed since the start.
    pub fn now(&self) -> Duration {
        Duration::from_millis(self.world.borrow().now_ms)
    }

    // ----- driving the actor ------------------------------------------------

    /// Delivers `msg` as a message from the host.
    pub fn send<M: Encode + ?Sized>(&mut self, msg: &M) {
        let from = self.host_pid();
        self.send_from(&from, msg)
    }

    /// Delivers `msg` as a message from `from`.
    ///
    /// # Panics
    ///
    /// If the actor is not running, or `msg` does not encode.
    pub fn send_from<M: Encode + ?Sized>(&mut self, from: &Pid, msg: &M) {
        let payload = encoded(msg);
        self.expect_running("send");
        self.world.borrow_mut().mailbox.push_back(Delivery::Message {
            from: from.clone(),
            payload,
        });
        self.settle();
    }

    /// Delivers `info` to [`Actor::handle_info`].
    pub fn info(&mut self, info: Info) {
        self.expect_running("info");
        self.world.borrow_mut().mailbox.push_back(Delivery::Info(info));
        self.settle();
    }

    /// Calls the actor from the host with `req` and returns what
    /// `handle_call` did. A request that does not decode as `A::Request`
    /// is refused as on a host: [`Outcome::Defer`], and
    /// [`response`](TestActor::response) is [`Error::NotAllowed`].
    pub fn call<Q: Encode + ?Sized>(&mut self, req: &Q) -> Called<A::Reply>
    where
        A::Reply: Decode,
    {
        let from = self.host_pid();
        self.call_from(&from, req)
    }

    /// Like [`call`](TestActor::call), from `from`.
    ///
    /// # Panics
    ///
    /// If the actor is not running, or the reply does not decode as
    /// `A::Reply`.
    pub fn call_from<Q: Encode + ?Sized>(&mut self, from: &Pid, req: &Q) -> Called<A::Reply>
    where
        A::Reply: Decode,
    {
        let (call, outcome) = self.deliver_call(from, encoded(req), false);
        let decode = |bytes: Vec<u8>| {
            A::Reply::decode(bytes)
                .unwrap_or_else(|e| panic!("the reply does not decode as {}: {e}", type_name::<A::Reply>()))
        };
        let outcome = match outcome {
            Outcome::Reply(b) => Outcome::Reply(decode(b)),
            Outcome::ReplyAndStop(b) => Outcome::ReplyAndStop(decode(b)),
            Outcome::Defer => Outcome::Defer,
            Outcome::Stop(reason) => Outcome::Stop(reason),
        };
        Called { call, outcome }
    }

    /// Calls the actor in JSON, as `wactor call --json`, HTTP or an actor
    /// of another language does: the reply is JSON text.
    pub fn call_json(&mut self, json: &str) -> Called<String> {
        let from = self.host_pid();
        let (call, outcome) = self.deliver_call(&from, json.as_bytes().to_vec(), true);
        let text = |bytes: Vec<u8>| String::from_utf8_lossy(&bytes).into_owned();
        Called {
            call,
            outcome: outcome.map(text),
        }
    }

    /// What the caller of `call` has got so far, decoded as `R` in the
    /// call's encoding: `None` while it waits (a deferred call not answered
    /// yet); the answer; or the error it got ([`Error::Remote`] for
    /// `reply_error`, [`Error::Timeout`] once its deadline passed,
    /// [`Error::Terminated`] when the actor ended first).
    pub fn response<R: Decode>(&self, call: &Call) -> Option<Result<R, Error>> {
        let answer = self.world.borrow().answer_of(call)?;
        Some(answer.and_then(|bytes| R::decode_as(bytes, call.r.encoding())))
    }

    /// Answers the actor's pending [`call_async`](crate::Context::call_async)
    /// `r` with `reply`: [`Info::Response`] reaches the actor. False if the
    /// call is not pending (answered, or timed out).
    pub fn answer_async<R: Encode + ?Sized>(&mut self, r: Ref, reply: &R) -> bool {
        let answer = reply.encode().map(|b| b.into_owned());
        let taken = self.world.borrow_mut().answer_async(r, answer);
        self.settle();
        taken
    }

    /// Like [`answer_async`](TestActor::answer_async), with an error.
    pub fn fail_async(&mut self, r: Ref, error: Error) -> bool {
        let taken = self.world.borrow_mut().answer_async(r, Err(error));
        self.settle();
        taken
    }

    /// Moves the clock forward by `by`: timers fire in the order they fall
    /// due (each handled before the next fires), async calls past their
    /// deadline get [`Error::Timeout`], and deferred calls past theirs stop
    /// being alive.
    ///
    /// # Panics
    ///
    /// If timers keep falling due without time passing (a runaway).
    pub fn advance(&mut self, by: Duration) {
        let until = {
            let w = self.world.borrow();
            w.now_ms.saturating_add(world::ms(by))
        };
        for _ in 0..MAX_STEPS {
            let due = self.world.borrow().next_due(until);
            let Some(due) = due else {
                let mut w = self.world.borrow_mut();
                w.now_ms = w.now_ms.max(until);
                return;
            };
            {
                let mut w = self.world.borrow_mut();
                w.now_ms = w.now_ms.max(due);
                w.fire_due();
            }
            self.settle();
        }
        panic!("TestActor::advance: timers keep firing without time passing");
    }

    /// The host stops the actor with `reason`: `terminate` runs, and
    /// callers still waiting get [`Error::Terminated`].
    pub fn stop(&mut self, reason: &str) {
        self.expect_running("stop");
        self.stop_now(reason);
    }

    /// The state the actor hands over, as a hot upgrade takes it; `None`
    /// for an actor type that is not serde.
    pub fn snapshot(&mut self) -> Option<Snapshot> {
        self.expect_running("snapshot");
        self.enter(Glue::<A>::snapshot).map(|s| Snapshot {
            version: s.version,
            data: s.data,
        })
    }

    /// Replaces the running instance with one restored from `snapshot`
    /// (through [`Actor::migrate`] when its version is not
    /// `A::STATE_VERSION`), as a hot upgrade or a wake from hibernation
    /// does. On an error, or a panic in the restore, the old instance
    /// stays, as on a host, and the error says why. Also starts an actor
    /// that was never started, from a stored state.
    pub fn restore(&mut self, snapshot: Snapshot) -> Result<(), String> {
        if let Some(reason) = self.world.borrow().stopped.clone() {
            return Err(format!("the actor has stopped ({reason})"));
        }
        let state = wit::State {
            version: snapshot.version,
            data: snapshot.data,
        };
        self.replace_instance(move || Glue::<A>::restore(state))
    }

    /// A hot upgrade to the same code: the state handed over by
    /// [`snapshot`](TestActor::snapshot) and [`restore`](TestActor::restore),
    /// or, for an actor that hands over none, a fresh `init` with the
    /// original arguments.
    pub fn upgrade(&mut self) -> Result<(), String> {
        match self.snapshot() {
            Some(snapshot) => self.restore(snapshot),
            None => {
                let args = self.args.clone();
                self.replace_instance(move || Glue::<A>::init(args))
            }
        }
    }

    // ----- what the actor did -----------------------------------------------

    /// The messages the actor sent to others since the last `take_sent`
    /// (timers that fired included), decoded as `M`. Messages it sent
    /// itself were delivered to it instead; [`events`](TestActor::events)
    /// lists them.
    ///
    /// # Panics
    ///
    /// If one does not decode as `M` (use [`Raw`](crate::Raw) for any
    /// bytes, or [`take_sent_to`](TestActor::take_sent_to) when the actor
    /// sends different types to different targets).
    #[track_caller]
    pub fn take_sent<M: Decode>(&mut self) -> Vec<Sent<M>> {
        self.take_sent_where(|_, _| true)
    }

    /// Like [`take_sent`](TestActor::take_sent), only the messages to `to`
    /// (by name or by its holder's pid); the others stay.
    #[track_caller]
    pub fn take_sent_to<M: Decode>(&mut self, to: impl Into<Address>) -> Vec<Sent<M>> {
        let to = to.into();
        self.take_sent_where(|w, a| w.same_target(a, &to))
    }

    #[track_caller]
    fn take_sent_where<M: Decode>(&mut self, keep: impl Fn(&World, &Address) -> bool) -> Vec<Sent<M>> {
        let mut w = self.world.borrow_mut();
        let untaken = std::mem::take(&mut w.untaken_sends);
        let mut taken = Vec::new();
        for at in untaken {
            match &w.events[at] {
                Event::Sent {
                    to,
                    payload,
                    important,
                    timer,
                } if keep(&w, to) => taken.push(Sent {
                    to: to.clone(),
                    msg: M::decode(payload.clone()).unwrap_or_else(|e| {
                        panic!(
                            "a message sent to {to} does not decode as {}: {e}",
                            type_name::<M>()
                        )
                    }),
                    important: *important,
                    timer: *timer,
                }),
                _ => w.untaken_sends.push(at),
            }
        }
        taken
    }

    /// The calls the actor made since the last `take_calls`, requests
    /// decoded as `Q` (in each call's encoding).
    ///
    /// # Panics
    ///
    /// If a request does not decode as `Q`.
    #[track_caller]
    pub fn take_calls<Q: Decode>(&mut self) -> Vec<MadeCall<Q>> {
        let mut w = self.world.borrow_mut();
        let untaken = std::mem::take(&mut w.untaken_calls);
        let mut taken = Vec::new();
        for at in untaken {
            if let Event::Called {
                to,
                request,
                important,
                encoding,
                timeout,
                async_ref,
            } = &w.events[at]
            {
                taken.push(MadeCall {
                    to: to.clone(),
                    request: Q::decode_as(request.clone(), *encoding).unwrap_or_else(|e| {
                        panic!("a request to {to} does not decode as {}: {e}", type_name::<Q>())
                    }),
                    important: *important,
                    encoding: *encoding,
                    timeout: *timeout,
                    async_ref: *async_ref,
                });
            }
        }
        taken
    }

    /// Everything the actor did so far, in order.
    pub fn events(&self) -> Vec<Event> {
        self.world.borrow().events.clone()
    }

    /// The actor's log lines so far (they are also printed, so a failing
    /// test shows them).
    pub fn logs(&self) -> Vec<(Level, String)> {
        let w = self.world.borrow();
        w.events
            .iter()
            .filter_map(|e| match e {
                Event::Log { level, message } => Some((*level, message.clone())),
                _ => None,
            })
            .collect()
    }

    /// Why the actor ended, once it has.
    pub fn stopped(&self) -> Option<String> {
        self.world.borrow().stopped.clone()
    }

    // ----- the machinery ----------------------------------------------------

    /// Runs `f` (one of the glue's exports) with this actor's instance in
    /// the SDK's actor slot and its world current.
    fn enter<T>(&mut self, f: impl FnOnce() -> T) -> T {
        let prev_world = world::install(Some(self.world.clone()));
        let prev_instance = swap_instance(self.instance.take());
        let _entered = Entered {
            instance: &mut self.instance,
            prev_world,
            prev_instance,
        };
        f()
    }

    fn expect_running(&self, what: &str) {
        if let Some(reason) = self.world.borrow().stopped.clone() {
            panic!("TestActor::{what}: the actor has stopped ({reason})");
        }
        assert!(
            self.started && self.instance.is_some(),
            "TestActor::{what}: the actor is not started (call init first)"
        );
    }

    fn deliver_call(&mut self, from: &Pid, request: Vec<u8>, json: bool) -> (Call, Outcome<Vec<u8>>) {
        self.expect_running("call");
        let call = {
            let mut w = self.world.borrow_mut();
            let call = Call {
                from: from.clone(),
                r: w.new_ref(json, self.call_timeout),
            };
            w.owed.push(Owed {
                call: call.clone(),
                answer: None,
                caller_gone: false,
            });
            call
        };
        let (wfrom, wr) = (call.from.to_wit(), call.r.to_wit());
        let outcome = self.enter(move || Glue::<A>::handle_call(wfrom, wr, request));
        let outcome = match outcome {
            wit::CallOutcome::Reply(b) => {
                self.answered(&call, &b);
                Outcome::Reply(b)
            }
            wit::CallOutcome::ReplyAndStop(b) => {
                self.answered(&call, &b);
                self.stop_now("normal");
                Outcome::ReplyAndStop(b)
            }
            wit::CallOutcome::Stop(reason) => {
                self.stop_now(&reason);
                Outcome::Stop(reason)
            }
            wit::CallOutcome::Defer => Outcome::Defer,
        };
        self.settle();
        (call, outcome)
    }

    /// The caller gets an immediate reply, unless it was answered already.
    fn answered(&mut self, call: &Call, bytes: &[u8]) {
        let mut w = self.world.borrow_mut();
        if let Some(owed) = w.owed.iter_mut().find(|o| o.call == *call) {
            owed.answer.get_or_insert_with(|| Ok(bytes.to_vec()));
        }
    }

    fn stop_now(&mut self, reason: &str) {
        if self.instance.is_some() {
            let why = reason.to_owned();
            self.enter(move || Glue::<A>::terminate(why));
        }
        self.instance = None;
        self.world.borrow_mut().stopped(reason);
    }

    /// Runs `make` (init or restore) to build a new instance; keeps the old
    /// one if it fails or panics.
    fn replace_instance(&mut self, make: impl FnOnce() -> Result<(), String>) -> Result<(), String> {
        let old = self.instance.take();
        let made = self.enter(move || catch_unwind(AssertUnwindSafe(make)));
        let made = match made {
            Ok(result) => result,
            Err(panic) => Err(format!("trap: the guest panicked: {}", panic_text(&*panic))),
        };
        match made {
            Ok(()) if self.instance.is_some() => {
                self.started = true;
                self.settle();
                Ok(())
            }
            Ok(()) => {
                self.instance = old;
                Err("the new instance did not start".into())
            }
            Err(e) => {
                self.instance = old;
                Err(e)
            }
        }
    }

    /// Lets the actor handle what its mailbox holds.
    fn settle(&mut self) {
        for _ in 0..MAX_STEPS {
            if self.instance.is_none() {
                self.world.borrow_mut().mailbox.clear();
                return;
            }
            let next = self.world.borrow_mut().mailbox.pop_front();
            match next {
                None => return,
                Some(Delivery::Message { from, payload }) => {
                    let from = from.to_wit();
                    self.enter(move || Glue::<A>::handle_message(from, payload));
                }
                Some(Delivery::Info(info)) => {
                    let info = info_to_wit(info);
                    self.enter(move || Glue::<A>::handle_info(info));
                }
            }
        }
        panic!("TestActor: the actor keeps sending itself messages and never becomes idle");
    }
}

fn encoded<M: Encode + ?Sized>(msg: &M) -> Vec<u8> {
    match msg.encode() {
        Ok(bytes) => bytes.into_owned(),
        Err(e) => panic!("the test's payload does not encode: {e}"),
    }
}

fn panic_text(panic: &(dyn Any + Send)) -> String {
    if let Some(s) = panic.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = panic.downcast_ref::<String>() {
        s.clone()
    } else {
        "(no message)".to_owned()
    }
}

fn info_to_wit(info: Info) -> wit::Info {
    match info {
        Info::Response { r, result } => wit::Info::Response(wit::AsyncResponse {
            r: r.to_wit(),
            outcome: result.map_err(error_to_wit),
        }),
        Info::Down { monitor, pid, reason } => wit::Info::Down(wit::Down {
            monitor: monitor.0,
            pid: pid.to_wit(),
            reason,
        }),
        Info::Exit { pid, reason } => wit::Info::Exit(wit::ExitSignal {
            pid: pid.to_wit(),
            reason,
        }),
    }
}

#[cfg(test)]
mod tests;
