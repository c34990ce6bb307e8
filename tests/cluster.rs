//! Clusters end to end: a real `nats-server` and two real `wactor run`
//! hosts (`alpha` and `beta`), each serving a `testkit` actor, driven
//! through their HTTP APIs.
//!
//! Every remote operation below is made by the testkit on one host towards
//! an actor on the other, so it crosses NATS as frames.

use std::path::Path;
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;
use wactor_e2e::binary::{http_call, http_call_within, Host, NatsServer};
use wactor_e2e::proto::{Target, TestArgs, TestMessage, TestRequest, WireError, WireInfo, WirePid};
use wactor_e2e::{dec, enc, guest, repo_root};

/// A generous bound for what must happen at once (or within a few
/// heartbeats); far below the 30 s call timeouts the tests use.
const PROMPT: Duration = Duration::from_secs(10);

/// A long call timeout: a call that ends well before it did not time out.
const LONG_MS: u32 = 30_000;

/// One host of a test cluster.
struct Member {
    host: Host,
    url: String,
}

/// A NATS server and two hosts that see each other.
struct TestCluster {
    alpha: Member,
    beta: Member,
    nats: NatsServer,
    _dir: tempfile::TempDir,
}

fn start_cluster(beta_args: &[&str]) -> TestCluster {
    let (nats, mut members, dir) = start_hosts("testkit", &[("alpha", &[]), ("beta", beta_args)]);
    let beta = members.pop().expect("beta");
    let alpha = members.pop().expect("alpha");
    TestCluster {
        alpha,
        beta,
        nats,
        _dir: dir,
    }
}

/// A NATS server and one host per `(name, extra arguments)`, each serving
/// the guest `actor`, once every host sees every other one.
fn start_hosts(actor: &str, hosts: &[(&str, &[&str])]) -> (NatsServer, Vec<Member>, tempfile::TempDir) {
    let nats = NatsServer::start();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::copy(guest(actor), dir.path().join(format!("{actor}.wasm"))).expect("copy the actor");
    let mut members: Vec<Member> = hosts
        .iter()
        .map(|(name, args)| start_member(dir.path(), &nats, name, args))
        .collect();
    for (i, m) in members.iter_mut().enumerate() {
        for (j, (other, _)) in hosts.iter().enumerate() {
            if i != j {
                m.host.expect_line(&["node up", &format!("node={other}")]);
            }
        }
    }
    (nats, members, dir)
}

fn start_member(dir: &Path, nats: &NatsServer, name: &str, extra: &[&str]) -> Member {
    let url = nats.url();
    // One compile cache for every host of these tests: the testkit is
    // compiled once, not once per host.
    let cache = repo_root().join("target/test-cache/cluster");
    let cache = cache.to_str().expect("a UTF-8 path");
    let mut args = vec!["--nats", url.as_str(), "--node", name, "--cache-dir", cache];
    args.extend_from_slice(extra);
    // Debug lines of `trace` name the trace of every message handled.
    let mut host = Host::start_logging(dir, &args, "info,wactor::trace=debug");
    let url = host.ready_url();
    Member { host, url }
}

/// Asks the actor `name` on the host at `url` and decodes the reply.
fn ask<T: DeserializeOwned>(url: &str, name: &str, req: &TestRequest) -> T {
    let bytes = http_call(url, name, enc(req)).unwrap_or_else(|e| panic!("{req:?} to {name}: {e}"));
    dec(&bytes)
}

/// A testkit's call to `to`, decoding the callee's answer as a `Vec<u8>`.
fn call_via(
    url: &str,
    to: Target,
    req: &TestRequest,
    timeout_ms: u32,
    important: bool,
) -> Result<Vec<u8>, WireError> {
    let payload = enc(req);
    let r: Result<Vec<u8>, WireError> = if important {
        ask(
            url,
            "testkit",
            &TestRequest::CallImportant {
                to,
                payload,
                timeout_ms: Some(timeout_ms),
            },
        )
    } else {
        ask(
            url,
            "testkit",
            &TestRequest::Call {
                to,
                payload,
                timeout_ms: Some(timeout_ms),
            },
        )
    };
    r.map(|raw| dec::<Vec<u8>>(&raw))
}

fn name(n: &str) -> Target {
    Target::Name(n.to_string())
}

/// Spawns a testkit registered as `register` on the host at `url`.
fn spawn_testkit(url: &str, register: &str) -> WirePid {
    let args = TestArgs {
        register: Some(register.to_string()),
    };
    let r: Result<WirePid, String> = ask(
        url,
        "testkit",
        &TestRequest::Spawn {
            behaviour: "testkit".into(),
            args: enc(&args),
        },
    );
    r.expect("spawn testkit")
}

/// The `state` the actor table shows for the actor holding `name`.
fn actor_state(url: &str, name: &str) -> Option<String> {
    let body = reqwest::blocking::get(format!("{url}/v1/actors"))
        .and_then(|r| r.bytes())
        .expect("GET /v1/actors");
    let rows: serde_json::Value = serde_json::from_slice(&body).expect("the actor table is JSON");
    rows.as_array()?
        .iter()
        .find(|row| {
            row["names"]
                .as_array()
                .is_some_and(|ns| ns.iter().any(|n| n == name))
        })
        .and_then(|row| row["state"].as_str().map(str::to_string))
}

