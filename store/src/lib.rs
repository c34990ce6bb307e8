//! wactor's storage layer: the key-value buckets behind `wasi:keyvalue`,
//! and the records of durable actors, in one of two backends.
//!
//! # What it owns
//!
//! - **Key-value buckets** with the semantics of `wasi:keyvalue@0.2.0-draft`:
//!   `store` (get, set, delete, exists, list-keys with a cursor), `atomics`
//!   (increment; compare-and-swap as an extra) and `batch` (get-many,
//!   set-many, delete-many). A bucket is named by a string the host chooses
//!   (it scopes names per behaviour; this crate does not), keys are any
//!   UTF-8 string, values are bytes. [`Limits`] bound key length, value size
//!   and batch length; going past one is a typed error
//!   ([`StoreError::KeyTooLong`], [`StoreError::ValueTooLarge`],
//!   [`StoreError::BatchTooLarge`]) and nothing is written.
//! - **Durable actor records**: an actor's state bytes, its state version
//!   and the id of the last journaled message it handled, and a per-actor
//!   journal of messages not yet handled ([`Store::put_actor_state`],
//!   [`Store::journal_append`], [`Store::journal_ack`],
//!   [`Store::load_actor`], [`Store::list_actors`],
//!   [`Store::delete_actor`]). In SQLite they are written through the same
//!   group-committing writer as key-value writes, so an actor's new state,
//!   the acknowledgement of the message that produced it, and any key-value
//!   writes it made can be one transaction ([`SqliteStore::commit`]); see
//!   [`sqlite`] for the intended use. In JetStream, see [`jetstream`].
//!   State and messages are bytes of any size; [`Limits`] apply to
//!   key-value only.
//!
//! It does not own grants, scoping of bucket names, metrics or the
//! `wasi:keyvalue` bindings: the host does, on top of [`Store`] and
//! [`Bucket`].
//!
//! # Backends and their durability
//!
//! [`Store`] is an enum over the two; [`Bucket`] is a cheap handle on one
//! bucket of either, with the same methods and the same errors.
//!
//! - [`SqliteStore`]: one file, `wactor.db`, in a data directory
//!   ([`default_data_dir`]), SQLite bundled into the binary, WAL journal,
//!   `synchronous=FULL`. Every write goes to a single writer thread which
//!   commits whatever is queued at that moment in one transaction (group
//!   commit); a caller's future completes only after the transaction holding
//!   its write is committed and the WAL is flushed to disk (fsync). So an
//!   acknowledged write survives `kill -9` of the process and a power cut
//!   (as far as the disk honours fsync), and many concurrent writers share
//!   one flush instead of paying one each. Reads run on separate read-only
//!   connections, concurrently with the writer (WAL readers see the last
//!   commit). A write that fails (disk full, read-only file) fails only the
//!   writes in that transaction, with [`StoreError::Write`]; reads keep
//!   working and later writes are tried afresh. A file that is not a wactor
//!   database, or a directory that cannot be written, is refused at open
//!   with the path and what to do.
//! - [`JetStreamStore`]: NATS JetStream key-value (`async-nats`), one
//!   JetStream bucket per wactor bucket, created on first use (file storage,
//!   history 1). A write completes when the JetStream server acknowledges
//!   it: the message is in the stream's file store (and, with replicas > 1,
//!   on a quorum of servers). The server itself fsyncs its files on its own
//!   interval (`sync_interval`, two minutes by default), so a single
//!   server's power cut can lose recently acknowledged writes; a crash of
//!   the server process or of the host does not. Every host connected to
//!   the same server sees the same buckets. Names and keys are escaped into
//!   JetStream's alphabet reversibly (see [`jetstream`]).
//!
//! # Counters
//!
//! `increment` stores the counter as decimal ASCII text (`b"42"`), so that
//! `get` returns something readable in every language and an actor can seed
//! a counter with `set(key, b"10")`. A missing key counts from 0; a value
//! that is not a decimal `u64` gives [`StoreError::NotANumber`], and going
//! past `u64::MAX` gives [`StoreError::Overflow`] (the WIT's delta and
//! result are `u64`).
//!
//! # Listing keys
//!
//! `list_keys` returns keys a page at a time ([`Limits::list_page`]) with a
//! `u64` cursor, as the WIT's `key-response` does. In SQLite the cursor is
//! a position in insertion order, so a key present for the whole listing is
//! listed exactly once even while others are written. In JetStream it is an
//! offset in the sorted list of keys, which the WIT allows to be out of date
//! under concurrent writes.

