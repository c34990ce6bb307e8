//! The embedded backend: one SQLite file, `wactor.db`, in the data directory.
//!
//! # Guarantees
//!
//! - **Nothing acknowledged is lost.** The file is in WAL mode with
//!   `synchronous=FULL`: a commit returns once its WAL frames are fsynced.
//!   A write's future completes only after the transaction holding it has
//!   committed, so a `kill -9` (or power cut, as far as the disk honours
//!   fsync) after the future completed cannot lose it. A write whose future
//!   never completed may or may not be stored, and dropping the future does
//!   not cancel a write already queued.
//! - **Group commit.** All writes go through one thread that owns the only
//!   writing connection. It takes every request queued at that moment (up to
//!   [`SqliteOptions::max_batch_writes`]), applies each in its own savepoint,
//!   commits them in one transaction and then answers each caller. Under
//!   load many writers share one fsync; alone, a write costs one commit.
//!   [`SqliteStore::stats`] counts requests and commits. The queue has no
//!   bound of its own: it holds the requests whose callers wait for them
//!   (and those whose callers dropped their futures, until written).
//! - **One request is atomic.** [`SqliteStore::commit`] takes a list of
//!   [`Op`]s applied all-or-nothing: a failing op (say, `increment` on text)
//!   rolls back that request's savepoint only, and the other requests of the
//!   group still commit.
//! - **Reads do not wait for writes.** Reads run on a small pool of
//!   read-only connections (WAL readers see the last committed state, so a
//!   read after a completed write sees it). Point reads (`get`, `exists`)
//!   run on the calling thread, as they take microseconds; listings, batch
//!   reads and actor loads run in tokio's blocking pool.
//! - **Faults are errors, not losses.** A commit that fails (disk full,
//!   read-only file, I/O error) fails every request of that group with
//!   [`StoreError::Write`] naming the file, the kind of failure and what to
//!   do; nothing in it was acknowledged. The store stays open: reads keep
//!   working, and later writes are tried again.
//! - **Refusing what is not ours.** At open, a file that is not SQLite, an
//!   SQLite file of another program (its `application_id` is not wactor's,
//!   or it has tables and no id), or a wactor file with a newer schema is
//!   refused without being modified; a data directory that cannot be created
//!   or written is refused too. Each error names the path and what to do.
//!
//! # Schema (version 1)
//!
//! - `wactor_schema(version)`: one row, the schema version.
//! - `kv(id, bucket, key, value)`: key-value pairs, unique on
//!   `(bucket, key)`; `id` orders `list_keys` and is its cursor (an update
//!   keeps a pair's id, so a listing neither repeats nor skips keys that
//!   exist throughout).
//! - `actors(name, state, version, last_handled)`: one record per durable
//!   actor: the bytes its `snapshot` gave (`NULL` until it first saved
//!   state), its `STATE_VERSION`, and the id of the last journaled message
//!   it handled (never decreases).
//! - `journal(id, actor, message)`: messages journaled for an actor and not
//!   yet acknowledged; ids are unique and increasing across the file and
//!   never reused.
//!
//! # Durable actors (issue 26)
//!
//! The intended use, for a durable actor handling an important message:
//! [`SqliteStore::journal_append`] before acknowledging the send (the ack
//! means "journaled"); after handling it,
//! [`SqliteStore::put_actor_state`] with the new state and that message's id
//! as `last_handled`, which also deletes the journaled messages up to it, in
//! the same transaction; the call's answer is released when that future
//! completes. Any key-value writes made while handling can go in the same
//! request through [`SqliteStore::commit`]. On restart,
//! [`SqliteStore::list_actors`] pages through every stored actor and
//! [`SqliteStore::load_actor`] gives its state and its pending messages
//! (those after `last_handled`), each to be handled once.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OpenFlags, OptionalExtension};
use tokio::sync::oneshot;

use crate::error::{Result, StoreError, WriteFailure};
use crate::{add_counter, parse_counter, KeyPage, Limits};

/// The database file's name in the data directory.
pub const DB_FILE: &str = "wactor.db";
/// `PRAGMA application_id` of a wactor database: "wact".
const APPLICATION_ID: i64 = 0x7761_6374;
/// The schema this code writes and reads.
const SCHEMA_VERSION: i64 = 1;
/// How long a connection waits for another's lock before reporting busy.
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

