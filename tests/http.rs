//! The HTTP API end to end: a real host serving real guests on a real
//! socket, driven by a real HTTP client.

use std::sync::Arc;
use std::time::Duration;

use reqwest::{Client, Method, Response, StatusCode};
use serde_json::Value;
use wactor::http::{HttpConfig, HttpError, HttpServer};
use wactor::{Node, NodeConfig};
use wactor_e2e::proto::{Target, TestArgs, TestMessage, TestRequest, WireError};
use wactor_e2e::{dec, enc, node_with, SOON};

/// A node serving its API on a free loopback port.
struct Api {
    node: Node,
    server: HttpServer,
    base: String,
    client: Client,
}

impl Api {
    async fn start(config: NodeConfig, guests: &[&str]) -> Api {
        Self::start_with(config, guests, "127.0.0.1:0", None).await
    }

    async fn start_with(config: NodeConfig, guests: &[&str], addr: &str, token: Option<&str>) -> Api {
        let node = node_with(config, guests).await;
        let server = HttpServer::start(
            node.clone(),
            HttpConfig {
                addr: addr.parse().unwrap(),
                token: token.map(str::to_string),
            },
        )
        .await
        .expect("start the HTTP API");
        server.set_ready();
        let base = format!("http://127.0.0.1:{}", server.local_addr().port());
        Api {
            node,
            server,
            base,
            client: Client::new(),
        }
    }

    /// Starts a testkit registered as `name`.
    async fn testkit(&self, name: &str) {
        let args = TestArgs {
            register: Some(name.to_string()),
        };
        self.node
            .spawn("testkit", enc(&args))
            .await
            .expect("spawn testkit");
    }

    async fn post(&self, path: &str, body: Vec<u8>, headers: &[(&str, &str)]) -> Response {
        let mut req = self.client.post(format!("{}{path}", self.base)).body(body);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        req.send().await.expect("POST")
    }

    async fn get(&self, path: &str) -> Response {
        self.client
            .get(format!("{}{path}", self.base))
            .send()
            .await
            .expect("GET")
    }

    async fn call(&self, name: &str, req: &TestRequest) -> Response {
        self.post(&format!("/v1/actors/{name}/call"), enc(req), &[]).await
    }

    async fn metrics(&self) -> prometheus_parse::Scrape {
        let res = self.get("/metrics").await;
        assert_eq!(res.status(), StatusCode::OK);
        let ctype = res.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ctype.starts_with("text/plain; version=0.0.4"), "{ctype}");
        let text = res.text().await.unwrap();
        prometheus_parse::Scrape::parse(text.lines().map(|l| Ok(l.to_string())))
            .unwrap_or_else(|e| panic!("/metrics is not Prometheus text: {e}\n{text}"))
    }
}

/// The JSON error body of a failed request, checked for its status and kind.
async fn expect_error(res: Response, status: StatusCode, kind: &str) -> String {
    assert_eq!(res.status(), status, "status for {kind}");
    assert_eq!(res.headers()["content-type"], "application/json");
    let body: Value = serde_json::from_slice(&res.bytes().await.unwrap()).expect("a JSON error body");
    assert_eq!(body["error"], kind, "{body}");
    let message = body["message"].as_str().expect("a message").to_string();
    assert!(!message.is_empty());
    message
}

async fn body(res: Response) -> Vec<u8> {
    res.bytes().await.unwrap().to_vec()
}

/// A value from a scrape: the sample of `metric` whose labels include
/// `labels` (0 when the series does not exist yet).
fn sample(scrape: &prometheus_parse::Scrape, metric: &str, labels: &[(&str, &str)]) -> f64 {
    scrape
        .samples
        .iter()
        .find(|s| s.metric == metric && labels.iter().all(|(k, v)| s.labels.get(k) == Some(*v)))
        .map(|s| match &s.value {
            prometheus_parse::Value::Counter(v)
            | prometheus_parse::Value::Gauge(v)
            | prometheus_parse::Value::Untyped(v) => *v,
            other => panic!("{metric} is not a plain number: {other:?}"),
        })
        .unwrap_or(0.0)
}

