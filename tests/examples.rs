//! The request/response examples, run on the real host: `batcher` (deferred
//! calls answered in batches), `db` (application errors versus
//! `send-response-error`) and `pool-worker` (a slow worker behind a pool).
//!
//! The types below mirror each example's wire format (postcard encodes
//! fields and variants by position, so the names are free but the order is
//! not): a change to an example's protocol shows up here.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use serde::{de::DeserializeOwned, Deserialize, Serialize};
use wactor::{DeliveryError, Node, Pid};
use wactor_e2e::proto::WirePid;
use wactor_e2e::*;

/// Long enough that no call here times out unless a test means it to.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

async fn call<R: DeserializeOwned>(node: &Node, to: &Pid, req: &impl Serialize) -> Result<R, DeliveryError> {
    node.call(to, enc(req), Some(CALL_TIMEOUT)).await.map(|b| dec(&b))
}

/// Makes the calls `reqs` to `to` all at once and returns their answers in
/// the same order.
async fn call_all<Q, R>(node: &Node, to: &Pid, reqs: Vec<Q>) -> Vec<Result<R, DeliveryError>>
where
    Q: Serialize,
    R: DeserializeOwned + Send + 'static,
{
    let calls: Vec<_> = reqs
        .iter()
        .map(|req| {
            let (node, to, payload) = (node.clone(), to.clone(), enc(req));
            tokio::spawn(async move {
                node.call(&to, payload, Some(CALL_TIMEOUT))
                    .await
                    .map(|b| dec::<R>(&b))
            })
        })
        .collect();
    let mut answers = Vec::new();
    for c in calls {
        answers.push(c.await.expect("the calling task finished"));
    }
    answers
}

// ----- batcher ---------------------------------------------------------------

#[derive(Serialize)]
struct BatcherArgs {
    max_items: u32,
    flush_after_ms: u32,
}

#[derive(Serialize)]
enum BatchRequest {
    Add(u64),
    Stats,
}

