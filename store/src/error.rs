//! The store's errors: each says what failed, where, and what to do about it.

use std::fmt;
use std::path::PathBuf;

/// Why a write to the SQLite file failed, so that callers (and the host's
/// log) can tell a full disk from a read-only one without parsing text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WriteFailure {
    /// The disk is full, or the database reached its configured size limit
    /// ([`SqliteOptions::max_size_bytes`](crate::SqliteOptions::max_size_bytes)).
    DiskFull,
    /// The file or its directory cannot be written.
    ReadOnly,
    /// The operating system reported an I/O error.
    Io,
    /// Another process holds the database's write lock.
    Busy,
    /// Anything else SQLite reported.
    Other,
}

impl WriteFailure {
    /// What an operator can do about it.
    fn hint(self) -> &'static str {
        match self {
            WriteFailure::DiskFull => "free disk space (or raise the store's size limit); reads still work",
            WriteFailure::ReadOnly => {
                "make the data directory and wactor.db writable by this user; reads still work"
            }
            WriteFailure::Io => "check the disk and the kernel log; reads may still work",
            WriteFailure::Busy => {
                "another process is writing to this database; run one wactor host per data directory"
            }
            WriteFailure::Other => "the change was not stored; reads still work",
        }
    }
}

impl fmt::Display for WriteFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            WriteFailure::DiskFull => "disk full",
            WriteFailure::ReadOnly => "read-only",
            WriteFailure::Io => "I/O error",
            WriteFailure::Busy => "database busy",
            WriteFailure::Other => "write failed",
        })
    }
}

/// Hint text for a write failure, used in [`StoreError::Write`]'s message.
pub(crate) struct Hint(pub WriteFailure);

impl fmt::Display for Hint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.hint())
    }
}

/// Every error the store gives. Limits and caller mistakes are their own
/// variants (the host maps them to the guest's `wasi:keyvalue` error);
/// backend failures carry the path or URL and a hint.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A key longer than [`Limits::max_key_bytes`](crate::Limits::max_key_bytes).
    #[error("key of {len} bytes is over the limit of {max} bytes")]
    KeyTooLong { len: usize, max: usize },

    /// A value larger than [`Limits::max_value_bytes`](crate::Limits::max_value_bytes)
    /// (for JetStream, also no larger than the server's `max_payload`).
    #[error("value of {len} bytes for key {key:?} is over the limit of {max} bytes")]
    ValueTooLarge { key: String, len: usize, max: usize },

    /// A batch with more items than [`Limits::max_batch`](crate::Limits::max_batch).
    #[error("batch of {len} items is over the limit of {max} items; split it")]
    BatchTooLarge { len: usize, max: usize },

    /// A bucket name that is empty or too long.
    #[error("bucket name {name:?} is invalid: {reason}")]
    InvalidBucketName { name: String, reason: String },

    /// `increment` on a value that is not a decimal `u64`.
    #[error(
        "key {key:?} in bucket {bucket:?} holds a value that is not a decimal unsigned integer, \
         so it cannot be incremented; set it to a number or use another key"
    )]
    NotANumber { bucket: String, key: String },

    /// `increment` past `u64::MAX`.
    #[error("incrementing key {key:?} in bucket {bucket:?} by {delta} overflows a u64")]
    Overflow { bucket: String, key: String, delta: u64 },

    /// The data directory or database file cannot be opened or created.
    #[error("cannot open the store at {path}: {reason}; {hint}")]
    Open {
        path: PathBuf,
        reason: String,
        hint: String,
    },

    /// The file exists but is not a wactor database (another program's
    /// SQLite file, or not SQLite at all). It is never modified.
    #[error(
        "{path} is not a wactor database ({found}); it was left untouched: move it away, or \
         choose another data directory (--data-dir); if it was wactor's and got damaged, \
         restore it from a backup"
    )]
    Foreign { path: PathBuf, found: String },

    /// The file was written by a newer wactor whose schema this one does not know.
    #[error(
        "{path} has schema version {found}, newer than the {supported} this wactor understands; \
         run a newer wactor on it, or choose another data directory (--data-dir)"
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    /// A write was not committed: the change is not stored and was not
    /// acknowledged. The store stays open for reads and later writes.
    #[error("writing to {path} failed ({kind}): {reason}; {hint}", hint = Hint(*kind))]
    Write {
        path: PathBuf,
        kind: WriteFailure,
        reason: String,
    },

    /// A read failed.
    #[error("reading {path} failed: {reason}")]
    Read { path: PathBuf, reason: String },

    /// The writer thread is gone (the store was closed, or the thread died).
    #[error(
        "the store at {path} accepts no writes: it was closed, or its writer stopped; \
         open it again (restart the host)"
    )]
    Closed { path: PathBuf },

    /// The NATS server cannot be reached, or has no JetStream.
    #[error("NATS JetStream at {url} is unavailable: {reason}; {hint}")]
    Unavailable {
        url: String,
        reason: String,
        hint: String,
    },

    /// A JetStream operation failed.
    #[error("JetStream at {url}: {op} in bucket {bucket:?} failed: {reason}")]
    JetStream {
        url: String,
        bucket: String,
        op: &'static str,
        reason: String,
    },
}

/// The store's result type.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
