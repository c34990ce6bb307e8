//! The fake host's state: the world as one native test actor sees it.
//!
//! It owns the clock, the names, the processes that ended, the calls the
//! actor owes and the calls it made, the timers, the scripts and the record
//! of everything the actor asked for. [`imports`](super::imports) turns the
//! actor's host imports into operations on it; [`TestActor`](super::TestActor)
//! drives it from the test.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;
use std::time::Duration;

use crate::codec::Encoding;
use crate::error::{Error, SpawnError};
use crate::types::{Address, Call, Info, Level, Monitor, Pid, Ref, Timer};

use super::Event;

/// The call timeout the host uses when none is given (the wactor host's
/// default).
pub(crate) const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);

thread_local! {
    // The world of the test actor whose callback is running on this
    // thread, if any: where `Context` operations go.
    static CURRENT: RefCell<Option<Rc<RefCell<World>>>> = const { RefCell::new(None) };
}

/// Makes `world` the current one; returns the one it replaces.
pub(crate) fn install(world: Option<Rc<RefCell<World>>>) -> Option<Rc<RefCell<World>>> {
    CURRENT.with(|c| c.replace(world))
}

/// Runs `f` on the current world.
pub(crate) fn with<T>(f: impl FnOnce(&mut World) -> T) -> T {
    let world = CURRENT.with(|c| c.borrow().clone());
    let Some(world) = world else {
        panic!(
            "wactor_guest: a Context operation ran outside a host. Natively, actors run only under \
             wactor_guest::testing::TestActor; in production they are built for wasm32"
        );
    };
    let mut world = world.borrow_mut();
    f(&mut world)
}

/// What the actor's next callback will be, in mailbox order.
pub(crate) enum Delivery {
    Message { from: Pid, payload: Vec<u8> },
    Info(Info),
}

/// A call delivered to the actor, from the caller's side.
pub(crate) struct Owed {
    pub call: Call,
    /// Set once the caller got its answer (or error).
    pub answer: Option<Result<Vec<u8>, Error>>,
    /// The caller ended: nobody waits any more.
    pub caller_gone: bool,
}

/// A call the actor made with `call-async`, not answered yet.
struct AsyncCall {
    r: Ref,
}

/// A script's closure: the request and its encoding in, the answer out.
pub(crate) type Compute = Box<dyn FnMut(Vec<u8>, Encoding) -> Result<Vec<u8>, Error>>;

/// A scripted answer to the actor's outgoing calls.
pub(crate) enum Answer {
    /// Encoded both ways up front, so it fits a plain or a JSON call.
    Reply {
        native: Result<Vec<u8>, Error>,
        json: Result<Vec<u8>, Error>,
    },
    Fail(Error),
    With(Compute),
}

pub(crate) struct Script {
    /// `None`: any target.
    pub to: Option<Address>,
    pub answer: Answer,
    /// Answers every matching call instead of only the next one.
    pub repeat: bool,
}

struct PendingTimer {
    due_ms: u64,
    to: Address,
    payload: Vec<u8>,
}

/// The fake host's state.
pub(crate) struct World {
    pub me: Pid,
    /// The sender of what the test sends and calls (pid id 0, as for the
    /// CLI and HTTP on a real host).
    pub host: Pid,
    pub now_ms: u64,
    next_id: u64,
    pub names: BTreeMap<String, Pid>,
    /// Processes that ended, with their reasons.
    pub ended: BTreeMap<Pid, String>,
    pub trap_exits: bool,
    important: bool,
    pub links: BTreeSet<Pid>,
    /// Monitor id → the process watched.
    pub monitors: BTreeMap<u64, Pid>,
    timers: BTreeMap<u64, PendingTimer>,
    pub owed: Vec<Owed>,
    async_calls: Vec<AsyncCall>,
    pub scripts: Vec<Script>,
    /// What an unscripted call gets; `None` fails the test.
    pub unscripted: Option<Error>,
    pub send_failures: Vec<(Address, Error)>,
    pub spawn_failures: BTreeMap<String, SpawnError>,
    pub mailbox: VecDeque<Delivery>,
    pub events: Vec<Event>,
    /// Indices into `events` of sends and calls not taken by the test yet.
    pub untaken_sends: Vec<usize>,
    pub untaken_calls: Vec<usize>,
    pub stopped: Option<String>,
}

