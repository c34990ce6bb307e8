//! Actors in JavaScript and Python (built by `scripts/build-guests` with
//! componentize-js and componentize-py from `examples/*-js`, `*-py` and
//! `tests/guests/probe-*`) on the real host: every outcome of a call,
//! deferred answers, errors as data, typed JSON across languages, the
//! three-language chain, hot reload and hibernation keeping their state, a
//! CPU budget stopping a looping handler, the memory limit holding, calls
//! and important sends across hosts, and `wactor new --lang`.
//!
//! An interpreter's component is 12-18 MB: these tests share one compile
//! cache (`target/test-cache/languages`), so each is compiled once per
//! build of the host, and give the actors the memory an interpreter needs.

use std::path::PathBuf;
use std::time::Duration;

use serde_json::{json, Value};
use wactor::{ActorState, DeliveryError, Node, NodeConfig, Pid};
use wactor_e2e::binary::{wactor_cli, Host, NatsServer};
use wactor_e2e::{at_once, exit_of, guest, guest_bytes, metric, repo_root, wait_until, SOON};

/// The two languages: the probe, the counter and the typed example of each.
const LANGS: [Lang; 2] = [
    Lang {
        name: "js",
        probe: "probe-js",
        counter: "counter-js",
        stats: "stats-js",
    },
    Lang {
        name: "python",
        probe: "probe-py",
        counter: "counter-py",
        stats: "stats-py",
    },
];

#[derive(Clone, Copy)]
struct Lang {
    name: &'static str,
    probe: &'static str,
    counter: &'static str,
    stats: &'static str,
}

fn cache_dir() -> PathBuf {
    repo_root().join("target/test-cache/languages")
}

/// What these actors get: the memory an interpreter needs (as their
/// manifests ask), a CPU budget of 3 s, the shared compile cache.
fn config() -> NodeConfig {
    NodeConfig {
        memory_limit_bytes: 256 << 20,
        cpu_budget_ticks: 300,
        cache_dir: Some(cache_dir()),
        ..NodeConfig::default()
    }
}

/// A node with `config` and the behaviours `names` loaded, each started
/// once and registered under its name (as `wactor run` does).
async fn start(config: NodeConfig, names: &[&str]) -> (Node, Vec<Pid>) {
    let node = Node::new(config).expect("node");
    let mut pids = Vec::new();
    for name in names {
        node.load(name, guest_bytes(name))
            .await
            .unwrap_or_else(|e| panic!("load {name}: {e}"));
        let pid = node
            .spawn(name, Vec::new())
            .await
            .unwrap_or_else(|e| panic!("spawn {name}: {e}"));
        node.register(name, &pid)
            .unwrap_or_else(|e| panic!("register {name}: {e}"));
        pids.push(pid);
    }
    (node, pids)
}

/// A JSON call, its answer parsed.
async fn ask(node: &Node, to: &str, request: Value) -> Result<Value, DeliveryError> {
    let bytes = serde_json::to_vec(&request).expect("json");
    let answer = node.call_json(to, bytes, Some(Duration::from_secs(30))).await?;
    Ok(serde_json::from_slice(&answer).unwrap_or_else(|e| {
        panic!(
            "{to} answered {request} with no JSON ({e}): {:?}",
            String::from_utf8_lossy(&answer)
        )
    }))
}

/// A plain-text call, its answer as text.
async fn ask_text(node: &Node, to: &str, text: &str) -> Result<String, DeliveryError> {
    let answer = node
        .call(to, text.as_bytes().to_vec(), Some(Duration::from_secs(30)))
        .await?;
    Ok(String::from_utf8(answer).expect("a text answer"))
}

