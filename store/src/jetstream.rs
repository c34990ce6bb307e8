//! The clustered backend: NATS JetStream key-value, through `async-nats`.
//!
//! # Layout
//!
//! Each wactor bucket is one JetStream key-value bucket, created on first
//! use (by a read or a write) with file storage, history 1, the configured
//! replica count and the value limit as its largest message. It is created
//! as the stream `KV_<bucket>` that `async-nats`'s `create_key_value` would
//! make, directly, because `create_key_value` first reads account
//! information that servers before 2.10 answer in a shape `async-nats` 0.51
//! cannot parse. Every host connected to the same server (or cluster) sees
//! the same buckets.
//!
//! JetStream allows only `[a-zA-Z0-9_-]` in bucket names and
//! `[-/_=.a-zA-Z0-9]` in keys (and no key starting or ending with `.`),
//! while wactor's names and keys are any UTF-8. Both are escaped
//! reversibly, keeping the common characters readable:
//!
//! - bucket `B` is `PREFIX_E(B)` where `E` keeps `[a-zA-Z0-9-]` and writes
//!   every other byte as `_` and two upper-case hex digits (`_` itself is
//!   `_5F`), so `sessions` is `wactor_sessions` and `a b` is `wactor_a_20b`;
//! - key `K` keeps `[a-zA-Z0-9_/-]` and writes every other byte as `=` and
//!   two upper-case hex digits (so `.` becomes `=2E` and no key has a dot);
//!   the empty key is `=`. `user/42` stays `user/42`; `a.b` is `a=2Eb`.
//!
//! # Guarantees
//!
//! A write completes when the server acknowledged it (the message is in the
//! stream's store, on a quorum of replicas when there are several). The
//! server fsyncs its files on its own interval (`sync_interval`, two
//! minutes by default), so only a power cut of a single server can lose
//! acknowledged writes; a crash of either process cannot. `increment` and
//! `compare_and_swap` read the key's last revision and write with "expected
//! last revision", retrying when another writer got there first, so they
//! are atomic across hosts. `set_many` and `delete_many` are a write per
//! key (JetStream has no multi-key transaction), sent concurrently. Keys are
//! listed from the server's view at the time of the call, sorted, and paged
//! by offset. A server that is down or has no JetStream gives
//! [`StoreError::Unavailable`] at connect, naming the URL and what to do;
//! after that, an operation the server does not answer within
//! [`JetStreamOptions::request_timeout`] fails with [`StoreError::JetStream`]
//! (the client reconnects by itself, and later operations work again once
//! the server is back).
//!
//! # Durable actors
//!
//! The same API as the SQLite store's, laid out as:
//!
//! - records in the key-value bucket `PREFIX__zactors` (a name no wactor
//!   bucket escapes to), keyed by the escaped actor name; the value is a
//!   flag byte (bit 0: has state), the version (u32) and `last_handled`
//!   (u64), little-endian, then the state bytes. A record is replaced only
//!   on the revision it was read at (retried when another host wrote
//!   first), so `last_handled` never goes back even with two writers;
//! - journaled messages in the stream `PREFIX__zjournal`, on the subject
//!   `PREFIX.journal.<escaped name>`; a message's id is its stream sequence
//!   (unique, increasing, never reused). Loading reads an actor's messages
//!   after `last_handled` one by one (direct get); recording a state or an
//!   acknowledgement then purges the subject up to `last_handled` (a
//!   cleanup only: a failed purge loses nothing, loading skips them).
//!
//! Unlike SQLite, a state and its acknowledgement cannot share a transaction
//! with key-value writes here, and nothing yet guards against one actor
//! running on two hosts: issue 26 wants a lease for that (a key per actor,
//! taken with `create` and renewed with `update` on its revision).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::TryStreamExt;

use async_nats::jetstream::stream::DirectGetErrorKind;

use crate::error::{Result, StoreError};
use crate::{add_counter, parse_counter, ActorRecord, JournalEntry, KeyPage, Limits};

/// How to reach JetStream and lay buckets out in it.
#[derive(Debug, Clone)]
pub struct JetStreamOptions {
    /// Limits on keys, values and batches. The value limit is lowered to
    /// the server's `max_payload` if that is smaller.
    pub limits: Limits,
    /// Prefix of every JetStream bucket this store creates (escaped like a
    /// bucket name), so that wactor's buckets do not collide with others.
    pub prefix: String,
    /// Replicas of each bucket (1 on a single server; 3 in a cluster).
    pub replicas: usize,
    /// How long to wait for the TCP connection and the server's handshake.
    pub connect_timeout: Duration,
    /// How long to wait for each JetStream answer.
    pub request_timeout: Duration,
}

