//! Host-wide settings and their defaults.
//!
//! Every limit here has a default that is stated in its doc comment and in
//! the README, so an operator knows what an actor gets without reading code.

use std::path::PathBuf;
use std::time::Duration;

/// Default capacity of an actor's mailbox, in messages.
pub const DEFAULT_MAILBOX_CAPACITY: usize = 1024;
/// Default time a caller waits for an answer.
pub const DEFAULT_CALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Default largest payload a message, request or response may carry.
pub const DEFAULT_MAX_MESSAGE_BYTES: usize = 1024 * 1024;
/// Default linear-memory limit per actor.
pub const DEFAULT_MEMORY_LIMIT_BYTES: usize = 64 * 1024 * 1024;
/// Interval of the epoch ticker: a running guest yields to other actors at
/// least this often.
pub const EPOCH_TICK: Duration = Duration::from_millis(10);
/// Default CPU budget of one message, in epoch ticks (so 10 ms each): 2 s,
/// well inside [`DEFAULT_CALL_TIMEOUT`], so that the caller of a handler
/// that runs away hears of the trap rather than a bare `timeout`.
pub const DEFAULT_CPU_BUDGET_TICKS: u64 = 200;
/// Default cap on live actors on one node.
pub const DEFAULT_MAX_ACTORS: usize = 100_000;
/// Default cap on live actors of one behaviour on one node.
pub const DEFAULT_MAX_ACTORS_PER_BEHAVIOUR: usize = 100_000;

/// Default budget of live instances on one node; idle actors past it
/// hibernate (see [`hibernate`](crate::runtime::hibernate)).
pub const DEFAULT_LIVE_INSTANCE_BUDGET: usize = 5_000;

/// Settings of a [`Node`](crate::Node).
#[derive(Clone, Debug)]
pub struct NodeConfig {
    /// The node's name; it appears in every pid the node hands out.
    pub node_name: String,
    /// Messages an actor's mailbox holds before senders get `mailbox-full`.
    /// Default [`DEFAULT_MAILBOX_CAPACITY`] (1024).
    pub mailbox_capacity: usize,
    /// How long a call waits for its answer unless the caller says otherwise.
    /// Default [`DEFAULT_CALL_TIMEOUT`] (5 s).
    pub call_timeout: Duration,
    /// The largest payload accepted; larger ones get `payload-too-large`.
    /// Default [`DEFAULT_MAX_MESSAGE_BYTES`] (1 MiB).
    pub max_message_bytes: usize,
    /// Linear memory an actor may grow to. Default
    /// [`DEFAULT_MEMORY_LIMIT_BYTES`] (64 MiB).
    pub memory_limit_bytes: usize,
    /// CPU time one message may take, in ticks of [`EPOCH_TICK`]; past it the
    /// handler traps. Default [`DEFAULT_CPU_BUDGET_TICKS`] (200 ticks = 2 s).
    pub cpu_budget_ticks: u64,
    /// Live actors the node runs at most, counting actors still in `init`;
    /// past it `spawn` fails with `limit-reached`. Default
    /// [`DEFAULT_MAX_ACTORS`] (100 000).
    pub max_actors: usize,
    /// Live actors of any one behaviour the node runs at most; past it
    /// `spawn` of that behaviour fails with `limit-reached`. Default
    /// [`DEFAULT_MAX_ACTORS_PER_BEHAVIOUR`] (100 000).
    pub max_actors_per_behaviour: usize,
    /// Where compiled behaviours are cached between runs (see
    /// [`cache`](crate::sandbox::cache)); `None` compiles every time. Default `None`,
    /// so a library node touches no disk unless asked; `wactor run` uses
    /// [`cache::default_dir`](crate::sandbox::cache::default_dir) unless given
    /// `--cache-dir` or `--no-cache`.
    pub cache_dir: Option<PathBuf>,
    /// The cluster to join (see [`cluster`](crate::cluster)); `None` runs
    /// the node alone. Default `None`.
    pub cluster: Option<ClusterConfig>,
    /// Idle time after which an actor hibernates: its state is snapshotted
    /// and its instance dropped until its next message (see
    /// [`hibernate`](crate::runtime::hibernate)). Default `None`: actors hibernate
    /// only past the live-instance budget.
    pub hibernate_after: Option<Duration>,
    /// Live instances the node keeps before idle actors hibernate at once;
    /// `None` for no budget. Default [`DEFAULT_LIVE_INSTANCE_BUDGET`]
    /// (5 000): a live instance takes about 5 memory mappings, and the
    /// kernel's default limit (`vm.max_map_count`) is 65 530.
    pub live_instance_budget: Option<usize>,
    /// Instances to reserve in a pool up front, or `None` to allocate each
    /// instance on demand. A pool makes instantiating (spawns, restarts,
    /// upgrades, waking from hibernation) cheaper, at the cost of address
    /// space reserved for every slot (a memory slot is as large as the
    /// memory reservation, 4 GiB on 64-bit hosts); when every slot is taken
    /// a new instance fails to start. Keep it above
    /// [`live_instance_budget`](Self::live_instance_budget) plus the actors
    /// that may be busy at once. Default `None`.
    pub instance_pool: Option<u32>,
}

