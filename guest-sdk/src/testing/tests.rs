//! The fake host's own tests: each drives a small actor that does what it
//! is told, and checks the host semantics the fake promises.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;
use crate::{Actor, Call, Context, Outcome, Pid, Raw, RegisterError};

/// What the probe actor is asked to do; each is answered with [`Done`].
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Do {
    Send(Address, u32),
    SendImportant(Address, u32),
    Call(Address, u32),
    CallTimeout(Address, u32, u64),
    CallJson(Address, u32),
    CallAsync(Address, u32),
    SendAfter(Address, u32, u64),
    Cancel(u64),
    Defer,
    IsAlive,
    Spawn(String),
    Register(String),
    Whereis(String),
    Link(Pid),
    Monitor(Address),
    TrapExits(bool),
    Important(bool),
    Stop(String),
    ReplyAndStop,
    Get,
}

#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Done {
    Ok,
    Num(u32),
    Failed(Error),
    Timer(u64),
    Pid(Option<Pid>),
    Bool(bool),
    State { got: Vec<u32>, infos: Vec<String> },
}

/// Messages: a number to keep, or an answer for every deferred call.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq)]
enum Msg {
    Num(u32),
    Release(u32),
    FailAll(String),
}

#[derive(Serialize, Deserialize, Default)]
struct Probe {
    got: Vec<u32>,
    infos: Vec<String>,
    deferred: Vec<Call>,
}

impl Actor for Probe {
    type Args = u32;
    type Message = Msg;
    type Request = Do;
    type Reply = Done;

    fn init(_: &mut Context, first: u32) -> Result<Self, String> {
        if first == 666 {
            return Err("666 is not a number to start with".into());
        }
        Ok(Probe {
            got: if first == 0 { vec![] } else { vec![first] },
            ..Probe::default()
        })
    }

    fn handle_message(&mut self, ctx: &mut Context, _: Pid, msg: Msg) {
        match msg {
            Msg::Num(n) => self.got.push(n),
            Msg::Release(n) => {
                for call in self.deferred.drain(..) {
                    if let Err(e) = ctx.reply(&call, &Done::Num(n)) {
                        self.infos.push(format!("reply: {e}"));
                    }
                }
            }
            Msg::FailAll(why) => {
                for call in self.deferred.drain(..) {
                    let _ = ctx.reply_error(&call, &why);
                }
            }
        }
    }

    fn handle_call(&mut self, ctx: &mut Context, call: Call, req: Do) -> Outcome<Done> {
        let result = |r: Result<(), Error>| match r {
            Ok(()) => Done::Ok,
            Err(e) => Done::Failed(e),
        };
        let num = |r: Result<u32, Error>| match r {
            Ok(n) => Done::Num(n),
            Err(e) => Done::Failed(e),
        };
        Outcome::Reply(match req {
            Do::Send(to, n) => result(ctx.send(to, &Msg::Num(n))),
            Do::SendImportant(to, n) => result(ctx.send_important(to, &Msg::Num(n))),
            Do::Call(to, n) => num(ctx.call(to, &n)),
            Do::CallTimeout(to, n, ms) => num(ctx.call_timeout(to, &n, Duration::from_millis(ms))),
            Do::CallJson(to, n) => num(ctx.call_json(to, &n, None)),
            Do::CallAsync(to, n) => match ctx.call_async(to, &n, Some(Duration::from_millis(100))) {
                Ok(r) => Done::Num(r.id_lo as u32),
                Err(e) => Done::Failed(e),
            },
            Do::SendAfter(to, n, ms) => match ctx.send_after(to, &Msg::Num(n), Duration::from_millis(ms)) {
                Ok(t) => Done::Timer(t.id()),
                Err(e) => Done::Failed(e),
            },
            Do::Cancel(id) => Done::Bool(ctx.cancel_timer(Timer(id))),
            Do::Defer => {
                self.deferred.push(call);
                return Outcome::Defer;
            }
            Do::IsAlive => Done::Bool(self.deferred.first().is_some_and(|c| ctx.is_alive(c))),
            Do::Spawn(b) => match ctx.spawn(&b, &7u32) {
                Ok(pid) => Done::Pid(Some(pid)),
                Err(e) => Done::Failed(Error::NotAllowed(e.to_string())),
            },
            Do::Register(name) => match ctx.register(&name) {
                Ok(()) => Done::Ok,
                Err(RegisterError::Taken(pid)) => Done::Pid(Some(pid)),
                Err(RegisterError::Invalid(why)) => Done::Failed(Error::NotAllowed(why)),
            },
            Do::Whereis(name) => Done::Pid(ctx.whereis(&name)),
            Do::Link(pid) => result(ctx.link(&pid)),
            Do::Monitor(to) => Done::Num(ctx.monitor(to).id() as u32),
            Do::TrapExits(on) => {
                ctx.trap_exits(on);
                Done::Ok
            }
            Do::Important(on) => {
                ctx.set_important_delivery(on);
                Done::Ok
            }
            Do::Stop(reason) => return Outcome::Stop(reason),
            Do::ReplyAndStop => return Outcome::ReplyAndStop(Done::Ok),
            Do::Get => Done::State {
                got: self.got.clone(),
                infos: self.infos.clone(),
            },
        })
    }