/// Polls `f` until it gives `Some`, for at most `limit`.
fn wait_for<T>(what: &str, limit: Duration, mut f: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            Instant::now() < deadline,
            "timed out after {limit:?} waiting for {what}"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

#[test]
fn messages_calls_and_monitors_cross_hosts() {
    let mut c = start_cluster(&[]);
    let (a, b) = (c.alpha.url.clone(), c.beta.url.clone());
    let beta_pid: WirePid = ask(&b, "testkit", &TestRequest::SelfPid);
    assert_eq!(beta_pid.node, "beta");

    // Calls by name and by pid.
    let echo = TestRequest::Echo(b"hi".to_vec());
    assert_eq!(
        call_via(&a, name("testkit@beta"), &echo, LONG_MS, false),
        Ok(b"hi".to_vec())
    );
    assert_eq!(
        call_via(&a, Target::Pid(beta_pid.clone()), &echo, LONG_MS, false),
        Ok(b"hi".to_vec())
    );
    // From outside: the HTTP API of one host calls an actor of the other,
    // and the request's trace id follows it there.
    let trace = "5eed0000000000000000000000c0ffee";
    let res = reqwest::blocking::Client::new()
        .post(format!("{a}/v1/actors/testkit@beta/call"))
        .header("x-wactor-trace-id", trace)
        .body(enc(&echo))
        .send()
        .expect("HTTP call across hosts");
    assert_eq!(res.status(), 200);
    assert_eq!(dec::<Vec<u8>>(&res.bytes().expect("body")), b"hi");
    c.beta
        .host
        .expect_line(&["handled", "kind=\"call\"", &format!("trace={trace}")]);

    // Sends by name and by pid arrive, in order.
    for (to, text) in [
        (name("testkit@beta"), "one"),
        (Target::Pid(beta_pid.clone()), "two"),
    ] {
        let sent: Result<(), WireError> = ask(
            &a,
            "testkit",
            &TestRequest::Send {
                to,
                payload: enc(&TestMessage::Record(text.as_bytes().to_vec())),
            },
        );
        assert_eq!(sent, Ok(()));
    }
    wait_for("both messages on beta", PROMPT, || {
        let got: Vec<Vec<u8>> = ask(&b, "testkit", &TestRequest::Received);
        (got.len() >= 2).then(|| assert_eq!(got, vec![b"one".to_vec(), b"two".to_vec()]))
    });

    // A deferred answer given by another actor of the callee's host, and
    // an error answer through `send-response-error`.
    spawn_testkit(&b, "helper");
    let forward = |error: Option<&str>| TestRequest::Forward {
        to: name("helper"),
        error: error.map(str::to_string),
    };
    assert_eq!(
        call_via(&a, name("testkit@beta"), &forward(None), LONG_MS, false),
        Ok(b"forwarded".to_vec())
    );
    assert_eq!(
        call_via(&a, name("testkit@beta"), &forward(Some("nope")), LONG_MS, false),
        Err(WireError::Remote("nope".into()))
    );

    // A call timeout behaves as locally.
    let started = Instant::now();
    assert_eq!(
        call_via(&a, name("testkit@beta"), &TestRequest::NeverAnswer, 300, false),
        Err(WireError::Timeout)
    );
    assert!(started.elapsed() < PROMPT);

    // A remote monitor fires with the exit reason when the callee stops,
    // and the caller gets `terminated` at once.
    let helper: Option<WirePid> = ask(&b, "testkit", &TestRequest::Whereis("helper".into()));
    let helper = helper.expect("helper registered");
    spawn_testkit(&a, "watcher");
    let monitor: u64 = ask(&a, "watcher", &TestRequest::Monitor(Target::Pid(helper.clone())));
    // A link across hosts, from an actor that traps exits.
    spawn_testkit(&a, "linker");
    let _: () = ask(&a, "linker", &TestRequest::TrapExits(true));
    let linked: Result<(), WireError> = ask(&a, "linker", &TestRequest::Link(helper.clone()));
    assert_eq!(linked, Ok(()));
    let started = Instant::now();
    assert_eq!(
        call_via(
            &a,
            name("helper@beta"),
            &TestRequest::Stop("bye".into()),
            LONG_MS,
            false
        ),
        Err(WireError::Terminated("bye".into()))
    );
    assert!(started.elapsed() < PROMPT);
    let down = wait_for("the down of helper on alpha", PROMPT, || {
        let infos: Vec<WireInfo> = ask(&a, "watcher", &TestRequest::Infos);
        infos.into_iter().next()
    });
    assert_eq!(
        down,
        WireInfo::Down {
            monitor,
            pid: helper.clone(),
            reason: "bye".into()
        }
    );
    let exit = wait_for("the exit of helper on alpha", PROMPT, || {
        let infos: Vec<WireInfo> = ask(&a, "linker", &TestRequest::Infos);
        infos.into_iter().next()
    });
    assert_eq!(
        exit,
        WireInfo::Exit {
            pid: helper.clone(),
            reason: "bye".into()
        }
    );
    // A process that is gone cannot be linked to, nor monitored.
    let linked: Result<(), WireError> = ask(&a, "linker", &TestRequest::Link(helper.clone()));
    assert_eq!(linked, Err(WireError::UnknownProcess));
    let late: u64 = ask(&a, "watcher", &TestRequest::Monitor(Target::Pid(helper.clone())));
    let down = wait_for("the down of a monitor set too late", PROMPT, || {
        let infos: Vec<WireInfo> = ask(&a, "watcher", &TestRequest::Infos);
        infos.into_iter().nth(1)
    });
    assert_eq!(
        down,
        WireInfo::Down {
            monitor: late,
            pid: helper,
            reason: "unknown-process".into()
        }
    );

    // An async call across hosts: the answer comes as an info.
    let r: Result<wactor_e2e::proto::WireRef, WireError> = ask(
        &a,
        "linker",
        &TestRequest::CallAsync {
            to: name("testkit@beta"),
            payload: enc(&echo),
            timeout_ms: Some(LONG_MS),
        },
    );
    let r = r.expect("call-async across hosts");
    let response = wait_for("the async answer on alpha", PROMPT, || {
        let infos: Vec<WireInfo> = ask(&a, "linker", &TestRequest::Infos);
        infos.into_iter().nth(1)
    });
    match response {
        WireInfo::Response { r: got, result } => {
            assert_eq!(got, r);
            assert_eq!(dec::<Vec<u8>>(&result.expect("an answer")), b"hi");
        }
        other => panic!("expected a response, got {other:?}"),
    }

    // A malformed frame is logged and dropped; the host stays up.
    let garbage = [&[wactor::frame::WIRE_VERSION][..], b"\xff\xff\xff garbage"].concat();
    c.nats.publish_raw("wactor.node.beta", &garbage);
    c.nats.publish_raw("wactor.node.beta", b"\x09 from the future");
    c.beta.host.expect_line(&["dropped a bad frame", "malformed"]);
    c.beta
        .host
        .expect_line(&["dropped a bad frame", "unknown wire version 9"]);
    assert_eq!(
        call_via(&a, name("testkit@beta"), &echo, LONG_MS, false),
        Ok(b"hi".to_vec())
    );

    // A host that stops cleanly tells its actors' watchers how they ended,
    // then leaves: the others see it down at once.
    let last: u64 = ask(
        &a,
        "watcher",
        &TestRequest::Monitor(Target::Pid(beta_pid.clone())),
    );
    let status = c.beta.host.terminate();
    assert!(status.success(), "{status:?}");
    let down = wait_for("the down of beta's testkit", PROMPT, || {
        let infos: Vec<WireInfo> = ask(&a, "watcher", &TestRequest::Infos);
        infos.into_iter().nth(2)
    });
    assert_eq!(
        down,
        WireInfo::Down {
            monitor: last,
            pid: beta_pid,
            reason: "shutdown".into()
        }
    );
    c.alpha.host.expect_line(&["node down", "node=beta", "shut down"]);
}

#[test]
fn important_delivery_across_hosts() {
    // Mailboxes of two: room for one request while a test polls an actor.
    let c = start_cluster(&["--mailbox-capacity", "2"]);
    let (a, b) = (c.alpha.url.clone(), c.beta.url.clone());
    let send_important = |to: Target, text: &str| -> Result<(), WireError> {
        ask(
            &a,
            "testkit",
            &TestRequest::SendImportant {
                to,
                payload: enc(&TestMessage::Record(text.as_bytes().to_vec())),
            },
        )
    };

    // Acknowledged means in the mailbox: the next request to the same
    // actor is handled after it.
    assert_eq!(send_important(name("testkit@beta"), "sure"), Ok(()));
    let got: Vec<Vec<u8>> = ask(&b, "testkit", &TestRequest::Received);
    assert_eq!(got, vec![b"sure".to_vec()]);

    // No such process on the other host.
    assert_eq!(
        send_important(name("nobody@beta"), "x"),
        Err(WireError::UnknownProcess)
    );

    // A full mailbox on the other host: `blocked` waits in a call, and two
    // messages fill its mailbox.
    spawn_testkit(&b, "sink");
    spawn_testkit(&b, "blocked");
    let b2 = b.clone();
    let _parked = std::thread::spawn(move || {
        let req = TestRequest::Call {
            to: name("sink"),
            payload: enc(&TestRequest::NeverAnswer),
            timeout_ms: Some(60_000),
        };
        let _ = http_call(&b2, "blocked", enc(&req));
    });
    wait_for("`blocked` to wait in its call", PROMPT, || {
        (actor_state(&b, "blocked").as_deref() == Some("waiting-on-call")).then_some(())
    });
    for _ in 0..2 {
        let filler = reqwest::blocking::Client::new()
            .post(format!("{b}/v1/actors/blocked/send"))
            .body(enc(&TestMessage::Record(b"fill".to_vec())))
            .send()
            .expect("send filler");
        assert_eq!(filler.status(), 202);
    }
    assert_eq!(
        send_important(name("blocked@beta"), "x"),
        Err(WireError::MailboxFull)
    );
    // A plain send cannot tell: it was sent.
    let plain: Result<(), WireError> = ask(
        &a,
        "testkit",
        &TestRequest::Send {
            to: name("blocked@beta"),
            payload: enc(&TestMessage::Record(b"x".to_vec())),
        },
    );
    assert_eq!(plain, Ok(()));

    // call-important to an unknown name fails at once; a plain call's
    // request is lost and the caller times out.
    let started = Instant::now();
    assert_eq!(
        call_via(&a, name("nobody@beta"), &TestRequest::Echo(vec![]), LONG_MS, true),
        Err(WireError::UnknownProcess)
    );
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    assert_eq!(
        call_via(
            &a,
            name("blocked@beta"),
            &TestRequest::Echo(vec![]),
            LONG_MS,
            true
        ),
        Err(WireError::MailboxFull)
    );
    assert_eq!(
        call_via(&a, name("nobody@beta"), &TestRequest::Echo(vec![]), 500, false),
        Err(WireError::Timeout)
    );
    // A delivered important call waits for its answer as a plain one does.
    assert_eq!(
        call_via(
            &a,
            name("testkit@beta"),
            &TestRequest::Echo(b"ok".to_vec()),
            LONG_MS,
            true
        ),
        Ok(b"ok".to_vec())
    );

    // set-important-delivery: a plain send becomes important and reports
    // what a plain one cannot.
    let _: () = ask(&a, "testkit", &TestRequest::SetImportant(true));
    let sent: Result<(), WireError> = ask(
        &a,
        "testkit",
        &TestRequest::Send {
            to: name("nobody@beta"),
            payload: vec![1],
        },
    );
    assert_eq!(sent, Err(WireError::UnknownProcess));

    // set-important-delivery covers the answer a handler returns: beta's
    // important-delivery counters show whether alpha took it.
    let _: () = ask(&b, "testkit", &TestRequest::SetImportant(true));
    let (acks, nacks) = important_counters(&b);
    // Beta answers after 500 ms, when alpha has stopped waiting.
    let slow = TestRequest::Call {
        to: name("sink"),
        payload: enc(&TestRequest::NeverAnswer),
        timeout_ms: Some(500),
    };
    let r: Result<Vec<u8>, WireError> = ask(
        &a,
        "testkit",
        &TestRequest::Call {
            to: name("testkit@beta"),
            payload: enc(&slow),
            timeout_ms: Some(200),
        },
    );
    assert_eq!(r, Err(WireError::Timeout));
    // Two refused: beta's own call to `sink`, important too, timed out,
    // and its answer was not taken.
    wait_for("beta to count its ignored answer", PROMPT, || {
        (important_counters(&b) == (acks, nacks + 2)).then_some(())
    });
    let echo = TestRequest::Echo(b"e".to_vec());
    assert_eq!(
        call_via(&a, name("testkit@beta"), &echo, LONG_MS, false),
        Ok(b"e".to_vec())
    );
    wait_for("beta to count its confirmed answer", PROMPT, || {
        (important_counters(&b) == (acks + 1, nacks + 2)).then_some(())
    });
}

/// A host's important deliveries confirmed and refused, from its metrics.
fn important_counters(url: &str) -> (u64, u64) {
    let text = metrics(url);
    (
        metric(&text, "wactor_important_acks_total"),
        metric(&text, "wactor_important_nacks_total"),
    )
}

/// The metrics page of the host at `url`.
fn metrics(url: &str) -> String {
    reqwest::blocking::get(format!("{url}/metrics"))
        .and_then(|r| r.text())
        .expect("GET /metrics")
}

/// The value of the counter `name` in the metrics page `text`.
fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.trim().parse::<u64>().ok())
        .unwrap_or_else(|| panic!("no {name} in the metrics:\n{text}"))
}

