//! `wasm32-wasip1` guests: core modules built with the guest SDK are turned
//! into components on load and then behave exactly like their
//! `wasm32-wasip2` builds; core modules without the actor world's type
//! information are refused with advice.
//!
//! Needs both builds: `scripts/build-guests` and
//! `scripts/build-guests --target wasm32-wasip1`.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use wactor::{DeliveryError, Format, LoadError, Node, NodeConfig, Pid, SpawnError};
use wactor_e2e::proto::{Target, TestMessage, TestRequest, WireError};
use wactor_e2e::*;

/// The wire form of the calculator example's request (same variant order).
#[derive(Serialize)]
enum CalcRequest {
    Add(i64, i64),
    Divide(i64, i64),
}

/// The wire form of the calculator example's error (same variant order).
#[derive(serde::Deserialize, Debug, PartialEq)]
enum CalcError {
    DivisionByZero,
    Overflow,
}

/// The wire form of the kv example's request (same variant order).
#[derive(Serialize)]
enum KvRequest {
    Get(String),
    Put(String, Vec<u8>),
    Delete(String),
}

type Outcome = Result<Vec<u8>, DeliveryError>;

/// The behaviour name of the wasip1 build of `name` in the test nodes.
fn p1(name: &str) -> String {
    format!("{name}-wasip1")
}

/// A node (no disk cache) with `names` loaded from both builds: the
/// wasip2 build as `NAME`, the wasip1 build as `NAME-wasip1`.
async fn twin_node(config: NodeConfig, names: &[&str]) -> Node {
    let node = Node::new(config).expect("node");
    for name in names {
        let b = node.load(name, guest_bytes(name)).await.unwrap();
        assert_eq!(b.version.format, Format::Component);
        let b = node.load(&p1(name), wasip1_guest_bytes(name)).await.unwrap();
        assert_eq!(
            b.version.format,
            Format::CoreModule,
            "{name} for wasip1 is a core module"
        );
        assert!(!b.version.from_cache);
    }
    node
}

async fn call(node: &Node, to: &Pid, payload: Vec<u8>) -> Outcome {
    node.call(to, payload, Some(Duration::from_secs(30))).await
}

/// Runs the same calls against both builds of `behaviour` (one fresh actor
/// each) and returns both lists of outcomes, after checking they are equal.
async fn same_answers(node: &Node, behaviour: &str, calls: &[Vec<u8>]) -> Vec<Outcome> {
    let a = node.spawn(behaviour, vec![]).await.unwrap();
    let b = node.spawn(&p1(behaviour), vec![]).await.unwrap();
    let mut outcomes = (Vec::new(), Vec::new());
    for payload in calls {
        outcomes.0.push(call(node, &a, payload.clone()).await);
        outcomes.1.push(call(node, &b, payload.clone()).await);
    }
    assert_eq!(outcomes.0, outcomes.1, "{behaviour}: wasip2 vs wasip1 answers");
    outcomes.0
}

#[tokio::test]
async fn the_examples_answer_identically_from_both_targets() {
    let node = twin_node(NodeConfig::default(), &["calculator", "kv"]).await;

    let calc = same_answers(
        &node,
        "calculator",
        &[
            enc(&CalcRequest::Add(2, 3)),
            enc(&CalcRequest::Add(i64::MAX, 1)),
            enc(&CalcRequest::Divide(7, -2)),
            enc(&CalcRequest::Divide(1, 0)),
            enc(&CalcRequest::Divide(i64::MIN, -1)),
            b"not a request".to_vec(),
        ],
    )
    .await;
    // Identical, and right.
    let reply = |o: &Outcome| dec::<Result<i64, CalcError>>(o.as_ref().expect("an answer"));
    assert_eq!(reply(&calc[0]), Ok(5));
    assert_eq!(reply(&calc[1]), Err(CalcError::Overflow));
    assert_eq!(reply(&calc[2]), Ok(-3));
    assert_eq!(reply(&calc[3]), Err(CalcError::DivisionByZero));
    assert_eq!(reply(&calc[4]), Err(CalcError::Overflow));
    assert!(
        calc[5].is_err(),
        "an undecodable request is an error: {:?}",
        calc[5]
    );

    let kv = same_answers(
        &node,
        "kv",
        &[
            enc(&KvRequest::Get("a".into())),
            enc(&KvRequest::Put("a".into(), b"1".to_vec())),
            enc(&KvRequest::Put("a".into(), b"2".to_vec())),
            enc(&KvRequest::Get("a".into())),
            enc(&KvRequest::Delete("a".into())),
            enc(&KvRequest::Get("a".into())),
        ],
    )
    .await;
    let kv: Vec<Option<Vec<u8>>> = kv.iter().map(|o| dec(o.as_ref().unwrap())).collect();
    let v = |s: &[u8]| Some(s.to_vec());
    assert_eq!(kv, vec![None, None, v(b"1"), v(b"2"), v(b"2"), None]);
}

