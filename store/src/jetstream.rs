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
//! Durable actor records are not stored here yet. The intended shape: a
//! bucket `PREFIX_actors` whose key is the escaped actor name and whose
//! value is the record (state, version, last handled id), written with
//! "expected last revision" so that a record is only replaced by the host
//! that read it; a stream `PREFIX_journal` with subjects
//! `PREFIX.journal.E(name)` for journaled messages (the stream sequence is
//! the id); and a lease key per actor, taken with `create` and renewed with
//! `update` on its revision, so that one actor runs on one host.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, kv};
use futures::TryStreamExt;

use crate::error::{Result, StoreError};
use crate::{add_counter, parse_counter, KeyPage, Limits};

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
        let name = self.jetstream_bucket_name(bucket);
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
    fn foreign_or_non_canonical_keys_do_not_decode() {
        // Not produced by encode_key: a kept char escaped, lower-case hex,
        // a dot, a truncated escape, invalid UTF-8.
        for encoded in ["=61", "=2e", "a.b", "=2", "=FF", ""] {
            assert_eq!(decode_key(encoded), None, "{encoded:?}");
        }
    }
}
