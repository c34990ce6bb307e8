//! Checks shared by the SQLite and JetStream tests: both backends must give
//! the same answers to the same operations.

#![allow(dead_code)]

use std::collections::BTreeSet;

use wactor_store::{Bucket, Store, StoreError};

/// Every key of `bucket`, following cursors to the end.
pub async fn all_keys(bucket: &Bucket) -> Vec<String> {
    let mut keys = Vec::new();
    let mut cursor = None;
    for _ in 0..10_000 {
        let page = bucket.list_keys(cursor).await.expect("list keys");
        keys.extend(page.keys);
        match page.cursor {
            Some(next) => cursor = Some(next),
            None => return keys,
        }
    }
    panic!("list_keys never gave a last page");
}

/// The `store` interface: get, set, delete, exists, list-keys.
pub async fn store_operations(store: &Store) {
    let bucket = store.bucket("store ops").expect("bucket");
    assert_eq!(bucket.get("missing").await.expect("get"), None);
    assert!(!bucket.exists("missing").await.expect("exists"));

    bucket.set("a", b"1").await.expect("set");
    assert_eq!(bucket.get("a").await.expect("get"), Some(b"1".to_vec()));
    assert!(bucket.exists("a").await.expect("exists"));
    bucket.set("a", b"2").await.expect("overwrite");
    assert_eq!(bucket.get("a").await.expect("get"), Some(b"2".to_vec()));

    // Keys are any UTF-8, including the empty string and JetStream's
    // separators; values any bytes, including empty.
    let odd_keys = ["", "a.b", "..", "*", ">", "héllo wörld", "user/42", "=2E"];
    for (i, key) in odd_keys.iter().enumerate() {
        bucket.set(key, &[i as u8, 0, 255]).await.expect("set odd key");
    }
    for (i, key) in odd_keys.iter().enumerate() {
        assert_eq!(
            bucket.get(key).await.expect("get odd key"),
            Some(vec![i as u8, 0, 255]),
            "key {key:?}"
        );
    }
    bucket.set("empty", b"").await.expect("set empty value");
    assert_eq!(bucket.get("empty").await.expect("get"), Some(Vec::new()));

    bucket.delete("a").await.expect("delete");
    assert_eq!(bucket.get("a").await.expect("get"), None);
    assert!(!bucket.exists("a").await.expect("exists"));
    bucket.delete("a").await.expect("deleting a missing key is fine");

    // Buckets are separate.
    let other = store.bucket("store ops 2").expect("bucket");
    assert_eq!(other.get("empty").await.expect("get"), None);
    other.set("empty", b"other").await.expect("set");
    assert_eq!(bucket.get("empty").await.expect("get"), Some(Vec::new()));

    let mut expected: BTreeSet<String> = odd_keys.iter().map(|k| k.to_string()).collect();
    expected.insert("empty".into());
    let listed = all_keys(&bucket).await;
    assert_eq!(listed.len(), expected.len(), "no key twice: {listed:?}");
    assert_eq!(listed.into_iter().collect::<BTreeSet<_>>(), expected);
}

/// list-keys pages (the store must have `list_page` = 3).
pub async fn list_keys_pages(store: &Store) {
    assert_eq!(store.limits().list_page, 3, "test needs list_page = 3");
    let bucket = store.bucket("paging").expect("bucket");
    let empty = bucket.list_keys(None).await.expect("list empty");
    assert!(empty.keys.is_empty() && empty.cursor.is_none());

    for i in 0..10 {
        bucket.set(&format!("k{i:02}"), b"v").await.expect("set");
    }
    let first = bucket.list_keys(None).await.expect("list");
    assert_eq!(first.keys.len(), 3);
    assert!(first.cursor.is_some(), "more pages follow");
    let keys = all_keys(&bucket).await;
    let expected: Vec<String> = (0..10).map(|i| format!("k{i:02}")).collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(sorted, expected, "every key once");
}