impl Default for JetStreamOptions {
    fn default() -> Self {
        JetStreamOptions {
            limits: Limits::default(),
            prefix: "wactor".into(),
            replicas: 1,
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(5),
        }
    }
}

/// The JetStream store. Cloning is cheap; clones share the connection.
#[derive(Clone)]
pub struct JetStreamStore {
    inner: Arc<Inner>,
}

struct Inner {
    url: String,
    js: jetstream::Context,
    limits: Limits,
    options: JetStreamOptions,
    /// Buckets already opened or created, by JetStream name.
    buckets: tokio::sync::Mutex<HashMap<String, kv::Store>>,
    /// The journal stream of durable actors, once opened or created.
    journal: tokio::sync::OnceCell<jetstream::stream::Stream>,
}

impl std::fmt::Debug for JetStreamStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JetStreamStore")
            .field("url", &self.inner.url)
            .finish_non_exhaustive()
    }
}

impl JetStreamStore {
    /// Connects to the NATS server at `url` and checks that it has JetStream.
    pub async fn connect(url: &str, options: JetStreamOptions) -> Result<JetStreamStore> {
        let unavailable = |reason: String, hint: &str| StoreError::Unavailable {
            url: url.to_owned(),
            reason,
            hint: hint.to_owned(),
        };
        let client = async_nats::ConnectOptions::new()
            .connection_timeout(options.connect_timeout)
            .request_timeout(Some(options.request_timeout))
            .connect(url)
            .await
            .map_err(|e| {
                unavailable(
                    format!("cannot connect: {e}"),
                    "check that nats-server runs there and this host can reach it",
                )
            })?;
        let mut js = jetstream::new(client.clone());
        js.set_timeout(options.request_timeout);
        check_jetstream(&client).await.map_err(|reason| {
            unavailable(
                reason,
                "start nats-server with JetStream enabled (`nats-server -js`, or `jetstream {}` \
                 in its configuration), or use the embedded store (--kv sqlite)",
            )
        })?;
        let mut limits = options.limits.clone();
        let max_payload = client.server_info().max_payload;
        if max_payload > 0 {
            limits.max_value_bytes = limits.max_value_bytes.min(max_payload);
        }
        Ok(JetStreamStore {
            inner: Arc::new(Inner {
                url: url.to_owned(),
                js,
                limits,
                options,
                buckets: tokio::sync::Mutex::new(HashMap::new()),
                journal: tokio::sync::OnceCell::new(),
            }),
        })
    }

