//! Key-value set and get per second through `wactor-store`, against the
//! native way in the same run: `rusqlite` directly on a file with the same
//! settings (WAL, `synchronous=FULL`, the same table, one commit per
//! write), and a bare `async-nats` key-value client on the same JetStream
//! bucket. Each pair alternates in rounds, so that both columns come from
//! the same stretches of a machine whose disk and CPU speed drift.
//!
//! ```text
//! cargo run --release -p wactor-store --example kv_bench -- \
//!     [--writes N] [--reads N] [--tasks N] [--nats URL]
//! ```
//!
//! Without `--nats`, the JetStream rows are left out (start a server with
//! `nats-server -js -sd DIR -p PORT` and pass `nats://127.0.0.1:PORT`).

use std::future::Future;
use std::path::Path;
use std::time::{Duration, Instant};

use wactor_store::{Bucket, JetStreamOptions, JetStreamStore, SqliteOptions, SqliteStore, Store};

const ROUNDS: usize = 5;
const VALUE: [u8; 100] = [7; 100];

type Error = Box<dyn std::error::Error + Send + Sync>;

struct Args {
    writes: usize,
    reads: usize,
    tasks: usize,
    nats: Option<String>,
}

fn parse_args() -> Result<Args, Error> {
    let mut args = Args {
        writes: 2_000,
        reads: 100_000,
        tasks: 64,
        nats: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let value = it.next().ok_or(format!("{flag} needs a value"))?;
        match flag.as_str() {
            "--writes" => args.writes = value.parse()?,
            "--reads" => args.reads = value.parse()?,
            "--tasks" => args.tasks = value.parse()?,
            "--nats" => args.nats = Some(value),
            other => return Err(format!("unknown argument {other}").into()),
        }
    }
    args.writes = args.writes.max(ROUNDS);
    args.reads = args.reads.max(ROUNDS);
    args.tasks = args.tasks.max(1);
    Ok(args)
}

/// Operations and the time they took.
#[derive(Default, Clone, Copy)]
struct Tally {
    ops: usize,
    took: Duration,
}

impl Tally {
    fn rate(self) -> f64 {
        self.ops as f64 / self.took.as_secs_f64()
    }

    async fn time<F: Future<Output = Result<usize, Error>>>(&mut self, f: F) -> Result<(), Error> {
        let start = Instant::now();
        self.ops += f.await?;
        self.took += start.elapsed();
        Ok(())
    }
}

#[derive(Default)]
struct Table(Vec<(String, f64, Option<f64>)>);

impl Table {
    fn row(&mut self, name: &str, ours: Tally, native: Option<Tally>) {
        let (ours, native) = (ours.rate(), native.map(Tally::rate));
        eprintln!(
            "{name}: {ours:.0}/s{}",
            native.map(|n| format!(", native {n:.0}/s")).unwrap_or_default()
        );
        self.0.push((name.to_owned(), ours, native));
    }

    fn print(&self) {
        println!("| workload | wactor-store | native | cost ratio |");
        println!("| --- | --- | --- | --- |");
        for (name, ours, native) in &self.0 {
            match native {
                Some(n) => println!("| {name} | {ours:.0}/s | {n:.0}/s | {:.2}× |", n / ours),
                None => println!("| {name} | {ours:.0}/s | — | — |"),
            }
        }
    }
}

/// The native SQLite baseline: one connection, the same pragmas and table
/// as the store, one autocommit transaction (one fsync) per write.
fn raw_sqlite(dir: &Path) -> rusqlite::Result<rusqlite::Connection> {
    let conn = rusqlite::Connection::open(dir.join("raw.db"))?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         CREATE TABLE kv (id INTEGER PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL,
                          value BLOB NOT NULL, UNIQUE (bucket, key));
         CREATE INDEX kv_bucket_id ON kv (bucket, id);",
    )?;
    Ok(conn)
}

fn raw_set(conn: &rusqlite::Connection, keys: std::ops::Range<usize>) -> Result<usize, Error> {
    let n = keys.len();
    for i in keys {
        conn.prepare_cached(
            "INSERT INTO kv (bucket, key, value) VALUES ('b', ?1, ?2)
             ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value",
        )?
        .execute(rusqlite::params![format!("k{i}"), VALUE])?;
    }
    Ok(n)
}

fn raw_get(conn: &rusqlite::Connection, n: usize, keys: usize) -> Result<usize, Error> {
    for i in 0..n {
        let v: Vec<u8> = conn
            .prepare_cached("SELECT value FROM kv WHERE bucket = 'b' AND key = ?1")?
            .query_row([format!("k{}", i % keys)], |r| r.get(0))?;
        std::hint::black_box(v);
    }
    Ok(n)
}

async fn set_seq(bucket: &Bucket, prefix: &str, keys: std::ops::Range<usize>) -> Result<usize, Error> {
    let n = keys.len();
    for i in keys {
        bucket.set(&format!("{prefix}{i}"), &VALUE).await?;
    }
    Ok(n)
}

async fn get_seq(bucket: &Bucket, n: usize, keys: usize) -> Result<usize, Error> {
    for i in 0..n {
        std::hint::black_box(bucket.get(&format!("k{}", i % keys)).await?);
    }
    Ok(n)
}

/// `total` sets or gets spread over `tasks` tasks at once.
async fn concurrently(
    bucket: &Bucket,
    tasks: usize,
    total: usize,
    keys: usize,
    write: bool,
) -> Result<usize, Error> {
    let per_task = total.div_ceil(tasks);
    let mut handles = Vec::new();
    for t in 0..tasks {
        let bucket = bucket.clone();
        handles.push(tokio::spawn(async move {
            for i in 0..per_task {
                if write {
                    bucket.set(&format!("c{t}-{i}"), &VALUE).await?;
                } else {
                    std::hint::black_box(bucket.get(&format!("k{}", i % keys)).await?);
                }
            }
            Ok::<_, wactor_store::StoreError>(())
        }));
    }
    for handle in handles {
        handle.await??;
    }
    Ok(per_task * tasks)
}