/// The `atomics` interface (and compare-and-swap).
pub async fn atomics(store: &Store) {
    let bucket = store.bucket("atomics").expect("bucket");
    assert_eq!(bucket.increment("n", 5).await.expect("from missing"), 5);
    assert_eq!(bucket.increment("n", 2).await.expect("increment"), 7);
    assert_eq!(bucket.get("n").await.expect("get"), Some(b"7".to_vec()));
    assert_eq!(bucket.increment("n", 0).await.expect("by zero"), 7);

    bucket.set("seeded", b"40").await.expect("set");
    assert_eq!(bucket.increment("seeded", 2).await.expect("seeded"), 42);

    bucket.set("text", b"forty").await.expect("set");
    assert!(matches!(
        bucket.increment("text", 1).await,
        Err(StoreError::NotANumber { .. })
    ));
    assert_eq!(bucket.get("text").await.expect("get"), Some(b"forty".to_vec()));

    bucket
        .set("max", u64::MAX.to_string().as_bytes())
        .await
        .expect("set");
    assert!(matches!(
        bucket.increment("max", 1).await,
        Err(StoreError::Overflow { .. })
    ));

    // A deleted counter starts again from 0.
    bucket.delete("n").await.expect("delete");
    assert_eq!(bucket.increment("n", 1).await.expect("after delete"), 1);

    assert!(bucket
        .compare_and_swap("c", None, b"x")
        .await
        .expect("cas on missing"));
    assert!(!bucket
        .compare_and_swap("c", None, b"y")
        .await
        .expect("cas, now present"));
    assert!(!bucket
        .compare_and_swap("c", Some(b"z"), b"y")
        .await
        .expect("cas mismatch"));
    assert_eq!(bucket.get("c").await.expect("get"), Some(b"x".to_vec()));
    assert!(bucket
        .compare_and_swap("c", Some(b"x"), b"y")
        .await
        .expect("cas match"));
    assert_eq!(bucket.get("c").await.expect("get"), Some(b"y".to_vec()));
}

/// Concurrent increments from `tasks` tasks on `buckets` (handles, possibly
/// from different clients) lose no update.
pub async fn concurrent_increments(buckets: &[Bucket], per_task: u64) {
    let mut tasks = Vec::new();
    for bucket in buckets {
        for _ in 0..4 {
            let bucket = bucket.clone();
            tasks.push(tokio::spawn(async move {
                for _ in 0..per_task {
                    bucket.increment("shared", 1).await.expect("increment");
                }
            }));
        }
    }
    let n = tasks.len() as u64;
    for task in tasks {
        task.await.expect("task");
    }
    let total = buckets[0].get("shared").await.expect("get");
    assert_eq!(total, Some((n * per_task).to_string().into_bytes()));
}

/// The `batch` interface.
pub async fn batch(store: &Store) {
    let bucket = store.bucket("batch").expect("bucket");
    let items: Vec<(String, Vec<u8>)> = (0..20)
        .map(|i| (format!("b{i}"), format!("v{i}").into_bytes()))
        .collect();
    bucket.set_many(&items).await.expect("set many");
    let keys: Vec<String> = vec!["b3".into(), "nope".into(), "b19".into()];
    assert_eq!(
        bucket.get_many(&keys).await.expect("get many"),
        vec![
            Some(("b3".to_string(), b"v3".to_vec())),
            None,
            Some(("b19".to_string(), b"v19".to_vec())),
        ]
    );
    let gone: Vec<String> = (0..10).map(|i| format!("b{i}")).collect();
    bucket.delete_many(&gone).await.expect("delete many");
    for i in 0..20 {
        let value = bucket.get(&format!("b{i}")).await.expect("get");
        assert_eq!(value.is_some(), i >= 10, "b{i}");
    }
}

