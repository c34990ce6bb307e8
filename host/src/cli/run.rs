//! `wactor run DIR`: serve a directory of actors, with the HTTP API.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use wactor::config::{self, NodeConfig};
use wactor::http::{HttpConfig, HttpServer};
use wactor::{ClusterConfig, Node};

use super::progress::Progress;

/// How long stopping waits for actors and HTTP requests before cutting them
/// off.
const STOP_GRACE: Duration = Duration::from_secs(5);

/// Load every NAME.wasm in DIR, start one actor of each, and keep watching
/// DIR.
///
/// Each actor is registered under its file's name. The HTTP API (call,
/// send, the actor table, health, Prometheus metrics) listens on
/// 127.0.0.1:7420 unless told otherwise; `/healthz` answers 200 once every
/// file found at start-up has been loaded. Stops cleanly on Ctrl-C or
/// SIGTERM (each actor's `terminate` runs). Log verbosity follows RUST_LOG
/// (default `info`); every line of an actor's work carries its trace id.
#[derive(clap::Args)]
pub(crate) struct RunArgs {
    /// The directory of actors.
    dir: PathBuf,
    /// This node's name; it appears in every pid.
    #[arg(long, default_value = "local")]
    node: String,
    /// Where the HTTP API listens (`IP:PORT`; port 0 picks a free one, and
    /// the log says which). An address other than loopback needs `--token`.
    #[arg(long, value_name = "ADDR", default_value = wactor::http::DEFAULT_ADDR, conflicts_with = "no_http")]
    http: SocketAddr,
    /// Do not serve the HTTP API.
    #[arg(long)]
    no_http: bool,
    /// Bearer token every HTTP request must carry (`Authorization: Bearer
    /// TOKEN`). Required to listen on an address other than loopback.
    #[arg(long, env = wactor::http::TOKEN_ENV, hide_env_values = true)]
    token: Option<String>,
    /// Messages an actor's mailbox holds before senders get
    /// `mailbox-full`.
    #[arg(long, default_value_t = config::DEFAULT_MAILBOX_CAPACITY)]
    mailbox_capacity: usize,
    /// How long a call waits for its answer, in milliseconds.
    #[arg(long, default_value_t = config::DEFAULT_CALL_TIMEOUT.as_millis() as u64)]
    call_timeout_ms: u64,
    /// Largest payload of a message, request or response, in bytes.
    #[arg(long, default_value_t = config::DEFAULT_MAX_MESSAGE_BYTES)]
    max_message_bytes: usize,
    /// Linear memory each actor may use, in MiB.
    #[arg(long, default_value_t = config::DEFAULT_MEMORY_LIMIT_BYTES / (1024 * 1024))]
    memory_limit_mib: usize,
    /// CPU time one message may take, in milliseconds; past it the handler
    /// traps.
    #[arg(long, default_value_t = config::DEFAULT_CPU_BUDGET_TICKS * config::EPOCH_TICK.as_millis() as u64)]
    cpu_budget_ms: u64,
    /// Live actors this node runs at most; past it `spawn` fails with
    /// `limit-reached`.
    #[arg(long, default_value_t = config::DEFAULT_MAX_ACTORS)]
    max_actors: usize,
    /// Live actors of any one behaviour this node runs at most; past it
    /// `spawn` of that behaviour fails with `limit-reached`.
    #[arg(long, default_value_t = config::DEFAULT_MAX_ACTORS_PER_BEHAVIOUR)]
    max_actors_per_behaviour: usize,
    /// Where compiled actors are cached, so a restart does not compile
    /// again. Default: $WACTOR_CACHE_DIR, else $XDG_CACHE_HOME/wactor,
    /// else $HOME/.cache/wactor.
    #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
    cache_dir: Option<PathBuf>,
    /// Compile every actor on every start; keep nothing on disk.
    #[arg(long)]
    no_cache: bool,
    /// Join a cluster through the NATS server at URL (e.g.
    /// `nats://127.0.0.1:4222`); `--node` names this host in it. Without
    /// it the host runs alone. `tls://HOST:PORT` talks TLS;
    /// `nats://USER:PASSWORD@HOST:PORT` or `nats://TOKEN@HOST:PORT` logs in
    /// (set WACTOR_NATS_URL instead to keep a password off the command
    /// line; logs show the URL without it).
    #[arg(long, value_name = "URL", env = "WACTOR_NATS_URL", hide_env_values = true)]
    nats: Option<String>,
    /// Log in to NATS with this credentials file (a user JWT and NKey seed,
    /// as `nsc` writes them).
    #[arg(long, value_name = "FILE", requires = "nats")]
    nats_creds: Option<PathBuf>,
    /// Require TLS, and check the NATS server's certificate against these
    /// root certificates (PEM).
    #[arg(long, value_name = "FILE", requires = "nats")]
    nats_tls_ca: Option<PathBuf>,
    /// Present this client certificate (PEM) to a NATS server that verifies
    /// its clients; needs `--nats-tls-key`.
    #[arg(long, value_name = "FILE", requires_all = ["nats", "nats_tls_key"])]
    nats_tls_cert: Option<PathBuf>,
    /// The key (PEM) of `--nats-tls-cert`.
    #[arg(long, value_name = "FILE", requires = "nats_tls_cert")]
    nats_tls_key: Option<PathBuf>,
    /// How often this host tells the cluster it is alive, in milliseconds;
    /// a host silent for three periods is down.
    #[arg(long, default_value_t = wactor::cluster::DEFAULT_HEARTBEAT.as_millis() as u64, requires = "nats")]
    heartbeat_ms: u64,
    /// How long an important send or response waits for the other host's
    /// acknowledgement, in milliseconds.
    #[arg(long, default_value_t = wactor::cluster::DEFAULT_ACK_TIMEOUT.as_millis() as u64, requires = "nats")]
    ack_timeout_ms: u64,
    /// Frames from other hosts the NATS client holds while this host takes
    /// earlier ones; a larger burst of plain messages loses some (counted
    /// in `wactor_remote_frames_lost_total` and logged).
    #[arg(long, value_name = "FRAMES", default_value_t = wactor::cluster::DEFAULT_INBOUND_BUFFER, requires = "nats")]
    inbound_buffer: usize,
    /// Hibernate an actor after this long without a message, in
    /// milliseconds: its state is kept and its instance dropped until the
    /// next message. Default: only past the live-instance budget.
    #[arg(long, value_name = "MS")]
    hibernate_after_ms: Option<u64>,
    /// Live instances kept before idle actors hibernate at once (0: no
    /// budget).
    #[arg(long, default_value_t = config::DEFAULT_LIVE_INSTANCE_BUDGET)]
    live_instance_budget: usize,
    /// Reserve this many instance slots up front (faster spawns and wakes;
    /// a new instance fails when all are taken). Default: allocate on
    /// demand.
    #[arg(long, value_name = "SLOTS")]
    instance_pool: Option<u32>,
}