//! # Example
//!
//! ```
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use wactor_store::{SqliteOptions, SqliteStore, Store};
//!
//! # let dir = tempfile::tempdir()?;
//! // At start-up (blocks briefly): `default_data_dir()` or `--data-dir`.
//! let sqlite = SqliteStore::open(dir.path(), SqliteOptions::default())?;
//! let store = Store::from(sqlite.clone());
//!
//! // The host scopes the name per behaviour before asking for the bucket.
//! let visits = store.bucket("visits:default")?;
//! visits.set("greeting", b"hello").await?; // stored and flushed when it returns
//! assert_eq!(visits.increment("/home", 1).await?, 1);
//! assert_eq!(visits.get("/home").await?, Some(b"1".to_vec()));
//!
//! // A durable actor's new state and the message it handled, committed together.
//! let id = sqlite.journal_append("ledger", b"deposit 10".to_vec()).await?;
//! sqlite.put_actor_state("ledger", b"balance 10".to_vec(), 1, id).await?;
//! let record = sqlite.load_actor("ledger").await?;
//! assert_eq!(record.map(|r| r.pending.len()), Some(0));
//! # Ok(())
//! # }
//! # tokio::runtime::Runtime::new().unwrap().block_on(example()).unwrap();
//! ```

pub mod error;
pub mod jetstream;
pub mod sqlite;

use std::path::PathBuf;

pub use error::{Result, StoreError, WriteFailure};
pub use jetstream::{JetStreamOptions, JetStreamStore};
pub use sqlite::{ActorRecord, JournalEntry, Op, OpOutput, SqliteOptions, SqliteStore, WriterStats};

/// Bounds on what callers may store, checked before anything is written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Longest key, in UTF-8 bytes.
    pub max_key_bytes: usize,
    /// Largest value, in bytes.
    pub max_value_bytes: usize,
    /// Longest bucket name, in UTF-8 bytes.
    pub max_bucket_name_bytes: usize,
    /// Most items in one get-many, set-many or delete-many.
    pub max_batch: usize,
    /// Most keys in one page of `list_keys`.
    pub list_page: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_key_bytes: 1024,
            max_value_bytes: 1024 * 1024,
            max_bucket_name_bytes: 64,
            max_batch: 1000,
            list_page: 1000,
        }
    }
}

impl Limits {
    pub(crate) fn check_key(&self, key: &str) -> Result<()> {
        if key.len() > self.max_key_bytes {
            return Err(StoreError::KeyTooLong {
                len: key.len(),
                max: self.max_key_bytes,
            });
        }
        Ok(())
    }

    pub(crate) fn check_value(&self, key: &str, value: &[u8]) -> Result<()> {
        if value.len() > self.max_value_bytes {
            return Err(StoreError::ValueTooLarge {
                key: key.to_owned(),
                len: value.len(),
                max: self.max_value_bytes,
            });
        }
        Ok(())
    }

    pub(crate) fn check_batch(&self, len: usize) -> Result<()> {
        if len > self.max_batch {
            return Err(StoreError::BatchTooLarge {
                len,
                max: self.max_batch,
            });
        }
        Ok(())
    }

    pub(crate) fn check_bucket(&self, name: &str) -> Result<()> {
        let reason = if name.is_empty() {
            "it is empty".to_owned()
        } else if name.len() > self.max_bucket_name_bytes {
            format!(
                "it is {} bytes, over the limit of {}",
                name.len(),
                self.max_bucket_name_bytes
            )
        } else {
            return Ok(());
        };
        Err(StoreError::InvalidBucketName {
            name: name.to_owned(),
            reason,
        })
    }
}