#[tokio::test(flavor = "multi_thread")]
async fn every_outcome_of_a_call_from_js_and_python() {
    for lang in LANGS {
        let lang_name = lang.name;
        let (node, pids) = start(config(), &[lang.probe]).await;
        let probe = lang.probe;
        // reply, and the actor runs on with its state
        assert_eq!(
            ask(&node, probe, json!({"Add": 2})).await,
            Ok(json!(2)),
            "{lang_name}"
        );
        assert_eq!(ask(&node, probe, json!("Get")).await, Ok(json!(2)), "{lang_name}");
        // defer: answered later, by a timer the actor set itself
        let started = std::time::Instant::now();
        assert_eq!(
            ask(&node, probe, json!({"Defer": 300})).await,
            Ok(json!("deferred")),
            "{lang_name}"
        );
        assert!(
            started.elapsed() >= Duration::from_millis(300),
            "{lang_name}: answered before its timer"
        );
        // reply_error: the transport-class error channel
        assert_eq!(
            ask(&node, probe, json!({"Fail": "no backend"})).await,
            Err(DeliveryError::Remote("no backend".into())),
            "{lang_name}"
        );
        // a request it cannot read is the caller's error; the actor runs on
        match ask(&node, probe, json!({"Nonsense": 1})).await {
            Err(DeliveryError::BadRequest(reason)) => {
                assert!(reason.contains("unknown probe request"), "{lang_name}: {reason}")
            }
            other => panic!("{lang_name}: a bad request got {other:?}"),
        }
        assert_eq!(ask(&node, probe, json!("Get")).await, Ok(json!(2)), "{lang_name}");
        // reply-and-stop: the caller gets the answer, the actor ends normally
        let mut exits = node.exits();
        assert_eq!(
            ask(&node, probe, json!({"ReplyAndStop": "bye"})).await,
            Ok(json!("bye")),
            "{lang_name}"
        );
        assert_eq!(
            exit_of(&mut exits, &pids[0]).await.reason,
            "normal",
            "{lang_name}"
        );
        // stop: the caller gets terminated(reason) at once
        let pid = node.spawn(probe, Vec::new()).await.expect("spawn again");
        let to = pid.to_string();
        let stopped = at_once("a stopping probe answers", async {
            node.call_json(
                pid.clone(),
                br#"{"Stop":"enough"}"#.to_vec(),
                Some(Duration::from_secs(60)),
            )
            .await
        })
        .await;
        assert_eq!(
            stopped,
            Err(DeliveryError::Terminated("enough".into())),
            "{lang_name} {to}"
        );
        assert_eq!(exit_of(&mut exits, &pid).await.reason, "enough", "{lang_name}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn delivery_errors_reach_js_and_python_code_with_their_kind() {
    for lang in LANGS {
        let lang_name = lang.name;
        let (node, _) = start(config(), &[lang.probe, "echo"]).await;
        let call =
            |to: &str, important: bool| json!({"CallText": {"to": to, "text": "hi", "important": important}});
        assert_eq!(
            ask(&node, lang.probe, call("echo", false)).await,
            Ok(json!({"Ok": "hi"})),
            "{lang_name}"
        );
        assert_eq!(
            ask(&node, lang.probe, call("echo", true)).await,
            Ok(json!({"Ok": "hi"})),
            "{lang_name}"
        );
        assert_eq!(
            ask(&node, lang.probe, call("nobody", false)).await,
            Ok(json!({"Err": {"kind": "unknown-process", "detail": null}})),
            "{lang_name}"
        );
        // A call to itself would wait for ever: refused at once.
        let answer = ask(&node, lang.probe, call(lang.probe, false))
            .await
            .expect("an answer");
        assert_eq!(answer["Err"]["kind"], "not-allowed", "{lang_name}: {answer}");
        let send = |to: &str| json!({"SendText": {"to": to, "text": "hi", "important": true}});
        assert_eq!(
            ask(&node, lang.probe, send("echo")).await,
            Ok(json!({"Ok": null})),
            "{lang_name}"
        );
        assert_eq!(
            ask(&node, lang.probe, send("nobody")).await,
            Ok(json!({"Err": {"kind": "unknown-process", "detail": null}})),
            "{lang_name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn typed_json_between_rust_js_and_python_actors() {
    for lang in LANGS {
        let lang_name = lang.name;
        let (node, _) = start(config(), &[lang.stats, lang.probe, "calculator"]).await;
        // The Rust calculator's typed answers, read by JS or Python code.
        assert_eq!(
            ask(&node, lang.probe, json!({"Divide": [7, 2]})).await,
            Ok(json!({"Ok": 3})),
            "{lang_name}"
        );
        assert_eq!(
            ask(&node, lang.probe, json!({"Divide": [1, 0]})).await,
            Ok(json!({"Err": "DivisionByZero"})),
            "{lang_name}"
        );
        // The typed example: its own typed error, and the calculator's.
        assert_eq!(
            ask(&node, lang.stats, json!("Mean")).await,
            Ok(json!({"Err": "NoData"})),
            "{lang_name}"
        );
        assert_eq!(
            ask(&node, lang.stats, json!({"Record": 4})).await,
            Ok(json!({"Ok": 1})),
            "{lang_name}"
        );
        assert_eq!(
            ask(&node, lang.stats, json!({"Record": 9})).await,
            Ok(json!({"Ok": 2})),
            "{lang_name}"
        );
        assert_eq!(
            ask(&node, lang.stats, json!("Mean")).await,
            Ok(json!({"Ok": 6})),
            "{lang_name}"
        );
        match ask(&node, lang.stats, json!({"Record": "four"})).await {
            Err(DeliveryError::BadRequest(reason)) => {
                assert!(reason.contains("Record"), "{lang_name}: {reason}")
            }
            other => panic!("{lang_name}: a bad request got {other:?}"),
        }
        // A Rust actor's typed call in JSON reaches the JS or Python actor.
        assert_eq!(
            ask(&node, lang.stats, json!("Reset")).await,
            Ok(json!({"Ok": 0})),
            "{lang_name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_three_language_chain_names_each_hop() {
    let (node, _) = start(config(), &["trio-js", "trio-py", "echo"]).await;
    assert_eq!(
        ask_text(&node, "trio-js", "hello").await,
        Ok("trio-js > trio-py > echo: hello".to_string())
    );
    // Without its next hop, the chain says which hop failed and how.
    let echo = node.whereis("echo").expect("echo");
    let mut exits = node.exits();
    assert!(node.stop(&echo, "normal"));
    exit_of(&mut exits, &echo).await;
    assert_eq!(
        ask_text(&node, "trio-js", "hello").await,
        Ok("trio-js > trio-py > echo failed (unknown-process): ".to_string())
    );
}

/// The bytes of `name` with a custom section appended: a new version to
/// the host (another content hash), the same behaviour.
fn new_version(name: &str) -> Vec<u8> {
    let mut bytes = guest_bytes(name);
    let label = b"wactor-test-version";
    let body = [&[label.len() as u8][..], label, b"2"].concat();
    bytes.push(0); // a custom section
    bytes.push(body.len() as u8);
    bytes.extend_from_slice(&body);
    bytes
}

#[tokio::test(flavor = "multi_thread")]
async fn hot_reload_keeps_a_js_and_a_python_actors_count() {
    for lang in LANGS {
        let lang_name = lang.name;
        let (node, pids) = start(config(), &[lang.counter]).await;
        let pid = &pids[0];
        assert_eq!(
            ask_text(&node, lang.counter, "inc").await,
            Ok("1".into()),
            "{lang_name}"
        );
        assert_eq!(
            ask_text(&node, lang.counter, "inc").await,
            Ok("2".into()),
            "{lang_name}"
        );
        let before = node.version_of(pid).expect("a version");
        let report = node
            .upgrade(lang.counter, new_version(lang.counter))
            .await
            .expect("the new version loads");
        assert_eq!(report.upgraded, vec![pid.clone()], "{lang_name}: {report:?}");
        let after = node.version_of(pid).expect("a version");
        assert_ne!(before.hash, after.hash, "{lang_name}: still on the old version");
        assert_eq!(
            ask_text(&node, lang.counter, "get").await,
            Ok("2".into()),
            "{lang_name}"
        );
        assert_eq!(
            ask_text(&node, lang.counter, "inc").await,
            Ok("3".into()),
            "{lang_name}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn js_and_python_actors_hibernate_and_wake_with_their_count() {
    for lang in LANGS {
        let lang_name = lang.name;
        let config = NodeConfig {
            hibernate_after: Some(Duration::from_millis(200)),
            ..config()
        };
        let (node, pids) = start(config, &[lang.counter]).await;
        let pid = &pids[0];
        assert_eq!(
            ask_text(&node, lang.counter, "inc").await,
            Ok("1".into()),
            "{lang_name}"
        );
        assert_eq!(
            ask_text(&node, lang.counter, "inc").await,
            Ok("2".into()),
            "{lang_name}"
        );
        wait_until(&format!("{} hibernates", lang.counter), SOON, || {
            node.state(pid) == Some(ActorState::Hibernating)
        })
        .await;
        let wakes = metric(&node, "wactor_wakes_total");
        assert_eq!(
            ask_text(&node, lang.counter, "inc").await,
            Ok("3".into()),
            "{lang_name}"
        );
        assert_eq!(
            metric(&node, "wactor_wakes_total"),
            wakes + 1,
            "{lang_name}: no wake"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_cpu_budget_stops_a_looping_js_and_python_handler() {
    for lang in LANGS {
        let lang_name = lang.name;
        let (node, pids) = start(config(), &[lang.probe]).await;
        let mut exits = node.exits();
        // The call would wait two minutes: the budget (3 s of CPU), not
        // the call's timeout, must end it, with a reason that says so.
        let spun = tokio::time::timeout(
            Duration::from_secs(60),
            node.call_json(lang.probe, br#""Spin""#.to_vec(), Some(Duration::from_secs(120))),
        )
        .await
        .unwrap_or_else(|_| panic!("{lang_name}: a spinning handler ran past a minute"));
        match spun {
            Err(DeliveryError::Terminated(reason)) => {
                assert!(reason.contains("cpu budget exceeded"), "{lang_name}: {reason}")
            }
            other => panic!("{lang_name}: a spinning handler's caller got {other:?}"),
        }
        let exit = exit_of(&mut exits, &pids[0]).await;
        assert!(
            exit.reason.contains("cpu budget exceeded"),
            "{lang_name}: {}",
            exit.reason
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn the_memory_limit_stops_a_js_and_a_python_actor_growing_past_it() {
    for lang in LANGS {
        let lang_name = lang.name;
        let (node, pids) = start(config(), &[lang.probe]).await;
        let mut exits = node.exits();
        // 16 MiB more fit in the 256 MiB the interpreter is given...
        assert_eq!(
            ask(&node, lang.probe, json!({"Alloc": 16})).await,
            Ok(json!(1)),
            "{lang_name}"
        );
        // ...512 MiB more do not: the instance traps, its caller hears why.
        match ask(&node, lang.probe, json!({"Alloc": 512})).await {
            Err(DeliveryError::Terminated(reason)) => {
                assert!(reason.contains("memory limit exceeded"), "{lang_name}: {reason}")
            }
            other => panic!("{lang_name}: growing past the limit got {other:?}"),
        }
        let exit = exit_of(&mut exits, &pids[0]).await;
        assert!(
            exit.reason.contains("memory limit exceeded"),
            "{lang_name}: {}",
            exit.reason
        );
    }
}

/// A fresh directory with the built actors `names` (and their manifests).
fn actors_dir_with(names: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    for name in names {
        let wasm = guest(name);
        std::fs::copy(&wasm, dir.path().join(format!("{name}.wasm"))).expect("copy wasm");
        let manifest = wasm.with_extension("toml");
        if manifest.exists() {
            std::fs::copy(&manifest, dir.path().join(format!("{name}.toml"))).expect("copy manifest");
        }
    }
    dir
}

fn cache_arg() -> String {
    cache_dir().to_str().expect("a UTF-8 path").to_string()
}

fn cli_call(url: &str, args: &[&str]) -> (bool, String) {
    let mut all = vec!["call", "--host", url];
    all.extend_from_slice(args);
    let out = wactor_cli(&all, b"");
    let text = String::from_utf8_lossy(&out.stdout).trim_end().to_string();
    (
        out.status.success(),
        format!("{text}{}", String::from_utf8_lossy(&out.stderr)),
    )
}

#[test]
fn wactor_call_trio_js_hello_through_three_languages() {
    let dir = actors_dir_with(&["trio-js", "trio-py", "echo", "counter-js", "counter-py"]);
    let mut host = Host::start_with(dir.path(), &["--cache-dir", &cache_arg()]);
    let url = host.ready_url();
    let (ok, out) = cli_call(&url, &["trio-js", "hello"]);
    assert!(ok, "{out}");
    assert_eq!(out, "trio-js > trio-py > echo: hello");
    // The counters as a user runs them, with their manifests.
    for name in ["counter-js", "counter-py"] {
        assert_eq!(cli_call(&url, &[name, "inc"]), (true, "1".to_string()), "{name}");
        assert_eq!(cli_call(&url, &[name, "get"]), (true, "1".to_string()), "{name}");
    }
    host.terminate();
}

#[test]
fn a_js_and_a_python_actor_call_and_send_across_hosts() {
    let nats = NatsServer::start();
    let dir = actors_dir_with(&["probe-js", "probe-py", "echo"]);
    let cache = cache_arg();
    let url_nats = nats.url();
    let mut alpha = Host::start_with(
        dir.path(),
        &["--nats", &url_nats, "--node", "alpha", "--cache-dir", &cache],
    );
    let mut beta = Host::start_with(
        dir.path(),
        &["--nats", &url_nats, "--node", "beta", "--cache-dir", &cache],
    );
    alpha.expect_line(&["node up", "node=beta"]);
    beta.expect_line(&["node up", "node=alpha"]);
    let url = alpha.ready_url();
    beta.ready_url();
    for probe in ["probe-js", "probe-py"] {
        let ask = |request: Value| {
            let body = request.to_string();
            let (ok, out) = cli_call(&url, &[probe, "--json", &body]);
            assert!(ok, "{probe} {body}: {out}");
            serde_json::from_str::<Value>(&out).unwrap_or_else(|e| panic!("{probe}: {out}: {e}"))
        };
        for important in [false, true] {
            assert_eq!(
                ask(json!({"CallText": {"to": "echo@beta", "text": "over", "important": important}})),
                json!({"Ok": "over"}),
                "{probe} important={important}"
            );
        }
        // Important delivery: acknowledged by the other host, or refused
        // with the reason.
        assert_eq!(
            ask(json!({"SendText": {"to": "echo@beta", "text": "hi", "important": true}})),
            json!({"Ok": null}),
            "{probe}"
        );
        assert_eq!(
            ask(json!({"SendText": {"to": "nobody@beta", "text": "hi", "important": true}})),
            json!({"Err": {"kind": "unknown-process", "detail": null}}),
            "{probe}"
        );
        assert_eq!(
            ask(json!({"CallText": {"to": "echo@gamma", "text": "x", "important": true}})),
            json!({"Err": {"kind": "no-connection", "detail": null}}),
            "{probe}"
        );
    }
    alpha.terminate();
    beta.terminate();
}

#[test]
fn wactor_new_lang_js_and_python_write_projects_that_test_build_and_answer() {
    let work = tempfile::tempdir().expect("temp dir");
    let path = work.path().display().to_string();
    let built = work.path().join("built");
    for (name, lang) in [("greeter-js", "js"), ("greeter-py", "python")] {
        let out = wactor_cli(&["new", name, "--lang", lang, "--path", &path], b"");
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let project = work.path().join(name);
        // Its own unit tests pass, on the SDK's fake host.
        let tested = if lang == "js" {
            let linked = std::process::Command::new("npm")
                .args(["install", "--no-audit", "--no-fund", "--no-package-lock"])
                .current_dir(&project)
                .status()
                .expect("run npm");
            assert!(linked.success(), "npm install in {name}");
            std::process::Command::new("node")
                .args(["--test", "test/"])
                .current_dir(&project)
                .output()
                .expect("run node --test")
        } else {
            std::process::Command::new("python3")
                .args(["-m", "unittest", "-v"])
                .env("PYTHONPATH", repo_root().join("guest-sdk-py"))
                .current_dir(&project)
                .output()
                .expect("run python3 -m unittest")
        };
        let report = format!(
            "{}{}",
            String::from_utf8_lossy(&tested.stdout),
            String::from_utf8_lossy(&tested.stderr)
        );
        assert!(tested.status.success(), "{name}'s unit tests: {report}");
        assert!(
            report.contains("pass 3") || report.contains("Ran 3 tests"),
            "{name}: {report}"
        );
        // It builds into NAME.wasm, with its manifest beside it.
        let status = std::process::Command::new(repo_root().join("scripts/build-guests"))
            .arg("--crate")
            .arg(&project)
            .arg("--out")
            .arg(&built)
            .status()
            .expect("run scripts/build-guests");
        assert!(status.success(), "scripts/build-guests --crate {name} failed");
        assert!(built.join(format!("{name}.wasm")).is_file(), "{name}.wasm");
        let manifest =
            std::fs::read_to_string(built.join(format!("{name}.toml"))).expect("the manifest is copied");
        let parsed = wactor::Manifest::parse(&manifest, &built).expect("the scaffolded manifest is valid");
        assert_eq!(parsed.memory_limit, Some(256 << 20), "{name}: {parsed:?}");
    }
    let mut host = Host::start_with(&built, &["--cache-dir", &cache_arg()]);
    let url = host.ready_url();
    for name in ["greeter-js", "greeter-py"] {
        assert_eq!(
            cli_call(&url, &[name, "world"]),
            (true, "hello, world! (call 1)".to_string()),
            "{name}"
        );
        assert_eq!(
            cli_call(&url, &[name, "you"]),
            (true, "hello, you! (call 2)".to_string()),
            "{name}"
        );
    }
    host.terminate();
}
