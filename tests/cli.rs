//! The `wactor` binary end to end: `wactor run DIR` on the real examples,
//! the client commands (`call`, `send`, `ps`) against it, trace ids in its
//! log, and `wactor new`.

use std::process::{Command, Output};

use wactor_e2e::binary::{wactor_bin, wactor_cli, Host};
use wactor_e2e::proto::{Target, TestMessage, TestRequest};
use wactor_e2e::{actors_dir, dec, enc, guest, repo_root};

#[test]
fn run_serves_the_examples_and_picks_up_new_files() {
    let dir = tempfile::tempdir().unwrap();
    for name in ["echo", "calculator", "kv", "ping", "pong"] {
        std::fs::copy(
            actors_dir().join(format!("{name}.wasm")),
            dir.path().join(format!("{name}.wasm")),
        )
        .unwrap_or_else(|e| panic!("{name}.wasm: {e} (run scripts/build-guests)"));
    }
    // Bad files are reported, and the rest still start.
    std::fs::write(dir.path().join("broken.wasm"), b"not wasm").unwrap();
    std::fs::copy(guest("wrong-world"), dir.path().join("wrong-world.wasm")).unwrap();
    // Not behaviour files at all: ignored.
    std::fs::write(dir.path().join(".hidden.wasm"), b"x").unwrap();
    std::fs::write(dir.path().join("notes.txt"), b"x").unwrap();

    let mut host = Host::start(dir.path());
    host.expect_line(&["broken.wasm", "not a WebAssembly file"]);
    host.expect_line(&["wrong-world.wasm", "does not implement"]);
    host.expect_line(&["serving", "started=5", "failed=2"]);
    // The ping/pong exchange runs: messages and a call flow between actors.
    host.expect_line(&["finished 1000 round trips"]);
    host.expect_line(&["pong", "1000"]);
    assert!(!host
        .seen
        .iter()
        .any(|l| l.contains(".hidden") || l.contains("notes.txt")));

    // A file dropped in later starts too.
    let tmp = dir.path().join("echo2.wasm.part");
    std::fs::copy(actors_dir().join("echo.wasm"), &tmp).unwrap();
    std::fs::rename(&tmp, dir.path().join("echo2.wasm")).unwrap();
    host.expect_line(&["actor started", "echo2"]);

    let status = host.terminate();
    assert!(status.success(), "wactor exits cleanly on SIGTERM: {status:?}");
    host.expect_line(&["stopped"]);
}

#[test]
fn run_on_a_missing_directory_says_what_to_do() {
    let out = Command::new(wactor_bin())
        .args(["run", "/definitely/not/here"])
        .output()
        .expect("run wactor");
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("is not a directory") && err.contains("scripts/build-guests"),
        "{err}"
    );
}