#[tokio::test]
async fn a_call_answers_with_the_actors_reply_and_a_trace_id() {
    let api = Api::start(NodeConfig::default(), &["echo"]).await;
    let pid = api.node.spawn("echo", Vec::new()).await.unwrap();
    api.node.register("echo", &pid).unwrap();

    let res = api
        .post("/v1/actors/echo/call", b"hello \x00 bytes".to_vec(), &[])
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let trace = res.headers()["x-wactor-trace-id"].to_str().unwrap().to_string();
    assert_eq!(trace.len(), 32, "{trace}");
    assert_eq!(body(res).await, b"hello \x00 bytes");

    // An empty request is a request too.
    let res = api.post("/v1/actors/echo/call", Vec::new(), &[]).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, b"");

    // A trace id sent by the client is the one used, and sent back.
    let mine = "0123456789abcdef0123456789abcdef";
    let res = api
        .post(
            "/v1/actors/echo/call",
            b"x".to_vec(),
            &[("x-wactor-trace-id", mine)],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(res.headers()["x-wactor-trace-id"], mine);
    api.server.stop(SOON).await;
}

#[tokio::test]
async fn a_send_is_accepted_and_reaches_the_mailbox() {
    let api = Api::start(NodeConfig::default(), &["testkit"]).await;
    api.testkit("tk").await;
    let res = api
        .post(
            "/v1/actors/tk/send",
            enc(&TestMessage::Record(b"one".to_vec())),
            &[],
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    assert!(res.headers().contains_key("x-wactor-trace-id"));
    let res = api.call("tk", &TestRequest::Received).await;
    assert_eq!(res.status(), StatusCode::OK);
    let received: Vec<Vec<u8>> = dec(&body(res).await);
    assert_eq!(received, vec![b"one".to_vec()]);

    let res = api.post("/v1/actors/nobody/send", b"x".to_vec(), &[]).await;
    expect_error(res, StatusCode::NOT_FOUND, "unknown-process").await;
}

#[tokio::test]
async fn delivery_errors_map_to_their_status_codes() {
    let api = Api::start(NodeConfig::default(), &["testkit"]).await;
    api.testkit("tk").await;
    api.testkit("other").await;

    // Unknown name: 404.
    let res = api.post("/v1/actors/nobody/call", b"x".to_vec(), &[]).await;
    let msg = expect_error(res, StatusCode::NOT_FOUND, "unknown-process").await;
    assert!(msg.contains("no live actor"), "{msg}");

    // Timeout: 504, after the time the header asked for.
    let started = std::time::Instant::now();
    let res = api
        .post(
            "/v1/actors/tk/call",
            enc(&TestRequest::NeverAnswer),
            &[("x-wactor-timeout-ms", "300")],
        )
        .await;
    expect_error(res, StatusCode::GATEWAY_TIMEOUT, "timeout").await;
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(300) && waited < Duration::from_secs(4),
        "{waited:?}"
    );

    // The callee answered with an error (through a forwarded call): 502 remote.
    let forward = TestRequest::Forward {
        to: Target::Name("other".into()),
        error: Some("out of stock".into()),
    };
    let res = api.call("tk", &forward).await;
    let msg = expect_error(res, StatusCode::BAD_GATEWAY, "remote").await;
    assert!(msg.contains("out of stock"), "{msg}");

    // A name on a node that cannot be reached: 503 no-connection.
    let res = api.post("/v1/actors/tk@elsewhere/call", b"x".to_vec(), &[]).await;
    expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "no-connection").await;

    // The callee ends without answering: 502 terminated, with its reason.
    let res = api.call("tk", &TestRequest::Stop("closing time".into())).await;
    let msg = expect_error(res, StatusCode::BAD_GATEWAY, "terminated").await;
    assert!(msg.contains("closing time"), "{msg}");
}