impl World {
    pub fn new() -> Self {
        World {
            me: Pid {
                node: "test".into(),
                id: 1,
                creation: 1,
            },
            host: Pid {
                node: "test".into(),
                id: 0,
                creation: 1,
            },
            now_ms: 0,
            next_id: 1,
            names: BTreeMap::new(),
            ended: BTreeMap::new(),
            trap_exits: false,
            important: false,
            links: BTreeSet::new(),
            monitors: BTreeMap::new(),
            timers: BTreeMap::new(),
            owed: Vec::new(),
            async_calls: Vec::new(),
            scripts: Vec::new(),
            unscripted: None,
            send_failures: Vec::new(),
            spawn_failures: BTreeMap::new(),
            mailbox: VecDeque::new(),
            events: Vec::new(),
            untaken_sends: Vec::new(),
            untaken_calls: Vec::new(),
            stopped: None,
        }
    }

    pub fn next_id(&mut self) -> u64 {
        self.next_id += 1;
        self.next_id
    }

    pub fn new_pid(&mut self) -> Pid {
        Pid {
            node: self.me.node.clone(),
            id: self.next_id(),
            creation: self.me.creation,
        }
    }

    /// A fresh ref whose caller waits `timeout`; `json` sets the
    /// encoding bit.
    pub fn new_ref(&mut self, json: bool, timeout: Duration) -> Ref {
        let id = self.next_id();
        Ref {
            id_hi: if json { id | Ref::JSON_BIT } else { id },
            id_lo: id,
            deadline_ms: self.now_ms.saturating_add(ms(timeout)),
        }
    }

    fn record(&mut self, event: Event) -> usize {
        self.events.push(event);
        self.events.len() - 1
    }

    /// The live process an address names, if any.
    pub fn resolve(&self, to: &Address) -> Option<Pid> {
        let pid = match to {
            Address::Pid(pid) => pid.clone(),
            Address::Name(name) => self.names.get(name)?.clone(),
        };
        let gone = self.ended.contains_key(&pid) || (pid == self.me && self.stopped.is_some());
        (!gone).then_some(pid)
    }

    fn is_me(&self, to: &Address) -> bool {
        self.resolve(to).is_some_and(|pid| pid == self.me)
    }

    pub fn same_target(&self, a: &Address, b: &Address) -> bool {
        a == b || matches!((self.resolve(a), self.resolve(b)), (Some(x), Some(y)) if x == y)
    }

    // ----- messages -------------------------------------------------------

    pub fn send(&mut self, to: Address, payload: &[u8], important: bool) -> Result<(), Error> {
        let important = important || self.important;
        if let Some((_, e)) = self.send_failures.iter().find(|(a, _)| self.same_target(a, &to)) {
            return Err(e.clone());
        }
        if self.resolve(&to).is_none() {
            return Err(Error::UnknownProcess);
        }
        let to_me = self.is_me(&to);
        let at = self.record(Event::Sent {
            to,
            payload: payload.to_vec(),
            important,
            timer: None,
        });
        if to_me {
            self.mailbox.push_back(Delivery::Message {
                from: self.me.clone(),
                payload: payload.to_vec(),
            });
        } else {
            self.untaken_sends.push(at);
        }
        Ok(())
    }

    pub fn send_after(&mut self, to: Address, payload: &[u8], delay: Duration) -> Timer {
        let id = self.next_id();
        self.timers.insert(
            id,
            PendingTimer {
                due_ms: self.now_ms.saturating_add(ms(delay)),
                to: to.clone(),
                payload: payload.to_vec(),
            },
        );
        self.record(Event::TimerSet {
            timer: Timer(id),
            to,
            payload: payload.to_vec(),
            delay,
        });
        Timer(id)
    }

    pub fn cancel_timer(&mut self, timer: Timer) -> bool {
        let pending = self.timers.remove(&timer.0).is_some();
        self.record(Event::TimerCancelled { timer, pending });
        pending
    }

    /// The earliest thing due at or before `until`: a timer, or the
    /// deadline of an async call. Timers go first at the same instant.
    pub fn next_due(&self, until: u64) -> Option<u64> {
        let timer = self.timers.values().map(|t| t.due_ms).min();
        let deadline = self.async_calls.iter().map(|c| c.r.deadline_ms).min();
        [timer, deadline]
            .into_iter()
            .flatten()
            .filter(|&t| t <= until)
            .min()
    }