/// What a caller got.
type CallOutcome = Result<Vec<u8>, WireError>;

/// What a send (or an important answer) reported.
type Sent = Result<(), WireError>;

/// How the handler on beta answers a held call.
#[derive(Clone, Copy, PartialEq)]
enum Answer {
    Plain,
    Important,
}

/// Alpha's testkit calls beta's testkit with `Hold` (important or not),
/// waiting `timeout_ms`; once beta holds the call, or once the caller gave
/// up (`answer_after_timeout`), beta answers it `how`. Returns what the
/// caller got and what beta's answer reported (`None` for a plain answer,
/// which reports nothing).
fn held_call(
    a: &str,
    b: &str,
    important_call: bool,
    how: Answer,
    timeout_ms: u32,
    answer_after_timeout: bool,
) -> (CallOutcome, Option<Sent>) {
    let a2 = a.to_string();
    let caller = std::thread::spawn(move || {
        call_via(
            &a2,
            name("testkit@beta"),
            &TestRequest::Hold,
            timeout_ms,
            important_call,
        )
    });
    let caller = if answer_after_timeout {
        Err(caller.join().expect("caller"))
    } else {
        Ok(caller)
    };
    let payload = b"answer".to_vec();
    let outcome = wait_for("the held call on beta", PROMPT, || match how {
        Answer::Plain => {
            let n: u32 = ask(b, "testkit", &TestRequest::AnswerHeld(payload.clone()));
            (n > 0).then(|| {
                assert_eq!(n, 1);
                None
            })
        }
        Answer::Important => {
            let o: Vec<Result<(), WireError>> =
                ask(b, "testkit", &TestRequest::AnswerHeldImportant(payload.clone()));
            (!o.is_empty()).then(|| {
                assert_eq!(o.len(), 1);
                Some(o[0].clone())
            })
        }
    });
    let got = match caller {
        Err(got) => got,
        Ok(caller) => caller.join().expect("caller"),
    };
    (got, outcome)
}

