//! The compile cache on disk: a second node (or a restarted binary) on the
//! same cache directory loads without compiling; a bad entry or an
//! unusable directory costs a compile, never a load.

use std::path::{Path, PathBuf};

use wactor::{CacheStats, Node, NodeConfig};
use wactor_e2e::binary::Host;
use wactor_e2e::*;

fn cached_config(dir: &Path) -> NodeConfig {
    NodeConfig {
        cache_dir: Some(dir.to_path_buf()),
        ..NodeConfig::default()
    }
}

fn counts(s: CacheStats) -> (u64, u64, u64, u64) {
    (s.hits, s.misses, s.writes, s.errors)
}

/// The cache entries under `dir`.
fn entries(dir: &Path) -> Vec<PathBuf> {
    let mut found = Vec::new();
    let mut todo = vec![dir.to_path_buf()];
    while let Some(d) = todo.pop() {
        let Ok(read) = std::fs::read_dir(&d) else { continue };
        for e in read.map(Result::unwrap) {
            let p = e.path();
            if p.is_dir() {
                todo.push(p);
            } else if p.extension().is_some_and(|x| x == "cwasm") {
                found.push(p);
            }
        }
    }
    found.sort();
    found
}

/// Loads the testkit into a fresh node on `dir` and checks it answers.
async fn load_testkit(dir: &Path) -> (Node, bool) {
    let node = Node::new(cached_config(dir)).unwrap();
    let b = node.load("testkit", guest_bytes("testkit")).await.unwrap();
    let t = testkit(&node, None).await;
    assert_echoes(&node, &t, b"answer").await;
    (node, b.version.from_cache)
}

#[tokio::test]
async fn a_second_node_on_the_same_directory_loads_from_the_cache() {
    let dir = tempfile::tempdir().unwrap();
    let (first, from_cache) = load_testkit(dir.path()).await;
    assert!(!from_cache);
    assert_eq!(counts(first.cache_stats()), (0, 1, 1, 0));
    let written = entries(dir.path());
    assert_eq!(written.len(), 1, "{written:?}");
    let hash = first.behaviours()[0].version.hash.clone();
    assert!(
        written[0]
            .file_name()
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with(&hash),
        "the entry is named after the content hash: {written:?}"
    );

    let (second, from_cache) = load_testkit(dir.path()).await;
    assert!(from_cache, "the second node did not compile");
    assert_eq!(counts(second.cache_stats()), (1, 0, 0, 0));
    assert_eq!(second.behaviours()[0].version.hash, hash);
    assert_eq!(entries(dir.path()), written);

    // Another input is another entry; the first one is still used.
    second.load("echo", guest_bytes("echo")).await.unwrap();
    assert_eq!(counts(second.cache_stats()), (1, 1, 1, 0));
    assert_eq!(entries(dir.path()).len(), 2);
}

#[tokio::test]
async fn a_corrupt_entry_is_detected_recompiled_and_replaced() {
    let dir = tempfile::tempdir().unwrap();
    load_testkit(dir.path()).await;
    let entry = entries(dir.path()).pop().expect("an entry");
    let good = std::fs::read(&entry).unwrap();

    let mut flipped = good.clone();
    let mid = flipped.len() / 2;
    flipped[mid] ^= 0x40;
    let truncated = good[..good.len() / 3].to_vec();
    let empty = Vec::new();
    // Another input's entry under this input's name.
    let other = Node::new(cached_config(dir.path())).unwrap();
    other.load("echo", guest_bytes("echo")).await.unwrap();
    let echo_entry = entries(dir.path()).into_iter().find(|e| e != &entry).unwrap();
    let misplaced = std::fs::read(&echo_entry).unwrap();

    for (what, bad) in [
        ("a flipped bit", flipped),
        ("a truncated file", truncated),
        ("an empty file", empty),
        ("another input's entry", misplaced),
    ] {
        std::fs::write(&entry, &bad).unwrap();
        let (node, from_cache) = load_testkit(dir.path()).await;
        assert!(!from_cache, "{what}: compiled again");
        assert_eq!(counts(node.cache_stats()), (0, 1, 1, 1), "{what}");
        assert_eq!(
            std::fs::read(&entry).unwrap(),
            good,
            "{what}: the entry is rewritten"
        );
    }
    let (node, from_cache) = load_testkit(dir.path()).await;
    assert!(from_cache);
    assert_eq!(counts(node.cache_stats()), (1, 0, 0, 0));
}