const SCHEMA: &str = "
    CREATE TABLE wactor_schema (version INTEGER NOT NULL);
    CREATE TABLE kv (
        id INTEGER PRIMARY KEY,
        bucket TEXT NOT NULL,
        key TEXT NOT NULL,
        value BLOB NOT NULL,
        UNIQUE (bucket, key)
    );
    CREATE INDEX kv_bucket_id ON kv (bucket, id);
    CREATE TABLE actors (
        name TEXT PRIMARY KEY,
        state BLOB,
        version INTEGER NOT NULL,
        last_handled INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE journal (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        actor TEXT NOT NULL,
        message BLOB NOT NULL
    );
    CREATE INDEX journal_actor ON journal (actor, id);
";

/// How to open the SQLite store.
#[derive(Debug, Clone)]
pub struct SqliteOptions {
    /// Limits on keys, values and batches.
    pub limits: Limits,
    /// Most requests committed in one transaction.
    pub max_batch_writes: usize,
    /// Read connections kept open between reads.
    pub max_idle_readers: usize,
    /// A quota on the database's size; writes past it fail with
    /// [`WriteFailure::DiskFull`] as a full disk would. `None`: no quota.
    pub max_size_bytes: Option<u64>,
}

impl Default for SqliteOptions {
    fn default() -> Self {
        SqliteOptions {
            limits: Limits::default(),
            max_batch_writes: 1024,
            max_idle_readers: 8,
            max_size_bytes: None,
        }
    }
}

/// One write, applied by the writer thread. A list of them given to
/// [`SqliteStore::commit`] is committed atomically, in one transaction with
/// whatever else is queued.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    /// Sets `key` in `bucket`.
    Set {
        bucket: String,
        key: String,
        value: Vec<u8>,
    },
    /// Deletes `key` in `bucket` (a missing key is not an error).
    Delete { bucket: String, key: String },
    /// Adds `delta` to the decimal counter at `key`; gives [`OpOutput::Counter`].
    Increment { bucket: String, key: String, delta: u64 },
    /// Sets `key` to `new` if its value is `expected`; gives [`OpOutput::Swapped`].
    CompareAndSwap {
        bucket: String,
        key: String,
        expected: Option<Vec<u8>>,
        new: Vec<u8>,
    },
    /// Stores a durable actor's state and version, raises its
    /// `last_handled` to at least `last_handled`, and drops its journaled
    /// messages up to that id.
    PutActorState {
        name: String,
        state: Vec<u8>,
        version: u32,
        last_handled: u64,
    },
    /// Journals a message for an actor; gives [`OpOutput::JournalId`].
    JournalAppend { actor: String, message: Vec<u8> },
    /// Marks an actor's journaled messages up to `upto` handled (and drops them).
    JournalAck { actor: String, upto: u64 },
    /// Forgets an actor: its record and its journal.
    DeleteActor { name: String },
}

/// What one [`Op`] gave.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpOutput {
    /// The op has nothing to report.
    Done,
    /// The counter's new value.
    Counter(u64),
    /// Whether compare-and-swap swapped.
    Swapped(bool),
    /// The id given to a journaled message.
    JournalId(u64),
}

/// A durable actor as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActorRecord {
    /// Its registered name.
    pub name: String,
    /// Its last committed state; `None` if it never saved one (it only has
    /// journaled messages).
    pub state: Option<Vec<u8>>,
    /// The `STATE_VERSION` the state was written with.
    pub version: u32,
    /// The id of the last journaled message it handled (0: none).
    pub last_handled: u64,
    /// Journaled messages not yet handled, oldest first.
    pub pending: Vec<JournalEntry>,
}

/// One journaled message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JournalEntry {
    /// Unique and increasing across the store, never reused.
    pub id: u64,
    /// The message's bytes, as given to [`SqliteStore::journal_append`].
    pub message: Vec<u8>,
}

/// Counters of the writer thread.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct WriterStats {
    /// Requests handled (each [`SqliteStore::commit`] or single write is one).
    pub writes: u64,
    /// Transactions committed. Below `writes` when writes were grouped.
    pub commits: u64,
}

#[derive(Default)]
struct Stats {
    writes: AtomicU64,
    commits: AtomicU64,
}

struct Request {
    ops: Vec<Op>,
    reply: oneshot::Sender<Result<Vec<OpOutput>>>,
}

/// The SQLite store. Cloning is cheap; clones share the writer and readers.
#[derive(Clone)]
pub struct SqliteStore {
    inner: Arc<Inner>,
}