    /// Fires everything due at `now_ms`: timers send their messages (to the
    /// mailbox when the actor is the target), async calls past their
    /// deadline are answered with a timeout.
    pub fn fire_due(&mut self) {
        let due: Vec<u64> = self
            .timers
            .iter()
            .filter(|(_, t)| t.due_ms <= self.now_ms)
            .map(|(&id, _)| id)
            .collect();
        let mut due: Vec<(u64, PendingTimer)> = due
            .into_iter()
            .filter_map(|id| self.timers.remove(&id).map(|t| (id, t)))
            .collect();
        due.sort_by_key(|(id, t)| (t.due_ms, *id));
        for (id, t) in due {
            // A timer whose target has ended is dropped, as on a host.
            if self.resolve(&t.to).is_none() {
                continue;
            }
            let to_me = self.is_me(&t.to);
            let at = self.record(Event::Sent {
                to: t.to,
                payload: t.payload.clone(),
                important: false,
                timer: Some(Timer(id)),
            });
            if to_me {
                self.mailbox.push_back(Delivery::Message {
                    from: self.me.clone(),
                    payload: t.payload,
                });
            } else {
                self.untaken_sends.push(at);
            }
        }
        let now = self.now_ms;
        let (expired, live): (Vec<_>, Vec<_>) = std::mem::take(&mut self.async_calls)
            .into_iter()
            .partition(|c| c.r.deadline_ms <= now);
        self.async_calls = live;
        for c in expired {
            self.mailbox.push_back(Delivery::Info(Info::Response {
                r: c.r,
                result: Err(Error::Timeout),
            }));
        }
    }

    // ----- calls the actor makes --------------------------------------------

    /// A blocking call (`call`, `call-important`, `call-json`). Returns the
    /// scripted closure to run, after the world is released, when the
    /// script computes its answer.
    pub fn call(
        &mut self,
        to: Address,
        request: &[u8],
        timeout: Option<Duration>,
        important: bool,
        encoding: Encoding,
    ) -> CallStep {
        let important = important || self.important;
        let at = self.record(Event::Called {
            to: to.clone(),
            request: request.to_vec(),
            important,
            encoding,
            timeout,
            async_ref: None,
        });
        self.untaken_calls.push(at);
        if self.is_me(&to) {
            return CallStep::Done(Err(Error::NotAllowed(format!(
                "{} called itself; an actor handles one message at a time, so it can never answer its own call",
                self.me
            ))));
        }
        if let Some(step) = self.scripted(&to, request, encoding) {
            return step;
        }
        if self.resolve(&to).is_none() {
            return CallStep::Done(Err(Error::UnknownProcess));
        }
        match &self.unscripted {
            Some(e) => CallStep::Done(Err(e.clone())),
            None => CallStep::Unscripted(format!(
                "wactor_guest::testing: the actor called {to} ({} request bytes) and no answer was \
                 scripted for it; script one with TestActor::on_call, or give unscripted calls an \
                 error with TestActor::unscripted_calls",
                request.len()
            )),
        }
    }

    /// The answer of the first script for `to`, taken (or kept, when it
    /// repeats; a closure is taken and put back after it ran).
    fn scripted(&mut self, to: &Address, request: &[u8], encoding: Encoding) -> Option<CallStep> {
        let i = self.scripts.iter().position(|s| match &s.to {
            None => true,
            Some(a) => self.same_target(a, to),
        })?;
        let repeat = self.scripts[i].repeat;
        let done = match &self.scripts[i].answer {
            Answer::Reply { native, json } => match encoding {
                Encoding::Native => native.clone(),
                Encoding::Json => json.clone(),
            },
            Answer::Fail(e) => Err(e.clone()),
            Answer::With(_) => {
                return Some(CallStep::Compute {
                    script: self.scripts.remove(i),
                    index: i,
                    request: request.to_vec(),
                    encoding,
                });
            }
        };
        if !repeat {
            self.scripts.remove(i);
        }
        Some(CallStep::Done(done))
    }

    /// `call-async`: the ref, and the scripted answer if there is one (it
    /// arrives as an info after the current callback; without one the call
    /// stays pending until the test answers it or it times out).
    pub fn call_async(
        &mut self,
        to: Address,
        request: &[u8],
        timeout: Option<Duration>,
    ) -> Result<(Ref, Option<CallStep>), Error> {
        let important = self.important;
        let scripted = self.scripts.iter().any(|s| match &s.to {
            None => true,
            Some(a) => self.same_target(a, &to),
        });
        if !scripted && self.resolve(&to).is_none() {
            return Err(Error::UnknownProcess);
        }
        let r = self.new_ref(false, timeout.unwrap_or(DEFAULT_TIMEOUT));
        let at = self.record(Event::Called {
            to: to.clone(),
            request: request.to_vec(),
            important,
            encoding: Encoding::Native,
            timeout,
            async_ref: Some(r),
        });
        self.untaken_calls.push(at);
        self.async_calls.push(AsyncCall { r });
        Ok((r, self.scripted(&to, request, Encoding::Native)))
    }