#[test]
fn the_four_request_response_combinations() {
    let c = start_cluster(&[]);
    let (a, b) = (c.alpha.url.clone(), c.beta.url.clone());
    let answer = Ok(b"answer".to_vec());

    // Plain call, plain answer: it arrives, but neither side is told
    // anything about the other's fate: an answer to a caller that gave up
    // is lost without a word, and a request that cannot be delivered is
    // lost too (the caller times out).
    assert_eq!(
        held_call(&a, &b, false, Answer::Plain, LONG_MS, false),
        (answer.clone(), None)
    );
    assert_eq!(
        held_call(&a, &b, false, Answer::Plain, 300, true),
        (Err(WireError::Timeout), None)
    );
    assert_eq!(
        call_via(&a, name("nobody@beta"), &TestRequest::Echo(vec![]), 300, false),
        Err(WireError::Timeout)
    );

    // Plain call, important answer (RR-2PC): the handler learns whether the
    // caller took the answer.
    assert_eq!(
        held_call(&a, &b, false, Answer::Important, LONG_MS, false),
        (answer.clone(), Some(Ok(())))
    );
    assert_eq!(
        held_call(&a, &b, false, Answer::Important, 300, true),
        (Err(WireError::Timeout), Some(Err(WireError::ResponseIgnored)))
    );

    // Important call, plain answer: the caller learns at once that the
    // request could not be delivered; a delivered one is answered as usual.
    assert_eq!(
        held_call(&a, &b, true, Answer::Plain, LONG_MS, false),
        (answer.clone(), None)
    );
    let started = Instant::now();
    assert_eq!(
        call_via(&a, name("nobody@beta"), &TestRequest::Echo(vec![]), LONG_MS, true),
        Err(WireError::UnknownProcess)
    );
    assert!(started.elapsed() < PROMPT);

    // Important call, important answer (FR-2PC): both.
    assert_eq!(
        held_call(&a, &b, true, Answer::Important, LONG_MS, false),
        (answer.clone(), Some(Ok(())))
    );
    assert_eq!(
        held_call(&a, &b, true, Answer::Important, 300, true),
        (Err(WireError::Timeout), Some(Err(WireError::ResponseIgnored)))
    );
}