#[tokio::test]
async fn the_testkit_behaves_identically_from_both_targets() {
    let config = NodeConfig {
        max_message_bytes: 64 * 1024,
        ..NodeConfig::default()
    };
    let node = twin_node(config, &["testkit", "calculator"]).await;
    let calc = node.spawn("calculator", vec![]).await.unwrap();
    let calc_p1 = node.spawn(&p1("calculator"), vec![]).await.unwrap();
    node.register("calc", &calc).unwrap();
    node.register("calc-wasip1", &calc_p1).unwrap();

    let a = node.spawn("testkit", vec![]).await.unwrap();
    let b = node.spawn(&p1("testkit"), vec![]).await.unwrap();
    // The requests, for a testkit whose own pid is `me`. (Answers that name
    // the actor's own pid, as the refusal of a self-call does, are compared
    // after this list.)
    let script = |me: &Pid| -> Vec<TestRequest> {
        let me = Target::Pid(wire(me));
        vec![
            TestRequest::Echo(b"hello".to_vec()),
            TestRequest::Echo(vec![7; 60_000]),
            TestRequest::IsAlive,
            // Calls across targets, both ways.
            TestRequest::Call {
                to: Target::Name("calc".into()),
                payload: enc(&CalcRequest::Add(40, 2)),
                timeout_ms: None,
            },
            TestRequest::Call {
                to: Target::Name("calc-wasip1".into()),
                payload: enc(&CalcRequest::Divide(1, 0)),
                timeout_ms: None,
            },
            TestRequest::Call {
                to: Target::Name("nobody".into()),
                payload: vec![],
                timeout_ms: None,
            },
            TestRequest::Send {
                to: Target::Name("nobody".into()),
                payload: vec![],
            },
            TestRequest::Send {
                to: me.clone(),
                payload: enc(&TestMessage::Record(b"kept".to_vec())),
            },
            TestRequest::Received,
            TestRequest::Whereis("calc-none".into()),
            TestRequest::Spawn {
                behaviour: "no-such-behaviour".into(),
                args: vec![],
            },
            TestRequest::SlowReply {
                ms: 20,
                payload: b"later".to_vec(),
            },
            TestRequest::Forward {
                to: me.clone(),
                error: None,
            },
            TestRequest::Forward {
                to: me.clone(),
                error: Some("refused".into()),
            },
            TestRequest::Alloc { bytes: 4 << 20 },
            TestRequest::SendBig {
                to: me.clone(),
                len: 100_000,
            },
            TestRequest::ReplyBig { len: 100_000 },
            TestRequest::Env,
            TestRequest::Args,
            TestRequest::Stop("enough".into()),
        ]
    };
    let mut outcomes = (Vec::new(), Vec::new());
    for (ra, rb) in script(&a).iter().zip(script(&b).iter()) {
        outcomes.0.push((ra.clone(), call(&node, &a, enc(ra)).await));
        outcomes.1.push((ra.clone(), call(&node, &b, enc(rb)).await));
    }
    for (x, y) in outcomes.0.iter().zip(&outcomes.1) {
        assert_eq!(x.1, y.1, "wasip2 vs wasip1 answer to {:?}", x.0);
    }
    // Identical, and right.
    let get = |i: usize| outcomes.0[i].1.clone();
    assert_eq!(dec::<Vec<u8>>(&get(0).unwrap()), b"hello");
    let to_calc: Result<Vec<u8>, WireError> = dec(&get(3).unwrap());
    assert_eq!(dec::<Result<i64, CalcError>>(&to_calc.unwrap()), Ok(42));
    let to_calc_p1: Result<Vec<u8>, WireError> = dec(&get(4).unwrap());
    assert_eq!(
        dec::<Result<i64, CalcError>>(&to_calc_p1.unwrap()),
        Err(CalcError::DivisionByZero)
    );
    assert_eq!(
        dec::<Result<Vec<u8>, WireError>>(&get(5).unwrap()),
        Err(WireError::UnknownProcess)
    );
    assert_eq!(dec::<Vec<Vec<u8>>>(&get(8).unwrap()), vec![b"kept".to_vec()]);
    assert_eq!(dec::<Vec<u8>>(&get(11).unwrap()), b"later");
    assert_eq!(get(13), Err(DeliveryError::Remote("refused".into())));
    assert_eq!(
        dec::<Result<(), WireError>>(&get(15).unwrap()),
        Err(WireError::PayloadTooLarge(64 * 1024))
    );
    assert!(get(16).is_err(), "a reply over the limit: {:?}", get(16));
    assert_eq!(get(19), Err(DeliveryError::Terminated("enough".into())));
    assert!(!node.is_alive(&a) && !node.is_alive(&b));

    // A self-call is refused the same way, naming the caller.
    for behaviour in ["testkit".to_string(), p1("testkit")] {
        let t = node.spawn(&behaviour, vec![]).await.unwrap();
        let r: Result<Vec<u8>, WireError> = ask(&node, &t, &TestRequest::CallSelf).await.unwrap();
        let expected = format!(
            "{t} called itself; an actor handles one message at a time, so it can never answer its own call"
        );
        assert_eq!(r, Err(WireError::NotAllowed(expected)), "{behaviour}");
    }

    // A trap ends either build the same way.
    let mut reasons = Vec::new();
    for behaviour in ["testkit".to_string(), p1("testkit")] {
        let t = node.spawn(&behaviour, vec![]).await.unwrap();
        match call(&node, &t, enc(&TestRequest::Trap)).await {
            Err(DeliveryError::Terminated(reason)) => reasons.push(reason),
            other => panic!("{behaviour}: expected terminated, got {other:?}"),
        }
    }
    assert!(reasons.iter().all(|r| r.contains("unreachable")), "{reasons:?}");
}