    fn handle_info(&mut self, _: &mut Context, info: Info) {
        let text = match info {
            Info::Response { result, .. } => match result.and_then(u32::decode) {
                Ok(n) => format!("response {n}"),
                Err(e) => format!("response error: {e}"),
            },
            Info::Down { reason, .. } => format!("down: {reason}"),
            Info::Exit { reason, .. } => format!("exit: {reason}"),
        };
        self.infos.push(text);
    }

    fn terminate(&mut self, ctx: &mut Context, reason: &str) {
        ctx.info(format!("terminate: {reason}"));
    }
}

crate::__impl_handoff!(Probe);

fn probe() -> TestActor<Probe> {
    match TestActor::<Probe>::start(&()) {
        Ok(t) => t,
        Err(e) => panic!("init: {e}"),
    }
}

fn state(t: &mut TestActor<Probe>) -> (Vec<u32>, Vec<String>) {
    match t.call(&Do::Get).expect_reply() {
        Done::State { got, infos } => (got, infos),
        other => panic!("not a state: {other:?}"),
    }
}

fn name(n: &str) -> Address {
    Address::Name(n.into())
}

#[test]
fn init_gets_its_arguments_and_its_error_is_returned() {
    let mut t = TestActor::<Probe>::start(&5u32).expect("init");
    assert_eq!(state(&mut t).0, [5]);
    let failed = TestActor::<Probe>::start(&666u32).err();
    assert_eq!(failed.as_deref(), Some("666 is not a number to start with"));
}

#[test]
fn sends_are_recorded_with_target_and_importance_and_decoded() {
    let mut t = probe();
    let other = t.new_pid();
    t.register_name("other", &other);
    assert_eq!(t.call(&Do::Send(name("other"), 1)).expect_reply(), Done::Ok);
    assert_eq!(
        t.call(&Do::SendImportant(Address::Pid(other.clone()), 2))
            .expect_reply(),
        Done::Ok
    );
    let sent = t.take_sent::<Msg>();
    assert_eq!(
        sent,
        [
            Sent {
                to: name("other"),
                msg: Msg::Num(1),
                important: false,
                timer: None
            },
            Sent {
                to: Address::Pid(other),
                msg: Msg::Num(2),
                important: true,
                timer: None
            },
        ]
    );
    assert!(t.take_sent::<Raw>().is_empty(), "taken sends are gone");
}

#[test]
fn a_send_to_an_unknown_name_a_dead_pid_or_a_failing_target_fails() {
    let mut t = probe();
    assert_eq!(
        t.call(&Do::Send(name("nobody"), 1)).expect_reply(),
        Done::Failed(Error::UnknownProcess)
    );
    let gone = t.new_pid();
    t.exit(&gone, "normal");
    assert_eq!(
        t.call(&Do::Send(Address::Pid(gone), 1)).expect_reply(),
        Done::Failed(Error::UnknownProcess)
    );
    let full = t.new_pid();
    t.fail_sends_to(&full, Error::MailboxFull);
    assert_eq!(
        t.call(&Do::Send(Address::Pid(full), 1)).expect_reply(),
        Done::Failed(Error::MailboxFull)
    );
    assert!(t.take_sent::<Raw>().is_empty(), "failed sends did not go out");
}