/// What a testkit's `Call` request answers: the callee's raw reply, or why
/// there is none.
type CallReply = Result<Vec<u8>, WireError>;

/// A `Call` request: the testkit calls `to` with `inner`, waiting up to
/// the long timeout.
fn call_req(to: Target, inner: &TestRequest) -> TestRequest {
    TestRequest::Call {
        to,
        payload: enc(inner),
        timeout_ms: Some(LONG_MS),
    }
}

/// Asks the testkit on the host at `url` to make the nested calls
/// `req`, and unwraps one `Call` reply per level of `depth`: the answer
/// of the innermost call. All of it must come back within [`PROMPT`], far
/// below the calls' own timeout, so an answer that came proves no call
/// timed out.
fn nested_calls(url: &str, req: &TestRequest, depth: usize) -> CallReply {
    let started = Instant::now();
    let bytes = http_call_within(url, "testkit", enc(req), PROMPT)
        .unwrap_or_else(|e| panic!("no answer within {PROMPT:?} (the calls wait {LONG_MS} ms): {e}"));
    let mut reply: CallReply = dec(&bytes);
    for _ in 1..depth {
        reply = dec(&reply.expect("an outer call of the chain was answered"));
    }
    assert!(started.elapsed() < PROMPT, "took {:?}", started.elapsed());
    reply
}

fn pid_text(p: &WirePid) -> String {
    format!("<{}.{}.{}>", p.node, p.id, p.creation)
}

/// The error a call gets when it would close `cycle` (its caller first).
fn cycle_error(cycle: &[&WirePid]) -> WireError {
    let mut names: Vec<String> = cycle.iter().map(|p| pid_text(p)).collect();
    names.push(pid_text(cycle[0]));
    WireError::NotAllowed(format!(
        "call cycle: {}; the call would deadlock",
        names.join(" -> ")
    ))
}

#[test]
fn call_cycles_across_hosts_are_refused_at_once() {
    let c = start_cluster(&[]);
    let (a, b) = (c.alpha.url.clone(), c.beta.url.clone());
    let alpha: WirePid = ask(&a, "testkit", &TestRequest::SelfPid);
    let beta: WirePid = ask(&b, "testkit", &TestRequest::SelfPid);
    let echo = TestRequest::Echo(b"hi".to_vec());
    let to_alpha = || Target::Pid(alpha.clone());

    // A@alpha calls B@beta, and B, while A waits, calls A: B's call fails
    // with the cycle, B answers A with that, and A's call returns.
    let a_b_a = call_req(name("testkit@beta"), &call_req(to_alpha(), &echo));
    assert_eq!(nested_calls(&a, &a_b_a, 2), Err(cycle_error(&[&beta, &alpha])));

    // A@alpha → B@beta → C@alpha → A: the cycle is closed by a call on
    // alpha, after the chain crossed beta and came back.
    let c_pid = spawn_testkit(&a, "c");
    let a_b_c_a = call_req(
        name("testkit@beta"),
        &call_req(name("c@alpha"), &call_req(to_alpha(), &echo)),
    );
    assert_eq!(
        nested_calls(&a, &a_b_c_a, 3),
        Err(cycle_error(&[&c_pid, &alpha, &beta]))
    );

    // Through a pool on beta: the worker that took A's call calls A.
    let pool: Result<WirePid, String> = ask(
        &b,
        "testkit",
        &TestRequest::SpawnPool {
            behaviour: "testkit".into(),
            size: 2,
            args: Vec::new(),
        },
    );
    let pool = pool.expect("a pool on beta");
    let a_pool_a = call_req(Target::Pid(pool), &call_req(to_alpha(), &echo));
    match nested_calls(&a, &a_pool_a, 2) {
        Err(WireError::NotAllowed(m)) => {
            let a_in_middle = format!(" -> {} -> ", pid_text(&alpha));
            assert!(
                m.starts_with("call cycle: <beta.") && m.contains(&a_in_middle),
                "{m}"
            );
        }
        other => panic!("a cycle through a pool: {other:?}"),
    }

    // Chains that cross the hosts back and forth but close no cycle are
    // answered: A@alpha → B@beta → C@alpha → D@beta.
    spawn_testkit(&b, "d");
    let a_b_c_d = call_req(
        name("testkit@beta"),
        &call_req(name("c@alpha"), &call_req(name("d@beta"), &echo)),
    );
    let from_d = nested_calls(&a, &a_b_c_d, 3).expect("D answered");
    assert_eq!(dec::<Vec<u8>>(&from_d), b"hi");
    // Every actor that took part is free again.
    for (url, who) in [(&a, "testkit"), (&a, "c"), (&b, "testkit"), (&b, "d")] {
        let back: Vec<u8> = ask(url, who, &echo);
        assert_eq!(back, b"hi", "{who} on {url}");
    }
}