#[tokio::test]
async fn a_plain_core_module_is_refused_with_advice_and_the_node_keeps_serving() {
    let node = node(&["echo"]).await;
    let echo = node.spawn("echo", vec![]).await.unwrap();

    // A core module with exports but no world type information.
    let plain = wat::parse_str(
        r#"(module
             (memory (export "memory") 1)
             (func (export "handle-call") (param i32 i32) (result i32) i32.const 0))"#,
    )
    .unwrap();
    let err = node.load("plain", plain).await.unwrap_err();
    assert!(matches!(err, LoadError::CoreModule { .. }), "{err:?}");
    let text = err.to_string();
    for advice in [
        "no `component-type` custom section",
        "guest SDK",
        "wasm32-wasip2",
        "wasm32-wasip1",
    ] {
        assert!(text.contains(advice), "the error says `{advice}`: {text}");
    }

    // Type information that does not decode: a conversion error, with why.
    let garbled = wat::parse_str(r#"(module (@custom "component-type:x" "not a type"))"#).unwrap();
    let err = node.load("garbled", garbled).await.unwrap_err();
    match &err {
        LoadError::Convert { source, .. } => assert!(!source.to_string().is_empty()),
        other => panic!("expected a conversion error, got {other:?}"),
    }
    assert!(
        err.to_string().contains("could not be turned into a component"),
        "{err}"
    );

    // A wasip1 SDK build of another world converts, and then fails the
    // world check like its wasip2 build.
    let err = node
        .load("wrong-world", wasip1_guest_bytes("wrong-world"))
        .await
        .unwrap_err();
    assert!(matches!(err, LoadError::WrongWorld { .. }), "{err:?}");

    for name in ["plain", "garbled", "wrong-world"] {
        assert!(
            matches!(
                node.spawn(name, vec![]).await,
                Err(SpawnError::UnknownBehaviour(_))
            ),
            "{name} must not be installed"
        );
    }
    assert_eq!(
        call(&node, &echo, b"still here".to_vec()).await,
        Ok(b"still here".to_vec())
    );
}

