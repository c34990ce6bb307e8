//! Every pid the host shows can be used: `wactor ps` and `GET /v1/actors`
//! print pids as `<node.id.creation>`, and the CLI and the HTTP API take a
//! pid in that form, or without its brackets, wherever they take an actor.
//! Also: a spawned actor logs under its own span, not its spawner's.

use std::process::Output;

use wactor::Pid;
use wactor_e2e::binary::{wactor_cli, Host};
use wactor_e2e::proto::{TestArgs, TestMessage, TestRequest, WirePid};
use wactor_e2e::{dec, enc, guest};

/// Runs `wactor ARGS` against the host at `url`, with `stdin`.
fn wactor(url: &str, args: &[&str], stdin: &[u8]) -> Output {
    wactor_cli(&[args, &["--host", url]].concat(), stdin)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A host serving `echo` and `testkit`.
fn host() -> (Host, String, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    for name in ["echo", "testkit"] {
        std::fs::copy(guest(name), dir.path().join(format!("{name}.wasm"))).unwrap();
    }
    let mut host = Host::start(dir.path());
    let url = host.ready_url();
    (host, url, dir)
}

/// The pid `wactor ps --json` shows for the actor registered as `name`.
fn pid_of(url: &str, name: &str) -> String {
    let out = wactor(url, &["ps", "--json"], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    rows.iter()
        .find(|r| r["names"].as_array().is_some_and(|n| n.iter().any(|n| n == name)))
        .and_then(|r| r["pid"].as_str())
        .unwrap_or_else(|| panic!("no row for {name}: {rows:?}"))
        .to_string()
}

#[test]
fn the_cli_takes_every_pid_it_prints() {
    let (mut host, url, _dir) = host();
    let echo = pid_of(&url, "echo");
    assert!(echo.starts_with('<') && echo.ends_with('>'), "{echo}");
    let bare = &echo[1..echo.len() - 1];

    for form in [echo.as_str(), bare] {
        let out = wactor(&url, &["call", form, "hello"], b"");
        assert!(out.status.success(), "call {form}: {}", stderr(&out));
        assert_eq!(out.stdout, b"hello", "call {form}");
    }

    // A send by pid arrives.
    let testkit = pid_of(&url, "testkit");
    let out = wactor(
        &url,
        &["send", &testkit, "-"],
        &enc(&TestMessage::Record(b"by pid".to_vec())),
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let out = wactor(&url, &["call", &testkit, "-"], &enc(&TestRequest::Received));
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(dec::<Vec<Vec<u8>>>(&out.stdout), vec![b"by pid".to_vec()]);

    // `ps` filters by pid (either form), name or behaviour.
    for filter in [echo.as_str(), bare, "echo"] {
        let out = wactor(&url, &["ps", filter, "--json"], b"");
        assert!(out.status.success(), "{}", stderr(&out));
        let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(rows.len(), 1, "ps {filter}: {rows:?}");
        assert_eq!(rows[0]["pid"], echo.as_str(), "ps {filter}");
    }
    let out = wactor(&url, &["ps", &echo, &testkit], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout).lines().count(), 3);

    // A pid of no live actor is unknown, and the error names it.
    let parsed = Pid::parse(&echo).expect("a pid the host printed parses");
    let gone = format!("<{}.{}.{}>", parsed.node, parsed.id + 1000, parsed.creation);
    let out = wactor(&url, &["call", &gone, "x"], b"");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("unknown-process") && err.contains(&gone), "{err}");

    // A malformed pid is said to be malformed, not unknown.
    for bad in ["<local.x.1>", "<local.1>", "<local.1.2"] {
        let out = wactor(&url, &["call", bad, "x"], b"");
        assert_eq!(out.status.code(), Some(1), "call {bad}");
        let err = stderr(&out);
        assert!(
            err.contains("bad-request") && err.contains("malformed pid"),
            "call {bad}: {err}"
        );
        let out = wactor(&url, &["ps", bad], b"");
        assert_eq!(out.status.code(), Some(2), "ps {bad}");
        assert!(
            stderr(&out).contains("malformed pid"),
            "ps {bad}: {}",
            stderr(&out)
        );
    }
    assert!(host.terminate().success());
}

#[test]
fn the_http_api_takes_pids_in_its_paths() {
    let (mut host, url, _dir) = host();
    let echo = pid_of(&url, "echo");
    let bare = &echo[1..echo.len() - 1];
    let client = reqwest::blocking::Client::new();
    let escaped = echo.replace('<', "%3C").replace('>', "%3E");
    for segment in [escaped.as_str(), bare] {
        let res = client
            .post(format!("{url}/v1/actors/{segment}/call"))
            .body("over http")
            .send()
            .unwrap();
        assert_eq!(res.status(), 200, "{segment}");
        assert_eq!(res.bytes().unwrap().as_ref(), b"over http");
        let res = client
            .post(format!("{url}/v1/actors/{segment}/send"))
            .body("a message")
            .send()
            .unwrap();
        assert_eq!(res.status(), 202, "{segment}");
    }
    let res = client
        .post(format!("{url}/v1/actors/%3Clocal.1%3E/call"))
        .body("x")
        .send()
        .unwrap();
    assert_eq!(res.status(), 400);
    let body: serde_json::Value = serde_json::from_slice(&res.bytes().unwrap()).unwrap();
    assert_eq!(body["error"], "bad-request");
    assert!(
        body["message"].as_str().unwrap().contains("malformed pid"),
        "{body}"
    );
    assert!(host.terminate().success());
}

/// An actor spawned from a handler outlives that handler: its later log
/// lines carry its own span and its own message's trace id, never the
/// spawner's.
#[test]
fn a_spawned_actor_logs_under_its_own_span() {
    let (mut host, url, _dir) = host();
    let spawn = TestRequest::Spawn {
        behaviour: "testkit".into(),
        args: enc(&TestArgs {
            register: Some("child".into()),
        }),
    };
    let out = wactor(&url, &["call", "testkit", "-"], &enc(&spawn));
    assert!(out.status.success(), "{}", stderr(&out));
    let child: WirePid = dec::<Result<WirePid, String>>(&out.stdout).expect("spawned");
    // A message, handled on the child's own task (a call from outside may
    // run on the caller's task instead): it panics, and the panic's line
    // goes to the log from inside the child's handler.
    let out = wactor(&url, &["send", "child", "-"], &enc(&TestMessage::Trap));
    assert!(out.status.success(), "{}", stderr(&out));
    let pid = format!("pid=<{}.{}.{}>", child.node, child.id, child.creation);
    let line = host.expect_line(&["panicked", &pid]);
    assert_eq!(line.matches("actor{").count(), 1, "one actor span: {line}");
    assert_eq!(line.matches("trace=").count(), 1, "one trace id: {line}");
    let ended = host.expect_line(&["actor ended", &pid]);
    assert_eq!(ended.matches("actor{").count(), 1, "one actor span: {ended}");
    assert!(host.terminate().success());
}