struct Inner {
    path: PathBuf,
    limits: Limits,
    writer: Mutex<Option<mpsc::Sender<Request>>>,
    writer_thread: Mutex<Option<std::thread::JoinHandle<()>>>,
    readers: Mutex<Vec<Connection>>,
    max_idle_readers: usize,
    stats: Arc<Stats>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.inner.path)
            .finish_non_exhaustive()
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    // A panic while holding these locks leaves nothing half-done (they
    // guard a sender, a handle and a list of connections).
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl SqliteStore {
    /// Opens (creating if needed) `DIR/wactor.db`. Blocks while it checks
    /// the file and, for a new one, writes the schema: call it at start-up.
    pub fn open(dir: impl AsRef<Path>, options: SqliteOptions) -> Result<SqliteStore> {
        let dir = dir.as_ref();
        std::fs::create_dir_all(dir).map_err(|e| StoreError::Open {
            path: dir.to_owned(),
            reason: format!("cannot create the data directory: {e}"),
            hint: "check that the path is a directory this user may write, or choose another \
                   data directory (--data-dir)"
                .into(),
        })?;
        let path = dir.join(DB_FILE);
        let conn = open_writer(&path, &options)?;
        let stats = Arc::new(Stats::default());
        let (tx, rx) = mpsc::channel();
        let thread = {
            let thread_path = path.clone();
            let stats = stats.clone();
            let max_batch = options.max_batch_writes.max(1);
            std::thread::Builder::new()
                .name("wactor-store-writer".into())
                .spawn(move || writer_loop(conn, &thread_path, rx, &stats, max_batch))
                .map_err(|e| StoreError::Open {
                    path: path.clone(),
                    reason: format!("cannot start the writer thread: {e}"),
                    hint: "the process is out of threads or memory".into(),
                })?
        };
        let store = SqliteStore {
            inner: Arc::new(Inner {
                path,
                limits: options.limits,
                writer: Mutex::new(Some(tx)),
                writer_thread: Mutex::new(Some(thread)),
                readers: Mutex::new(Vec::new()),
                max_idle_readers: options.max_idle_readers,
                stats,
            }),
        };
        // Fail at open, not at the first read, if readers cannot open.
        let reader = store.inner.open_reader()?;
        lock(&store.inner.readers).push(reader);
        Ok(store)
    }

    /// The database file.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The writer's counters so far.
    pub fn stats(&self) -> WriterStats {
        WriterStats {
            writes: self.inner.stats.writes.load(Ordering::Relaxed),
            commits: self.inner.stats.commits.load(Ordering::Relaxed),
        }
    }

    /// Stops accepting writes, lets the writer commit what is queued, and
    /// waits for it to close the file. Clones see [`StoreError::Closed`] on
    /// later writes; reads keep working.
    pub async fn close(&self) {
        drop(lock(&self.inner.writer).take());
        let thread = lock(&self.inner.writer_thread).take();
        if let Some(thread) = thread {
            // The thread only ends once its queue is drained; a panic in it
            // has already failed its callers (their replies were dropped).
            let _ = tokio::task::spawn_blocking(move || thread.join()).await;
        }
    }

    /// Applies `ops` atomically, grouped with other queued requests into one
    /// transaction; completes after that transaction committed. Gives one
    /// [`OpOutput`] per op. If any op fails, none of them is applied.
    pub async fn commit(&self, ops: Vec<Op>) -> Result<Vec<OpOutput>> {
        for op in &ops {
            self.check_op(op)?;
        }
        let (reply, answer) = oneshot::channel();
        {
            let writer = lock(&self.inner.writer);
            let sender = writer.as_ref().ok_or_else(|| self.closed())?;
            sender.send(Request { ops, reply }).map_err(|_| self.closed())?;
        }
        answer.await.map_err(|_| self.closed())?
    }

    fn check_op(&self, op: &Op) -> Result<()> {
        let limits = &self.inner.limits;
        match op {
            Op::Set { bucket, key, value }
            | Op::CompareAndSwap {
                bucket,
                key,
                new: value,
                ..
            } => {
                limits.check_bucket(bucket)?;
                limits.check_key(key)?;
                limits.check_value(key, value)
            }
            Op::Delete { bucket, key } | Op::Increment { bucket, key, .. } => {
                limits.check_bucket(bucket)?;
                limits.check_key(key)
            }
            Op::PutActorState { .. }
            | Op::JournalAppend { .. }
            | Op::JournalAck { .. }
            | Op::DeleteActor { .. } => Ok(()),
        }
    }

    fn closed(&self) -> StoreError {
        StoreError::Closed {
            path: self.inner.path.clone(),
        }
    }

    async fn commit_one(&self, op: Op) -> Result<OpOutput> {
        let mut out = self.commit(vec![op]).await?;
        Ok(out.pop().unwrap_or(OpOutput::Done))
    }

    /// Runs `f` on a read connection in tokio's blocking pool.
    async fn read<T, F>(&self, f: F) -> Result<T>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> rusqlite::Result<T> + Send + 'static,
    {
        let inner = self.inner.clone();
        let path = inner.path.clone();
        tokio::task::spawn_blocking(move || {
            let conn = inner.take_reader()?;
            let result = f(&conn);
            inner.put_reader(conn);
            result.map_err(|e| StoreError::Read {
                path: inner.path.clone(),
                reason: e.to_string(),
            })
        })
        .await
        .map_err(|e| StoreError::Read {
            path,
            reason: format!("the read task failed: {e}"),
        })?
    }

    /// Runs `f` on a read connection on the calling thread. For point
    /// reads only: a B-tree lookup in SQLite's page cache takes a few
    /// microseconds, less than handing it to the blocking pool would; a
    /// lookup that must read the disk holds this thread for one disk read.
    fn read_here<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self.inner.take_reader()?;
        let result = f(&conn);
        self.inner.put_reader(conn);
        result.map_err(|e| StoreError::Read {
            path: self.inner.path.clone(),
            reason: e.to_string(),
        })
    }

    // Key-value, called through `Bucket` (which checks limits first).

    pub(crate) async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        self.read_here(|conn| get_value(conn, bucket, key))
    }

    pub(crate) async fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<()> {
        self.commit_one(Op::Set {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
            value: value.to_vec(),
        })
        .await
        .map(drop)
    }

    pub(crate) async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        self.commit_one(Op::Delete {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
        .await
        .map(drop)
    }

    pub(crate) async fn exists(&self, bucket: &str, key: &str) -> Result<bool> {
        self.read_here(|conn| {
            conn.prepare_cached("SELECT 1 FROM kv WHERE bucket = ?1 AND key = ?2")?
                .exists(params![bucket, key])
        })
    }

    pub(crate) async fn list_keys(&self, bucket: &str, cursor: Option<u64>) -> Result<KeyPage> {
        let bucket = bucket.to_owned();
        let page = self.inner.limits.list_page.max(1);
        let after = i64::try_from(cursor.unwrap_or(0)).unwrap_or(i64::MAX);
        self.read(move |conn| {
            // One row past the page tells whether there is a next page.
            let mut stmt = conn.prepare_cached(
                "SELECT id, key FROM kv WHERE bucket = ?1 AND id > ?2 ORDER BY id LIMIT ?3",
            )?;
            let mut rows = stmt
                .query_map(params![bucket, after, page as i64 + 1], |r| {
                    Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            let cursor = if rows.len() > page {
                rows.truncate(page);
                rows.last().map(|(id, _)| *id as u64)
            } else {
                None
            };
            Ok(KeyPage {
                keys: rows.into_iter().map(|(_, k)| k).collect(),
                cursor,
            })
        })
        .await
    }

    pub(crate) async fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64> {
        match self
            .commit_one(Op::Increment {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                delta,
            })
            .await?
        {
            OpOutput::Counter(n) => Ok(n),
            other => unreachable!("increment gave {other:?}"),
        }
    }

    pub(crate) async fn compare_and_swap(
        &self,
        bucket: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool> {
        match self
            .commit_one(Op::CompareAndSwap {
                bucket: bucket.to_owned(),
                key: key.to_owned(),
                expected: expected.map(<[u8]>::to_vec),
                new: new.to_vec(),
            })
            .await?
        {
            OpOutput::Swapped(swapped) => Ok(swapped),
            other => unreachable!("compare-and-swap gave {other:?}"),
        }
    }

    pub(crate) async fn get_many(
        &self,
        bucket: &str,
        keys: &[String],
    ) -> Result<Vec<Option<(String, Vec<u8>)>>> {
        let (bucket, keys) = (bucket.to_owned(), keys.to_vec());
        self.read(move |conn| {
            // One read transaction, so the values are from one moment.
            in_read_transaction(conn, |conn| {
                keys.into_iter()
                    .map(|key| Ok(get_value(conn, &bucket, &key)?.map(|v| (key, v))))
                    .collect()
            })
        })
        .await
    }

    pub(crate) async fn set_many(&self, bucket: &str, items: &[(String, Vec<u8>)]) -> Result<()> {
        let ops = items
            .iter()
            .map(|(key, value)| Op::Set {
                bucket: bucket.to_owned(),
                key: key.clone(),
                value: value.clone(),
            })
            .collect();
        self.commit(ops).await.map(drop)
    }

    pub(crate) async fn delete_many(&self, bucket: &str, keys: &[String]) -> Result<()> {
        let ops = keys
            .iter()
            .map(|key| Op::Delete {
                bucket: bucket.to_owned(),
                key: key.clone(),
            })
            .collect();
        self.commit(ops).await.map(drop)
    }

    // Durable actors.

    /// Stores `name`'s state (see [`Op::PutActorState`]); completes once committed.
    pub async fn put_actor_state(
        &self,
        name: &str,
        state: Vec<u8>,
        version: u32,
        last_handled: u64,
    ) -> Result<()> {
        self.commit_one(Op::PutActorState {
            name: name.to_owned(),
            state,
            version,
            last_handled,
        })
        .await
        .map(drop)
    }

    /// Journals `message` for `actor`; completes once committed, with the
    /// message's id.
    pub async fn journal_append(&self, actor: &str, message: Vec<u8>) -> Result<u64> {
        match self
            .commit_one(Op::JournalAppend {
                actor: actor.to_owned(),
                message,
            })
            .await?
        {
            OpOutput::JournalId(id) => Ok(id),
            other => unreachable!("journal append gave {other:?}"),
        }
    }

    /// Marks `actor`'s journaled messages up to `upto` handled.
    pub async fn journal_ack(&self, actor: &str, upto: u64) -> Result<()> {
        self.commit_one(Op::JournalAck {
            actor: actor.to_owned(),
            upto,
        })
        .await
        .map(drop)
    }

    /// Forgets `name`: its state and journal.
    pub async fn delete_actor(&self, name: &str) -> Result<()> {
        self.commit_one(Op::DeleteActor {
            name: name.to_owned(),
        })
        .await
        .map(drop)
    }

    /// `name`'s record and pending messages, or `None` if the store has
    /// neither for it.
    pub async fn load_actor(&self, name: &str) -> Result<Option<ActorRecord>> {
        let name = name.to_owned();
        self.read(move |conn| in_read_transaction(conn, |conn| load_actor(conn, name)))
            .await
    }

    /// Names of stored actors (with state or journaled messages), sorted,
    /// after `after` (exclusive), at most `limit`: page with the last name
    /// of the previous page.
    pub async fn list_actors(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let after = after.map(str::to_owned);
        let limit = i64::try_from(limit).unwrap_or(i64::MAX);
        self.read(move |conn| {
            let mut stmt = conn.prepare_cached(
                "SELECT name FROM (SELECT name FROM actors UNION SELECT actor FROM journal)
                 WHERE ?1 IS NULL OR name > ?1 ORDER BY name LIMIT ?2",
            )?;
            let names = stmt
                .query_map(params![after, limit], |r| r.get(0))?
                .collect::<rusqlite::Result<Vec<String>>>();
            names
        })
        .await
    }
}

impl Inner {
    fn open_reader(&self) -> Result<Connection> {
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .and_then(|c| {
            c.busy_timeout(BUSY_TIMEOUT)?;
            Ok(c)
        })
        .map_err(|e| StoreError::Read {
            path: self.path.clone(),
            reason: format!("cannot open a read connection: {e}"),
        })?;
        Ok(conn)
    }

    fn take_reader(&self) -> Result<Connection> {
        let idle = lock(&self.readers).pop();
        match idle {
            Some(conn) => Ok(conn),
            None => self.open_reader(),
        }
    }

    fn put_reader(&self, conn: Connection) {
        let mut idle = lock(&self.readers);
        if idle.len() < self.max_idle_readers {
            idle.push(conn);
        }
    }
}

/// Runs `f` in one read transaction (one snapshot of the file), and ends
/// the transaction whatever happens, since the connection goes back to the
/// pool.
fn in_read_transaction<T>(
    conn: &Connection,
    f: impl FnOnce(&Connection) -> rusqlite::Result<T>,
) -> rusqlite::Result<T> {
    conn.execute_batch("BEGIN")?;
    let result = f(conn);
    let end = conn.execute_batch(if result.is_ok() { "COMMIT" } else { "ROLLBACK" });
    let value = result?;
    end?;
    Ok(value)
}

fn get_value(conn: &Connection, bucket: &str, key: &str) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.prepare_cached("SELECT value FROM kv WHERE bucket = ?1 AND key = ?2")?
        .query_row(params![bucket, key], |r| r.get(0))
        .optional()
}

fn load_actor(conn: &Connection, name: String) -> rusqlite::Result<Option<ActorRecord>> {
    let row = conn
        .prepare_cached("SELECT state, version, last_handled FROM actors WHERE name = ?1")?
        .query_row(params![name], |r| {
            Ok((
                r.get::<_, Option<Vec<u8>>>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
            ))
        })
        .optional()?;
    let found = row.is_some();
    let (state, version, last_handled) = row.unwrap_or((None, 0, 0));
    let pending = conn
        .prepare_cached("SELECT id, message FROM journal WHERE actor = ?1 AND id > ?2 ORDER BY id")?
        .query_map(params![name, last_handled], |r| {
            Ok(JournalEntry {
                id: r.get::<_, i64>(0)? as u64,
                message: r.get(1)?,
            })
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    if !found && pending.is_empty() {
        return Ok(None);
    }
    Ok(Some(ActorRecord {
        name,
        state,
        version: version as u32,
        last_handled: last_handled as u64,
        pending,
    }))
}

/// Opens the writing connection, refusing files that are not ours, and
/// brings the schema to [`SCHEMA_VERSION`].
fn open_writer(path: &Path, options: &SqliteOptions) -> Result<Connection> {
    use rusqlite::TransactionBehavior;
    let open_err = |reason: String, hint: &str| StoreError::Open {
        path: path.to_owned(),
        reason,
        hint: hint.to_owned(),
    };
    let mut conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_CREATE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(|e| {
        open_err(
            e.to_string(),
            "check that the data directory and wactor.db are writable by this user, or choose \
             another data directory (--data-dir)",
        )
    })?;
    conn.busy_timeout(BUSY_TIMEOUT)
        .map_err(|e| open_err(e.to_string(), "check the file"))?;

    // Identify the file before changing anything in it.
    let foreign = |found: String| StoreError::Foreign {
        path: path.to_owned(),
        found,
    };
    let app_id: i64 = match conn.query_row("PRAGMA application_id", [], |r| r.get(0)) {
        Ok(id) => id,
        Err(e) if matches!(code(&e), Some(ErrorCode::NotADatabase)) => {
            return Err(foreign("it is not an SQLite database".into()))
        }
        Err(e) => {
            return Err(open_err(
                e.to_string(),
                "the file may be corrupt: restore it from a backup or move it away",
            ))
        }
    };
    let tables: i64 = conn
        .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
        .map_err(|e| open_err(e.to_string(), "the file may be corrupt: move it away"))?;
    let fresh = match (app_id, tables) {
        (0, 0) => true,
        (APPLICATION_ID, _) => false,
        (0, n) => {
            return Err(foreign(format!(
                "an SQLite database of another program, with {n} tables"
            )))
        }
        (other, _) => {
            return Err(foreign(format!(
                "an SQLite database with application_id {other:#x}, not wactor's"
            )))
        }
    };

    let mode: String = conn
        .query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))
        .map_err(|e| open_err(e.to_string(), "make the data directory writable"))?;
    if !mode.eq_ignore_ascii_case("wal") {
        return Err(open_err(
            format!("cannot switch to WAL journal mode (it stayed {mode})"),
            "the data directory must be writable (WAL needs its -wal and -shm files beside \
             wactor.db) and on a local file system",
        ));
    }
    conn.execute_batch("PRAGMA synchronous = FULL;")
        .map_err(|e| open_err(e.to_string(), "check the file"))?;
    conn.set_prepared_statement_cache_capacity(32);

    // Schema set-up, or a no-op write on an existing file, so that a file or
    // directory that cannot be written is refused now rather than at the
    // first acknowledged write.
    let write_err = |e: rusqlite::Error| {
        open_err(
            e.to_string(),
            "check that the data directory and wactor.db are writable by this user and the \
             disk has space, or choose another data directory (--data-dir)",
        )
    };
    let tx = conn
        .transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(write_err)?;
    if fresh {
        tx.execute_batch(&format!("PRAGMA application_id = {APPLICATION_ID};"))
            .map_err(write_err)?;
        tx.execute_batch(SCHEMA).map_err(write_err)?;
        tx.execute(
            "INSERT INTO wactor_schema (version) VALUES (?1)",
            params![SCHEMA_VERSION],
        )
        .map_err(write_err)?;
    } else {
        let version: Option<i64> = tx
            .query_row("SELECT max(version) FROM wactor_schema", [], |r| r.get(0))
            .map_err(|e| {
                foreign(format!(
                    "it has wactor's application_id but no readable schema version: {e}"
                ))
            })?;
        match version {
            Some(v) if v > SCHEMA_VERSION => {
                return Err(StoreError::SchemaTooNew {
                    path: path.to_owned(),
                    found: v,
                    supported: SCHEMA_VERSION,
                })
            }
            Some(SCHEMA_VERSION) => {}
            found => {
                return Err(foreign(format!(
                    "it has wactor's application_id but schema version {found:?}, which no \
                     wactor wrote"
                )))
            }
        }
        tx.execute("UPDATE wactor_schema SET version = version", [])
            .map_err(write_err)?;
    }
    tx.commit().map_err(write_err)?;

    if let Some(max) = options.max_size_bytes {
        let page_size: i64 = conn
            .query_row("PRAGMA page_size", [], |r| r.get(0))
            .map_err(|e| open_err(e.to_string(), "check the file"))?;
        let pages = (max / page_size.max(1) as u64).max(1);
        conn.execute_batch(&format!("PRAGMA max_page_count = {pages};"))
            .map_err(|e| open_err(e.to_string(), "check the file"))?;
    }
    Ok(conn)
}

fn code(e: &rusqlite::Error) -> Option<ErrorCode> {
    e.sqlite_error_code()
}

/// A write error for the caller, classified so that the host can tell a
/// full disk from a read-only file.
fn write_error(path: &Path, e: &rusqlite::Error) -> StoreError {
    let kind = match code(e) {
        Some(ErrorCode::DiskFull) => WriteFailure::DiskFull,
        Some(ErrorCode::ReadOnly) | Some(ErrorCode::CannotOpen) | Some(ErrorCode::PermissionDenied) => {
            WriteFailure::ReadOnly
        }
        Some(ErrorCode::SystemIoFailure) => WriteFailure::Io,
        Some(ErrorCode::DatabaseBusy) | Some(ErrorCode::DatabaseLocked) => WriteFailure::Busy,
        _ => WriteFailure::Other,
    };
    StoreError::Write {
        path: path.to_owned(),
        kind,
        reason: e.to_string(),
    }
}

/// A copy of a write error for another caller of the same failed commit.
fn same_failure(path: &Path, e: &StoreError) -> StoreError {
    match e {
        StoreError::Write { kind, reason, .. } => StoreError::Write {
            path: path.to_owned(),
            kind: *kind,
            reason: format!("the transaction holding this write was rolled back: {reason}"),
        },
        other => StoreError::Write {
            path: path.to_owned(),
            kind: WriteFailure::Other,
            reason: format!("the transaction holding this write was rolled back: {other}"),
        },
    }
}

fn writer_loop(conn: Connection, path: &Path, rx: mpsc::Receiver<Request>, stats: &Stats, max_batch: usize) {
    // Ends when every sender is gone (the store was closed or dropped) and
    // the queue is drained.
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < max_batch {
            match rx.try_recv() {
                Ok(request) => batch.push(request),
                Err(_) => break,
            }
        }
        let outcomes = commit_batch(&conn, path, &batch);
        stats.writes.fetch_add(batch.len() as u64, Ordering::Relaxed);
        if outcomes.committed {
            stats.commits.fetch_add(1, Ordering::Relaxed);
        }
        for (request, outcome) in batch.into_iter().zip(outcomes.results) {
            // A caller that stopped waiting does not stop the others.
            let _ = request.reply.send(outcome);
        }
    }
}

struct BatchOutcome {
    committed: bool,
    results: Vec<Result<Vec<OpOutput>>>,
}

/// Applies every request of `batch` in one transaction, each in its own
/// savepoint, and commits. Only after the commit returns are the results
/// handed to the callers.
fn commit_batch(conn: &Connection, path: &Path, batch: &[Request]) -> BatchOutcome {
    let fail_all = |e: &rusqlite::Error| BatchOutcome {
        committed: false,
        results: batch.iter().map(|_| Err(write_error(path, e))).collect(),
    };
    if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
        return fail_all(&e);
    }
    let mut results: Vec<Result<Vec<OpOutput>>> = Vec::with_capacity(batch.len());
    for request in batch {
        let applied = conn
            .execute_batch("SAVEPOINT request")
            .map_err(|e| write_error(path, &e))
            .and_then(|()| {
                request
                    .ops
                    .iter()
                    .map(|op| apply(conn, path, op))
                    .collect::<Result<Vec<_>>>()
            });
        match applied {
            Ok(outputs) => match conn.execute_batch("RELEASE request") {
                Ok(()) => results.push(Ok(outputs)),
                Err(e) => results.push(Err(write_error(path, &e))),
            },
            Err(e) if conn.is_autocommit() => {
                // SQLite rolled the whole transaction back (it may on a full
                // disk or an I/O error): the earlier requests are lost too.
                for earlier in results.iter_mut().filter(|r| r.is_ok()) {
                    *earlier = Err(same_failure(path, &e));
                }
                results.push(Err(e));
                if let Err(e) = conn.execute_batch("BEGIN IMMEDIATE") {
                    while results.len() < batch.len() {
                        results.push(Err(write_error(path, &e)));
                    }
                    return BatchOutcome {
                        committed: false,
                        results,
                    };
                }
            }
            Err(e) => {
                // Undo this request only; the others stay in the transaction.
                if let Err(undo) = conn.execute_batch("ROLLBACK TO request; RELEASE request") {
                    let _ = conn.execute_batch("ROLLBACK");
                    return fail_all(&undo);
                }
                results.push(Err(e));
            }
        }
    }
    match conn.execute_batch("COMMIT") {
        Ok(()) => BatchOutcome {
            committed: true,
            results,
        },
        Err(e) => {
            if !conn.is_autocommit() {
                let _ = conn.execute_batch("ROLLBACK");
            }
            fail_all(&e)
        }
    }
}