impl RunArgs {
    fn node_config(&self) -> NodeConfig {
        let tick = config::EPOCH_TICK.as_millis() as u64;
        NodeConfig {
            node_name: self.node.clone(),
            mailbox_capacity: self.mailbox_capacity,
            call_timeout: Duration::from_millis(self.call_timeout_ms),
            max_message_bytes: self.max_message_bytes,
            memory_limit_bytes: self.memory_limit_mib.saturating_mul(1024 * 1024),
            cpu_budget_ticks: self.cpu_budget_ms.div_ceil(tick).max(1),
            max_actors: self.max_actors,
            max_actors_per_behaviour: self.max_actors_per_behaviour,
            cache_dir: self.cache_dir(),
            cluster: self.nats.as_ref().map(|url| ClusterConfig {
                heartbeat: Duration::from_millis(self.heartbeat_ms.max(1)),
                ack_timeout: Duration::from_millis(self.ack_timeout_ms.max(1)),
                inbound_buffer: self.inbound_buffer.max(1),
                security: wactor::cluster::NatsSecurity {
                    credentials_file: self.nats_creds.clone(),
                    tls_root_certificates: self.nats_tls_ca.clone(),
                    tls_client_certificate: self.nats_tls_cert.clone().zip(self.nats_tls_key.clone()),
                },
                ..ClusterConfig::new(url.clone())
            }),
            hibernate_after: self.hibernate_after_ms.map(Duration::from_millis),
            live_instance_budget: (self.live_instance_budget > 0).then_some(self.live_instance_budget),
            instance_pool: self.instance_pool,
        }
    }