#[test]
fn a_message_to_itself_is_delivered_not_listed() {
    let mut t = probe();
    let me = t.pid();
    assert_eq!(t.call(&Do::Send(Address::Pid(me), 9)).expect_reply(), Done::Ok);
    assert_eq!(state(&mut t).0, [9]);
    assert!(t.take_sent::<Raw>().is_empty());
}

#[test]
fn scripted_calls_are_answered_per_target_in_order() {
    let mut t = probe();
    let b = t.new_pid();
    t.register_name("b", &b);
    t.on_call("a").reply(&1u32);
    t.on_call("a").reply(&2u32);
    // A script for a pid answers calls made to its name too.
    t.on_call(&b).reply(&10u32);
    assert_eq!(t.call(&Do::Call(name("b"), 0)).expect_reply(), Done::Num(10));
    assert_eq!(t.call(&Do::Call(name("a"), 0)).expect_reply(), Done::Num(1));
    assert_eq!(t.call(&Do::Call(name("a"), 5)).expect_reply(), Done::Num(2));
    // Used up: `a` is nobody's name, so the call finds no process.
    assert_eq!(
        t.call(&Do::Call(name("a"), 0)).expect_reply(),
        Done::Failed(Error::UnknownProcess)
    );
    let calls = t.take_calls::<u32>();
    let seen: Vec<(Address, u32)> = calls.into_iter().map(|c| (c.to, c.request)).collect();
    assert_eq!(
        seen,
        [(name("b"), 0), (name("a"), 0), (name("a"), 5), (name("a"), 0)]
    );
}

#[test]
fn on_any_call_always_and_reply_with_compute_answers() {
    let mut t = probe();
    t.on_any_call().always().reply_with(|n: u32| n * 2);
    assert_eq!(t.call(&Do::Call(name("x"), 4)).expect_reply(), Done::Num(8));
    assert_eq!(t.call(&Do::Call(name("y"), 5)).expect_reply(), Done::Num(10));
}

#[test]
fn scripted_errors_reach_the_actor_as_delivery_errors() {
    let mut t = probe();
    t.on_call("slow").fail(Error::Timeout);
    t.on_call("gone").fail(Error::Terminated("crashed".into()));
    assert_eq!(
        t.call(&Do::CallTimeout(name("slow"), 0, 250)).expect_reply(),
        Done::Failed(Error::Timeout)
    );
    assert_eq!(
        t.call(&Do::Call(name("gone"), 0)).expect_reply(),
        Done::Failed(Error::Terminated("crashed".into()))
    );
    let timeouts: Vec<Option<Duration>> = t.take_calls::<u32>().into_iter().map(|c| c.timeout).collect();
    assert_eq!(timeouts, [Some(Duration::from_millis(250)), None]);
}

#[test]
#[should_panic(expected = "no answer was scripted")]
fn an_unscripted_call_fails_the_test() {
    let mut t = probe();
    let peer = t.new_pid();
    t.call(&Do::Call(Address::Pid(peer), 0));
}

#[test]
fn unscripted_calls_can_be_given_an_error() {
    let mut t = probe();
    let peer = t.new_pid();
    t.unscripted_calls(Error::Timeout);
    assert_eq!(
        t.call(&Do::Call(Address::Pid(peer), 0)).expect_reply(),
        Done::Failed(Error::Timeout)
    );
}