/// One page of keys from `list_keys`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct KeyPage {
    /// The keys of this page.
    pub keys: Vec<String>,
    /// Pass this to the next `list_keys` call; `None` when this is the last page.
    pub cursor: Option<u64>,
}

/// The directory the embedded store uses by default:
/// `$XDG_DATA_HOME/wactor`, else `~/.local/share/wactor`. `None` when
/// neither `XDG_DATA_HOME` nor `HOME` is set (absolute paths only, as the
/// XDG spec says), so the caller must be given `--data-dir`.
pub fn default_data_dir() -> Option<PathBuf> {
    data_dir_from(
        std::env::var_os("XDG_DATA_HOME").map(PathBuf::from),
        std::env::var_os("HOME").map(PathBuf::from),
    )
}

fn data_dir_from(xdg_data_home: Option<PathBuf>, home: Option<PathBuf>) -> Option<PathBuf> {
    match xdg_data_home {
        Some(xdg) if xdg.is_absolute() => Some(xdg.join("wactor")),
        _ => home
            .filter(|h| h.is_absolute())
            .map(|h| h.join(".local/share/wactor")),
    }
}

/// The store: embedded SQLite or NATS JetStream. Cloning is cheap and
/// clones share the backend.
#[derive(Clone, Debug)]
pub enum Store {
    /// The embedded SQLite database.
    Sqlite(SqliteStore),
    /// NATS JetStream key-value.
    JetStream(JetStreamStore),
}

impl Store {
    /// A handle on the bucket `name`. Checks the name only; the bucket is
    /// created when first written (JetStream) or simply exists (SQLite).
    pub fn bucket(&self, name: &str) -> Result<Bucket> {
        self.limits().check_bucket(name)?;
        Ok(Bucket {
            store: self.clone(),
            name: name.into(),
        })
    }

    /// Stores durable actor `name`'s state and version, raises its
    /// `last_handled` to at least `last_handled`, and drops its journaled
    /// messages up to that id. Completes once stored.
    pub async fn put_actor_state(
        &self,
        name: &str,
        state: Vec<u8>,
        version: u32,
        last_handled: u64,
    ) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.put_actor_state(name, state, version, last_handled).await,
            Store::JetStream(s) => s.put_actor_state(name, state, version, last_handled).await,
        }
    }

    /// Journals `message` for `actor`; completes once stored, with its id
    /// (unique and increasing across the store, never reused).
    pub async fn journal_append(&self, actor: &str, message: Vec<u8>) -> Result<u64> {
        match self {
            Store::Sqlite(s) => s.journal_append(actor, message).await,
            Store::JetStream(s) => s.journal_append(actor, message).await,
        }
    }

    /// Marks `actor`'s journaled messages up to `upto` handled.
    pub async fn journal_ack(&self, actor: &str, upto: u64) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.journal_ack(actor, upto).await,
            Store::JetStream(s) => s.journal_ack(actor, upto).await,
        }
    }

    /// Forgets durable actor `name`: its state and journal.
    pub async fn delete_actor(&self, name: &str) -> Result<()> {
        match self {
            Store::Sqlite(s) => s.delete_actor(name).await,
            Store::JetStream(s) => s.delete_actor(name).await,
        }
    }

    /// Durable actor `name`'s record and pending messages (those after its
    /// `last_handled`), or `None` if the store has neither.
    pub async fn load_actor(&self, name: &str) -> Result<Option<ActorRecord>> {
        match self {
            Store::Sqlite(s) => s.load_actor(name).await,
            Store::JetStream(s) => s.load_actor(name).await,
        }
    }

    /// Names of stored durable actors, sorted, after `after`, at most `limit`.
    pub async fn list_actors(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        match self {
            Store::Sqlite(s) => s.list_actors(after, limit).await,
            Store::JetStream(s) => s.list_actors(after, limit).await,
        }
    }

    /// The SQLite store, for what only it offers ([`SqliteStore::commit`]:
    /// several writes, say an actor's state and a key-value write, in one
    /// transaction); `None` for JetStream.
    pub fn as_sqlite(&self) -> Option<&SqliteStore> {
        match self {
            Store::Sqlite(s) => Some(s),
            Store::JetStream(_) => None,
        }
    }

    /// The limits this store enforces.
    pub fn limits(&self) -> &Limits {
        match self {
            Store::Sqlite(s) => s.limits(),
            Store::JetStream(s) => s.limits(),
        }
    }
}