#[tokio::test]
async fn a_full_mailbox_is_503_and_a_waiting_actor_shows_it_in_the_table() {
    let config = NodeConfig {
        mailbox_capacity: 1,
        ..NodeConfig::default()
    };
    let api = Arc::new(Api::start(config, &["testkit"]).await);
    api.testkit("busy").await;
    api.testkit("sink").await;
    // `busy` calls `sink`, which never answers: `busy` waits and takes
    // nothing from its mailbox.
    let parked = TestRequest::Call {
        to: Target::Name("sink".into()),
        payload: enc(&TestRequest::NeverAnswer),
        timeout_ms: Some(60_000),
    };
    let waiting = {
        let api = api.clone();
        tokio::spawn(async move {
            api.post(
                "/v1/actors/busy/call",
                enc(&parked),
                &[("x-wactor-timeout-ms", "90000")],
            )
            .await
        })
    };
    // The table is the only place that shows it: poll it, with a bound.
    let deadline = std::time::Instant::now() + SOON;
    let table = loop {
        let rows: Vec<Value> = serde_json::from_slice(&body(api.get("/v1/actors").await).await).unwrap();
        let busy = rows.iter().find(|r| r["names"][0] == "busy").cloned().unwrap();
        if busy["state"] == "waiting-on-call" {
            break rows;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "busy never showed as waiting: {rows:?}"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    };
    let busy = table.iter().find(|r| r["names"][0] == "busy").unwrap();
    assert_eq!(busy["behaviour"], "testkit");
    assert_eq!(busy["restarts"], 0);

    // One message fits; the next is refused at once, for a send and a call.
    let record = enc(&TestMessage::Record(b"r".to_vec()));
    let res = api.post("/v1/actors/busy/send", record.clone(), &[]).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let res = api.post("/v1/actors/busy/send", record, &[]).await;
    expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "mailbox-full").await;
    let res = api.call("busy", &TestRequest::Received).await;
    expect_error(res, StatusCode::SERVICE_UNAVAILABLE, "mailbox-full").await;
    let rows: Vec<Value> = serde_json::from_slice(&body(api.get("/v1/actors").await).await).unwrap();
    let busy = rows.iter().find(|r| r["names"][0] == "busy").unwrap();
    assert_eq!(busy["mailbox_depth"], 1);

    // Ending `sink` releases `busy`, whose HTTP caller gets `busy`'s answer:
    // the inner call failed with `terminated`.
    let sink = api.node.whereis("sink").unwrap();
    assert!(api.node.kill(&sink, "test over"));
    let res = tokio::time::timeout(SOON, waiting).await.unwrap().unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let inner: Result<Vec<u8>, WireError> = dec(&body(res).await);
    assert_eq!(inner, Err(WireError::Terminated("test over".into())));
}

#[tokio::test]
async fn bad_requests_are_400_and_oversized_payloads_413_before_the_actor_sees_them() {
    let config = NodeConfig {
        max_message_bytes: 1024,
        ..NodeConfig::default()
    };
    let api = Api::start(config, &["testkit"]).await;
    api.testkit("tk").await;
    let ok = enc(&TestRequest::Received);

    for bad in ["abc", "0", "-5", "1.5"] {
        let res = api
            .post("/v1/actors/tk/call", ok.clone(), &[("x-wactor-timeout-ms", bad)])
            .await;
        let msg = expect_error(res, StatusCode::BAD_REQUEST, "bad-request").await;
        assert!(msg.contains("x-wactor-timeout-ms"), "{msg}");
    }
    for bad_name in ["a%20b", "a@b@c", "%40tk", "tk%0A"] {
        let res = api
            .post(&format!("/v1/actors/{bad_name}/call"), ok.clone(), &[])
            .await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad-request").await;
        let res = api
            .post(&format!("/v1/actors/{bad_name}/send"), ok.clone(), &[])
            .await;
        expect_error(res, StatusCode::BAD_REQUEST, "bad-request").await;
    }
    let res = api
        .post(
            "/v1/actors/tk/call",
            ok.clone(),
            &[("x-wactor-trace-id", "not-a-trace")],
        )
        .await;
    expect_error(res, StatusCode::BAD_REQUEST, "bad-request").await;

    // Over the limit: refused as a call and as a send; at the limit: taken.
    let big = enc(&TestMessage::Record(vec![7; 2000]));
    let res = api.post("/v1/actors/tk/send", big.clone(), &[]).await;
    let msg = expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large").await;
    assert!(msg.contains("1024"), "{msg}");
    let res = api.post("/v1/actors/tk/call", big, &[]).await;
    expect_error(res, StatusCode::PAYLOAD_TOO_LARGE, "payload-too-large").await;
    let exact = enc(&TestMessage::Record(vec![7; 1021]));
    assert_eq!(exact.len(), 1024);
    let res = api.post("/v1/actors/tk/send", exact, &[]).await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);

    let res = api.call("tk", &TestRequest::Received).await;
    let received: Vec<Vec<u8>> = dec(&body(res).await);
    assert_eq!(
        received,
        vec![vec![7; 1021]],
        "only the message at the limit arrived"
    );

    // Not a route at all.
    let res = api.get("/v2/whatever").await;
    expect_error(res, StatusCode::NOT_FOUND, "not-found").await;
}