/// A cycle through three hosts, closed by a call into the first: the probe
/// goes round every host once.
#[test]
fn a_call_cycle_through_three_hosts_is_refused_at_once() {
    let (_nats, members, _dir) = start_hosts("testkit", &[("alpha", &[]), ("beta", &[]), ("gamma", &[])]);
    let urls: Vec<&str> = members.iter().map(|m| m.url.as_str()).collect();
    let pids: Vec<WirePid> = urls
        .iter()
        .map(|u| ask(u, "testkit", &TestRequest::SelfPid))
        .collect();
    let echo = TestRequest::Echo(b"hi".to_vec());
    let a_b_c_a = call_req(
        name("testkit@beta"),
        &call_req(
            name("testkit@gamma"),
            &call_req(Target::Pid(pids[0].clone()), &echo),
        ),
    );
    assert_eq!(
        nested_calls(urls[0], &a_b_c_a, 3),
        Err(cycle_error(&[&pids[2], &pids[0], &pids[1]]))
    );
    // Without the call back into alpha, the same chain is answered.
    let a_b_c = call_req(name("testkit@beta"), &call_req(name("testkit@gamma"), &echo));
    let from_c = nested_calls(urls[0], &a_b_c, 2).expect("C answered");
    assert_eq!(dec::<Vec<u8>>(&from_c), b"hi");
}

#[test]
fn a_host_that_dies_fails_its_callers_and_monitors_promptly() {
    let mut c = start_cluster(&[]);
    let a = c.alpha.url.clone();
    let b = c.beta.url.clone();
    let beta_pid: WirePid = ask(&b, "testkit", &TestRequest::SelfPid);

    spawn_testkit(&a, "watcher");
    let monitor: u64 = ask(&a, "watcher", &TestRequest::Monitor(name("testkit@beta")));
    // `linked` is linked to beta's testkit and does not trap exits: it
    // ends with beta; `watcher` sees that too.
    let linked = spawn_testkit(&a, "linked");
    let r: Result<(), WireError> = ask(&a, "linked", &TestRequest::Link(beta_pid.clone()));
    assert_eq!(r, Ok(()));
    let linked_monitor: u64 = ask(&a, "watcher", &TestRequest::Monitor(Target::Pid(linked.clone())));

    // A call that beta will never answer, with a long timeout.
    let a2 = a.clone();
    let caller = std::thread::spawn(move || {
        let started = Instant::now();
        let r = call_via(
            &a2,
            name("testkit@beta"),
            &TestRequest::NeverAnswer,
            LONG_MS,
            false,
        );
        (r, started.elapsed())
    });
    wait_for("alpha's testkit to wait in its call", PROMPT, || {
        (actor_state(&a, "testkit").as_deref() == Some("waiting-on-call")).then_some(())
    });
    c.beta.host.kill();

    let (result, took) = caller.join().expect("caller");
    match result {
        Err(WireError::Terminated(reason)) => {
            assert!(reason.starts_with("node-down"), "{reason}")
        }
        other => panic!("expected terminated(node-down...), got {other:?}"),
    }
    assert!(took < PROMPT, "the caller waited {took:?}");

    let infos = wait_for("two downs on alpha", PROMPT, || {
        let infos: Vec<WireInfo> = ask(&a, "watcher", &TestRequest::Infos);
        (infos.len() >= 2).then_some(infos)
    });
    let down_of = |m: u64| {
        infos
            .iter()
            .find_map(|i| match i {
                WireInfo::Down { monitor, pid, reason } if *monitor == m => {
                    Some((pid.clone(), reason.clone()))
                }
                _ => None,
            })
            .unwrap_or_else(|| panic!("no down for monitor {m} in {infos:?}"))
    };
    let (pid, reason) = down_of(monitor);
    assert_eq!(pid.node, beta_pid.node);
    assert!(reason.starts_with("node-down"), "{reason}");
    let (pid, reason) = down_of(linked_monitor);
    assert_eq!(pid, linked);
    assert!(
        reason.starts_with(&format!("linked <beta.{}.", beta_pid.id)) && reason.contains("node-down"),
        "{reason}"
    );

    // Beta is known down now: an important send fails at once.
    c.alpha.host.expect_line(&["node down", "node=beta"]);
    let started = Instant::now();
    let sent: Result<(), WireError> = ask(
        &a,
        "testkit",
        &TestRequest::SendImportant {
            to: name("testkit@beta"),
            payload: vec![1],
        },
    );
    assert_eq!(sent, Err(WireError::NoConnection));
    // So does a call to a node that never was.
    assert_eq!(
        call_via(
            &a,
            name("testkit@gamma"),
            &TestRequest::Echo(vec![]),
            LONG_MS,
            true
        ),
        Err(WireError::NoConnection)
    );
    assert!(started.elapsed() < PROMPT);
}