impl From<SqliteStore> for Store {
    fn from(s: SqliteStore) -> Self {
        Store::Sqlite(s)
    }
}

impl From<JetStreamStore> for Store {
    fn from(s: JetStreamStore) -> Self {
        Store::JetStream(s)
    }
}

/// One bucket of a [`Store`]: the operations of `wasi:keyvalue`'s `store`,
/// `atomics` and `batch` interfaces. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Bucket {
    store: Store,
    name: std::sync::Arc<str>,
}

macro_rules! dispatch {
    ($self:ident . $method:ident ( $($arg:expr),* )) => {
        match &$self.store {
            Store::Sqlite(s) => s.$method(&$self.name, $($arg),*).await,
            Store::JetStream(s) => s.$method(&$self.name, $($arg),*).await,
        }
    };
}

impl Bucket {
    /// The bucket's name, as given to [`Store::bucket`].
    pub fn name(&self) -> &str {
        &self.name
    }

    fn limits(&self) -> &Limits {
        self.store.limits()
    }

    /// The value of `key`, or `None` if it has none.
    pub async fn get(&self, key: &str) -> Result<Option<Vec<u8>>> {
        self.limits().check_key(key)?;
        dispatch!(self.get(key))
    }

    /// Sets `key` to `value`; completes once the write is stored.
    pub async fn set(&self, key: &str, value: &[u8]) -> Result<()> {
        self.limits().check_key(key)?;
        self.limits().check_value(key, value)?;
        dispatch!(self.set(key, value))
    }

    /// Deletes `key`; deleting a missing key is not an error (as the WIT says).
    pub async fn delete(&self, key: &str) -> Result<()> {
        self.limits().check_key(key)?;
        dispatch!(self.delete(key))
    }

    /// Whether `key` has a value.
    pub async fn exists(&self, key: &str) -> Result<bool> {
        self.limits().check_key(key)?;
        dispatch!(self.exists(key))
    }

    /// One page of the bucket's keys, starting at `cursor` (`None` for the
    /// first page; then the cursor of the previous page).
    pub async fn list_keys(&self, cursor: Option<u64>) -> Result<KeyPage> {
        dispatch!(self.list_keys(cursor))
    }

    /// Atomically adds `delta` to the decimal counter at `key` (a missing key
    /// counts from 0) and returns the new value.
    pub async fn increment(&self, key: &str, delta: u64) -> Result<u64> {
        self.limits().check_key(key)?;
        dispatch!(self.increment(key, delta))
    }

    /// Atomically sets `key` to `new` if its value is `expected` (`None`:
    /// if it has no value). Returns whether it swapped.
    pub async fn compare_and_swap(&self, key: &str, expected: Option<&[u8]>, new: &[u8]) -> Result<bool> {
        self.limits().check_key(key)?;
        self.limits().check_value(key, new)?;
        dispatch!(self.compare_and_swap(key, expected, new))
    }

    /// The values of `keys`, in their order: `Some((key, value))` for a key
    /// with a value, `None` for one without (the WIT's shape).
    pub async fn get_many(&self, keys: &[String]) -> Result<Vec<Option<(String, Vec<u8>)>>> {
        self.limits().check_batch(keys.len())?;
        for key in keys {
            self.limits().check_key(key)?;
        }
        dispatch!(self.get_many(keys))
    }

    /// Sets every pair. In SQLite all are stored in one transaction; in
    /// JetStream each is its own write, so a failure may leave some set
    /// (the WIT allows both).
    pub async fn set_many(&self, items: &[(String, Vec<u8>)]) -> Result<()> {
        self.limits().check_batch(items.len())?;
        for (key, value) in items {
            self.limits().check_key(key)?;
            self.limits().check_value(key, value)?;
        }
        dispatch!(self.set_many(items))
    }