#[tokio::test]
async fn the_actor_table_lists_every_actor() {
    let api = Api::start(NodeConfig::default(), &["echo", "testkit"]).await;
    let echo = api.node.spawn("echo", Vec::new()).await.unwrap();
    api.node.register("echo", &echo).unwrap();
    api.testkit("tk").await;
    for _ in 0..3 {
        let res = api.post("/v1/actors/echo/call", b"x".to_vec(), &[]).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = api.get("/v1/actors").await;
    assert_eq!(res.status(), StatusCode::OK);
    let rows: Vec<Value> = serde_json::from_slice(&body(res).await).unwrap();
    assert_eq!(rows.len(), 2, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["pid"], echo.to_string());
    assert_eq!(row["names"], serde_json::json!(["echo"]));
    assert_eq!(row["behaviour"], "echo");
    let loaded = &api.node.behaviours()[0].version;
    assert_eq!(row["version"], loaded.short());
    let loaded_ms = loaded
        .loaded_at
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert_eq!(row["loaded_at_ms"], loaded_ms);
    assert_eq!(row["mailbox_depth"], 0);
    assert_eq!(row["handled"], 3);
    assert_eq!(row["restarts"], 0);
    assert_eq!(row["state"], "running");
    assert_eq!(rows[1]["names"], serde_json::json!(["tk"]));
}

#[tokio::test]
async fn health_says_starting_until_ready() {
    let node = Node::new(NodeConfig::default()).unwrap();
    let server = HttpServer::start(
        node,
        HttpConfig {
            addr: "127.0.0.1:0".parse().unwrap(),
            token: None,
        },
    )
    .await
    .unwrap();
    let url = format!("http://{}/healthz", server.local_addr());
    let res = reqwest::get(&url).await.unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    let v: Value = serde_json::from_slice(&body(res).await).unwrap();
    assert_eq!(v["status"], "starting");
    server.set_ready();
    let res = reqwest::get(&url).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let v: Value = serde_json::from_slice(&body(res).await).unwrap();
    assert_eq!(v["status"], "ok");
}

#[tokio::test]
async fn metrics_parse_as_prometheus_text_and_move_when_messages_flow() {
    let api = Api::start(NodeConfig::default(), &["echo", "testkit"]).await;
    let echo = api.node.spawn("echo", Vec::new()).await.unwrap();
    api.node.register("echo", &echo).unwrap();
    api.testkit("tk").await;

    let before = api.metrics().await;
    assert_eq!(sample(&before, "wactor_actors_live", &[]), 2.0);
    assert_eq!(sample(&before, "wactor_behaviours_loaded", &[]), 2.0);
    assert_eq!(sample(&before, "wactor_behaviour_loads_total", &[]), 2.0);

    for _ in 0..5 {
        let res = api.post("/v1/actors/echo/call", b"x".to_vec(), &[]).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    let res = api
        .post("/v1/actors/tk/send", enc(&TestMessage::Record(vec![1])), &[])
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let res = api.post("/v1/actors/nobody/call", b"x".to_vec(), &[]).await;
    assert_eq!(res.status(), StatusCode::NOT_FOUND);
    let res = api
        .post(
            "/v1/actors/tk/call",
            enc(&TestRequest::NeverAnswer),
            &[("x-wactor-timeout-ms", "50")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    // A deferred answer that comes after its caller gave up is dropped and
    // counted.
    let res = api
        .post(
            "/v1/actors/tk/call",
            enc(&TestRequest::SlowReply {
                ms: 300,
                payload: vec![],
            }),
            &[("x-wactor-timeout-ms", "50")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::GATEWAY_TIMEOUT);
    let node = api.node.clone();
    wactor_e2e::wait_until("the late answer is dropped", SOON, || node.late_answers() == 1).await;

    let after = api.metrics().await;
    let moved = |metric: &str, labels: &[(&str, &str)]| {
        sample(&after, metric, labels) - sample(&before, metric, labels)
    };
    // 5 echo calls, 1 send, 2 testkit calls, and the testkit's own timer
    // message behind the slow reply.
    assert!(
        moved("wactor_messages_handled_total", &[]) >= 8.0,
        "{}",
        moved("wactor_messages_handled_total", &[])
    );
    assert_eq!(moved("wactor_call_duration_seconds_count", &[]), 8.0);
    assert!(moved("wactor_call_duration_seconds_sum", &[]) >= 0.1);
    assert_eq!(
        moved("wactor_delivery_errors_total", &[("kind", "unknown-process")]),
        1.0
    );
    assert_eq!(moved("wactor_delivery_errors_total", &[("kind", "timeout")]), 2.0);
    assert_eq!(moved("wactor_late_responses_dropped_total", &[]), 1.0);
    assert!(moved("wactor_messages_sent_total", &[]) >= 1.0);
    let histogram = after
        .samples
        .iter()
        .find(|s| s.metric == "wactor_call_duration_seconds")
        .expect("the call histogram");
    let prometheus_parse::Value::Histogram(buckets) = &histogram.value else {
        panic!("not a histogram: {:?}", histogram.value);
    };
    let inf = buckets.iter().find(|b| b.less_than.is_infinite()).unwrap();
    assert_eq!(
        inf.count,
        sample(&after, "wactor_call_duration_seconds_count", &[])
    );
    // The timed-out calls waited at least 50 ms, so not every call is in the
    // smallest bucket.
    let fastest = buckets.iter().find(|b| b.less_than == 0.025).unwrap();
    assert!(fastest.count <= inf.count - 2.0, "{buckets:?}");
}

#[tokio::test]
async fn a_token_is_required_off_loopback_and_checked_on_every_request() {
    let node = Node::new(NodeConfig::default()).unwrap();
    let refused = HttpServer::start(
        node,
        HttpConfig {
            addr: "0.0.0.0:0".parse().unwrap(),
            token: None,
        },
    )
    .await;
    match refused {
        Err(e @ HttpError::TokenRequired(_)) => {
            let text = e.to_string();
            assert!(
                text.contains("--token") && text.contains("WACTOR_TOKEN"),
                "{text}"
            );
        }
        Err(e) => panic!("refused for the wrong reason: {e}"),
        Ok(_) => panic!("listened on 0.0.0.0 without a token"),
    }

    let api = Api::start_with(
        NodeConfig::default(),
        &["echo", "testkit"],
        "0.0.0.0:0",
        Some("s3cret"),
    )
    .await;
    let echo = api.node.spawn("echo", Vec::new()).await.unwrap();
    api.node.register("echo", &echo).unwrap();
    api.testkit("tk").await;
    // Every route of the API, without the token, with a wrong one, and with
    // the right one not given as a bearer token.
    let record = enc(&TestMessage::Record(b"unauthorized".to_vec()));
    let routes: [(Method, &str, Vec<u8>); 6] = [
        (Method::GET, "/healthz", vec![]),
        (Method::GET, "/metrics", vec![]),
        (Method::GET, "/v1/actors", vec![]),
        (Method::POST, "/v1/actors/echo/call", b"x".to_vec()),
        (
            Method::POST,
            "/v1/actors/tk/call",
            enc(&TestRequest::Echo(vec![])),
        ),
        (Method::POST, "/v1/actors/tk/send", record),
    ];
    for (method, path, payload) in &routes {
        for auth in [None, Some("Bearer wrong"), Some("s3cret")] {
            let mut req = api
                .client
                .request(method.clone(), format!("{}{path}", api.base))
                .body(payload.clone());
            if let Some(auth) = auth {
                req = req.header("authorization", auth);
            }
            let res = req.send().await.expect("request");
            assert_eq!(
                res.headers().get("www-authenticate").map(|v| v.to_str().unwrap()),
                Some("Bearer"),
                "{method} {path} with {auth:?}"
            );
            let what = format!("{method} {path} with {auth:?}");
            assert_eq!(res.status(), StatusCode::UNAUTHORIZED, "{what}");
            expect_error(res, StatusCode::UNAUTHORIZED, "unauthorized").await;
        }
    }
    // Nothing got through to the actors.
    let handled: Vec<u64> = api.node.actors().iter().map(|a| a.handled).collect();
    assert_eq!(handled, [0, 0], "an unauthorized request reached an actor");

    // With the token, a send is taken and reaches the actor.
    let res = api
        .post(
            "/v1/actors/tk/send",
            enc(&TestMessage::Record(b"authorized".to_vec())),
            &[("authorization", "Bearer s3cret")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::ACCEPTED);
    let res = api
        .post(
            "/v1/actors/tk/call",
            enc(&TestRequest::Received),
            &[("authorization", "Bearer s3cret")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    let received: Vec<Vec<u8>> = dec(&body(res).await);
    assert_eq!(
        received,
        vec![b"authorized".to_vec()],
        "only the authorized send arrived"
    );
    let res = api
        .post(
            "/v1/actors/echo/call",
            b"x".to_vec(),
            &[("authorization", "Bearer s3cret")],
        )
        .await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(body(res).await, b"x");
    let res = api
        .client
        .get(format!("{}/v1/actors", api.base))
        .bearer_auth("s3cret")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}