    /// The server's URL.
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The limits this store enforces (the value limit no larger than the
    /// server's `max_payload`).
    pub fn limits(&self) -> &Limits {
        &self.inner.limits
    }

    /// The JetStream bucket that holds wactor bucket `bucket`.
    pub fn jetstream_bucket_name(&self, bucket: &str) -> String {
        format!(
            "{}_{}",
            encode_bucket(&self.inner.options.prefix),
            encode_bucket(bucket)
        )
    }

    fn error(&self, bucket: &str, op: &'static str, e: impl std::fmt::Display) -> StoreError {
        StoreError::JetStream {
            url: self.inner.url.clone(),
            bucket: bucket.to_owned(),
            op,
            reason: e.to_string(),
        }
    }

    /// The JetStream bucket for `bucket`, opened or created on first use.
    async fn kv(&self, bucket: &str) -> Result<kv::Store> {
        self.kv_named(self.jetstream_bucket_name(bucket), bucket).await
    }

    /// The JetStream bucket `name` (shown as `bucket` in errors), opened or
    /// created on first use.
    async fn kv_named(&self, name: String, bucket: &str) -> Result<kv::Store> {
        let mut buckets = self.inner.buckets.lock().await;
        if let Some(store) = buckets.get(&name) {
            return Ok(store.clone());
        }
        let js = &self.inner.js;
        let store = match js.get_key_value(&name).await {
            Ok(store) => store,
            Err(_) => {
                // The stream a key-value bucket is, as `create_key_value`
                // makes it. Created directly because `create_key_value` first
                // reads account information that nats-server before 2.10
                // answers in a shape async-nats 0.51 cannot parse.
                let config = jetstream::stream::Config {
                    name: format!("KV_{name}"),
                    description: Some(format!("wactor bucket {bucket:?}")),
                    subjects: vec![format!("$KV.{name}.>")],
                    max_messages_per_subject: 1,
                    max_message_size: i32::try_from(self.inner.limits.max_value_bytes).unwrap_or(i32::MAX),
                    storage: jetstream::stream::StorageType::File,
                    num_replicas: self.inner.options.replicas.max(1),
                    allow_rollup: true,
                    deny_delete: true,
                    deny_purge: false,
                    allow_direct: true,
                    discard: jetstream::stream::DiscardPolicy::New,
                    ..Default::default()
                };
                // Another host may create it at the same moment: whoever
                // loses still finds the bucket.
                let created = js.create_stream(config).await;
                js.get_key_value(&name).await.map_err(|e| match created {
                    Err(create) => self.error(bucket, "creating the bucket", create),
                    Ok(_) => self.error(bucket, "opening the bucket", e),
                })?
            }
        };
        buckets.insert(name, store.clone());
        Ok(store)
    }

    pub(crate) async fn get(&self, bucket: &str, key: &str) -> Result<Option<Vec<u8>>> {
        let kv = self.kv(bucket).await?;
        let value = kv
            .get(encode_key(key))
            .await
            .map_err(|e| self.error(bucket, "get", e))?;
        Ok(value.map(|v| v.to_vec()))
    }

    pub(crate) async fn set(&self, bucket: &str, key: &str, value: &[u8]) -> Result<()> {
        let kv = self.kv(bucket).await?;
        kv.put(encode_key(key), value.to_vec().into())
            .await
            .map_err(|e| self.error(bucket, "set", e))?;
        Ok(())
    }

    pub(crate) async fn delete(&self, bucket: &str, key: &str) -> Result<()> {
        let kv = self.kv(bucket).await?;
        kv.delete(encode_key(key))
            .await
            .map_err(|e| self.error(bucket, "delete", e))
    }

    pub(crate) async fn exists(&self, bucket: &str, key: &str) -> Result<bool> {
        Ok(self.get(bucket, key).await?.is_some())
    }

    pub(crate) async fn list_keys(&self, bucket: &str, cursor: Option<u64>) -> Result<KeyPage> {
        let kv = self.kv(bucket).await?;
        let mut keys: Vec<String> = kv
            .keys()
            .await
            .map_err(|e| self.error(bucket, "list-keys", e))?
            .map_err(|e| self.error(bucket, "list-keys", e))
            // Keys not written by this encoding (written by another
            // client) are skipped rather than shown garbled.
            .try_filter_map(|k| futures::future::ready(Ok(decode_key(&k))))
            .try_collect()
            .await?;
        keys.sort_unstable();
        let start = usize::try_from(cursor.unwrap_or(0)).unwrap_or(usize::MAX);
        let page = self.inner.limits.list_page.max(1);
        let end = start.saturating_add(page).min(keys.len());
        let next = (end < keys.len()).then_some(end as u64);
        let keys = if start < keys.len() {
            keys.drain(start..end).collect()
        } else {
            Vec::new()
        };
        Ok(KeyPage { keys, cursor: next })
    }

    pub(crate) async fn increment(&self, bucket: &str, key: &str, delta: u64) -> Result<u64> {
        let kv = self.kv(bucket).await?;
        let encoded = encode_key(key);
        loop {
            let (current, revision) = self.current(&kv, bucket, &encoded).await?;
            let value = match current {
                Some(v) => parse_counter(bucket, key, &v)?,
                None => 0,
            };
            let new = add_counter(bucket, key, value, delta)?;
            if self
                .write_if(&kv, bucket, &encoded, new.to_string().into_bytes(), revision)
                .await?
            {
                return Ok(new);
            }
        }
    }

    pub(crate) async fn compare_and_swap(
        &self,
        bucket: &str,
        key: &str,
        expected: Option<&[u8]>,
        new: &[u8],
    ) -> Result<bool> {
        let kv = self.kv(bucket).await?;
        let encoded = encode_key(key);
        loop {
            let (current, revision) = self.current(&kv, bucket, &encoded).await?;
            if current.as_deref() != expected {
                return Ok(false);
            }
            // Lost to another writer: look again, the value may still match.
            if self
                .write_if(&kv, bucket, &encoded, new.to_vec(), revision)
                .await?
            {
                return Ok(true);
            }
        }
    }

    /// The key's value (`None` if missing or deleted) and the revision to
    /// write against (0: no message for the key at all).
    async fn current(&self, kv: &kv::Store, bucket: &str, key: &str) -> Result<(Option<Vec<u8>>, u64)> {
        let entry = kv
            .entry(key)
            .await
            .map_err(|e| self.error(bucket, "read for update", e))?;
        Ok(match entry {
            None => (None, 0),
            Some(e) => match e.operation {
                kv::Operation::Put => (Some(e.value.to_vec()), e.revision),
                kv::Operation::Delete | kv::Operation::Purge => (None, e.revision),
            },
        })
    }

    /// Writes `value` if the key's last revision is still `revision`;
    /// `false` if another writer changed it first.
    async fn write_if(
        &self,
        kv: &kv::Store,
        bucket: &str,
        key: &str,
        value: Vec<u8>,
        revision: u64,
    ) -> Result<bool> {
        match kv.update(key, value.into(), revision).await {
            Ok(_) => Ok(true),
            Err(e) if e.kind() == kv::UpdateErrorKind::WrongLastRevision => Ok(false),
            Err(e) => Err(self.error(bucket, "conditional write", e)),
        }
    }

    pub(crate) async fn get_many(
        &self,
        bucket: &str,
        keys: &[String],
    ) -> Result<Vec<Option<(String, Vec<u8>)>>> {
        let gets = keys
            .iter()
            .map(|key| async move { Ok(self.get(bucket, key).await?.map(|v| (key.clone(), v))) });
        futures::future::try_join_all(gets).await
    }

    pub(crate) async fn set_many(&self, bucket: &str, items: &[(String, Vec<u8>)]) -> Result<()> {
        let sets = items.iter().map(|(key, value)| self.set(bucket, key, value));
        futures::future::try_join_all(sets).await.map(drop)
    }

    pub(crate) async fn delete_many(&self, bucket: &str, keys: &[String]) -> Result<()> {
        let deletes = keys.iter().map(|key| self.delete(bucket, key));
        futures::future::try_join_all(deletes).await.map(drop)
    }
}

/// Shown as the bucket in errors about durable actor records.
const ACTORS: &str = "durable actors";

impl JetStreamStore {
    // Durable actors. Names below cannot collide with a key-value bucket's:
    // an escaped bucket name never has `_` followed by something other than
    // two upper-case hex digits.