#[test]
fn important_sends_through_a_nats_restart_are_delivered_or_refused() {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::{Arc, Mutex};

    let mut c = start_cluster(&[]);
    let (a, b) = (c.alpha.url.clone(), c.beta.url.clone());

    // One important send after the other, each numbered, until told to stop.
    let outcomes: Arc<Mutex<Vec<(u32, Sent)>>> = Arc::default();
    let stop = Arc::new(AtomicBool::new(false));
    let sender = {
        let (outcomes, stop, a) = (outcomes.clone(), stop.clone(), a.clone());
        std::thread::spawn(move || {
            let mut i = 0u32;
            while !stop.load(Ordering::SeqCst) {
                let r: Result<(), WireError> = ask(
                    &a,
                    "testkit",
                    &TestRequest::SendImportant {
                        to: name("testkit@beta"),
                        payload: enc(&TestMessage::Record(i.to_le_bytes().to_vec())),
                    },
                );
                outcomes.lock().expect("outcomes").push((i, r));
                i += 1;
            }
        })
    };
    let count = |pred: fn(&Result<(), WireError>) -> bool| {
        outcomes
            .lock()
            .expect("outcomes")
            .iter()
            .filter(|(_, r)| pred(r))
            .count()
    };
    let acked = |r: &Result<(), WireError>| r.is_ok();
    let failed = |r: &Result<(), WireError>| r.is_err();

    wait_for("20 acknowledged sends", PROMPT, || {
        (count(acked) >= 20).then_some(())
    });
    // NATS goes away long enough for the hosts to see each other down:
    // sends in that time must fail.
    let (ma, mb) = (c.alpha.host.mark(), c.beta.host.mark());
    c.nats.kill();
    c.alpha.host.expect_line_after(ma, &["NATS connection lost"]);
    c.alpha.host.expect_line_after(ma, &["node down", "node=beta"]);
    wait_for("a send refused during the outage", PROMPT, || {
        (count(failed) >= 1).then_some(())
    });
    c.nats.restart();
    c.alpha.host.expect_line_after(ma, &["node up", "node=beta"]);
    c.beta.host.expect_line_after(mb, &["node up", "node=alpha"]);
    let before = count(acked);
    wait_for("20 more acknowledged sends", PROMPT, || {
        (count(acked) >= before + 20).then_some(())
    });
    stop.store(true, Ordering::SeqCst);
    sender.join().expect("sender");

    let outcomes = outcomes.lock().expect("outcomes").clone();
    let received: Vec<Vec<u8>> = ask(&b, "testkit", &TestRequest::Received);
    let received: Vec<u32> = received
        .iter()
        .map(|p| u32::from_le_bytes(p.as_slice().try_into().expect("a number")))
        .collect();
    // Nothing arrives twice, nothing arrives that was not sent, and every
    // acknowledged send arrived.
    let mut unique = received.clone();
    unique.sort_unstable();
    unique.dedup();
    assert_eq!(unique.len(), received.len(), "a message arrived twice");
    assert!(received.iter().all(|i| (*i as usize) < outcomes.len()));
    // Every acknowledged send arrived; every send refused with a reason
    // other than `timeout` (which means "not known") did not: a sender
    // that retries on `no-connection` never delivers twice.
    for (i, r) in &outcomes {
        match r {
            Ok(()) => assert!(
                received.contains(i),
                "send {i} was acknowledged but never arrived"
            ),
            Err(WireError::Timeout) => {}
            Err(e) => assert!(
                !received.contains(i),
                "send {i} was refused with {e:?} but arrived"
            ),
        }
    }
    let failures: Vec<&WireError> = outcomes.iter().filter_map(|(_, r)| r.as_ref().err()).collect();
    assert!(!failures.is_empty());
    assert!(
        failures
            .iter()
            .all(|e| matches!(e, WireError::NoConnection | WireError::Timeout)),
        "{failures:?}"
    );
}

/// The `payments` example's protocol, as the test sees it (same shape, so
/// the same postcard encoding).
mod payments {
    use serde::{Deserialize, Serialize};

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
    pub enum PayRequest {
        Pay {
            id: u64,
            amount: u64,
            participants: Vec<String>,
        },
        Prepare {
            id: u64,
            amount: u64,
        },
        PreCommit {
            id: u64,
        },
        Commit {
            id: u64,
        },
        Abort {
            id: u64,
        },
        Hold(bool),
        Status(u64),
        Balance,
    }

    #[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
    pub enum Stage {
        Prepared,
        PreCommitted,
        Committed,
        Aborted,
    }

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
    pub enum Outcome {
        Committed,
        Aborted {
            phase: String,
            participant: String,
            reason: String,
        },
        Incomplete {
            participant: String,
            reason: String,
        },
    }

    #[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
    pub enum PayReply {
        Outcome(Outcome),
        Vote(bool),
        Ack,
        Status(Option<Stage>),
        Balance(u64),
    }
}

#[test]
fn payments_commit_in_three_phases_and_abort_cleanly_when_a_host_dies() {
    use payments::{Outcome, PayReply, PayRequest, Stage};

    let (_nats, mut hosts, _dir) = start_hosts("payments", &[("alpha", &[]), ("beta", &[]), ("gamma", &[])]);
    let urls: Vec<String> = hosts.iter().map(|m| m.url.clone()).collect();
    let (alpha, beta, gamma) = (&urls[0], &urls[1], &urls[2]);
    let pay = |url: &str, req: &PayRequest| -> PayReply {
        dec(&http_call(url, "payments", enc(req)).unwrap_or_else(|e| panic!("{req:?}: {e}")))
    };
    let participants = vec!["payments@beta".to_string(), "payments@gamma".to_string()];

    // Both participants up: committed everywhere.
    let outcome = pay(
        alpha,
        &PayRequest::Pay {
            id: 1,
            amount: 30,
            participants: participants.clone(),
        },
    );
    assert_eq!(outcome, PayReply::Outcome(Outcome::Committed));
    for url in [beta, gamma] {
        assert_eq!(
            pay(url, &PayRequest::Status(1)),
            PayReply::Status(Some(Stage::Committed))
        );
        assert_eq!(pay(url, &PayRequest::Balance), PayReply::Balance(30));
    }

    // Gamma holds its pre-commit, and its host dies while the coordinator
    // waits: the payment aborts well before the step timeout, and beta,
    // pre-committed already, is told to abort.
    assert_eq!(pay(gamma, &PayRequest::Hold(true)), PayReply::Ack);
    let alpha2 = alpha.clone();
    let coordinator = std::thread::spawn(move || {
        let started = Instant::now();
        let req = PayRequest::Pay {
            id: 2,
            amount: 50,
            participants,
        };
        let reply: PayReply = dec(&http_call(&alpha2, "payments", enc(&req)).expect("pay"));
        (reply, started.elapsed())
    });
    wait_for("gamma to hold the pre-commit", PROMPT, || {
        (pay(gamma, &PayRequest::Status(2)) == PayReply::Status(Some(Stage::PreCommitted))).then_some(())
    });
    hosts[2].host.kill();
    let (reply, took) = coordinator.join().expect("coordinator");
    match reply {
        PayReply::Outcome(Outcome::Aborted {
            phase,
            participant,
            reason,
        }) => {
            assert_eq!(
                (phase.as_str(), participant.as_str()),
                ("pre-commit", "payments@gamma")
            );
            assert!(reason.contains("node-down"), "{reason}");
        }
        other => panic!("expected an abort, got {other:?}"),
    }
    assert!(took < PROMPT, "the abort took {took:?}");
    assert_eq!(
        pay(beta, &PayRequest::Status(2)),
        PayReply::Status(Some(Stage::Aborted))
    );
    assert_eq!(pay(beta, &PayRequest::Balance), PayReply::Balance(30));
}