#[tokio::test]
async fn an_unusable_cache_directory_does_not_stop_a_load() {
    let base = tempfile::tempdir().unwrap();
    let file = base.path().join("a-file");
    std::fs::write(&file, b"x").unwrap();
    // A directory inside a regular file can never be created.
    let (node, from_cache) = load_testkit(&file.join("cache")).await;
    assert!(!from_cache);
    assert_eq!(counts(node.cache_stats()), (0, 1, 0, 1));
    assert_eq!(std::fs::read(&file).unwrap(), b"x");
}

#[tokio::test]
async fn a_node_without_a_cache_directory_keeps_nothing() {
    assert_eq!(NodeConfig::default().cache_dir, None);
    let node = node(&["echo"]).await;
    assert!(!node.behaviours()[0].version.from_cache);
    assert_eq!(node.cache_stats(), CacheStats::default());
}

/// `wactor run` twice on one `--cache-dir`: the second run compiles and
/// converts nothing. (Each run is killed once it serves: entries are
/// written while loading, before the `serving` line.)
#[test]
fn the_binary_restarted_on_the_same_cache_dir_gets_cache_hits() {
    let actors = tempfile::tempdir().unwrap();
    let cache = tempfile::tempdir().unwrap();
    std::fs::copy(guest("echo"), actors.path().join("echo.wasm")).unwrap();
    std::fs::copy(wasip1_guest("calculator"), actors.path().join("calc1.wasm")).unwrap();
    let cache_arg = cache.path().to_str().expect("a UTF-8 temp path");

    let mut first = Host::start_with(actors.path(), &["--cache-dir", cache_arg]);
    first.expect_line(&["compile cache dir=", cache_arg]);
    first.expect_line(&["compile cache miss", "echo.wasm"]);
    first.expect_line(&["compile cache miss", "calc1.wasm"]);
    first.expect_line(&["converted a wasm32-wasip1 core module", "calc1.wasm"]);
    first.expect_line(&["serving", "started=2", "failed=0"]);
    drop(first);
    assert_eq!(entries(cache.path()).len(), 2);

    let mut second = Host::start_with(actors.path(), &["--cache-dir", cache_arg]);
    second.expect_line(&["compile cache hit", "echo.wasm"]);
    second.expect_line(&["compile cache hit", "calc1.wasm"]);
    second.expect_line(&["serving", "started=2", "failed=0"]);
    let again = |l: &&String| l.contains("compile cache miss") || l.contains("converted");
    assert!(!second.seen.iter().any(|l| again(&l)), "{:#?}", second.seen);
    drop(second);

    // --no-cache: nothing is looked up or kept. Without it, the same run
    // keeps its compiled actor in the default directory; with it, that
    // directory stays empty.
    let fresh = tempfile::tempdir().unwrap();
    std::fs::copy(guest("echo"), fresh.path().join("echo.wasm")).unwrap();
    let mut on = Host::start(fresh.path());
    on.expect_line(&["serving", "started=1", "failed=0"]);
    assert_eq!(entries(on.cache_dir()).len(), 1, "the default cache dir is used");
    let mut off = Host::start_with(fresh.path(), &["--no-cache"]);
    off.expect_line(&["compile cache off"]);
    off.expect_line(&["serving", "started=1", "failed=0"]);
    let kept: Vec<_> = std::fs::read_dir(off.cache_dir())
        .expect("the default cache dir")
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(kept, Vec::<PathBuf>::new(), "--no-cache wrote to the cache dir");
    let log = off.all_lines();
    assert!(
        !log.iter()
            .any(|l| l.contains("compile cache hit") || l.contains("compile cache miss")),
        "{log:#?}"
    );
}