    fn actors_bucket_name(&self) -> String {
        format!("{}__zactors", encode_bucket(&self.inner.options.prefix))
    }

    fn journal_stream_name(&self) -> String {
        format!("{}__zjournal", encode_bucket(&self.inner.options.prefix))
    }

    /// The journal subject of `actor`: one token, as escaped keys have no dots.
    fn journal_subject(&self, actor: &str) -> String {
        format!(
            "{}.journal.{}",
            encode_bucket(&self.inner.options.prefix),
            encode_key(actor)
        )
    }

    async fn actors(&self) -> Result<kv::Store> {
        self.kv_named(self.actors_bucket_name(), ACTORS).await
    }

    async fn journal(&self) -> Result<&jetstream::stream::Stream> {
        self.inner
            .journal
            .get_or_try_init(|| async {
                let prefix = encode_bucket(&self.inner.options.prefix);
                let config = jetstream::stream::Config {
                    name: self.journal_stream_name(),
                    description: Some("wactor: journaled messages of durable actors".into()),
                    subjects: vec![format!("{prefix}.journal.>")],
                    storage: jetstream::stream::StorageType::File,
                    num_replicas: self.inner.options.replicas.max(1),
                    // Loading an actor reads its messages one by one.
                    allow_direct: true,
                    ..Default::default()
                };
                self.inner
                    .js
                    .get_or_create_stream(config)
                    .await
                    .map_err(|e| self.error(ACTORS, "opening the journal", e))
            })
            .await
    }

    /// Stores `name`'s state and version and raises its `last_handled` to
    /// at least `last_handled`, atomically across hosts (a write on the
    /// record's last revision, retried if another host wrote first); then
    /// drops its journaled messages up to `last_handled`.
    pub async fn put_actor_state(
        &self,
        name: &str,
        state: Vec<u8>,
        version: u32,
        last_handled: u64,
    ) -> Result<()> {
        let last = self
            .update_record(name, |old| StoredRecord {
                state: Some(state.clone()),
                version,
                last_handled: old.map_or(0, |r| r.last_handled).max(last_handled),
            })
            .await?;
        self.drop_journal(name, last).await;
        Ok(())
    }

