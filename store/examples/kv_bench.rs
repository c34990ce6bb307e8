//! Key-value set and get per second through `wactor-store`, against the
//! native way in the same run: `rusqlite` directly on a file with the same
//! settings (WAL, `synchronous=FULL`, one commit per write), and a bare
//! `async-nats` key-value client on the same JetStream bucket.
//!
//! ```text
//! cargo run --release -p wactor-store --example kv_bench -- [--writes N] [--reads N] [--nats URL]
//! ```
//!
//! Without `--nats`, the JetStream rows are left out (start a server with
//! `nats-server -js -sd DIR` and pass its URL).

use std::path::Path;
use std::time::{Duration, Instant};

use wactor_store::{JetStreamOptions, JetStreamStore, SqliteOptions, SqliteStore, Store};

struct Args {
    writes: usize,
    reads: usize,
    tasks: usize,
    nats: Option<String>,
}

fn parse_args() -> Result<Args, String> {
    let mut args = Args {
        writes: 2_000,
        reads: 100_000,
        tasks: 64,
        nats: None,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut value = || it.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--writes" => args.writes = value()?.parse().map_err(|e| format!("--writes: {e}"))?,
            "--reads" => args.reads = value()?.parse().map_err(|e| format!("--reads: {e}"))?,
            "--tasks" => args.tasks = value()?.parse().map_err(|e| format!("--tasks: {e}"))?,
            "--nats" => args.nats = Some(value()?),
            other => return Err(format!("unknown argument {other}")),
        }
    }
    Ok(args)
}

fn rate(n: usize, took: Duration) -> f64 {
    n as f64 / took.as_secs_f64()
}

struct Table(Vec<(String, f64, Option<f64>)>);

impl Table {
    fn row(&mut self, name: &str, ours: f64, native: Option<f64>) {
        println!(
            "{name}: {ours:.0}/s{}",
            native.map(|n| format!(", native {n:.0}/s")).unwrap_or_default()
        );
        self.0.push((name.to_owned(), ours, native));
    }

    fn print(&self) {
        println!();
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

/// The native baseline: one connection, the same pragmas, one autocommit
/// transaction (one fsync) per write.
fn raw_sqlite(dir: &Path, writes: usize, reads: usize) -> rusqlite::Result<(f64, f64)> {
    let conn = rusqlite::Connection::open(dir.join("raw.db"))?;
    conn.query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))?;
    conn.execute_batch(
        "PRAGMA synchronous = FULL;
         CREATE TABLE kv (id INTEGER PRIMARY KEY, bucket TEXT NOT NULL, key TEXT NOT NULL,
                          value BLOB NOT NULL, UNIQUE (bucket, key));",
    )?;
    let value = vec![7u8; 100];
    let start = Instant::now();
    for i in 0..writes {
        conn.prepare_cached(
            "INSERT INTO kv (bucket, key, value) VALUES ('b', ?1, ?2)
             ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value",
        )?
        .execute(rusqlite::params![format!("k{i}"), value])?;
    }
    let set = rate(writes, start.elapsed());
    let start = Instant::now();
    for i in 0..reads {
        let v: Vec<u8> = conn
            .prepare_cached("SELECT value FROM kv WHERE bucket = 'b' AND key = ?1")?
            .query_row([format!("k{}", i % writes)], |r| r.get(0))?;
        std::hint::black_box(v);
    }
    Ok((set, rate(reads, start.elapsed())))
}