impl Default for NodeConfig {
    fn default() -> Self {
        NodeConfig {
            node_name: "local".to_string(),
            mailbox_capacity: DEFAULT_MAILBOX_CAPACITY,
            call_timeout: DEFAULT_CALL_TIMEOUT,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            memory_limit_bytes: DEFAULT_MEMORY_LIMIT_BYTES,
            cpu_budget_ticks: DEFAULT_CPU_BUDGET_TICKS,
            max_actors: DEFAULT_MAX_ACTORS,
            max_actors_per_behaviour: DEFAULT_MAX_ACTORS_PER_BEHAVIOUR,
            cache_dir: None,
            cluster: None,
            hibernate_after: None,
            live_instance_budget: Some(DEFAULT_LIVE_INSTANCE_BUDGET),
            instance_pool: None,
        }
    }
}

/// Default period of heartbeats.
pub const DEFAULT_HEARTBEAT: Duration = Duration::from_millis(250);
/// Default number of heartbeat periods without one after which a node is
/// down.
pub const DEFAULT_MISSED_HEARTBEATS: u32 = 3;
/// Default time an important send or response waits for its
/// acknowledgement.
pub const DEFAULT_ACK_TIMEOUT: Duration = Duration::from_secs(5);

/// How a node joins a cluster.
#[derive(Clone, Debug)]
pub struct ClusterConfig {
    /// The NATS server, e.g. `nats://127.0.0.1:4222`; `tls://` for TLS,
    /// `nats://USER:PASSWORD@HOST:PORT` or `nats://TOKEN@HOST:PORT` to log
    /// in.
    pub nats_url: String,
    /// How often the node says it is alive. Default [`DEFAULT_HEARTBEAT`]
    /// (250 ms).
    pub heartbeat: Duration,
    /// Periods without a heartbeat after which a node is down. Default
    /// [`DEFAULT_MISSED_HEARTBEATS`] (3).
    pub missed_heartbeats: u32,
    /// How long an important send or response waits for the other host's
    /// acknowledgement before it fails with `timeout`. Default
    /// [`DEFAULT_ACK_TIMEOUT`] (5 s).
    pub ack_timeout: Duration,
    /// Frames the NATS client holds for this node at most while it hands
    /// earlier ones over; a burst larger than this loses frames (counted in
    /// `wactor_remote_frames_lost_total`). Default
    /// [`DEFAULT_INBOUND_BUFFER`]
    /// (262,144).
    pub inbound_buffer: usize,
    /// A credentials file and TLS settings; a user and password or a token
    /// go in [`nats_url`](Self::nats_url). Default: none.
    pub security: NatsSecurity,
}

impl ClusterConfig {
    /// Settings with the defaults, for the NATS server at `nats_url`.
    pub fn new(nats_url: impl Into<String>) -> ClusterConfig {
        ClusterConfig {
            nats_url: nats_url.into(),
            heartbeat: DEFAULT_HEARTBEAT,
            missed_heartbeats: DEFAULT_MISSED_HEARTBEATS,
            ack_timeout: DEFAULT_ACK_TIMEOUT,
            inbound_buffer: DEFAULT_INBOUND_BUFFER,
            security: NatsSecurity::default(),
        }
    }

    /// How long a silent node stays up.
    pub(crate) fn down_after(&self) -> Duration {
        self.heartbeat * self.missed_heartbeats.max(1)
    }
}

/// Default of the frames the client holds for the reading task at most,
/// per subscription. Past it the client drops frames (a slow consumer).
pub const DEFAULT_INBOUND_BUFFER: usize = 256 * 1024;

/// How a node proves who it is to the NATS server beyond the URL, and how
/// it checks the server.
#[derive(Clone, Debug, Default)]
pub struct NatsSecurity {
    /// A NATS credentials file (a user JWT and its NKey seed, as `nsc`
    /// writes them).
    pub credentials_file: Option<PathBuf>,
    /// Root certificates (PEM) the server's TLS certificate must chain to.
    /// Setting them requires TLS, whatever the URL's scheme.
    pub tls_root_certificates: Option<PathBuf>,
    /// A client certificate and its key (PEM), for a server that verifies
    /// its clients.
    pub tls_client_certificate: Option<(PathBuf, PathBuf)>,
}