    /// Answers the pending async call `r` with an info; false if it is not
    /// pending (answered already, or timed out).
    pub fn answer_async(&mut self, r: Ref, result: Result<Vec<u8>, Error>) -> bool {
        let Some(i) = self.async_calls.iter().position(|c| c.r == r) else {
            return false;
        };
        self.async_calls.remove(i);
        self.mailbox
            .push_back(Delivery::Info(Info::Response { r, result }));
        true
    }

    // ----- calls the actor answers ------------------------------------------

    /// True while the caller of `r` is still waiting for its answer.
    pub fn waiting(&self, owed: &Owed) -> bool {
        owed.answer.is_none() && !owed.caller_gone && self.now_ms < owed.call.r.deadline_ms
    }

    fn owed_index(&self, to: &Pid, r: &Ref) -> Option<usize> {
        self.owed
            .iter()
            .position(|o| &o.call.from == to && o.call.r == *r)
    }

    /// `send-response`, `send-response-error` and `refuse-request`: an
    /// answer is taken only for a call whose caller is waiting.
    pub fn respond(
        &mut self,
        to: Pid,
        r: Ref,
        answer: Result<Vec<u8>, Error>,
        important: bool,
    ) -> Result<(), Error> {
        let important = important || self.important;
        let taken = self
            .owed_index(&to, &r)
            .is_some_and(|i| self.waiting(&self.owed[i]));
        // A late or stray answer is recorded too: the test can see that
        // the actor answered someone who was no longer waiting.
        self.record(Event::Responded {
            call: Call { from: to.clone(), r },
            answer: answer.clone(),
            important,
            taken,
        });
        if !taken {
            return Err(Error::ResponseIgnored);
        }
        if let Some(i) = self.owed_index(&to, &r) {
            self.owed[i].answer = Some(answer);
        }
        Ok(())
    }

    pub fn is_alive(&self, r: &Ref) -> bool {
        self.owed.iter().any(|o| o.call.r == *r && self.waiting(o))
            || self
                .async_calls
                .iter()
                .any(|c| c.r == *r && self.now_ms < c.r.deadline_ms)
    }

    /// What the caller of `call` has got so far: `None` while it waits.
    pub fn answer_of(&self, call: &Call) -> Option<Result<Vec<u8>, Error>> {
        let owed = self.owed_index(&call.from, &call.r).map(|i| &self.owed[i])?;
        if let Some(answer) = &owed.answer {
            return Some(answer.clone());
        }
        if self.now_ms >= call.r.deadline_ms {
            return Some(Err(Error::Timeout));
        }
        None
    }

    // ----- processes ---------------------------------------------------------

    pub fn set_important(&mut self, on: bool) {
        self.important = on;
        self.record(Event::ImportantDelivery(on));
    }

    pub fn spawn(&mut self, behaviour: &str, args: &[u8], pool: Option<u32>) -> Result<Pid, SpawnError> {
        let result = match self.spawn_failures.get(behaviour) {
            Some(e) => Err(e.clone()),
            None => Ok(self.new_pid()),
        };
        self.record(Event::Spawned {
            behaviour: behaviour.to_owned(),
            args: args.to_vec(),
            pool,
            result: result.clone(),
        });
        result
    }

    pub fn register(&mut self, name: &str) -> Result<(), crate::RegisterError> {
        check_name(name).map_err(crate::RegisterError::Invalid)?;
        match self.names.get(name) {
            Some(holder) if *holder == self.me => Ok(()),
            Some(holder) if !self.ended.contains_key(holder) => {
                Err(crate::RegisterError::Taken(holder.clone()))
            }
            _ => {
                self.names.insert(name.to_owned(), self.me.clone());
                self.record(Event::Registered(name.to_owned()));
                Ok(())
            }
        }
    }

    pub fn unregister(&mut self, name: &str) -> bool {
        if self.names.get(name) != Some(&self.me) {
            return false;
        }
        self.names.remove(name);
        self.record(Event::Unregistered(name.to_owned()));
        true
    }

    pub fn link(&mut self, to: &Pid) -> Result<(), Error> {
        if self.ended.contains_key(to) {
            return Err(Error::UnknownProcess);
        }
        self.links.insert(to.clone());
        self.record(Event::Linked(to.clone()));
        Ok(())
    }

    pub fn unlink(&mut self, to: &Pid) {
        self.links.remove(to);
        self.record(Event::Unlinked(to.clone()));
    }

    pub fn set_trap_exits(&mut self, on: bool) {
        self.trap_exits = on;
        self.record(Event::TrapExits(on));
    }