    /// Deletes every key (missing ones are not an error).
    pub async fn delete_many(&self, keys: &[String]) -> Result<()> {
        self.limits().check_batch(keys.len())?;
        for key in keys {
            self.limits().check_key(key)?;
        }
        dispatch!(self.delete_many(keys))
    }
}

/// Parses a stored counter for `increment`.
pub(crate) fn parse_counter(bucket: &str, key: &str, value: &[u8]) -> Result<u64> {
    std::str::from_utf8(value)
        .ok()
        .and_then(|s| s.parse::<u64>().ok())
        .ok_or_else(|| StoreError::NotANumber {
            bucket: bucket.to_owned(),
            key: key.to_owned(),
        })
}

/// `current + delta`, or [`StoreError::Overflow`].
pub(crate) fn add_counter(bucket: &str, key: &str, current: u64, delta: u64) -> Result<u64> {
    current.checked_add(delta).ok_or_else(|| StoreError::Overflow {
        bucket: bucket.to_owned(),
        key: key.to_owned(),
        delta,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_dir_prefers_xdg_data_home_then_home() {
        assert_eq!(
            data_dir_from(Some("/x".into()), Some("/home/a".into())),
            Some(PathBuf::from("/x/wactor"))
        );
        assert_eq!(
            data_dir_from(None, Some("/home/a".into())),
            Some(PathBuf::from("/home/a/.local/share/wactor"))
        );
        // A relative XDG_DATA_HOME is invalid per the XDG spec and ignored.
        assert_eq!(
            data_dir_from(Some("rel".into()), Some("/home/a".into())),
            Some(PathBuf::from("/home/a/.local/share/wactor"))
        );
        assert_eq!(data_dir_from(None, None), None);
    }

    #[test]
    fn limits_reject_long_keys_large_values_and_bad_bucket_names() {
        let limits = Limits::default();
        assert!(limits.check_key(&"k".repeat(1024)).is_ok());
        assert!(matches!(
            limits.check_key(&"k".repeat(1025)),
            Err(StoreError::KeyTooLong { len: 1025, max: 1024 })
        ));
        assert!(limits.check_value("k", &vec![0; 1024 * 1024]).is_ok());
        assert!(matches!(
            limits.check_value("k", &vec![0; 1024 * 1024 + 1]),
            Err(StoreError::ValueTooLarge { .. })
        ));
        assert!(matches!(
            limits.check_bucket(""),
            Err(StoreError::InvalidBucketName { .. })
        ));
        assert!(matches!(
            limits.check_bucket(&"b".repeat(65)),
            Err(StoreError::InvalidBucketName { .. })
        ));
        assert!(limits.check_bucket("any name, even with spaces/é").is_ok());
    }

    #[test]
    fn handles_and_their_futures_can_move_between_tasks() {
        fn send_sync<T: Send + Sync + 'static>(_: &T) {}
        fn send<T: Send>(_: &T) {}
        fn check(store: &Store, bucket: &Bucket) {
            send_sync(store);
            send_sync(bucket);
            send(&bucket.get("k"));
            send(&bucket.set("k", b"v"));
            send(&bucket.increment("k", 1));
            send(&bucket.list_keys(None));
            if let Some(sqlite) = store.as_sqlite() {
                send(&sqlite.commit(Vec::new()));
                send(&sqlite.load_actor("a"));
            }
        }
        // Checked at compile time; nothing to run.
        let _ = check;
    }

    #[test]
    fn counters_are_decimal_text() {
        assert_eq!(parse_counter("b", "k", b"42").ok(), Some(42));
        assert!(matches!(
            parse_counter("b", "k", b"forty"),
            Err(StoreError::NotANumber { .. })
        ));
        assert!(matches!(
            parse_counter("b", "k", b"-1"),
            Err(StoreError::NotANumber { .. })
        ));
        assert!(matches!(
            add_counter("b", "k", u64::MAX, 1),
            Err(StoreError::Overflow { .. })
        ));
    }
}
