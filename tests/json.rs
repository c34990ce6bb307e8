//! Typed actors from outside and across encodings: `wactor call --json`,
//! HTTP with `Content-Type: application/json`, a JSON call's deferred
//! answer, and a request the callee cannot decode, which is the caller's
//! error (`bad-request`), not the callee's (`remote`).

use std::process::Output;
use std::time::Duration;

use reqwest::blocking::{Client, Response};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use wactor::{DeliveryError, Node};
use wactor_e2e::binary::{wactor_cli, Host};
use wactor_e2e::proto::{Target, TestRequest, WireError};
use wactor_e2e::{actors_dir, ask, dec, enc, node, testkit};

/// The calculator example's protocol, as a Rust caller sees it (postcard).
#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum CalcRequest {
    Add(i64, i64),
    Divide(i64, i64),
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum CalcError {
    DivisionByZero,
    Overflow,
}

/// The batcher example's protocol (postcard).
#[derive(Serialize, Deserialize)]
struct BatcherArgs {
    max_items: u32,
    flush_after_ms: u32,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum BatchRequest {
    Add(u64),
    Stats,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
enum BatchReply {
    Batch(BatchDone),
    Stats(BatchStats),
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct BatchDone {
    batch: u64,
    items: u32,
    sum: u64,
}

#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct BatchStats {
    batches: u64,
    answered: u64,
    skipped: u64,
    pending: u32,
}

/// `wactor run` on a directory with the calculator and batcher examples.
fn host() -> (tempfile::TempDir, Host, String) {
    let dir = tempfile::tempdir().unwrap();
    for name in ["calculator", "batcher"] {
        std::fs::copy(
            actors_dir().join(format!("{name}.wasm")),
            dir.path().join(format!("{name}.wasm")),
        )
        .unwrap_or_else(|e| panic!("{name}.wasm: {e} (run scripts/build-guests)"));
    }
    let mut host = Host::start(dir.path());
    let url = host.ready_url();
    (dir, host, url)
}

/// Runs `wactor ARGS --host URL`.
fn wactor(url: &str, args: &[&str]) -> Output {
    wactor_cli(&[args, &["--host", url]].concat(), b"")
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

#[test]
fn wactor_call_json_reaches_a_typed_actor_and_prints_json() {
    let (_dir, mut host, url) = host();

    let out = wactor(&url, &["call", "calculator", "--json", r#"{"Divide":[7,2]}"#]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), r#"{"Ok":3}"#);
    let out = wactor(&url, &["call", "calculator", "--json", r#"{"Divide":[1,0]}"#]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout), r#"{"Err":"DivisionByZero"}"#);

    // A deferred answer (the batcher answers when its batch is flushed,
    // from a later message) is JSON too.
    let out = wactor(&url, &["call", "batcher", "--json", r#"{"Add":5}"#]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let answer: Value = serde_json::from_slice(&out.stdout).expect("a JSON answer");
    assert_eq!(answer, json!({"Batch": {"batch": 1, "items": 1, "sum": 5}}));

    // A request of the wrong shape is the caller's error, and says what
    // was expected.
    let out = wactor(&url, &["call", "calculator", "--json", r#"{"Multiply":[1,2]}"#]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("error (bad-request)"), "{err}");
    assert!(err.contains("CalcRequest") && err.contains("Multiply"), "{err}");
    assert!(out.stdout.is_empty());
    // Text that is not JSON at all never reaches the actor.
    let out = wactor(&url, &["call", "calculator", "--json", "Divide 7 by 2"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(
        err.contains("error (bad-request)") && err.contains("not JSON"),
        "{err}"
    );

    // The calculator kept running, and postcard calls are as before.
    let postcard = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(postcard.path(), enc(&CalcRequest::Add(2, 3))).unwrap();
    let arg = format!("@{}", postcard.path().display());
    let out = wactor(&url, &["call", "calculator", &arg]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(dec::<Result<i64, CalcError>>(&out.stdout), Ok(5));

    assert!(host.terminate().success());
}

/// POSTs `body` to the call route of `name`, with `content_type` if given.
fn post(url: &str, name: &str, body: &[u8], content_type: Option<&str>) -> Response {
    let mut req = Client::new()
        .post(format!("{url}/v1/actors/{name}/call"))
        .body(body.to_vec());
    if let Some(ct) = content_type {
        req = req.header("content-type", ct);
    }
    req.send().expect("POST")
}

/// A response body as JSON.
fn json_of(res: Response) -> Value {
    serde_json::from_slice(&res.bytes().unwrap()).expect("a JSON body")
}

/// The kind and message of an error answer with `status`.
fn error(res: Response, status: u16) -> (String, String) {
    assert_eq!(res.status().as_u16(), status);
    let body: Value = serde_json::from_slice(&res.bytes().unwrap()).expect("a JSON error body");
    (
        body["error"].as_str().unwrap_or_default().to_string(),
        body["message"].as_str().unwrap_or_default().to_string(),
    )
}

/// How many calls and messages the calculator has handled so far.
fn handled(url: &str) -> u64 {
    let table = Client::new()
        .get(format!("{url}/v1/actors"))
        .send()
        .and_then(|r| r.bytes())
        .expect("the actor table");
    let rows: Vec<Value> = serde_json::from_slice(&table).expect("the actor table is JSON");
    rows.iter()
        .find(|r| r["behaviour"] == "calculator")
        .and_then(|r| r["handled"].as_u64())
        .expect("a calculator row")
}

#[test]
fn http_json_calls_answer_json_and_bad_json_is_a_400() {
    let (_dir, mut host, url) = host();
    const JSON: Option<&str> = Some("application/json; charset=utf-8");

    let res = post(&url, "calculator", br#"{"Divide":[7,2]}"#, JSON);
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(res.headers()["content-type"], "application/json");
    assert_eq!(json_of(res), json!({"Ok": 3}));

    // Not JSON: refused before the actor is involved.
    let before = handled(&url);
    let (kind, message) = error(post(&url, "calculator", br#"{"Divide":[7,"#, JSON), 400);
    assert_eq!(kind, "bad-request");
    assert!(message.contains("not JSON"), "{message}");
    assert_eq!(handled(&url), before, "the actor saw a body that is not JSON");

    // JSON of the wrong shape: refused by the actor, blamed on the caller,
    // with the type it expected.
    let (kind, message) = error(post(&url, "calculator", br#"{"Multiply":[1,2]}"#, JSON), 400);
    assert_eq!(kind, "bad-request");
    assert!(
        message.contains("CalcRequest") && message.contains("Multiply"),
        "{message}"
    );
    // ... and the actor keeps running.
    let res = post(&url, "calculator", br#"{"Add":[40,2]}"#, Some("application/json"));
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(json_of(res), json!({"Ok": 42}));

    // Bytes that are not the actor's postcard either: bad-request, not remote.
    let (kind, message) = error(post(&url, "calculator", &[0xff, 0xff, 0xff], None), 400);
    assert_eq!(kind, "bad-request");
    assert!(message.contains("CalcRequest"), "{message}");

    // Without the JSON content type the body goes through as it is.
    let res = post(&url, "calculator", &enc(&CalcRequest::Divide(9, 3)), None);
    assert_eq!(res.status().as_u16(), 200);
    assert_ne!(
        res.headers().get("content-type").map(|v| v.as_bytes()),
        Some(&b"application/json"[..])
    );
    assert_eq!(dec::<Result<i64, CalcError>>(&res.bytes().unwrap()), Ok(3));

    assert!(host.terminate().success());
}

const LONG: Option<Duration> = Some(Duration::from_secs(30));

#[tokio::test]
async fn a_deferred_batch_answers_each_caller_in_its_own_encoding() {
    let node = node(&["batcher"]).await;
    // Flushed when two requests are in, never by the timer.
    let args = BatcherArgs {
        max_items: 2,
        flush_after_ms: 600_000,
    };
    let batcher = node.spawn("batcher", enc(&args)).await.unwrap();
    let (json, native) = tokio::join!(
        node.call_json(&batcher, br#"{"Add":5}"#.to_vec(), LONG),
        node.call(&batcher, enc(&BatchRequest::Add(7)), LONG),
    );
    let json: Value = serde_json::from_slice(&json.unwrap()).expect("a JSON answer");
    assert_eq!(json, json!({"Batch": {"batch": 1, "items": 2, "sum": 12}}));
    let native: BatchReply = dec(&native.unwrap());
    assert_eq!(
        native,
        BatchReply::Batch(BatchDone {
            batch: 1,
            items: 2,
            sum: 12
        })
    );
}

#[tokio::test]
async fn an_undecodable_request_is_a_bad_request_for_host_and_guest_callers() {
    let node: Node = node(&["calculator", "testkit"]).await;
    let calc = node.spawn("calculator", Vec::new()).await.unwrap();

    let r = node.call(&calc, vec![0xff, 0xff, 0xff], LONG).await;
    assert!(
        matches!(&r, Err(DeliveryError::BadRequest(m)) if m.contains("CalcRequest")),
        "{r:?}"
    );
    let r = node.call_json(&calc, br#""Divide""#.to_vec(), LONG).await;
    assert!(
        matches!(&r, Err(DeliveryError::BadRequest(m)) if m.contains("CalcRequest") && m.contains("JSON")),
        "{r:?}"
    );

    // A guest caller sees it as not-allowed("bad request: ..."), which the
    // 0.2 `delivery-error` can carry.
    let kit = testkit(&node, None).await;
    let via_guest = TestRequest::Call {
        to: Target::Pid(wactor_e2e::wire(&calc)),
        payload: vec![0xff, 0xff, 0xff],
        timeout_ms: None,
    };
    let r: Result<Vec<u8>, WireError> = ask(&node, &kit, &via_guest).await.unwrap();
    assert!(
        matches!(&r, Err(WireError::NotAllowed(m)) if m.starts_with("bad request: ") && m.contains("CalcRequest")),
        "{r:?}"
    );

    // The calculator is still there and answers a good request.
    let ok = node.call(&calc, enc(&CalcRequest::Divide(8, 2)), LONG).await;
    assert_eq!(dec::<Result<i64, CalcError>>(&ok.unwrap()), Ok(4));
}

#[test]
fn a_json_call_and_its_refusal_cross_hosts() {
    let nats = wactor_e2e::binary::NatsServer::start();
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    std::fs::copy(actors_dir().join("calculator.wasm"), dir.join("calculator.wasm"))
        .expect("calculator.wasm (run scripts/build-guests)");
    let nats_url = nats.url();
    let member = |name: &str| {
        let args = ["--nats", nats_url.as_str(), "--node", name];
        let mut host = Host::start_with(dir, &args);
        let url = host.ready_url();
        (host, url)
    };
    let (mut alpha, alpha_url) = member("alpha");
    let (mut beta, _) = member("beta");
    alpha.expect_line(&["node up", "node=beta"]);
    beta.expect_line(&["node up", "node=alpha"]);

    // From alpha's API to beta's calculator: the JSON bit crosses with the
    // ref, and so does the answer.
    let json = Some("application/json");
    let res = post(&alpha_url, "calculator@beta", br#"{"Divide":[7,2]}"#, json);
    assert_eq!(res.status().as_u16(), 200);
    assert_eq!(json_of(res), json!({"Ok": 3}));
    // A refusal on beta is still the caller's error on alpha.
    let (kind, message) = error(
        post(&alpha_url, "calculator@beta", br#"{"Multiply":[1,2]}"#, json),
        400,
    );
    assert_eq!(kind, "bad-request");
    assert!(message.contains("CalcRequest"), "{message}");
}

/// An actor that shares no types with a typed Rust actor calls it in JSON
/// (`call-json`), as an actor in another language would: the answer is
/// JSON, and a request of the wrong shape is refused as a bad request.
#[tokio::test]
async fn an_actor_calls_a_typed_actor_in_json() {
    let node: Node = node(&["calculator", "testkit"]).await;
    let calc = node.spawn("calculator", Vec::new()).await.unwrap();
    let kit = testkit(&node, None).await;
    let call_json = |json: &str| TestRequest::CallJson {
        to: Target::Pid(wactor_e2e::wire(&calc)),
        json: json.as_bytes().to_vec(),
        timeout_ms: None,
    };
    let r: Result<Vec<u8>, WireError> = ask(&node, &kit, &call_json(r#"{"Divide":[7,2]}"#)).await.unwrap();
    assert_eq!(r.map(|b| text(&b)), Ok(r#"{"Ok":3}"#.to_string()));
    let r: Result<Vec<u8>, WireError> = ask(&node, &kit, &call_json(r#"{"Add":[1,2]}"#)).await.unwrap();
    assert_eq!(r.map(|b| text(&b)), Ok(r#"{"Ok":3}"#.to_string()));
    let r: Result<Vec<u8>, WireError> = ask(&node, &kit, &call_json(r#"{"Multiply":[1,2]}"#))
        .await
        .unwrap();
    assert!(
        matches!(&r, Err(WireError::NotAllowed(m)) if m.starts_with("bad request: ") && m.contains("Multiply")),
        "{r:?}"
    );
}