fn apply(conn: &Connection, path: &Path, op: &Op) -> Result<OpOutput> {
    let err = |e: rusqlite::Error| write_error(path, &e);
    match op {
        Op::Set { bucket, key, value } => {
            put_value(conn, bucket, key, value).map_err(err)?;
            Ok(OpOutput::Done)
        }
        Op::Delete { bucket, key } => {
            conn.prepare_cached("DELETE FROM kv WHERE bucket = ?1 AND key = ?2")
                .and_then(|mut s| s.execute(params![bucket, key]))
                .map_err(err)?;
            Ok(OpOutput::Done)
        }
        Op::Increment { bucket, key, delta } => {
            let current = match get_value(conn, bucket, key).map_err(err)? {
                Some(value) => parse_counter(bucket, key, &value)?,
                None => 0,
            };
            let new = add_counter(bucket, key, current, *delta)?;
            put_value(conn, bucket, key, new.to_string().as_bytes()).map_err(err)?;
            Ok(OpOutput::Counter(new))
        }
        Op::CompareAndSwap {
            bucket,
            key,
            expected,
            new,
        } => {
            let current = get_value(conn, bucket, key).map_err(err)?;
            if current != *expected {
                return Ok(OpOutput::Swapped(false));
            }
            put_value(conn, bucket, key, new).map_err(err)?;
            Ok(OpOutput::Swapped(true))
        }
        Op::PutActorState {
            name,
            state,
            version,
            last_handled,
        } => {
            let last_handled = clamp_id(*last_handled);
            conn.prepare_cached(
                "INSERT INTO actors (name, state, version, last_handled) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (name) DO UPDATE SET state = excluded.state,
                     version = excluded.version,
                     last_handled = max(last_handled, excluded.last_handled)",
            )
            .and_then(|mut s| s.execute(params![name, state, version, last_handled]))
            .map_err(err)?;
            drop_journal(conn, name, last_handled).map_err(err)?;
            Ok(OpOutput::Done)
        }
        Op::JournalAppend { actor, message } => {
            conn.prepare_cached("INSERT INTO journal (actor, message) VALUES (?1, ?2)")
                .and_then(|mut s| s.execute(params![actor, message]))
                .map_err(err)?;
            Ok(OpOutput::JournalId(conn.last_insert_rowid() as u64))
        }
        Op::JournalAck { actor, upto } => {
            let upto = clamp_id(*upto);
            conn.prepare_cached(
                "INSERT INTO actors (name, state, version, last_handled) VALUES (?1, NULL, 0, ?2)
                 ON CONFLICT (name) DO UPDATE
                     SET last_handled = max(last_handled, excluded.last_handled)",
            )
            .and_then(|mut s| s.execute(params![actor, upto]))
            .map_err(err)?;
            drop_journal(conn, actor, upto).map_err(err)?;
            Ok(OpOutput::Done)
        }
        Op::DeleteActor { name } => {
            conn.prepare_cached("DELETE FROM actors WHERE name = ?1")
                .and_then(|mut s| s.execute(params![name]))
                .map_err(err)?;
            drop_journal(conn, name, i64::MAX).map_err(err)?;
            Ok(OpOutput::Done)
        }
    }
}

/// Journal ids are SQLite rowids (positive i64); larger ids cannot exist.
fn clamp_id(id: u64) -> i64 {
    i64::try_from(id).unwrap_or(i64::MAX)
}

fn put_value(conn: &Connection, bucket: &str, key: &str, value: &[u8]) -> rusqlite::Result<()> {
    // An upsert keeps the row's id, which `list_keys` pages by.
    conn.prepare_cached(
        "INSERT INTO kv (bucket, key, value) VALUES (?1, ?2, ?3)
         ON CONFLICT (bucket, key) DO UPDATE SET value = excluded.value",
    )?
    .execute(params![bucket, key, value])?;
    Ok(())
}

fn drop_journal(conn: &Connection, actor: &str, upto: i64) -> rusqlite::Result<()> {
    conn.prepare_cached("DELETE FROM journal WHERE actor = ?1 AND id <= ?2")?
        .execute(params![actor, upto])?;
    Ok(())
}
