//! The JetStream backend against a real `nats-server -js` on a free port.

mod common;

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use wactor_store::{JetStreamOptions, JetStreamStore, Limits, Store, StoreError};

/// How long a server gets to start accepting connections.
const START_WAIT: Duration = Duration::from_secs(20);

/// A `nats-server` child process, killed when dropped.
struct NatsServer {
    child: Child,
    port: u16,
    args: Vec<String>,
    _store_dir: Option<tempfile::TempDir>,
}

impl NatsServer {
    /// A server with JetStream, storing in a fresh temporary directory.
    fn jetstream() -> NatsServer {
        let dir = tempfile::tempdir().expect("tempdir");
        let args = vec![
            "-js".to_string(),
            "-sd".to_string(),
            dir.path().display().to_string(),
        ];
        NatsServer::start(args, Some(dir))
    }

    /// A server without JetStream.
    fn plain() -> NatsServer {
        NatsServer::start(Vec::new(), None)
    }

    fn start(args: Vec<String>, store_dir: Option<tempfile::TempDir>) -> NatsServer {
        let port = free_port();
        let server = NatsServer {
            child: spawn_nats(port, &args),
            port,
            args,
            _store_dir: store_dir,
        };
        server.wait_accepting();
        server
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, and wait for the process to be gone.
    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGKILL, then start again on the same port and store directory.
    fn restart(&mut self) {
        self.kill();
        self.child = spawn_nats(self.port, &self.args);
        self.wait_accepting();
    }

    fn wait_accepting(&self) {
        let deadline = Instant::now() + START_WAIT;
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "nats-server did not accept connections on port {} within {START_WAIT:?}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn_nats(port: u16, args: &[String]) -> Child {
    Command::new(nats_server_bin())
        .args(["-a", "127.0.0.1", "-p", &port.to_string()])
        .args(args)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start nats-server (Debian package `nats-server`)")
}

/// `nats-server`, from where the Debian package puts it or from `PATH`.
fn nats_server_bin() -> PathBuf {
    let sbin = PathBuf::from("/usr/sbin/nats-server");
    if sbin.exists() {
        sbin
    } else {
        PathBuf::from("nats-server")
    }
}

/// A loopback port nobody listens on right now.
fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

async fn connect_with(server: &NatsServer, limits: Limits) -> Store {
    let options = JetStreamOptions {
        limits,
        ..JetStreamOptions::default()
    };
    JetStreamStore::connect(&server.url(), options)
        .await
        .expect("connect to JetStream")
        .into()
}

async fn connect(server: &NatsServer) -> Store {
    connect_with(server, Limits::default()).await
}

#[tokio::test]
async fn store_operations() {
    let server = NatsServer::jetstream();
    common::store_operations(&connect(&server).await).await;
}

#[tokio::test]
async fn durable_actor_records_and_journal() {
    let server = NatsServer::jetstream();
    common::durable_actors(&connect(&server).await).await;
}

#[tokio::test]
async fn durable_actors_seen_by_a_second_client_and_after_a_server_restart() {
    let mut server = NatsServer::jetstream();
    let a = connect(&server).await;
    let id = a
        .journal_append("ledger", b"deposit 10".to_vec())
        .await
        .expect("append");
    a.put_actor_state("ledger", b"balance 10".to_vec(), 1, id)
        .await
        .expect("put");
    let pending = a
        .journal_append("ledger", b"deposit 5".to_vec())
        .await
        .expect("append");

    let b = connect(&server).await;
    let record = b.load_actor("ledger").await.expect("load").expect("stored");
    assert_eq!(record.state.as_deref(), Some(&b"balance 10"[..]));
    assert_eq!(record.last_handled, id);
    assert_eq!(record.pending.len(), 1);
    assert_eq!(record.pending[0].id, pending);

    // The handled message was dropped from the journal stream.
    let client = async_nats::connect(server.url()).await.expect("connect");
    let mut journal = async_nats::jetstream::new(client)
        .get_stream("wactor__zjournal")
        .await
        .expect("the journal stream");
    let info = journal.info().await.expect("stream info");
    assert_eq!(info.state.messages, 1, "only the pending message is kept");

    // Two clients raising last_handled at once: the record keeps the larger.
    let (ra, rb) = tokio::join!(
        a.put_actor_state("race", b"a".to_vec(), 1, 5),
        b.put_actor_state("race", b"b".to_vec(), 1, 7),
    );
    ra.expect("put from a");
    rb.expect("put from b");
    let race = a.load_actor("race").await.expect("load").expect("stored");
    assert_eq!(race.last_handled, 7);

    server.restart();
    let c = connect(&server).await;
    let after = c.load_actor("ledger").await.expect("load").expect("stored");
    assert_eq!(after, record, "the same record after a server restart");
}

#[tokio::test]
async fn list_keys_pages_by_cursor() {
    let server = NatsServer::jetstream();
    let limits = Limits {
        list_page: 3,
        ..Limits::default()
    };
    common::list_keys_pages(&connect_with(&server, limits).await).await;
}

#[tokio::test]
async fn atomics() {
    let server = NatsServer::jetstream();
    common::atomics(&connect(&server).await).await;
}

#[tokio::test]
async fn batch() {
    let server = NatsServer::jetstream();
    common::batch(&connect(&server).await).await;
}

#[tokio::test]
async fn limits_refuse_before_writing() {
    let server = NatsServer::jetstream();
    let limits = Limits {
        max_key_bytes: 8,
        max_value_bytes: 16,
        max_batch: 4,
        ..Limits::default()
    };
    common::limits(&connect_with(&server, limits).await).await;
}

#[tokio::test]
async fn default_limits_store_a_one_mib_value_and_refuse_more() {
    let server = NatsServer::jetstream();
    let store = connect(&server).await;
    // The server's default max_payload is 1 MiB, the same as the limit.
    assert_eq!(store.limits().max_value_bytes, 1024 * 1024);
    let bucket = store.bucket("big").expect("bucket");
    let value = vec![3u8; 1024 * 1024];
    bucket.set("at", &value).await.expect("1 MiB is allowed");
    assert_eq!(bucket.get("at").await.expect("get"), Some(value));
    let err = bucket
        .set("past", &vec![3u8; 1024 * 1024 + 1])
        .await
        .expect_err("past 1 MiB");
    assert!(matches!(err, StoreError::ValueTooLarge { .. }), "{err:?}");
}

#[tokio::test]
async fn the_longest_bucket_name_and_key_of_escaped_characters_fit() {
    let server = NatsServer::jetstream();
    let store = connect(&server).await;
    // The longest bucket name (64 bytes) and a 1 KiB key, of bytes that
    // each escape to three characters.
    let name = "é".repeat(32);
    assert_eq!(name.len(), store.limits().max_bucket_name_bytes);
    let bucket = store.bucket(&name).expect("bucket");
    let key = "é".repeat(512);
    assert_eq!(key.len(), 1024);
    bucket.set(&key, b"v").await.expect("set");
    assert_eq!(bucket.get(&key).await.expect("get"), Some(b"v".to_vec()));
    assert_eq!(common::all_keys(&bucket).await, vec![key]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_clients_see_the_same_bucket() {
    let server = NatsServer::jetstream();
    let a = connect(&server).await;
    let b = connect(&server).await;
    let bucket_a = a.bucket("shared").expect("bucket");
    let bucket_b = b.bucket("shared").expect("bucket");

    bucket_a.set("greeting", b"hello").await.expect("set on a");
    assert_eq!(
        bucket_b.get("greeting").await.expect("get on b"),
        Some(b"hello".to_vec())
    );
    bucket_b.delete("greeting").await.expect("delete on b");
    assert!(!bucket_a.exists("greeting").await.expect("exists on a"));

    // Increments from both clients at once lose no update.
    common::concurrent_increments(&[bucket_a.clone(), bucket_b.clone()], 25).await;

    // Compare-and-swap from both: exactly one wins.
    let (won_a, won_b) = tokio::join!(
        bucket_a.compare_and_swap("lock", None, b"a"),
        bucket_b.compare_and_swap("lock", None, b"b"),
    );
    let (won_a, won_b) = (won_a.expect("cas on a"), won_b.expect("cas on b"));
    assert!(won_a ^ won_b, "exactly one client takes the key: {won_a} {won_b}");
    let holder = bucket_a.get("lock").await.expect("get");
    assert_eq!(holder, Some(if won_a { b"a".to_vec() } else { b"b".to_vec() }));
}

#[tokio::test]
async fn values_survive_a_server_restart() {
    let mut server = NatsServer::jetstream();
    {
        let store = connect(&server).await;
        let bucket = store.bucket("kept").expect("bucket");
        bucket.set("k", b"v").await.expect("set");
        bucket.increment("n", 7).await.expect("increment");
    }
    server.restart();
    let store = connect(&server).await;
    let bucket = store.bucket("kept").expect("bucket");
    assert_eq!(bucket.get("k").await.expect("get"), Some(b"v".to_vec()));
    assert_eq!(bucket.get("n").await.expect("get"), Some(b"7".to_vec()));
}

#[tokio::test]
async fn buckets_are_jetstream_buckets_with_readable_names() {
    let server = NatsServer::jetstream();
    let Store::JetStream(js) = connect(&server).await else {
        panic!("a JetStream store");
    };
    assert_eq!(js.jetstream_bucket_name("sessions"), "wactor_sessions");
    let store = Store::from(js.clone());
    store
        .bucket("sessions")
        .expect("bucket")
        .set("user/1", b"x")
        .await
        .expect("set");
    // A bare async-nats client finds the bucket and the key under those names.
    let client = async_nats::connect(server.url()).await.expect("connect");
    let kv = async_nats::jetstream::new(client)
        .get_key_value("wactor_sessions")
        .await
        .expect("the bucket exists in JetStream");
    assert_eq!(
        kv.get("user/1").await.expect("get").map(|b| b.to_vec()),
        Some(b"x".to_vec())
    );
}

#[tokio::test]
async fn a_server_without_jetstream_is_a_clear_error() {
    let server = NatsServer::plain();
    let err = JetStreamStore::connect(&server.url(), JetStreamOptions::default())
        .await
        .expect_err("no JetStream");
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&server.url()), "{message}");
    assert!(message.contains("nats-server -js"), "{message}");
}

#[tokio::test]
async fn no_server_is_a_clear_error() {
    let url = format!("nats://127.0.0.1:{}", free_port());
    let err = JetStreamStore::connect(&url, JetStreamOptions::default())
        .await
        .expect_err("nobody listens");
    assert!(matches!(err, StoreError::Unavailable { .. }), "{err:?}");
    let message = err.to_string();
    assert!(message.contains(&url), "{message}");
    assert!(message.contains("check that nats-server runs there"), "{message}");
}

#[tokio::test]
async fn a_server_that_goes_away_gives_errors_not_hangs_and_recovers() {
    let mut server = NatsServer::jetstream();
    let options = JetStreamOptions {
        request_timeout: Duration::from_secs(1),
        ..JetStreamOptions::default()
    };
    let store: Store = JetStreamStore::connect(&server.url(), options)
        .await
        .expect("connect")
        .into();
    let bucket = store.bucket("flaky").expect("bucket");
    bucket.set("before", b"1").await.expect("set while up");

    server.kill();
    let outcome = tokio::time::timeout(Duration::from_secs(30), bucket.set("during", b"2"))
        .await
        .expect("a write to a dead server ends, with an error");
    let err = outcome.expect_err("nothing acknowledges the write");
    assert!(matches!(err, StoreError::JetStream { .. }), "{err:?}");
    assert!(err.to_string().contains(&server.url()), "{err}");

    // The client reconnects by itself once the server is back.
    server.restart();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        match bucket.get("before").await {
            Ok(value) => {
                assert_eq!(value, Some(b"1".to_vec()));
                break;
            }
            Err(e) => {
                assert!(Instant::now() < deadline, "no recovery within 30 s: {e}");
                // Poll interval while the client reconnects.
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    bucket.set("after", b"3").await.expect("set after recovery");
}
