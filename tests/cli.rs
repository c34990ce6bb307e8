//! The `wactor` binary end to end: `wactor run DIR` on the real examples.

use std::process::Command;

use wactor_e2e::binary::{wactor_bin, Host};
use wactor_e2e::{actors_dir, guest};

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