/// Runs `wactor ARGS` with `stdin` and waits for it.
fn wactor(args: &[&str], stdin: &[u8]) -> Output {
    wactor_cli(args, stdin)
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// A directory with the given guests, each as NAME.wasm (`(guest, name)`).
fn actors(guests: &[(&str, &str)]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for (g, name) in guests {
        std::fs::copy(guest(g), dir.path().join(format!("{name}.wasm"))).unwrap();
    }
    dir
}

#[test]
fn call_send_and_ps_talk_to_a_running_host() {
    let dir = actors(&[("echo", "echo"), ("testkit", "testkit")]);
    let mut host = Host::start(dir.path());
    let url = host.ready_url();
    let remote = ["--host", url.as_str()];
    let files = tempfile::tempdir().unwrap();
    let file = |name: &str, bytes: &[u8]| {
        let p = files.path().join(name);
        std::fs::write(&p, bytes).unwrap();
        format!("@{}", p.display())
    };

    // The answer goes to stdout as it is, from a literal, a file or stdin.
    let out = wactor(&[&["call", "echo", "hello"][..], &remote].concat(), b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, b"hello");
    let from_file = file("req", b"from a file\n\x00");
    let out = wactor(&[&["call", "echo", &from_file][..], &remote].concat(), b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, b"from a file\n\x00");
    let out = wactor(&[&["call", "echo", "-"][..], &remote].concat(), b"piped in");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(out.stdout, b"piped in");

    // Failures: status 1, the error kind and what to do on stderr.
    let out = wactor(&[&["call", "nobody", "x"][..], &remote].concat(), b"");
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(
        err.contains("unknown-process") && err.contains("wactor ps"),
        "{err}"
    );
    assert!(out.stdout.is_empty());
    let never = file("never", &enc(&TestRequest::NeverAnswer));
    let out = wactor(
        &[&["call", "testkit", &never, "--timeout-ms", "200"][..], &remote].concat(),
        b"",
    );
    assert_eq!(out.status.code(), Some(1));
    let err = stderr(&out);
    assert!(err.contains("(timeout)") && err.contains("--timeout-ms"), "{err}");
    let out = wactor(&[&["call", "echo", "@/no/such/file"][..], &remote].concat(), b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("/no/such/file"), "{}", stderr(&out));

    // A send is quiet on success, and its message arrives.
    let record = file("record", &enc(&TestMessage::Record(b"via the cli".to_vec())));
    let out = wactor(&[&["send", "testkit", &record][..], &remote].concat(), b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert!(out.stdout.is_empty());
    let received = file("received", &enc(&TestRequest::Received));
    let out = wactor(&[&["call", "testkit", &received][..], &remote].concat(), b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(dec::<Vec<Vec<u8>>>(&out.stdout), vec![b"via the cli".to_vec()]);
    let out = wactor(&[&["send", "nobody", "x"][..], &remote].concat(), b"");
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("unknown-process"), "{}", stderr(&out));

    // The actor table, as text and as JSON.
    let out = wactor(&[&["ps"][..], &remote].concat(), b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let table = String::from_utf8(out.stdout).unwrap();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(lines.len(), 3, "{table}");
    for column in [
        "PID",
        "NAMES",
        "BEHAVIOUR",
        "VERSION",
        "STATE",
        "MAILBOX",
        "HANDLED",
        "RESTARTS",
    ] {
        assert!(lines[0].contains(column), "{table}");
    }
    let echo_row: Vec<&str> = lines[1].split_whitespace().collect();
    assert_eq!(echo_row[1..3], ["echo", "echo"], "{table}");
    assert_eq!(echo_row[4], "running", "{table}");
    assert_eq!(
        echo_row[6], "3",
        "echo handled the three calls that reached it: {table}"
    );
    let out = wactor(&[&["ps", "--json"][..], &remote].concat(), b"");
    assert!(out.status.success(), "{}", stderr(&out));
    let rows: Vec<serde_json::Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(rows.len(), 2);
    assert_eq!(rows[1]["behaviour"], "testkit");
    assert_eq!(rows[1]["handled"], 3);

    // No host there: status 3, and how to start one.
    let out = wactor(&["call", "echo", "x", "--host", "http://127.0.0.1:1"], b"");
    assert_eq!(out.status.code(), Some(3));
    assert!(stderr(&out).contains("wactor run"), "{}", stderr(&out));
    // Usage errors: status 2.
    assert_eq!(wactor(&["call", "echo"], b"").status.code(), Some(2));
    assert_eq!(
        wactor(&["call", "echo", "x", "--timeout-ms", "0"], b"")
            .status
            .code(),
        Some(2)
    );

    assert!(host.terminate().success());
}

#[test]
fn one_trace_id_follows_a_request_through_every_actor_it_touches() {
    let dir = actors(&[("testkit", "front"), ("testkit", "middle"), ("echo", "echo")]);
    let mut host = Host::start_logging(dir.path(), &["--log-format", "json"], "info,wactor=debug");
    let url = host.ready_url();
    // front calls middle; middle sends to echo; echo logs the message.
    let request = TestRequest::Call {
        to: Target::Name("middle".into()),
        payload: enc(&TestRequest::Send {
            to: Target::Name("echo".into()),
            payload: b"traced".to_vec(),
        }),
        timeout_ms: None,
    };
    let trace = "5ca1ab1e00000000000000000000beef";
    let res = reqwest::blocking::Client::new()
        .post(format!("{url}/v1/actors/front/call"))
        .header("x-wactor-trace-id", trace)
        .body(enc(&request))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    assert_eq!(res.headers()["x-wactor-trace-id"], trace);

    let traced = format!("\"trace\":\"{trace}\"");
    // The guest's own log line, inside echo's span for the message.
    let line = host.expect_line(&["echo: message of 6 bytes", &traced]);
    let v: serde_json::Value = serde_json::from_str(&line).expect("a JSON log line");
    let spans = v["spans"].as_array().expect("the span list");
    assert_eq!(spans[0]["actor"], "echo", "{line}");
    assert_eq!(spans[1]["kind"], "message", "{line}");
    assert_eq!(v["target"], "wactor::guest");
    // The two testkits handled their parts under the same id.
    for (actor, kind) in [("front", "call"), ("middle", "call")] {
        let line = host.expect_line(&["handled", &format!("\"actor\":\"{actor}\""), &traced]);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["span"]["kind"], kind, "{line}");
        assert_eq!(v["span"]["r"].as_str().map(str::len), Some(32), "{line}");
    }
    // And no other request shares it.
    let foreign = host
        .seen
        .iter()
        .filter(|l| l.contains(&traced))
        .filter(|l| {
            ![
                "\"actor\":\"front\"",
                "\"actor\":\"middle\"",
                "\"actor\":\"echo\"",
            ]
            .iter()
            .any(|a| l.contains(a))
        })
        .count();
    assert_eq!(foreign, 0);

    // What a guest prints carries the trace id of the message it handles.
    let printed = "7e11a1e000000000000000000000cafe";
    let print = TestRequest::Print {
        stdout: "printed to stdout".into(),
        stderr: "printed to stderr".into(),
    };
    let res = reqwest::blocking::Client::new()
        .post(format!("{url}/v1/actors/middle/call"))
        .header("x-wactor-trace-id", printed)
        .body(enc(&print))
        .send()
        .unwrap();
    assert_eq!(res.status(), 200);
    let traced = format!("\"trace\":\"{printed}\"");
    for (text, stream, level) in [
        ("printed to stdout", "stdout", "INFO"),
        ("printed to stderr", "stderr", "WARN"),
    ] {
        let line = host.expect_line(&[text, &traced]);
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["fields"]["stream"], stream, "{line}");
        assert_eq!(v["level"], level, "{line}");
        assert_eq!(v["span"]["kind"], "call", "{line}");
        assert_eq!(v["spans"][0]["actor"], "middle", "{line}");
    }
    assert!(host.terminate().success());
}

#[test]
fn new_scaffolds_an_actor_that_builds_and_answers_when_dropped_in() {
    let work = tempfile::tempdir().unwrap();
    let out = wactor(
        &["new", "greeter", "--path", &work.path().display().to_string()],
        b"",
    );
    assert!(out.status.success(), "{}", stderr(&out));
    let krate = work.path().join("greeter");
    for f in [
        "Cargo.toml",
        "src/lib.rs",
        "README.md",
        ".gitignore",
        "wactor.toml",
    ] {
        assert!(krate.join(f).is_file(), "{f} missing");
    }
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        said.contains("--crate") && said.contains("wactor call greeter"),
        "{said}"
    );

    // It does not overwrite, and it refuses names it cannot use.
    let again = wactor(
        &["new", "greeter", "--path", &work.path().display().to_string()],
        b"",
    );
    assert_eq!(again.status.code(), Some(1));
    assert!(stderr(&again).contains("already exists"), "{}", stderr(&again));
    let bad = wactor(
        &["new", "Not A Name", "--path", &work.path().display().to_string()],
        b"",
    );
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("lowercase"), "{}", stderr(&bad));

    // It builds with the project's guest build script...
    let built = work.path().join("built");
    let status = Command::new(repo_root().join("scripts/build-guests"))
        .arg("--crate")
        .arg(&krate)
        .arg("--out")
        .arg(&built)
        .status()
        .expect("run scripts/build-guests");
    assert!(status.success(), "scripts/build-guests --crate failed");
    let wasm = built.join("greeter.wasm");
    assert!(wasm.is_file());
    // Its manifest comes along: as written (all commented out) it is the
    // default, and with every key but `pool` uncommented it is valid.
    let text = std::fs::read_to_string(built.join("greeter.toml")).expect("the manifest is copied");
    let parsed = wactor::Manifest::parse(&text, &built).expect("the scaffolded manifest is valid");
    assert_eq!(parsed, wactor::Manifest::default());
    let uncommented: String = text
        .lines()
        .map(|l| match l.strip_prefix("# ") {
            Some(rest)
                if !rest.starts_with("pool")
                    && (rest.starts_with('[')
                        || rest.split_once(" = ").is_some_and(|(k, _)| !k.contains(' '))) =>
            {
                rest
            }
            _ => l,
        })
        .map(|l| format!("{l}\n"))
        .collect();
    let parsed = wactor::Manifest::parse(&uncommented, &built)
        .unwrap_or_else(|e| panic!("uncommented, the manifest is valid: {e}\n{uncommented}"));
    assert_eq!(parsed.name.as_deref(), Some("greeter"));
    assert_eq!(parsed.wasi.dirs.len(), 1);

    // ...and starts when dropped into the directory a host watches.
    let watched = work.path().join("watched");
    std::fs::create_dir(&watched).unwrap();
    let mut host = Host::start(&watched);
    let url = host.ready_url();
    let part = watched.join("greeter.wasm.part");
    std::fs::copy(&wasm, &part).unwrap();
    std::fs::rename(&part, watched.join("greeter.wasm")).unwrap();
    host.expect_line(&["actor started", "greeter"]);
    let out = wactor(&["call", "greeter", "world", "--host", &url], b"");
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello, world! (call 1)");
    let out = wactor(&["call", "greeter", "", "--host", &url], b"");
    assert_eq!(String::from_utf8_lossy(&out.stdout), "hello, world! (call 2)");
    assert!(host.terminate().success());
}

