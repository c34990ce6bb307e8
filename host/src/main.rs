//! The `wactor` command line.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context as _;
use clap::{Parser, Subcommand, ValueEnum};
use wactor::{Node, NodeConfig};

/// Run WebAssembly actors: sandboxed, talking by send and call.
///
/// Put actors (`NAME.wasm`, built with the wactor guest SDK for
/// wasm32-wasip2, or for wasm32-wasip1 and converted on load) in a
/// directory and run `wactor run DIR`. Each file becomes a
/// behaviour, and one actor of each starts, registered under NAME. Files
/// added while the host runs start too.
#[derive(Parser)]
#[command(name = "wactor", version, about, long_about)]
struct Cli {
    /// Log format: `text` for people, `json` for machines.
    #[arg(long, value_enum, default_value_t = LogFormat::Text, global = true)]
    log_format: LogFormat,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    Text,
    Json,
}

#[derive(Subcommand)]
enum Command {
    /// Load every NAME.wasm in DIR, start one actor of each, and keep
    /// watching DIR. Stops cleanly on Ctrl-C (each actor's `terminate`
    /// runs). Log verbosity follows RUST_LOG (default `info`).
    Run {
        /// The directory of actors.
        dir: PathBuf,
        /// This node's name; it appears in every pid.
        #[arg(long, default_value = "local")]
        node: String,
        /// Messages an actor's mailbox holds before senders get
        /// `mailbox-full`.
        #[arg(long, default_value_t = wactor::config::DEFAULT_MAILBOX_CAPACITY)]
        mailbox_capacity: usize,
        /// How long a call waits for its answer, in milliseconds.
        #[arg(long, default_value_t = wactor::config::DEFAULT_CALL_TIMEOUT.as_millis() as u64)]
        call_timeout_ms: u64,
        /// Largest payload of a message, request or response, in bytes.
        #[arg(long, default_value_t = wactor::config::DEFAULT_MAX_MESSAGE_BYTES)]
        max_message_bytes: usize,
        /// Linear memory each actor may use, in MiB.
        #[arg(long, default_value_t = wactor::config::DEFAULT_MEMORY_LIMIT_BYTES / (1024 * 1024))]
        memory_limit_mib: usize,
        /// CPU time one message may take, in milliseconds; past it the
        /// handler traps.
        #[arg(long, default_value_t = wactor::config::DEFAULT_CPU_BUDGET_TICKS * wactor::config::EPOCH_TICK.as_millis() as u64)]
        cpu_budget_ms: u64,
        /// Live actors this node runs at most; past it `spawn` fails with
        /// `limit-reached`.
        #[arg(long, default_value_t = wactor::config::DEFAULT_MAX_ACTORS)]
        max_actors: usize,
        /// Live actors of any one behaviour this node runs at most; past it
        /// `spawn` of that behaviour fails with `limit-reached`.
        #[arg(long, default_value_t = wactor::config::DEFAULT_MAX_ACTORS_PER_BEHAVIOUR)]
        max_actors_per_behaviour: usize,
        /// Where compiled actors are cached, so a restart does not compile
        /// again. Default: $WACTOR_CACHE_DIR, else $XDG_CACHE_HOME/wactor,
        /// else $HOME/.cache/wactor.
        #[arg(long, value_name = "DIR", conflicts_with = "no_cache")]
        cache_dir: Option<PathBuf>,
        /// Compile every actor on every start; keep nothing on disk.
        #[arg(long)]
        no_cache: bool,
    },
}

fn init_logging(format: LogFormat) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().init(),
    }
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    init_logging(cli.log_format);
    match cli.command {
        Command::Run {
            dir,
            node,
            mailbox_capacity,
            call_timeout_ms,
            max_message_bytes,
            memory_limit_mib,
            cpu_budget_ms,
            max_actors,
            max_actors_per_behaviour,
            cache_dir,
            no_cache,
        } => {
            let cache_dir = match (no_cache, cache_dir) {
                (true, _) => None,
                (false, Some(dir)) => Some(dir),
                (false, None) => {
                    let dir = wactor::cache::default_dir();
                    if dir.is_none() {
                        tracing::warn!("no compile cache: none of WACTOR_CACHE_DIR, XDG_CACHE_HOME, HOME is set; give --cache-dir DIR to keep compiled actors");
                    }
                    dir
                }
            };
            match &cache_dir {
                Some(dir) => tracing::info!(dir = %dir.display(), "compile cache"),
                None => tracing::info!("compile cache off"),
            }
            let tick = wactor::config::EPOCH_TICK.as_millis() as u64;
            let config = NodeConfig {
                node_name: node,
                mailbox_capacity,
                call_timeout: Duration::from_millis(call_timeout_ms),
                max_message_bytes,
                memory_limit_bytes: memory_limit_mib.saturating_mul(1024 * 1024),
                cpu_budget_ticks: cpu_budget_ms.div_ceil(tick).max(1),
                max_actors,
                max_actors_per_behaviour,
                cache_dir,
            };
            run(dir, config).await
        }
    }
}

async fn run(dir: PathBuf, config: NodeConfig) -> anyhow::Result<()> {
    if !dir.is_dir() {
        anyhow::bail!(
            "{} is not a directory; give the directory that holds your NAME.wasm actors (build the examples with `scripts/build-guests`, then `wactor run target/actors`)",
            dir.display()
        );
    }
    let node = Node::new(config).context("cannot start the wasm engine")?;
    let report = wactor::watch::load_dir(&node, &dir)
        .await
        .with_context(|| format!("cannot read {}", dir.display()))?;
    tracing::info!(
        dir = %dir.display(),
        started = report.started.len(),
        failed = report.failed.len(),
        "serving; press Ctrl-C to stop"
    );
    let _watcher = wactor::watch::watch_dir(node.clone(), &dir)
        .with_context(|| format!("cannot watch {}", dir.display()))?;
    wait_for_signal().await;
    tracing::info!("stopping every actor");
    node.shutdown(Duration::from_secs(5)).await;
    tracing::info!("stopped");
    Ok(())
}

async fn wait_for_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => {}
                _ = term.recv() => {}
            }
            return;
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}