    /// Journals `message` for `actor`; completes once JetStream stored it,
    /// with its id (the journal stream's sequence: unique and increasing
    /// across all actors, never reused).
    pub async fn journal_append(&self, actor: &str, message: Vec<u8>) -> Result<u64> {
        // The stream must exist, or the publish would have no one to store it.
        self.journal().await?;
        let ack = self
            .inner
            .js
            .publish(self.journal_subject(actor), message.into())
            .await
            .map_err(|e| self.error(ACTORS, "journal append", e))?
            .await
            .map_err(|e| self.error(ACTORS, "journal append", e))?;
        Ok(ack.sequence)
    }

    /// Marks `actor`'s journaled messages up to `upto` handled.
    pub async fn journal_ack(&self, actor: &str, upto: u64) -> Result<()> {
        let last = self
            .update_record(actor, |old| match old {
                Some(old) => StoredRecord {
                    last_handled: old.last_handled.max(upto),
                    ..old
                },
                None => StoredRecord {
                    state: None,
                    version: 0,
                    last_handled: upto,
                },
            })
            .await?;
        self.drop_journal(actor, last).await;
        Ok(())
    }

    /// Forgets `name`: its record and its journal.
    pub async fn delete_actor(&self, name: &str) -> Result<()> {
        let actors = self.actors().await?;
        actors
            .purge(encode_key(name))
            .await
            .map_err(|e| self.error(ACTORS, "delete actor", e))?;
        self.journal()
            .await?
            .purge()
            .filter(self.journal_subject(name))
            .await
            .map_err(|e| self.error(ACTORS, "delete actor's journal", e))?;
        Ok(())
    }

    /// `name`'s record and pending messages, or `None` if JetStream has
    /// neither for it.
    pub async fn load_actor(&self, name: &str) -> Result<Option<ActorRecord>> {
        let (record, _) = self.read_record(name).await?;
        let last_handled = record.as_ref().map_or(0, |r| r.last_handled);
        let journal = self.journal().await?;
        let subject = self.journal_subject(name);
        let mut pending = Vec::new();
        let mut next = last_handled.saturating_add(1);
        loop {
            match journal
                .direct_get_next_for_subject(subject.as_str(), Some(next))
                .await
            {
                Ok(message) => {
                    next = message.sequence.saturating_add(1);
                    pending.push(JournalEntry {
                        id: message.sequence,
                        message: message.payload.to_vec(),
                    });
                }
                Err(e) if e.kind() == DirectGetErrorKind::NotFound => break,
                Err(e) => return Err(self.error(ACTORS, "load actor's journal", e)),
            }
        }
        if record.is_none() && pending.is_empty() {
            return Ok(None);
        }
        let record = record.unwrap_or(StoredRecord {
            state: None,
            version: 0,
            last_handled: 0,
        });
        Ok(Some(ActorRecord {
            name: name.to_owned(),
            state: record.state,
            version: record.version,
            last_handled: record.last_handled,
            pending,
        }))
    }

    /// Names of stored actors (with a record or journaled messages),
    /// sorted, after `after` (exclusive), at most `limit`. Reads every name
    /// from the server on each call (JetStream lists keys unordered), so
    /// paging through many actors costs a full listing per page.
    pub async fn list_actors(&self, after: Option<&str>, limit: usize) -> Result<Vec<String>> {
        let actors = self.actors().await?;
        let mut names: std::collections::BTreeSet<String> = actors
            .keys()
            .await
            .map_err(|e| self.error(ACTORS, "list actors", e))?
            .map_err(|e| self.error(ACTORS, "list actors", e))
            .try_filter_map(|k| futures::future::ready(Ok(decode_key(&k))))
            .try_collect()
            .await?;
        let journal = self.journal().await?;
        let prefix = format!("{}.journal.", encode_bucket(&self.inner.options.prefix));
        let subjects: Vec<(String, usize)> = journal
            .info_with_subjects(format!("{prefix}>"))
            .await
            .map_err(|e| self.error(ACTORS, "list journals", e))?
            .try_collect()
            .await
            .map_err(|e| self.error(ACTORS, "list journals", e))?;
        names.extend(
            subjects
                .into_iter()
                .filter(|(_, count)| *count > 0)
                .filter_map(|(subject, _)| decode_key(subject.strip_prefix(&prefix)?)),
        );
        Ok(names
            .into_iter()
            .filter(|n| after.is_none_or(|a| n.as_str() > a))
            .take(limit)
            .collect())
    }