/// Limits refuse before writing anything. The store must have
/// `max_value_bytes` = 16, `max_key_bytes` = 8, `max_batch` = 4.
pub async fn limits(store: &Store) {
    let bucket = store.bucket("limits").expect("bucket");
    bucket.set("k", &[7; 16]).await.expect("value at the limit");
    let err = bucket
        .set("big", &[7; 17])
        .await
        .expect_err("value past the limit");
    assert!(
        matches!(err, StoreError::ValueTooLarge { len: 17, max: 16, .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("over the limit of 16 bytes"), "{err}");
    assert_eq!(bucket.get("big").await.expect("get"), None, "nothing written");

    let err = bucket
        .set("123456789", b"v")
        .await
        .expect_err("key past the limit");
    assert!(
        matches!(err, StoreError::KeyTooLong { len: 9, max: 8 }),
        "{err:?}"
    );

    let err = bucket
        .compare_and_swap("k", None, &[0; 17])
        .await
        .expect_err("cas value past the limit");
    assert!(matches!(err, StoreError::ValueTooLarge { .. }), "{err:?}");

    let five: Vec<(String, Vec<u8>)> = (0..5).map(|i| (format!("m{i}"), vec![1])).collect();
    let err = bucket.set_many(&five).await.expect_err("batch past the limit");
    assert!(
        matches!(err, StoreError::BatchTooLarge { len: 5, max: 4 }),
        "{err:?}"
    );
    assert_eq!(bucket.get("m0").await.expect("get"), None, "nothing written");

    let mixed = vec![("ok".to_string(), vec![1]), ("bad".to_string(), vec![0; 17])];
    assert!(matches!(
        bucket.set_many(&mixed).await,
        Err(StoreError::ValueTooLarge { .. })
    ));
    assert_eq!(bucket.get("ok").await.expect("get"), None, "nothing written");

    assert!(matches!(
        store.bucket(""),
        Err(StoreError::InvalidBucketName { .. })
    ));
}

/// Durable actor records and journals, through the backend-neutral API.
pub async fn durable_actors(store: &Store) {
    assert_eq!(store.load_actor("counter").await.expect("load"), None);

    // Two messages journaled before the actor ever saved state.
    let m1 = store
        .journal_append("counter", b"inc".to_vec())
        .await
        .expect("append");
    let m2 = store
        .journal_append("counter", b"inc2".to_vec())
        .await
        .expect("append");
    let other = store
        .journal_append("other", b"hello".to_vec())
        .await
        .expect("append");
    assert!(m1 < m2 && m2 < other, "ids increase: {m1} {m2} {other}");
    let record = store.load_actor("counter").await.expect("load").expect("some");
    assert_eq!(record.state, None);
    assert_eq!(record.last_handled, 0);
    let ids: Vec<u64> = record.pending.iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![m1, m2]);
    assert_eq!(record.pending[0].message, b"inc");
    assert_eq!(record.pending[1].message, b"inc2");

    // Handling m1: state, version and last handled together.
    store
        .put_actor_state("counter", b"1".to_vec(), 2, m1)
        .await
        .expect("put");
    let record = store.load_actor("counter").await.expect("load").expect("some");
    assert_eq!(record.state.as_deref(), Some(&b"1"[..]));
    assert_eq!(record.version, 2);
    assert_eq!(record.last_handled, m1);
    let ids: Vec<u64> = record.pending.iter().map(|e| e.id).collect();
    assert_eq!(ids, vec![m2], "only m2 is pending");

    // last_handled never goes back: a stale put does not revive m2.
    store
        .put_actor_state("counter", b"2".to_vec(), 2, m2)
        .await
        .expect("put");
    store
        .put_actor_state("counter", b"3".to_vec(), 2, m1)
        .await
        .expect("put");
    let record = store.load_actor("counter").await.expect("load").expect("some");
    assert_eq!(record.state.as_deref(), Some(&b"3"[..]));
    assert_eq!(record.last_handled, m2);
    assert!(record.pending.is_empty());

    // A message handled without a state change is acknowledged.
    store.journal_ack("other", other).await.expect("ack");
    let record = store.load_actor("other").await.expect("load").expect("some");
    assert!(record.pending.is_empty());
    assert_eq!(record.last_handled, other);
    assert_eq!(record.state, None);

    // A new id is past every earlier one, even acknowledged ones.
    let m3 = store
        .journal_append("counter", b"inc3".to_vec())
        .await
        .expect("append");
    assert!(m3 > other);

    // An actor with only journaled messages is listed too.
    store
        .journal_append("only-journal", b"x".to_vec())
        .await
        .expect("append");
    for name in ["a", "b", "c"] {
        store.put_actor_state(name, Vec::new(), 1, 0).await.expect("put");
    }
    let first = store.list_actors(None, 2).await.expect("list");
    assert_eq!(first, vec!["a", "b"]);
    let rest = store.list_actors(Some("b"), 10).await.expect("list");
    assert_eq!(rest, vec!["c", "counter", "only-journal", "other"]);

    store.delete_actor("counter").await.expect("delete");
    assert_eq!(store.load_actor("counter").await.expect("load"), None);
    assert_eq!(
        store.list_actors(None, 10).await.expect("list"),
        vec!["a", "b", "c", "only-journal", "other"]
    );
}