#[tokio::test]
async fn a_converted_module_is_cached_and_not_converted_again() {
    let cache = tempfile::tempdir().unwrap();
    let config = || NodeConfig {
        cache_dir: Some(cache.path().to_path_buf()),
        ..NodeConfig::default()
    };
    let bytes = wasip1_guest_bytes("testkit");

    let first = Node::new(config()).unwrap();
    let b = first.load("testkit", bytes.clone()).await.unwrap();
    assert_eq!(
        (b.version.format, b.version.from_cache),
        (Format::CoreModule, false)
    );
    let s = first.cache_stats();
    assert_eq!((s.hits, s.misses, s.writes, s.errors), (0, 1, 1, 0), "{s:?}");

    let second = Node::new(config()).unwrap();
    let b2 = second.load("testkit", bytes).await.unwrap();
    assert_eq!(
        (b2.version.format, b2.version.from_cache),
        (Format::CoreModule, true)
    );
    // The version is the file's content either way.
    assert_eq!(b2.version.hash, b.version.hash);
    let s = second.cache_stats();
    assert_eq!((s.hits, s.misses, s.writes, s.errors), (1, 0, 0, 0), "{s:?}");
    let t = testkit(&second, None).await;
    assert_echoes(&second, &t, b"from the cache").await;
}

#[tokio::test]
async fn a_wasip1_guest_is_sandboxed_like_any_other() {
    let node = Node::new(NodeConfig::default()).unwrap();
    node.load("testkit", wasip1_guest_bytes("testkit")).await.unwrap();
    let t = testkit(&node, None).await;
    let u = testkit(&node, None).await;

    // Files the host can read, by absolute path and relative to its
    // working directory, refused for want of a capability.
    let file = tempfile::NamedTempFile::new().unwrap();
    let temp = file.path().to_str().expect("a UTF-8 temp path");
    for path in [temp, "/etc/passwd", "Cargo.toml"] {
        assert!(std::fs::read(path).is_ok(), "the host reads {path}");
        let r: Result<Vec<u8>, String> = ask(&node, &t, &TestRequest::ReadFile(path.into())).await.unwrap();
        assert_eq!(
            r,
            Err("Capabilities insufficient (os error 76)".to_string()),
            "the guest reading {path}"
        );
    }
    let env: Vec<(String, String)> = ask(&node, &t, &TestRequest::Env).await.unwrap();
    assert_eq!(env, vec![]);
    let args: Vec<String> = ask(&node, &t, &TestRequest::Args).await.unwrap();
    assert_eq!(args, Vec::<String>::new());

    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let r: Result<(), String> = ask(&node, &t, &TestRequest::Connect(addr)).await.unwrap();
    assert!(r.is_err(), "the guest connected");
    listener.set_nonblocking(true).unwrap();
    assert!(listener.accept().is_err(), "nothing reached the listener");

    // Clocks and randomness still work.
    let guest_ms: u64 = ask(&node, &t, &TestRequest::Now).await.unwrap();
    let host_ms = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis() as u64;
    assert!(
        guest_ms.abs_diff(host_ms) < 60_000,
        "guest {guest_ms} ms, host {host_ms} ms"
    );
    let t1: u64 = ask(&node, &t, &TestRequest::Random).await.unwrap();
    let t2: u64 = ask(&node, &t, &TestRequest::Random).await.unwrap();
    let u1: u64 = ask(&node, &u, &TestRequest::Random).await.unwrap();
    assert!(t1 != t2 && t1 != u1, "{t1} {t2} {u1}");
}