#[test]
fn a_call_to_itself_is_refused() {
    let mut t = probe();
    let me = t.pid();
    t.on_any_call().reply(&1u32);
    match t.call(&Do::Call(Address::Pid(me), 0)).expect_reply() {
        Done::Failed(Error::NotAllowed(why)) => assert!(why.contains("called itself"), "{why}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn json_calls_go_out_and_come_back_in_json() {
    let mut t = probe();
    t.on_call("py").reply(&41u32);
    assert_eq!(t.call(&Do::CallJson(name("py"), 3)).expect_reply(), Done::Num(41));
    let calls = t.take_calls::<u32>();
    assert_eq!(calls[0].encoding, Encoding::Json);
    // The request really is JSON text.
    let raw = t.events();
    assert!(raw
        .iter()
        .any(|e| matches!(e, Event::Called { request, .. } if request == b"3")));
}

#[test]
fn a_deferred_call_is_answered_only_when_the_actor_answers() {
    let mut t = probe();
    let called = t.call(&Do::Defer);
    assert_eq!(called.outcome, Outcome::Defer);
    assert_eq!(t.response::<Done>(&called.call), None);
    assert_eq!(t.call(&Do::IsAlive).expect_reply(), Done::Bool(true));
    t.send(&Msg::Release(7));
    assert_eq!(t.response::<Done>(&called.call), Some(Ok(Done::Num(7))));
    assert!(t.events().iter().any(
        |e| matches!(e, Event::Responded { call, answer: Ok(_), taken: true, .. } if *call == called.call)
    ));
}

#[test]
fn a_deferred_call_times_out_and_a_late_answer_is_ignored() {
    let mut t = probe();
    t.set_call_timeout(Duration::from_millis(100));
    let called = t.call(&Do::Defer);
    t.advance(Duration::from_millis(99));
    assert_eq!(t.response::<Done>(&called.call), None);
    t.advance(Duration::from_millis(1));
    assert_eq!(t.call(&Do::IsAlive).expect_reply(), Done::Bool(false));
    assert_eq!(t.response::<Done>(&called.call), Some(Err(Error::Timeout)));
    t.send(&Msg::Release(1));
    let (_, infos) = state(&mut t);
    assert_eq!(infos, ["reply: response ignored: the caller stopped waiting"]);
    assert!(t.events().iter().any(|e| matches!(
        e,
        Event::Responded { call, taken: false, .. } if *call == called.call
    )));
}

#[test]
fn reply_error_reaches_the_caller_as_remote() {
    let mut t = probe();
    let called = t.call(&Do::Defer);
    t.send(&Msg::FailAll("backend down".into()));
    assert_eq!(
        t.response::<Done>(&called.call),
        Some(Err(Error::Remote("backend down".into())))
    );
}

#[test]
fn reply_and_stop_answers_then_terminates_normally() {
    let mut t = probe();
    let waiting = t.call(&Do::Defer);
    let called = t.call(&Do::ReplyAndStop);
    assert_eq!(called.outcome, Outcome::ReplyAndStop(Done::Ok));
    assert_eq!(t.response::<Done>(&called.call), Some(Ok(Done::Ok)));
    assert_eq!(t.stopped().as_deref(), Some("normal"));
    assert!(t.logs().iter().any(|(_, m)| m == "terminate: normal"));
    assert_eq!(
        t.response::<Done>(&waiting.call),
        Some(Err(Error::Terminated("normal".into())))
    );
}

#[test]
fn stop_ends_the_actor_and_its_caller_gets_terminated() {
    let mut t = probe();
    t.call(&Do::Register("probe".into())).expect_reply();
    let called = t.call(&Do::Stop("enough".into()));
    assert_eq!(called.outcome, Outcome::Stop("enough".into()));
    assert_eq!(
        t.response::<Done>(&called.call),
        Some(Err(Error::Terminated("enough".into())))
    );
    assert!(t.logs().iter().any(|(_, m)| m == "terminate: enough"));
    assert_eq!(t.whereis("probe"), None, "its names are released");
    assert!(t.events().contains(&Event::Stopped {
        reason: "enough".into()
    }));
}

#[test]
#[should_panic(expected = "the actor has stopped (bye)")]
fn a_stopped_actor_takes_no_more_calls() {
    let mut t = probe();
    t.stop("bye");
    t.call(&Do::Get);
}

#[test]
fn timers_fire_in_due_order_only_when_the_clock_passes_them() {
    let mut t = probe();
    let me = Address::Pid(t.pid());
    let other = t.new_pid();
    t.call(&Do::SendAfter(me.clone(), 2, 200)).expect_reply();
    t.call(&Do::SendAfter(me.clone(), 1, 100)).expect_reply();
    let Done::Timer(cancelled) = t.call(&Do::SendAfter(me, 3, 150)).expect_reply() else {
        panic!("no timer");
    };
    t.call(&Do::SendAfter(Address::Pid(other.clone()), 4, 300))
        .expect_reply();
    assert_eq!(t.call(&Do::Cancel(cancelled)).expect_reply(), Done::Bool(true));
    assert_eq!(t.call(&Do::Cancel(cancelled)).expect_reply(), Done::Bool(false));
    t.advance(Duration::from_millis(99));
    assert_eq!(state(&mut t).0, Vec::<u32>::new());
    t.advance(Duration::from_millis(150));
    assert_eq!(state(&mut t).0, [1, 2]);
    assert!(t.take_sent::<Msg>().is_empty());
    t.advance(Duration::from_millis(51));
    let sent = t.take_sent::<Msg>();
    assert_eq!(sent.len(), 1);
    assert_eq!(
        (sent[0].to.clone(), sent[0].msg.clone()),
        (Address::Pid(other), Msg::Num(4))
    );
    assert!(sent[0].timer.is_some());
    assert_eq!(t.now(), Duration::from_millis(300));
}

#[test]
fn a_request_that_does_not_decode_is_refused_and_the_actor_goes_on() {
    let mut t = probe();
    let called = t.call(&Raw(vec![0xff, 0xff]));
    assert_eq!(called.outcome, Outcome::Defer);
    match t.response::<Done>(&called.call) {
        Some(Err(Error::NotAllowed(why))) => assert!(why.starts_with("bad request: "), "{why}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(t.stopped(), None);
    assert_eq!(state(&mut t).0, Vec::<u32>::new());
}

#[test]
fn json_calls_to_the_actor_are_answered_in_json_now_and_deferred() {
    let mut t = probe();
    assert_eq!(
        t.call_json(r#"{"Send":[{"Name":"nobody"},1]}"#).expect_reply(),
        r#"{"Failed":"UnknownProcess"}"#
    );
    let deferred = t.call_json(r#""Defer""#);
    assert_eq!(deferred.outcome, Outcome::Defer);
    t.send(&Msg::Release(3));
    // Decoded as JSON: postcard bytes would not parse.
    assert_eq!(t.response::<Done>(&deferred.call), Some(Ok(Done::Num(3))));
    assert_eq!(
        t.response::<Raw>(&deferred.call),
        Some(Ok(Raw(br#"{"Num":3}"#.to_vec())))
    );
    match t.call_json(r#"{"Nope":1}"#).outcome {
        Outcome::Defer => {}
        other => panic!("{other:?}"),
    }
}

#[test]
fn the_state_survives_an_upgrade_and_a_snapshot_round_trip() {
    let mut t = probe();
    t.send(&Msg::Num(1));
    t.send(&Msg::Num(2));
    let waiting = t.call(&Do::Defer);
    t.upgrade().expect("upgrade");
    assert_eq!(state(&mut t).0, [1, 2]);
    // The deferred call went along and can still be answered.
    t.send(&Msg::Release(5));
    assert_eq!(t.response::<Done>(&waiting.call), Some(Ok(Done::Num(5))));

    let snapshot = t.snapshot().expect("a serde actor hands its state over");
    assert_eq!(snapshot.version, 1);
    let mut woken = TestActor::<Probe>::new();
    woken.restore(snapshot).expect("restore");
    assert_eq!(state(&mut woken).0, [1, 2]);
}

/// Version 2 of a counter whose version 1 state was a bare `u64`.
#[derive(Serialize, Deserialize)]
struct Counter2 {
    count: u64,
    label: String,
}

impl Actor for Counter2 {
    type Args = ();
    type Message = ();
    type Request = ();
    type Reply = (u64, String);
    const STATE_VERSION: u32 = 2;

    fn init(_: &mut Context, _: ()) -> Result<Self, String> {
        Ok(Counter2 {
            count: 0,
            label: "new".into(),
        })
    }

    fn migrate(_: &mut Context, from: u32, state: &[u8]) -> Result<Self, String> {
        match from {
            1 => Ok(Counter2 {
                count: u64::decode(state.to_vec()).map_err(|e| e.to_string())?,
                label: "migrated".into(),
            }),
            v => Err(format!("unknown state version {v}")),
        }
    }

    fn handle_call(&mut self, _: &mut Context, _: Call, _: ()) -> Outcome<(u64, String)> {
        self.count += 1;
        Outcome::Reply((self.count, self.label.clone()))
    }
}

crate::__impl_handoff!(Counter2);

#[test]
fn an_older_state_is_migrated_and_a_failed_migration_keeps_the_old_instance() {
    let mut t = TestActor::<Counter2>::start(&()).expect("init");
    assert_eq!(t.call(&()).expect_reply(), (1, "new".into()));
    let v1 = Snapshot::of(1, &41u64).expect("encode");
    t.restore(v1).expect("migrate from 1");
    assert_eq!(t.call(&()).expect_reply(), (42, "migrated".into()));
    assert_eq!(t.snapshot().map(|s| s.version), Some(2));

    let err = t.restore(Snapshot::of(7, &0u64).expect("encode")).unwrap_err();
    assert_eq!(err, "unknown state version 7");
    assert_eq!(
        t.call(&()).expect_reply(),
        (43, "migrated".into()),
        "the old instance stayed"
    );
    let bad = Snapshot {
        version: 2,
        data: vec![0xff],
    };
    assert!(t.restore(bad).is_err());
    assert_eq!(t.call(&()).expect_reply(), (44, "migrated".into()));
}

/// Not serde: nothing to hand over.
struct Forgetful(u32);

impl Actor for Forgetful {
    type Args = u32;
    type Message = ();
    type Request = ();
    type Reply = u32;

    fn init(_: &mut Context, start: u32) -> Result<Self, String> {
        Ok(Forgetful(start))
    }

    fn handle_call(&mut self, _: &mut Context, _: Call, _: ()) -> Outcome<u32> {
        self.0 += 1;
        Outcome::Reply(self.0)
    }
}

crate::__impl_handoff!(Forgetful);

#[test]
fn an_actor_without_serde_state_restarts_from_init_on_upgrade() {
    let mut t = TestActor::<Forgetful>::start(&10u32).expect("init");
    assert_eq!(t.call(&()).expect_reply(), 11);
    assert_eq!(t.snapshot(), None);
    t.upgrade().expect("upgrade");
    assert_eq!(
        t.call(&()).expect_reply(),
        11,
        "init ran again with the original arguments"
    );
}

#[test]
fn monitors_and_links_follow_the_ends_of_other_processes() {
    let mut t = probe();
    let watched = t.new_pid();
    t.call(&Do::Monitor(Address::Pid(watched.clone()))).expect_reply();
    t.call(&Do::Monitor(name("ghost"))).expect_reply();
    t.exit(&watched, "crashed");
    assert_eq!(
        state(&mut t).1,
        [
            "down: unknown-process: no live actor is registered as ghost",
            "down: crashed"
        ]
    );

    let friend = t.new_pid();
    t.call(&Do::TrapExits(true)).expect_reply();
    t.call(&Do::Link(friend.clone())).expect_reply();
    t.exit(&friend, "normal");
    assert_eq!(state(&mut t).1.last().map(String::as_str), Some("exit: normal"));
    assert_eq!(
        t.call(&Do::Link(friend)).expect_reply(),
        Done::Failed(Error::UnknownProcess)
    );

    let partner = t.new_pid();
    t.call(&Do::TrapExits(false)).expect_reply();
    t.call(&Do::Link(partner.clone())).expect_reply();
    t.exit(&partner, "boom");
    assert_eq!(t.stopped(), Some(format!("linked {partner} ended: boom")));
}

#[test]
fn spawns_and_names_are_recorded_and_can_fail() {
    let mut t = probe();
    let Done::Pid(Some(child)) = t.call(&Do::Spawn("worker".into())).expect_reply() else {
        panic!("no pid");
    };
    t.fail_spawns("broken", SpawnError::UnknownBehaviour("broken".into()));
    assert!(matches!(
        t.call(&Do::Spawn("broken".into())).expect_reply(),
        Done::Failed(_)
    ));
    let spawned: Vec<(String, Vec<u8>, Result<Pid, SpawnError>)> = t
        .events()
        .into_iter()
        .filter_map(|e| match e {
            Event::Spawned {
                behaviour,
                args,
                result,
                ..
            } => Some((behaviour, args, result)),
            _ => None,
        })
        .collect();
    assert_eq!(spawned[0], ("worker".into(), vec![7], Ok(child)));
    assert_eq!(spawned[1].2, Err(SpawnError::UnknownBehaviour("broken".into())));

    assert_eq!(t.call(&Do::Register("probe".into())).expect_reply(), Done::Ok);
    assert_eq!(t.whereis("probe"), Some(t.pid()));
    let holder = t.new_pid();
    t.register_name("taken", &holder);
    assert_eq!(
        t.call(&Do::Register("taken".into())).expect_reply(),
        Done::Pid(Some(holder.clone()))
    );
    assert!(matches!(
        t.call(&Do::Register("a@b".into())).expect_reply(),
        Done::Failed(_)
    ));
    assert_eq!(
        t.call(&Do::Whereis("taken".into())).expect_reply(),
        Done::Pid(Some(holder))
    );
    assert!(t.events().contains(&Event::Registered("probe".into())));
}

#[test]
fn an_async_call_is_answered_by_its_script_by_the_test_or_by_its_timeout() {
    let mut t = probe();
    let peer = t.new_pid();
    t.on_call("scripted").reply(&5u32);
    t.call(&Do::CallAsync(name("scripted"), 0)).expect_reply();
    assert_eq!(state(&mut t).1, ["response 5"]);

    t.call(&Do::CallAsync(Address::Pid(peer.clone()), 1))
        .expect_reply();
    t.call(&Do::CallAsync(Address::Pid(peer), 2)).expect_reply();
    let refs: Vec<Ref> = t
        .take_calls::<u32>()
        .into_iter()
        .filter_map(|c| c.async_ref)
        .collect();
    assert_eq!(refs.len(), 3);
    assert!(t.answer_async(refs[1], &6u32));
    assert!(!t.answer_async(refs[1], &6u32), "answered once");
    t.advance(Duration::from_millis(100));
    assert_eq!(
        state(&mut t).1,
        ["response 5", "response 6", "response error: timed out"]
    );
    assert!(
        !t.fail_async(refs[2], Error::NoConnection),
        "it timed out already"
    );

    let other = t.new_pid();
    t.call(&Do::CallAsync(Address::Pid(other), 3)).expect_reply();
    let r = t.take_calls::<u32>().into_iter().find_map(|c| c.async_ref);
    assert!(t.fail_async(r.expect("an async ref"), Error::NoConnection));
    assert_eq!(
        state(&mut t).1.last().map(String::as_str),
        Some("response error: no connection to the recipient's node")
    );
}

#[test]
fn important_delivery_marks_every_later_send_and_call() {
    let mut t = probe();
    let peer = t.new_pid();
    t.on_any_call().always().reply(&0u32);
    t.call(&Do::Important(true)).expect_reply();
    t.call(&Do::Send(Address::Pid(peer.clone()), 1)).expect_reply();
    t.call(&Do::Call(Address::Pid(peer.clone()), 1)).expect_reply();
    t.call(&Do::Important(false)).expect_reply();
    t.call(&Do::Send(Address::Pid(peer), 2)).expect_reply();
    let sent: Vec<bool> = t.take_sent::<Msg>().into_iter().map(|s| s.important).collect();
    assert_eq!(sent, [true, false]);
    assert!(t.take_calls::<u32>()[0].important);
}

#[test]
fn a_caller_that_ended_is_no_longer_waiting() {
    let mut t = probe();
    let caller = t.new_pid();
    let called = t.call_from(&caller, &Do::Defer);
    assert_eq!(called.call.from, caller);
    t.exit(&caller, "normal");
    assert_eq!(t.call(&Do::IsAlive).expect_reply(), Done::Bool(false));
}

#[test]
fn an_info_from_the_test_reaches_handle_info() {
    let mut t = probe();
    let pid = t.new_pid();
    t.info(Info::Exit {
        pid,
        reason: "shutdown".into(),
    });
    assert_eq!(state(&mut t).1, ["exit: shutdown"]);
}
