//! The README's first actor is real code: a crate made by `wactor new` with
//! that code as its `lib.rs` builds without a warning, and answers calls.

use std::process::Command;

use wactor::Node;
use wactor_e2e::binary::wactor_bin;
use wactor_e2e::repo_root;

/// The first ```rust block of the README.
fn first_rust_example() -> String {
    let readme = std::fs::read_to_string(repo_root().join("README.md")).expect("README.md");
    let start = readme.find("```rust\n").expect("a rust block in the README") + "```rust\n".len();
    let len = readme[start..].find("```").expect("the block ends");
    readme[start..start + len].to_string()
}

#[tokio::test]
async fn the_readme_s_first_actor_builds_cleanly_and_answers() {
    let work = tempfile::tempdir().unwrap();
    let status = Command::new(wactor_bin())
        .args(["new", "readme-counter", "--path"])
        .arg(work.path())
        .status()
        .expect("wactor new");
    assert!(status.success());
    let krate = work.path().join("readme-counter");
    std::fs::write(krate.join("src/lib.rs"), first_rust_example()).unwrap();

    let built = work.path().join("built");
    let out = Command::new(repo_root().join("scripts/build-guests"))
        .arg("--crate")
        .arg(&krate)
        .arg("--out")
        .arg(&built)
        .output()
        .expect("run scripts/build-guests");
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "the README's actor does not build:\n{log}");
    assert!(
        !log.lines().any(|l| l.starts_with("warning")),
        "the README's actor builds with warnings:\n{log}"
    );

    // It is the counter the README says it is.
    #[derive(serde::Serialize)]
    enum CounterRequest {
        Increment,
        Get,
    }
    let node = Node::new(Default::default()).unwrap();
    node.load_file(&built.join("readme-counter.wasm"))
        .await
        .expect("it loads");
    let pid = node.spawn("readme-counter", Vec::new()).await.expect("it starts");
    let ask = |req| {
        let (node, pid) = (node.clone(), pid.clone());
        async move {
            let bytes = postcard::to_allocvec(&req).unwrap();
            let answer = node.call(&pid, bytes, None).await.expect("an answer");
            postcard::from_bytes::<u64>(&answer).expect("a u64")
        }
    };
    assert_eq!(ask(CounterRequest::Increment).await, 1);
    assert_eq!(ask(CounterRequest::Increment).await, 2);
    assert_eq!(ask(CounterRequest::Get).await, 2);
}