    fn cache_dir(&self) -> Option<PathBuf> {
        let dir = match (self.no_cache, &self.cache_dir) {
            (true, _) => None,
            (false, Some(dir)) => Some(dir.clone()),
            (false, None) => {
                let dir = wactor::cache::default_dir();
                if dir.is_none() {
                    tracing::warn!("no compile cache: none of WACTOR_CACHE_DIR, XDG_CACHE_HOME, HOME is set; give --cache-dir DIR to keep compiled actors");
                }
                dir
            }
        };
        match &dir {
            Some(dir) => tracing::info!(dir = %dir.display(), "compile cache"),
            None => tracing::info!("compile cache off"),
        }
        dir
    }
}

pub(crate) async fn run(args: RunArgs, text_log: bool) -> anyhow::Result<()> {
    let dir = &args.dir;
    if !dir.is_dir() {
        anyhow::bail!(
            "{} is not a directory; give the directory that holds your NAME.wasm actors (build the examples with `scripts/build-guests`, then `wactor run target/actors`)",
            dir.display()
        );
    }
    let signals = StopSignals::install();
    let node = Node::new(args.node_config()).context("cannot start the wasm engine")?;
    node.join_cluster().await?;
    let http = if args.no_http {
        None
    } else {
        let config = HttpConfig {
            addr: args.http,
            token: args.token.clone(),
        };
        let server = HttpServer::start(node.clone(), config).await?;
        tracing::info!(url = %format!("http://{}", server.local_addr()), "HTTP API listening");
        Some(server)
    };

    let progress = Progress::start(&node, dir, text_log);
    let report = wactor::watch::load_dir(&node, dir)
        .await
        .with_context(|| format!("cannot read {}", dir.display()));
    progress.finish().await;
    let report = report?;
    // Watching before ready: a file dropped in as soon as the host says it
    // is ready is seen.
    let _watcher = wactor::watch::watch_dir(node.clone(), dir)
        .with_context(|| format!("cannot watch {}", dir.display()))?;
    tracing::info!(
        dir = %dir.display(),
        started = report.started.len(),
        failed = report.failed.len(),
        "serving; press Ctrl-C to stop"
    );
    if let Some(http) = &http {
        http.set_ready();
    }
    signals.wait().await;
    tracing::info!("stopping every actor");
    match http {
        Some(http) => {
            tokio::join!(http.stop(STOP_GRACE), node.shutdown(STOP_GRACE));
        }
        None => node.shutdown(STOP_GRACE).await,
    }
    node.leave_cluster().await;
    tracing::info!("stopped");
    Ok(())
}

/// SIGINT and SIGTERM, listened for from the moment of `install`, so a
/// signal that comes while the directory is still loading is not lost.
struct StopSignals {
    #[cfg(unix)]
    streams: Option<(tokio::signal::unix::Signal, tokio::signal::unix::Signal)>,
}

impl StopSignals {
    fn install() -> StopSignals {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let streams = match (signal(SignalKind::interrupt()), signal(SignalKind::terminate())) {
                (Ok(int), Ok(term)) => Some((int, term)),
                _ => None,
            };
            StopSignals { streams }
        }
        #[cfg(not(unix))]
        StopSignals {}
    }

    async fn wait(self) {
        #[cfg(unix)]
        if let Some((mut int, mut term)) = self.streams {
            tokio::select! {
                _ = int.recv() => {}
                _ = term.recv() => {}
            }
            return;
        }
        let _ = tokio::signal::ctrl_c().await;
    }
}