async fn sqlite_rows(args: &Args, table: &mut Table) -> Result<(), Error> {
    let dir = tempfile::tempdir()?;
    let raw = raw_sqlite(dir.path())?;
    let sqlite = SqliteStore::open(dir.path().join("store"), SqliteOptions::default())?;
    let bucket = Store::from(sqlite.clone()).bucket("b")?;
    let (per_round, mut ours, mut native) = (args.writes / ROUNDS, Tally::default(), Tally::default());
    for r in 0..ROUNDS {
        let keys = r * per_round..(r + 1) * per_round;
        native.time(async { raw_set(&raw, keys.clone()) }).await?;
        ours.time(set_seq(&bucket, "k", keys)).await?;
    }
    table.row("SQLite set, one at a time (one commit each)", ours, Some(native));
    let keys = per_round * ROUNDS;

    let before = sqlite.stats();
    let mut grouped = Tally::default();
    grouped
        .time(concurrently(&bucket, args.tasks, args.writes, keys, true))
        .await?;
    let after = sqlite.stats();
    table.row(
        &format!(
            "SQLite set, {} tasks at once ({} writes in {} commits)",
            args.tasks,
            after.writes - before.writes,
            after.commits - before.commits
        ),
        grouped,
        Some(native),
    );

    let (per_round, mut ours, mut native_get) = (args.reads / ROUNDS, Tally::default(), Tally::default());
    for _ in 0..ROUNDS {
        native_get.time(async { raw_get(&raw, per_round, keys) }).await?;
        ours.time(get_seq(&bucket, per_round, keys)).await?;
    }
    table.row("SQLite get, one at a time", ours, Some(native_get));
    let mut spread = Tally::default();
    spread
        .time(concurrently(&bucket, args.tasks, args.reads, keys, false))
        .await?;
    table.row(
        &format!("SQLite get, {} tasks at once", args.tasks),
        spread,
        Some(native_get),
    );

    // Issue 26's shape: 64 durable actors, each committing its new state
    // with the message it handled, all at once.
    let before = sqlite.stats();
    let mut durable = Tally::default();
    durable
        .time(async {
            let per_actor = args.writes.div_ceil(args.tasks);
            let mut handles = Vec::new();
            for a in 0..args.tasks {
                let sqlite = sqlite.clone();
                handles.push(tokio::spawn(async move {
                    for i in 0..per_actor {
                        let name = format!("actor-{a}");
                        let id = i as u64 + 1;
                        sqlite.put_actor_state(&name, VALUE.to_vec(), 1, id).await?;
                    }
                    Ok::<_, wactor_store::StoreError>(())
                }));
            }
            for handle in handles {
                handle.await??;
            }
            Ok(per_actor * args.tasks)
        })
        .await?;
    table.row(
        &format!(
            "SQLite durable actor state put, {} actors at once ({} commits)",
            args.tasks,
            sqlite.stats().commits - before.commits
        ),
        durable,
        Some(native),
    );
    sqlite.close().await;
    Ok(())
}

async fn jetstream_rows(url: &str, args: &Args, table: &mut Table) -> Result<(), Error> {
    let js = JetStreamStore::connect(url, JetStreamOptions::default()).await?;
    let name = js.jetstream_bucket_name("b");
    let bucket = Store::from(js).bucket("b")?;
    bucket.set("warm-up", b"creates the bucket").await?;
    let client = async_nats::connect(url).await?;
    let bare = async_nats::jetstream::new(client).get_key_value(name).await?;

    let (per_round, mut ours, mut native) = (args.writes / ROUNDS, Tally::default(), Tally::default());
    for r in 0..ROUNDS {
        let keys = r * per_round..(r + 1) * per_round;
        native
            .time(async {
                for i in keys.clone() {
                    bare.put(format!("n{i}"), VALUE.to_vec().into()).await?;
                }
                Ok(keys.len())
            })
            .await?;
        ours.time(set_seq(&bucket, "k", keys)).await?;
    }
    table.row("JetStream set, one at a time", ours, Some(native));
    let keys = per_round * ROUNDS;
    let mut grouped = Tally::default();
    grouped
        .time(concurrently(&bucket, args.tasks, args.writes, keys, true))
        .await?;
    table.row(
        &format!("JetStream set, {} tasks at once", args.tasks),
        grouped,
        None,
    );

    // Fewer reads: each is a network round trip.
    let reads = (args.reads / 10).max(ROUNDS);
    let (per_round, mut ours, mut native) = (reads / ROUNDS, Tally::default(), Tally::default());
    for _ in 0..ROUNDS {
        native
            .time(async {
                for i in 0..per_round {
                    std::hint::black_box(bare.get(format!("n{}", i % keys)).await?);
                }
                Ok(per_round)
            })
            .await?;
        ours.time(get_seq(&bucket, per_round, keys)).await?;
    }
    table.row("JetStream get, one at a time", ours, Some(native));
    let mut spread = Tally::default();
    spread
        .time(concurrently(&bucket, args.tasks, reads, keys, false))
        .await?;
    table.row(
        &format!("JetStream get, {} tasks at once", args.tasks),
        spread,
        None,
    );
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let args = parse_args()?;
    let mut table = Table::default();
    sqlite_rows(&args, &mut table).await?;
    if let Some(url) = &args.nats {
        jetstream_rows(url, &args, &mut table).await?;
    }
    table.print();
    Ok(())
}