#[derive(Deserialize, Debug, PartialEq, Eq)]
enum BatchReply {
    Batch(BatchDone),
    Stats(BatchStats),
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
struct BatchDone {
    batch: u64,
    items: u32,
    sum: u64,
}

#[derive(Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
struct BatchStats {
    batches: u64,
    answered: u64,
    skipped: u64,
    pending: u32,
}

/// A timer that never fires while a test runs: batches flush only when full.
const NEVER_MS: u32 = 600_000;

async fn batcher(node: &Node, max_items: u32, flush_after_ms: u32) -> Pid {
    let args = BatcherArgs {
        max_items,
        flush_after_ms,
    };
    node.spawn("batcher", enc(&args)).await.expect("spawn batcher")
}

async fn batch_stats(node: &Node, batcher: &Pid) -> BatchStats {
    match call(node, batcher, &BatchRequest::Stats).await {
        Ok(BatchReply::Stats(stats)) => stats,
        other => panic!("expected the batcher's stats, got {other:?}"),
    }
}

fn batch_of(answer: Result<BatchReply, DeliveryError>) -> BatchDone {
    match answer {
        Ok(BatchReply::Batch(done)) => done,
        other => panic!("expected a processed batch, got {other:?}"),
    }
}

#[tokio::test]
async fn a_full_batch_is_flushed_at_once() {
    let node = node(&["batcher"]).await;
    // The timer would fire long after the calls time out: only a full batch
    // answers them.
    let b = batcher(&node, 4, NEVER_MS).await;
    let answers = call_all(&node, &b, (1..=4).map(BatchRequest::Add).collect()).await;
    for answer in answers {
        assert_eq!(
            batch_of(answer),
            BatchDone {
                batch: 1,
                items: 4,
                sum: 1 + 2 + 3 + 4
            }
        );
    }
    assert_eq!(
        batch_stats(&node, &b).await,
        BatchStats {
            batches: 1,
            answered: 4,
            skipped: 0,
            pending: 0
        }
    );
}

#[tokio::test]
async fn a_partial_batch_is_flushed_by_its_timer() {
    let node = node(&["batcher"]).await;
    // No arguments: batches of 8, flushed 50 ms after their first item. One
    // item never fills a batch, so only the timer can answer it.
    let b = node.spawn("batcher", vec![]).await.expect("spawn batcher");
    let alone = batch_of(call(&node, &b, &BatchRequest::Add(7)).await);
    assert_eq!(
        alone,
        BatchDone {
            batch: 1,
            items: 1,
            sum: 7
        }
    );

    // Three items at once: however they fall into batches, every batch is
    // partial, every caller in one batch gets the same answer, and nothing
    // is lost.
    let started = Instant::now();
    let answers = call_all(
        &node,
        &b,
        vec![
            BatchRequest::Add(10),
            BatchRequest::Add(20),
            BatchRequest::Add(30),
        ],
    )
    .await;
    let mut batches = BTreeMap::new();
    let mut callers = BTreeMap::<u64, u32>::new();
    for answer in answers {
        let done = batch_of(answer);
        assert!(done.items < 8, "a batch of 8 is flushed only when full: {done:?}");
        assert_eq!(
            *batches.entry(done.batch).or_insert(done),
            done,
            "one batch, one answer"
        );
        *callers.entry(done.batch).or_default() += 1;
    }
    for (batch, done) in &batches {
        assert_eq!(
            callers[batch], done.items,
            "every caller in batch {batch} was answered"
        );
    }
    assert_eq!(batches.values().map(|d| d.sum).sum::<u64>(), 60);
    println!(
        "three items were answered in {} batch(es) after {:?}",
        batches.len(),
        started.elapsed()
    );
    assert_eq!(
        batch_stats(&node, &b).await,
        BatchStats {
            batches: 1 + batches.len() as u64,
            answered: 4,
            skipped: 0,
            pending: 0
        }
    );
}

#[tokio::test]
async fn a_caller_that_stopped_waiting_is_skipped_and_the_others_answered() {
    let node = node(&["batcher"]).await;
    let b = batcher(&node, 3, NEVER_MS).await;
    // The first caller gives up long before the batch is full.
    let gave_up = node
        .call(&b, enc(&BatchRequest::Add(100)), Some(Duration::from_millis(100)))
        .await;
    assert_eq!(gave_up, Err(DeliveryError::Timeout));
    // Its item is still held (the stats call queues behind it).
    assert_eq!(batch_stats(&node, &b).await.pending, 1);

    let answers = call_all(&node, &b, vec![BatchRequest::Add(1), BatchRequest::Add(2)]).await;
    for answer in answers {
        assert_eq!(
            batch_of(answer),
            BatchDone {
                batch: 1,
                items: 2,
                sum: 3
            },
            "the batch processes only the items of callers still waiting"
        );
    }
    assert_eq!(
        batch_stats(&node, &b).await,
        BatchStats {
            batches: 1,
            answered: 2,
            skipped: 1,
            pending: 0
        }
    );
    assert_eq!(
        node.late_answers(),
        0,
        "no answer was sent to the caller that gave up"
    );
}

// ----- db ----------------------------------------------------------------------

#[derive(Serialize)]
enum DbRequest {
    Get(String),
    Put(String, String),
    Delete(String),
    Query(String),
    SetBackend(bool),
}

#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
struct Row {
    key: String,
    value: String,
}

#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
enum DbError {
    NotFound(String),
    BadQuery { query: String, reason: String },
}

type DbReply = Result<Vec<Row>, DbError>;

fn row(key: &str, value: &str) -> Row {
    Row {
        key: key.into(),
        value: value.into(),
    }
}

async fn db(node: &Node, db: &Pid, req: DbRequest) -> Result<DbReply, DeliveryError> {
    call(node, db, &req).await
}

async fn query(node: &Node, pid: &Pid, text: &str) -> Result<DbReply, DeliveryError> {
    db(node, pid, DbRequest::Query(text.into())).await
}

#[tokio::test]
async fn a_bad_query_is_an_application_error_and_the_db_keeps_running() {
    let node = node(&["db"]).await;
    let d = node.spawn("db", vec![]).await.expect("spawn db");
    assert_eq!(
        db(&node, &d, DbRequest::Put("a".into(), "1".into())).await,
        Ok(Ok(vec![row("a", "1")]))
    );
    assert_eq!(
        query(&node, &d, "put b two words").await,
        Ok(Ok(vec![row("b", "two words")]))
    );

    // Malformed queries and a missing key are answers, not failures.
    match query(&node, &d, "frobnicate a").await {
        Ok(Err(DbError::BadQuery { query, reason })) => {
            assert_eq!(query, "frobnicate a");
            assert!(reason.contains("unknown command `frobnicate`"), "{reason}");
        }
        other => panic!("expected a bad query, got {other:?}"),
    }
    match query(&node, &d, "get").await {
        Ok(Err(DbError::BadQuery { reason, .. })) => assert!(reason.contains("needs a key"), "{reason}"),
        other => panic!("expected a bad query, got {other:?}"),
    }
    assert_eq!(
        db(&node, &d, DbRequest::Get("missing".into())).await,
        Ok(Err(DbError::NotFound("missing".into())))
    );
    assert_eq!(
        query(&node, &d, "delete missing").await,
        Ok(Err(DbError::NotFound("missing".into())))
    );

    // The same actor, with its table, answers what follows.
    assert!(node.is_alive(&d));
    assert_eq!(node.restarts(&d), Some(0));
    assert_eq!(query(&node, &d, "GET a").await, Ok(Ok(vec![row("a", "1")])));
    assert_eq!(
        query(&node, &d, "scan").await,
        Ok(Ok(vec![row("a", "1"), row("b", "two words")]))
    );
    assert_eq!(
        db(&node, &d, DbRequest::Delete("a".into())).await,
        Ok(Ok(vec![row("a", "1")]))
    );
    assert_eq!(query(&node, &d, "scan a").await, Ok(Ok(vec![])));
}

#[tokio::test]
async fn a_backend_that_is_down_is_a_remote_error_until_it_is_back() {
    let node = node(&["db"]).await;
    let d = node.spawn("db", vec![]).await.expect("spawn db");
    assert!(matches!(
        db(&node, &d, DbRequest::Put("k".into(), "v".into())).await,
        Ok(Ok(_))
    ));

    assert_eq!(db(&node, &d, DbRequest::SetBackend(false)).await, Ok(Ok(vec![])));
    let unavailable = Err(DeliveryError::Remote("backend unavailable".into()));
    assert_eq!(db(&node, &d, DbRequest::Get("k".into())).await, unavailable);
    assert_eq!(query(&node, &d, "scan").await, unavailable);
    // Even a malformed query: nothing can be said about it while the
    // backend is down.
    assert_eq!(query(&node, &d, "frobnicate").await, unavailable);
    assert!(node.is_alive(&d));

    assert_eq!(db(&node, &d, DbRequest::SetBackend(true)).await, Ok(Ok(vec![])));
    assert_eq!(
        db(&node, &d, DbRequest::Get("k".into())).await,
        Ok(Ok(vec![row("k", "v")]))
    );
}

// ----- pool-worker ---------------------------------------------------------------

#[derive(Serialize, Clone)]
enum WorkRequest {
    Work { ms: u32 },
}

#[derive(Deserialize, Debug, Clone, PartialEq, Eq)]
struct WorkDone {
    worker: WirePid,
    ms: u32,
    ahead: u32,
    finished: u64,
}

fn work_done(answer: Result<WorkDone, DeliveryError>) -> WorkDone {
    answer.unwrap_or_else(|e| panic!("expected a finished job, got {e:?}"))
}

#[tokio::test]
async fn a_pool_of_eight_takes_eight_slow_calls_one_per_worker() {
    let node = node(&["pool-worker"]).await;
    let pool = node
        .spawn_pool("pool-worker", 8, vec![])
        .await
        .expect("spawn the pool");
    let started = Instant::now();
    let answers = call_all(&node, &pool, vec![WorkRequest::Work { ms: 200 }; 8]).await;
    let elapsed = started.elapsed();

    let mut workers = BTreeSet::new();
    for answer in answers {
        let done = work_done(answer);
        assert_eq!(done.ms, 200);
        assert_eq!(
            (done.ahead, done.finished),
            (0, 1),
            "each job started at once on a worker of its own: {done:?}"
        );
        workers.insert(done.worker.id);
    }
    let pool_workers: BTreeSet<u64> = node.pool_workers(&pool).unwrap().iter().map(|p| p.id).collect();
    assert_eq!(workers, pool_workers, "every worker answered one call");
    let stats = node.pool_stats(&pool).unwrap();
    assert_eq!((stats.size, stats.forwarded, stats.rejected), (8, 8, 0));
    println!("8 calls of 200 ms over a pool of 8 took {elapsed:?}");
}

#[tokio::test]
async fn a_single_worker_does_its_jobs_one_after_another() {
    let node = node(&["pool-worker"]).await;
    let w = node.spawn("pool-worker", vec![]).await.expect("spawn a worker");
    let started = Instant::now();
    let answers = call_all(&node, &w, vec![WorkRequest::Work { ms: 50 }; 3]).await;
    let elapsed = started.elapsed();
    let mut order: Vec<(u32, u64)> = answers
        .into_iter()
        .map(|a| {
            let done = work_done(a);
            assert_eq!(done.worker.id, w.id);
            (done.ahead, done.finished)
        })
        .collect();
    order.sort();
    assert_eq!(
        order,
        vec![(0, 1), (1, 2), (2, 3)],
        "the jobs queued behind each other and finished in turn"
    );
    println!("3 calls of 50 ms on one worker took {elapsed:?}");
}

/// The examples directory, loaded as `wactor run target/actors` loads it,
/// starts `pool-worker` as its manifest says: a pool of 4 named `workers`,
/// whose calls land on 4 distinct workers.
#[tokio::test]
async fn the_example_manifest_starts_pool_worker_as_a_pool_of_four() {
    // The directory holds the JavaScript and Python examples too, whose
    // components take seconds each to compile: a compile cache shared by
    // the test runs compiles them once.
    let node = Node::new(wactor::NodeConfig {
        cache_dir: Some(wactor_e2e::repo_root().join("target/test-cache/examples")),
        ..wactor::NodeConfig::default()
    })
    .unwrap();
    let report = wactor::watch::load_dir(&node, &actors_dir()).await.unwrap();
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    assert!(report.started.iter().any(|b| b == "pool-worker"));
    assert_eq!(node.pool_stats("workers").map(|s| s.size), Ok(4));
    assert!(node.whereis("pool-worker").is_none());
    let calls: Vec<_> = (0..4)
        .map(|_| {
            let node = node.clone();
            tokio::spawn(async move {
                node.call("workers", enc(&WorkRequest::Work { ms: 200 }), None)
                    .await
            })
        })
        .collect();
    let mut workers = BTreeSet::new();
    for call in calls {
        let answer = call.await.unwrap().map(|b| dec::<WorkDone>(&b));
        workers.insert(work_done(answer).worker.id);
    }
    assert_eq!(workers.len(), 4, "{workers:?}");
}