    pub fn monitor(&mut self, to: Address) -> Monitor {
        let id = self.next_id();
        self.record(Event::Monitored {
            monitor: Monitor(id),
            to: to.clone(),
        });
        match (self.resolve(&to), &to) {
            (Some(pid), _) => {
                self.monitors.insert(id, pid);
            }
            // Not alive: the down comes at once (after this callback).
            (None, Address::Pid(pid)) => self.mailbox.push_back(Delivery::Info(Info::Down {
                monitor: Monitor(id),
                pid: pid.clone(),
                reason: "unknown-process".into(),
            })),
            (None, Address::Name(name)) => self.mailbox.push_back(Delivery::Info(Info::Down {
                monitor: Monitor(id),
                pid: Pid {
                    node: self.me.node.clone(),
                    id: 0,
                    creation: 0,
                },
                reason: format!("unknown-process: no live actor is registered as {name}"),
            })),
        }
        Monitor(id)
    }

    pub fn demonitor(&mut self, monitor: Monitor) -> bool {
        let was = self.monitors.remove(&monitor.0).is_some();
        self.record(Event::Demonitored(monitor));
        was
    }

    pub fn log(&mut self, level: Level, message: &str) {
        // Shown with the test's output when it fails.
        eprintln!("[{level:?}] {message}");
        self.record(Event::Log {
            level,
            message: message.to_owned(),
        });
    }

    /// Another process ends with `reason`. Returns the reason this actor
    /// ends with too, when a link takes it along.
    pub fn end_process(&mut self, pid: &Pid, reason: &str) -> Option<String> {
        self.ended.insert(pid.clone(), reason.to_owned());
        self.names.retain(|_, holder| holder != pid);
        for owed in self.owed.iter_mut().filter(|o| &o.call.from == pid) {
            owed.caller_gone = true;
        }
        let fired: Vec<u64> = self
            .monitors
            .iter()
            .filter(|(_, watched)| *watched == pid)
            .map(|(&id, _)| id)
            .collect();
        for id in fired {
            self.monitors.remove(&id);
            self.mailbox.push_back(Delivery::Info(Info::Down {
                monitor: Monitor(id),
                pid: pid.clone(),
                reason: reason.to_owned(),
            }));
        }
        if !self.links.remove(pid) {
            return None;
        }
        if self.trap_exits {
            self.mailbox.push_back(Delivery::Info(Info::Exit {
                pid: pid.clone(),
                reason: reason.to_owned(),
            }));
            None
        } else if reason == "normal" {
            None
        } else {
            Some(format!("linked {pid} ended: {reason}"))
        }
    }

    /// This actor has ended with `reason`: whoever waits on it learns why,
    /// its names are released and its mailbox is gone.
    pub fn stopped(&mut self, reason: &str) {
        self.stopped = Some(reason.to_owned());
        let now = self.now_ms;
        for owed in &mut self.owed {
            if owed.answer.is_none() && !owed.caller_gone && now < owed.call.r.deadline_ms {
                owed.answer = Some(Err(Error::Terminated(reason.to_owned())));
            }
        }
        let me = self.me.clone();
        self.names.retain(|_, holder| *holder != me);
        self.mailbox.clear();
        self.record(Event::Stopped {
            reason: reason.to_owned(),
        });
    }
}

/// What to do about a blocking call, once the world is released.
pub(crate) enum CallStep {
    Done(Result<Vec<u8>, Error>),
    /// Run the script's closure, then put the script back if it repeats.
    Compute {
        script: Script,
        index: usize,
        request: Vec<u8>,
        encoding: Encoding,
    },
    Unscripted(String),
}

/// Milliseconds, rounded up as the SDK rounds them for the host.
pub(crate) fn ms(d: Duration) -> u64 {
    u64::try_from(d.as_nanos().div_ceil(1_000_000)).unwrap_or(u64::MAX)
}

/// The host's rule for names (`wactor_manifest::check_name`), which an
/// actor meets when it registers.
fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("a name cannot be empty".into());
    }
    if name.len() > 255 {
        return Err("a name is at most 255 bytes".into());
    }
    if name.contains('@') {
        return Err(format!(
            "`{name}` contains `@`, which separates a name from its node"
        ));
    }
    if name.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!("{name:?} contains whitespace or a control character"));
    }
    let numeric = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
    let mut tail = name.rsplitn(3, '.');
    let pid_shaped = matches!(
        (tail.next(), tail.next(), tail.next()),
        (Some(creation), Some(id), Some(_)) if numeric(creation) && numeric(id)
    );
    if name.starts_with('<') || pid_shaped {
        return Err(format!(
            "`{name}` is written like a pid (`<node.id.creation>` or `node.id.creation`), so it could not be told from one"
        ));
    }
    Ok(())
}