    async fn read_record(&self, name: &str) -> Result<(Option<StoredRecord>, u64)> {
        let actors = self.actors().await?;
        let (value, revision) = self.current(&actors, ACTORS, &encode_key(name)).await?;
        let record = value
            .map(|v| {
                StoredRecord::decode(&v).ok_or_else(|| {
                    self.error(ACTORS, "load actor", format!("the record of {name:?} is damaged"))
                })
            })
            .transpose()?;
        Ok((record, revision))
    }

    /// Replaces `name`'s record with `change(old)` on the revision it read,
    /// retrying when another writer got there first; gives the new
    /// `last_handled`.
    async fn update_record(
        &self,
        name: &str,
        change: impl Fn(Option<StoredRecord>) -> StoredRecord,
    ) -> Result<u64> {
        let actors = self.actors().await?;
        let key = encode_key(name);
        loop {
            let (old, revision) = self.read_record(name).await?;
            let new = change(old);
            let last = new.last_handled;
            if self
                .write_if(&actors, ACTORS, &key, new.encode(), revision)
                .await?
            {
                return Ok(last);
            }
        }
    }

    /// Drops `actor`'s journaled messages up to `upto`. Only a cleanup:
    /// loading skips them anyway (they are at or below `last_handled`), so
    /// a failure here loses nothing and is not reported.
    async fn drop_journal(&self, actor: &str, upto: u64) {
        if let Ok(journal) = self.journal().await {
            let _ = journal
                .purge()
                .filter(self.journal_subject(actor))
                .sequence(upto.saturating_add(1))
                .await;
        }
    }
}

/// A durable actor's record as stored in JetStream: a flag byte (bit 0:
/// has state), the version (u32, little-endian), `last_handled` (u64,
/// little-endian), then the state bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
struct StoredRecord {
    state: Option<Vec<u8>>,
    version: u32,
    last_handled: u64,
}

impl StoredRecord {
    const HEADER: usize = 1 + 4 + 8;

    fn encode(&self) -> Vec<u8> {
        let state = self.state.as_deref().unwrap_or_default();
        let mut out = Vec::with_capacity(Self::HEADER + state.len());
        out.push(u8::from(self.state.is_some()));
        out.extend_from_slice(&self.version.to_le_bytes());
        out.extend_from_slice(&self.last_handled.to_le_bytes());
        out.extend_from_slice(state);
        out
    }

    fn decode(bytes: &[u8]) -> Option<StoredRecord> {
        let (&flags, rest) = bytes.split_first()?;
        let version = u32::from_le_bytes(rest.get(..4)?.try_into().ok()?);
        let last_handled = u64::from_le_bytes(rest.get(4..12)?.try_into().ok()?);
        let state = rest.get(12..)?;
        Some(StoredRecord {
            state: match flags {
                0 if state.is_empty() => None,
                1 => Some(state.to_vec()),
                _ => return None,
            },
            version,
            last_handled,
        })
    }
}

/// Asks the server for this account's JetStream information; the reason
/// when it has none. (A raw request, as the typed `query_account` does not
/// parse the answers of every server version.)
async fn check_jetstream(client: &async_nats::Client) -> std::result::Result<(), String> {
    let answer = client
        .request("$JS.API.INFO", Vec::new().into())
        .await
        .map_err(|e| format!("the server does not answer JetStream requests: {e}"))?;
    let info: serde_json::Value = serde_json::from_slice(&answer.payload)
        .map_err(|e| format!("the server's JetStream answer is not JSON: {e}"))?;
    match info.get("error") {
        Some(error) => Err(format!("JetStream refused: {error}")),
        None => Ok(()),
    }
}

const HEX: &[u8; 16] = b"0123456789ABCDEF";

fn escape(s: &str, keep: impl Fn(u8) -> bool, mark: char) -> String {
    let mut out = String::with_capacity(s.len());
    for &b in s.as_bytes() {
        if keep(b) {
            out.push(b as char);
        } else {
            out.push(mark);
            out.push(HEX[usize::from(b >> 4)] as char);
            out.push(HEX[usize::from(b & 0xf)] as char);
        }
    }
    out
}

fn unescape(s: &str, keep: impl Fn(u8) -> bool, mark: u8) -> Option<String> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let b = bytes[i];
        if b == mark {
            let hex = s.get(i + 1..i + 3)?;
            let byte = u8::from_str_radix(hex, 16).ok()?;
            // Only the canonical form decodes, so that decoding is the exact
            // inverse of encoding.
            if keep(byte) || hex.bytes().any(|h| h.is_ascii_lowercase()) {
                return None;
            }
            out.push(byte);
            i += 3;
        } else if keep(b) {
            out.push(b);
            i += 1;
        } else {
            return None;
        }
    }
    String::from_utf8(out).ok()
}