async fn through_store(store: &Store, args: &Args) -> Result<(f64, f64, f64, f64), String> {
    let bucket = store.bucket("bench").map_err(|e| e.to_string())?;
    let value = vec![7u8; 100];
    let start = Instant::now();
    for i in 0..args.writes {
        bucket
            .set(&format!("k{i}"), &value)
            .await
            .map_err(|e| e.to_string())?;
    }
    let set = rate(args.writes, start.elapsed());

    // The same number of writes from many tasks at once.
    let start = Instant::now();
    let per_task = args.writes.div_ceil(args.tasks);
    let mut tasks = Vec::new();
    for t in 0..args.tasks {
        let bucket = bucket.clone();
        let value = value.clone();
        tasks.push(tokio::spawn(async move {
            for i in 0..per_task {
                bucket.set(&format!("c{t}-{i}"), &value).await?;
            }
            Ok::<_, wactor_store::StoreError>(())
        }));
    }
    for task in tasks {
        task.await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    }
    let set_concurrent = rate(per_task * args.tasks, start.elapsed());

    let start = Instant::now();
    for i in 0..args.reads {
        let v = bucket
            .get(&format!("k{}", i % args.writes))
            .await
            .map_err(|e| e.to_string())?;
        std::hint::black_box(v);
    }
    let get = rate(args.reads, start.elapsed());

    let start = Instant::now();
    let per_task = args.reads.div_ceil(args.tasks);
    let mut tasks = Vec::new();
    for _ in 0..args.tasks {
        let bucket = bucket.clone();
        let writes = args.writes;
        tasks.push(tokio::spawn(async move {
            for i in 0..per_task {
                std::hint::black_box(bucket.get(&format!("k{}", i % writes)).await?);
            }
            Ok::<_, wactor_store::StoreError>(())
        }));
    }
    for task in tasks {
        task.await
            .map_err(|e| e.to_string())?
            .map_err(|e| e.to_string())?;
    }
    let get_concurrent = rate(per_task * args.tasks, start.elapsed());
    Ok((set, set_concurrent, get, get_concurrent))
}

async fn bare_nats(url: &str, bucket: &str, args: &Args) -> Result<(f64, f64), String> {
    let client = async_nats::connect(url).await.map_err(|e| e.to_string())?;
    let kv = async_nats::jetstream::new(client)
        .get_key_value(bucket)
        .await
        .map_err(|e| e.to_string())?;
    let value = vec![7u8; 100];
    let start = Instant::now();
    for i in 0..args.writes {
        kv.put(format!("n{i}"), value.clone().into())
            .await
            .map_err(|e| e.to_string())?;
    }
    let set = rate(args.writes, start.elapsed());
    let start = Instant::now();
    for i in 0..args.reads {
        std::hint::black_box(
            kv.get(format!("n{}", i % args.writes))
                .await
                .map_err(|e| e.to_string())?,
        );
    }
    Ok((set, rate(args.reads, start.elapsed())))
}

#[tokio::main]
async fn main() -> Result<(), String> {
    let args = parse_args()?;
    let dir = tempfile::tempdir().map_err(|e| e.to_string())?;
    let mut table = Table(Vec::new());

    let (raw_set, raw_get) = raw_sqlite(dir.path(), args.writes, args.reads).map_err(|e| e.to_string())?;
    let sqlite =
        SqliteStore::open(dir.path().join("store"), SqliteOptions::default()).map_err(|e| e.to_string())?;
    let store: Store = sqlite.clone().into();
    let (set, set_concurrent, get, get_concurrent) = through_store(&store, &args).await?;
    let stats = sqlite.stats();
    table.row("SQLite set, one at a time", set, Some(raw_set));
    table.row(
        &format!("SQLite set, {} tasks at once", args.tasks),
        set_concurrent,
        Some(raw_set),
    );
    table.row("SQLite get, one at a time", get, Some(raw_get));
    table.row(
        &format!("SQLite get, {} tasks at once", args.tasks),
        get_concurrent,
        Some(raw_get),
    );
    println!(
        "SQLite writer: {} writes in {} commits",
        stats.writes, stats.commits
    );

    if let Some(url) = &args.nats {
        let js = JetStreamStore::connect(url, JetStreamOptions::default())
            .await
            .map_err(|e| e.to_string())?;
        let jetstream_bucket = js.jetstream_bucket_name("bench");
        let store: Store = js.into();
        let (set, set_concurrent, get, get_concurrent) = through_store(&store, &args).await?;
        let (bare_set, bare_get) = bare_nats(url, &jetstream_bucket, &args).await?;
        table.row("JetStream set, one at a time", set, Some(bare_set));
        table.row(
            &format!("JetStream set, {} tasks at once", args.tasks),
            set_concurrent,
            None,
        );
        table.row("JetStream get, one at a time", get, Some(bare_get));
        table.row(
            &format!("JetStream get, {} tasks at once", args.tasks),
            get_concurrent,
            None,
        );
    }
    table.print();
    Ok(())
}