#[test]
fn a_host_that_cannot_reach_nats_or_has_a_bad_name_says_so_and_exits() {
    let dir = tempfile::tempdir().expect("tempdir");
    // Nobody listens on this port.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port();
    let url = format!("nats://127.0.0.1:{port}");
    let mut host = Host::start_with(dir.path(), &["--nats", &url, "--node", "alpha"]);
    host.expect_line(&["cannot connect to the NATS server", &url]);
    assert!(!host.wait_exit().success());

    let nats = NatsServer::start();
    let mut host = Host::start_with(dir.path(), &["--nats", &nats.url(), "--node", "a.b"]);
    host.expect_line(&["`a.b` cannot name a node in a cluster"]);
    assert!(!host.wait_exit().success());
}

#[test]
fn plain_frames_lost_in_a_burst_are_counted() {
    // Beta's NATS client holds 16 frames for it at most: a burst of plain
    // sends from alpha overflows it, and the client drops frames.
    let c = start_cluster(&["--inbound-buffer", "16", "--mailbox-capacity", "100000"]);
    let (a, b) = (c.alpha.url.clone(), c.beta.url.clone());
    let beta_pid: WirePid = ask(&b, "testkit", &TestRequest::SelfPid);
    // A first frame from alpha starts beta's count of alpha's stream.
    let echo = TestRequest::Echo(b"first".to_vec());
    assert_eq!(
        call_via(&a, Target::Pid(beta_pid.clone()), &echo, LONG_MS, false),
        Ok(b"first".to_vec())
    );
    assert_eq!(metric(&metrics(&b), "wactor_remote_frames_lost_total"), 0);

    const BURST: u32 = 20_000;
    let accepted: u32 = ask(
        &a,
        "testkit",
        &TestRequest::SendMany {
            to: Target::Pid(beta_pid.clone()),
            count: BURST,
        },
    );
    assert_eq!(accepted, BURST, "alpha's host took every send");
    // A gap shows when a later frame arrives: a call after the burst. It
    // may itself be dropped while the burst still fills the buffer (and is
    // then counted lost): it is tried again until one is answered.
    let mut unanswered = 0;
    while call_via(&a, Target::Pid(beta_pid.clone()), &echo, 2_000, false) != Ok(b"first".to_vec()) {
        unanswered += 1;
        assert!(unanswered < 10, "no call got through after the burst");
    }
    // Every message alpha sent was either handled by beta's actor or
    // counted lost by beta; beyond them, only calls that went unanswered
    // can have been counted lost.
    let received = ask::<Vec<Vec<u8>>>(&b, "testkit", &TestRequest::Received).len() as u64;
    let lost = metric(&metrics(&b), "wactor_remote_frames_lost_total");
    assert!(
        (u64::from(BURST)..=u64::from(BURST) + unanswered).contains(&(received + lost)),
        "{received} received and {lost} counted lost of {BURST}, {unanswered} calls unanswered"
    );
    assert!(
        lost > 0,
        "the burst overflowed the buffer of 16 ({received} received)"
    );
    assert!(received > 0, "frames got through the buffer");
}

/// A frame that names a node no node can be called (empty, too long, or
/// with a character that breaks a NATS subject) is dropped with a warning:
/// it never makes a peer that would go up and down.
#[test]
fn frames_naming_impossible_nodes_are_refused() {
    use wactor::frame::{encode, Frame, Stamp};
    use wactor::transport::HEARTBEAT_SUBJECT;

    let (nats, mut members, _dir) = start_hosts("testkit", &[("alpha", &[])]);
    let alpha = &mut members[0];
    let beat = |node: &str| {
        let frame = Frame::Heartbeat {
            node: node.to_string(),
            creation: 7,
        };
        encode(&frame).expect("encode").seal(&Stamp {
            node,
            creation: 7,
            seq: 0,
        })
    };
    let long = "n".repeat(129);
    let bad = ["", ">", "*", "a.b", "a b", "x@y", long.as_str()];
    let mark = alpha.host.mark();
    for name in bad {
        nats.publish_raw(HEARTBEAT_SUBJECT, &beat(name));
    }
    // A good name after them: once it is up, every bad one was read.
    nats.publish_raw(HEARTBEAT_SUBJECT, &beat("gamma"));
    alpha.host.expect_line_after(mark, &["node up", "node=gamma"]);
    let seen = &alpha.host.seen[mark..];
    let refused = seen
        .iter()
        .filter(|l| l.contains("dropped a frame that names a node by an invalid name"))
        .count();
    assert_eq!(refused, bad.len(), "{seen:#?}");
    let up: Vec<&String> = seen.iter().filter(|l| l.contains("node up")).collect();
    assert_eq!(up.len(), 1, "only gamma came up: {up:#?}");
}