/// `scripts/build-guests --crate DIR` builds the crate in DIR, even when
/// another crate of the same name, somewhere else, was built last (cargo
/// took the one's output for the other's: both are `greeter` at the root
/// of their workspace, and share one target directory).
#[test]
fn build_guests_builds_each_crate_of_a_name_from_its_own_source() {
    let work = tempfile::tempdir().unwrap();
    let mut crates = Vec::new();
    for place in ["one", "two"] {
        let path = work.path().join(place);
        std::fs::create_dir(&path).unwrap();
        let out = wactor(&["new", "greeter", "--path", &path.display().to_string()], b"");
        assert!(out.status.success(), "{}", stderr(&out));
        crates.push(path.join("greeter"));
    }
    // The second one greets otherwise.
    let lib = crates[1].join("src/lib.rs");
    let source = std::fs::read_to_string(&lib).unwrap();
    assert!(
        source.contains("\"hello, {who}!"),
        "the scaffold changed: {source}"
    );
    std::fs::write(&lib, source.replace("\"hello, {who}!", "\"howdy, {who}!")).unwrap();

    let build = |krate: &std::path::Path| -> Vec<u8> {
        let out_dir = work.path().join("out");
        let status = Command::new(repo_root().join("scripts/build-guests"))
            .arg("--crate")
            .arg(krate)
            .arg("--out")
            .arg(&out_dir)
            .status()
            .expect("run scripts/build-guests");
        assert!(
            status.success(),
            "scripts/build-guests --crate {} failed",
            krate.display()
        );
        std::fs::read(out_dir.join("greeter.wasm")).unwrap()
    };
    let has = |wasm: &[u8], text: &str| wasm.windows(text.len()).any(|w| w == text.as_bytes());
    for (krate, greets, not) in [
        (&crates[0], "hello, ", "howdy, "),
        (&crates[1], "howdy, ", "hello, "),
        (&crates[0], "hello, ", "howdy, "),
    ] {
        let wasm = build(krate);
        assert!(
            has(&wasm, greets) && !has(&wasm, not),
            "{} built into a .wasm that does not say {greets:?}",
            krate.display()
        );
    }
}