fn bucket_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'-'
}

fn key_char(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'/')
}

/// A bucket name (or prefix) in JetStream's bucket alphabet `[a-zA-Z0-9_-]`.
pub fn encode_bucket(name: &str) -> String {
    escape(name, bucket_char, '_')
}

/// The inverse of [`encode_bucket`]; `None` for a name it cannot give.
pub fn decode_bucket(encoded: &str) -> Option<String> {
    unescape(encoded, bucket_char, b'_')
}

/// A key in JetStream's key alphabet, never empty and without dots.
pub fn encode_key(key: &str) -> String {
    if key.is_empty() {
        return "=".into();
    }
    escape(key, key_char, '=')
}

/// The inverse of [`encode_key`]; `None` for a key it cannot give.
pub fn decode_key(encoded: &str) -> Option<String> {
    if encoded == "=" {
        return Some(String::new());
    }
    if encoded.is_empty() {
        return None;
    }
    unescape(encoded, key_char, b'=')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn jetstream_key_ok(k: &str) -> bool {
        !k.is_empty()
            && !k.starts_with('.')
            && !k.ends_with('.')
            && k.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"-/_=.".contains(&b))
    }

    #[test]
    fn keys_round_trip_through_jetstreams_alphabet() {
        for key in [
            "",
            "plain",
            "user/42",
            "a.b",
            ".",
            "..",
            "=",
            "=3D",
            "*",
            ">",
            "a b\tc\n",
            "héllo wörld ✓",
            "_kv_reserved",
            "trailing.",
        ] {
            let encoded = encode_key(key);
            assert!(jetstream_key_ok(&encoded), "{key:?} encoded as {encoded:?}");
            assert_eq!(decode_key(&encoded).as_deref(), Some(key), "{encoded:?}");
        }
        assert_eq!(encode_key("user/42"), "user/42");
        assert_eq!(encode_key("a.b"), "a=2Eb");
    }

    #[test]
    fn bucket_names_round_trip_through_jetstreams_alphabet() {
        for name in [
            "default",
            "a b",
            "under_score",
            "dash-ok",
            "é",
            "behaviour/sessions",
        ] {
            let encoded = encode_bucket(name);
            assert!(
                encoded
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-'),
                "{name:?} encoded as {encoded:?}"
            );
            assert_eq!(decode_bucket(&encoded).as_deref(), Some(name));
        }
        assert_eq!(encode_bucket("under_score"), "under_5Fscore");
    }

    #[test]
    fn actor_records_round_trip() {
        for record in [
            StoredRecord {
                state: None,
                version: 0,
                last_handled: 0,
            },
            StoredRecord {
                state: Some(Vec::new()),
                version: 3,
                last_handled: u64::MAX,
            },
            StoredRecord {
                state: Some(b"balance 10".to_vec()),
                version: u32::MAX,
                last_handled: 42,
            },
        ] {
            assert_eq!(StoredRecord::decode(&record.encode()), Some(record));
        }
        assert_eq!(StoredRecord::decode(b""), None);
        assert_eq!(StoredRecord::decode(&[2; 13]), None, "unknown flags");
        assert_eq!(StoredRecord::decode(&[0; 14]), None, "state without the flag");
    }

    #[test]
    fn actor_names_cannot_collide_with_bucket_names() {
        for name in ["__zactors", "_zactors", "zactors", "_5Fzactors"] {
            assert!(!encode_bucket(name).starts_with("_z"), "{name:?}");
        }
    }

    #[test]
    fn foreign_or_non_canonical_keys_do_not_decode() {
        // Not produced by encode_key: a kept char escaped, lower-case hex,
        // a dot, a truncated escape, invalid UTF-8.
        for encoded in ["=61", "=2e", "a.b", "=2", "=FF", ""] {
            assert_eq!(decode_key(encoded), None, "{encoded:?}");
        }
    }
}
