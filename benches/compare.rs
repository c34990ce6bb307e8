//! The benchmark suite: each workload on wactor (the real host running the
//! real `counter` guest compiled to WebAssembly) and, in the same run, the
//! same workload on native Rust actors written with `ractor`, with the cost
//! ratio between the two.
//!
//! Run it with `scripts/bench` (or `cargo bench -p wactor-bench -- [--quick]`);
//! it prints one table. The guests must be built first
//! (`scripts/build-guests`).
//!
//! Both sides run on the same tokio multi-thread runtime, and the embedding
//! program talks to the actors the same way on both: wactor through its
//! in-process [`Node`] API, ractor through `ActorRef`. The wactor counter
//! takes postcard bytes (`[0]` = increment, `[1]` = get); the native counter
//! takes an enum.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use ractor::rpc::CallResult;
use ractor::{Actor, ActorProcessingErr, ActorRef, RpcReplyPort};
use wactor::{Node, NodeConfig, Pid};

/// The counter guest's requests, postcard-encoded.
const INCREMENT: &[u8] = &[0];
const GET: &[u8] = &[1];

/// How much work each workload does.
struct Sizes {
    sends: usize,
    /// Idle actors in the memory figures (native, and wactor hibernated).
    idle: usize,
    /// Idle wactor actors that each keep their instance: each takes about
    /// 5 memory mappings, and the kernel's default `vm.max_map_count` of
    /// 65,530 is not raised for the benchmark.
    live_instances: usize,
    pairs: usize,
    sends_per_pair: usize,
    calls: usize,
    spawns: usize,
    reload_many: usize,
}

const QUICK: Sizes = Sizes {
    sends: 200_000,
    idle: 10_000,
    live_instances: 10_000,
    pairs: 16,
    sends_per_pair: 10_000,
    calls: 20_000,
    spawns: 5_000,
    reload_many: 1_000,
};

const FULL: Sizes = Sizes {
    sends: 2_000_000,
    idle: 100_000,
    live_instances: 10_000,
    pairs: 64,
    sends_per_pair: 50_000,
    calls: 200_000,
    spawns: 10_000,
    reload_many: 1_000,
};

// ---------------------------------------------------------------------------
// The native side: a counter actor written with ractor.

enum CounterMsg {
    /// A plain message: counted, no answer.
    Bump,
    /// A call: add one and answer the count.
    Increment(RpcReplyPort<u64>),
    /// A call: answer the count.
    Get(RpcReplyPort<u64>),
}

struct NativeCounter;

impl Actor for NativeCounter {
    type Msg = CounterMsg;
    type State = u64;
    type Arguments = ();

    async fn pre_start(&self, _me: ActorRef<CounterMsg>, _args: ()) -> Result<u64, ActorProcessingErr> {
        Ok(0)
    }

    async fn handle(
        &self,
        _me: ActorRef<CounterMsg>,
        msg: CounterMsg,
        count: &mut u64,
    ) -> Result<(), ActorProcessingErr> {
        match msg {
            CounterMsg::Bump => *count += 1,
            CounterMsg::Increment(reply) => {
                *count += 1;
                let _ = reply.send(*count);
            }
            CounterMsg::Get(reply) => {
                let _ = reply.send(*count);
            }
        }
        Ok(())
    }
}

async fn native_spawn() -> ActorRef<CounterMsg> {
    let (actor, _) = Actor::spawn(None, NativeCounter, ())
        .await
        .expect("spawn a ractor actor");
    actor
}

async fn native_get(actor: &ActorRef<CounterMsg>) -> u64 {
    match actor.call(CounterMsg::Get, None).await.expect("ractor call") {
        CallResult::Success(n) => n,
        other => panic!("ractor call failed: {}", describe(&other)),
    }
}

fn describe<T>(r: &CallResult<T>) -> &'static str {
    match r {
        CallResult::Success(_) => "success",
        CallResult::Timeout => "timeout",
        CallResult::SenderError => "sender dropped",
    }
}

// ---------------------------------------------------------------------------
// The wactor side.

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("benches/ has a parent")
        .to_path_buf()
}

fn guest_bytes(dir: &str, name: &str) -> Vec<u8> {
    let path = repo_root().join(dir).join(format!("{name}.wasm"));
    std::fs::read(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read {}: {e}; run scripts/build-guests first",
            path.display()
        )
    })
}

async fn wactor_node(config: NodeConfig) -> Node {
    let node = Node::new(config).expect("start a node");
    node.load("counter", guest_bytes("target/actors", "counter"))
        .await
        .expect("load the counter guest");
    node
}

fn config_for(sizes: &Sizes) -> NodeConfig {
    NodeConfig {
        // Room for a whole burst: the send workloads measure throughput,
        // not back-pressure.
        mailbox_capacity: sizes.sends.max(sizes.sends_per_pair) + 16,
        ..NodeConfig::default()
    }
}

async fn wactor_get(node: &Node, pid: &Pid) -> u64 {
    let answer = node
        .call(pid, GET.to_vec(), Some(Duration::from_secs(120)))
        .await
        .expect("call counter");
    u64::from_le_bytes(postcard_u64(&answer))
}

/// Decodes postcard's varint `u64` into little-endian bytes.
fn postcard_u64(bytes: &[u8]) -> [u8; 8] {
    let mut v: u64 = 0;
    for (i, b) in bytes.iter().enumerate().take(10) {
        v |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            break;
        }
    }
    v.to_le_bytes()
}

// ---------------------------------------------------------------------------
// Measurements.

/// One measured figure.
#[derive(Clone, Copy, Debug)]
enum Figure {
    /// Operations per second (more is better).
    Rate(f64),
    /// A duration (less is better).
    Time(Duration),
    /// Bytes (less is better).
    Bytes(f64),
}

impl Figure {
    fn show(self, unit: &str) -> String {
        match self {
            Figure::Rate(r) => format!("{} {unit}", group(r)),
            Figure::Time(d) => show_time(d),
            Figure::Bytes(b) => format!("{:.1} KiB", b / 1024.0),
        }
    }

    /// Cost per operation, for the ratio.
    fn cost(self) -> f64 {
        match self {
            Figure::Rate(r) => 1.0 / r,
            Figure::Time(d) => d.as_secs_f64(),
            Figure::Bytes(b) => b,
        }
    }
}

fn show_time(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s < 1e-3 {
        format!("{:.2} µs", s * 1e6)
    } else {
        format!("{:.2} ms", s * 1e3)
    }
}

fn group(v: f64) -> String {
    let n = v.round() as u64;
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// One line of the table.
struct Row {
    workload: String,
    unit: &'static str,
    wactor: Figure,
    native: Option<Figure>,
    /// The goal, and whether it was met.
    goal: Option<(&'static str, bool)>,
}

fn rate(n: usize, d: Duration) -> Figure {
    Figure::Rate(n as f64 / d.as_secs_f64())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

/// Memory mappings of this process (`vm.max_map_count` caps them).
fn mappings() -> usize {
    std::fs::read_to_string("/proc/self/maps")
        .map(|m| m.lines().count())
        .unwrap_or(0)
}

/// Resident bytes of this process by kind of mapping, read from
/// `/proc/self/smaps`: linear memories (a writable mapping followed by an
/// inaccessible one of a GiB or more: the rest of the memory's
/// reservation), fiber stacks (2 MiB writable after an inaccessible guard),
/// and the rest (the heap, code, everything else).
fn resident_by_kind() -> [f64; 3] {
    struct Vma {
        start: u64,
        end: u64,
        writable: bool,
        rss: f64,
    }
    let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap_or_default();
    let mut vmas: Vec<Vma> = Vec::new();
    for line in smaps.lines() {
        let mut fields = line.split_whitespace();
        let first = fields.next().unwrap_or("");
        if first == "Rss:" {
            let kb: f64 = fields.next().and_then(|v| v.parse().ok()).unwrap_or(0.0);
            if let Some(v) = vmas.last_mut() {
                v.rss = kb * 1024.0;
            }
        } else if let Some((from, to)) = first.split_once('-').filter(|_| !first.ends_with(':')) {
            let perms = fields.next().unwrap_or("");
            vmas.push(Vma {
                start: u64::from_str_radix(from, 16).unwrap_or(0),
                end: u64::from_str_radix(to, 16).unwrap_or(0),
                writable: perms.starts_with("rw"),
                rss: 0.0,
            });
        }
    }
    let mut kinds = [0.0; 3];
    for (i, v) in vmas.iter().enumerate() {
        let next = vmas.get(i + 1).filter(|n| !n.writable && n.start == v.end);
        let prev = i
            .checked_sub(1)
            .and_then(|j| vmas.get(j))
            .filter(|p| !p.writable && p.end == v.start);
        let kind = if v.writable && next.is_some_and(|n| n.end - n.start >= 1 << 30) {
            0
        } else if v.writable && v.end - v.start == 2 << 20 && prev.is_some() {
            1
        } else {
            2
        };
        kinds[kind] += v.rss;
    }
    kinds
}

/// Resident set size of this process, in bytes.
fn rss() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb * 1024.0)
        .unwrap_or(0.0)
}

// ---------------------------------------------------------------------------
// Workloads.

/// Rounds of each send workload; the table shows the median of all but
/// the first. The first is a warm-up: the first burst that queues this
/// many envelopes makes the allocator grow its heaps (a system call per
/// page), once per process, and whichever side ran first would pay for
/// both.
const SEND_ROUNDS: usize = 4;

async fn send_one_to_one(sizes: &Sizes) -> (Figure, Figure) {
    let node = wactor_node(config_for(sizes)).await;
    let pid = node.spawn("counter", Vec::new()).await.expect("spawn");
    wactor_get(&node, &pid).await;
    let mut wactor = Vec::new();
    for _ in 0..SEND_ROUNDS {
        let handled = metric(&node, "wactor_messages_handled_total");
        let started = Instant::now();
        for _ in 0..sizes.sends {
            node.send(&pid, Vec::new()).expect("send");
        }
        wactor_get(&node, &pid).await;
        wactor.push(rate(sizes.sends, started.elapsed()));
        // The counter ignores plain messages; the node counts them.
        assert_eq!(
            metric(&node, "wactor_messages_handled_total") - handled,
            sizes.sends as u64 + 1,
            "the actor handled every message, and the call behind them"
        );
    }
    node.shutdown(Duration::from_secs(5)).await;

    let actor = native_spawn().await;
    native_get(&actor).await;
    let mut native = Vec::new();
    for round in 1..=SEND_ROUNDS {
        let started = Instant::now();
        for _ in 0..sizes.sends {
            actor.send_message(CounterMsg::Bump).expect("ractor send");
        }
        let n = native_get(&actor).await;
        native.push(rate(sizes.sends, started.elapsed()));
        assert_eq!(
            n as usize,
            round * sizes.sends,
            "the native counter saw every message"
        );
    }
    actor.stop(None);
    (after_warm_up(wactor), after_warm_up(native))
}

async fn send_n_to_n(sizes: &Sizes) -> (Figure, Figure) {
    let total = sizes.pairs * sizes.sends_per_pair;
    let node = wactor_node(config_for(sizes)).await;
    let mut pids = Vec::new();
    for _ in 0..sizes.pairs {
        pids.push(node.spawn("counter", Vec::new()).await.expect("spawn"));
    }
    let mut wactor = Vec::new();
    for _ in 0..SEND_ROUNDS {
        let handled = metric(&node, "wactor_messages_handled_total");
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for pid in &pids {
            let (node, pid) = (node.clone(), pid.clone());
            let n = sizes.sends_per_pair;
            tasks.spawn(async move {
                for _ in 0..n {
                    node.send(&pid, Vec::new()).expect("send");
                }
                wactor_get(&node, &pid).await;
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("sender task");
        }
        wactor.push(rate(total, started.elapsed()));
        assert_eq!(
            metric(&node, "wactor_messages_handled_total") - handled,
            (total + sizes.pairs) as u64,
            "the actors handled every message, and the calls behind them"
        );
    }
    node.shutdown(Duration::from_secs(5)).await;

    let mut actors = Vec::new();
    for _ in 0..sizes.pairs {
        actors.push(native_spawn().await);
    }
    let mut native = Vec::new();
    for round in 1..=SEND_ROUNDS {
        let started = Instant::now();
        let mut tasks = tokio::task::JoinSet::new();
        for actor in &actors {
            let actor = actor.clone();
            let n = sizes.sends_per_pair;
            tasks.spawn(async move {
                for _ in 0..n {
                    actor.send_message(CounterMsg::Bump).expect("ractor send");
                }
                assert_eq!(native_get(&actor).await as usize, round * n);
            });
        }
        while let Some(r) = tasks.join_next().await {
            r.expect("sender task");
        }
        native.push(rate(total, started.elapsed()));
    }
    for a in actors {
        a.stop(None);
    }
    (after_warm_up(wactor), after_warm_up(native))
}

/// p50 and p99 of the call round trip, wactor and native in alternating
/// rounds ([`CALL_ROUNDS`]), with the caller a task on the runtime (as a
/// server's request handler is) or the embedding program's own thread
/// blocked on the runtime (`block_on`, where every wake-up crosses
/// threads).
async fn call_round_trip(calls: usize, caller: Caller) -> ((Figure, Figure), (Figure, Figure)) {
    match caller {
        Caller::Task => tokio::spawn(call_round_trip_here(calls))
            .await
            .expect("the calling task"),
        Caller::BlockOn => call_round_trip_here(calls).await,
    }
}

#[derive(Clone, Copy)]
enum Caller {
    Task,
    BlockOn,
}

/// The sorted round-trip times of `calls` sequential `increment` calls to
/// `to`, after a 10 % warm-up.
async fn timed_calls(node: &Node, to: &Pid, calls: usize) -> Vec<Duration> {
    let mut lat = Vec::with_capacity(calls);
    wactor_calls(node, to, calls / 10, &mut lat).await;
    lat.clear();
    wactor_calls(node, to, calls, &mut lat).await;
    lat.sort();
    lat
}

/// Adds the round-trip times of `calls` sequential `increment` calls to
/// `to` to `lat`.
async fn wactor_calls(node: &Node, to: &Pid, calls: usize, lat: &mut Vec<Duration>) {
    for _ in 0..calls {
        let started = Instant::now();
        node.call(to, INCREMENT.to_vec(), None).await.expect("call");
        lat.push(started.elapsed());
    }
}

/// [`wactor_calls`] on the native counter.
async fn native_calls(actor: &ActorRef<CounterMsg>, calls: usize, lat: &mut Vec<Duration>) {
    for _ in 0..calls {
        let started = Instant::now();
        match actor
            .call(CounterMsg::Increment, None)
            .await
            .expect("ractor call")
        {
            CallResult::Success(_) => {}
            other => panic!("ractor call failed: {}", describe(&other)),
        }
        lat.push(started.elapsed());
    }
}

/// Rounds the call round trip alternates between wactor and native: this
/// machine's speed drifts by a third over seconds, and both sides' figures
/// should come from the same stretches of time.
const CALL_ROUNDS: usize = 5;

async fn call_round_trip_here(calls: usize) -> ((Figure, Figure), (Figure, Figure)) {
    let node = wactor_node(NodeConfig::default()).await;
    let pid = node.spawn("counter", Vec::new()).await.expect("spawn");
    let actor = native_spawn().await;
    let (mut w, mut n) = (Vec::with_capacity(calls), Vec::with_capacity(calls));
    // Warm-up: 10 %, discarded.
    wactor_calls(&node, &pid, calls / 10, &mut w).await;
    native_calls(&actor, calls / 10, &mut n).await;
    w.clear();
    n.clear();
    for _ in 0..CALL_ROUNDS {
        wactor_calls(&node, &pid, calls / CALL_ROUNDS, &mut w).await;
        native_calls(&actor, calls / CALL_ROUNDS, &mut n).await;
    }
    w.sort();
    n.sort();
    node.shutdown(Duration::from_secs(5)).await;
    actor.stop(None);
    (
        (
            Figure::Time(percentile(&w, 0.5)),
            Figure::Time(percentile(&n, 0.5)),
        ),
        (
            Figure::Time(percentile(&w, 0.99)),
            Figure::Time(percentile(&n, 0.99)),
        ),
    )
}

/// p50 of a call from a task to a pool of [`POOL_WORKERS`] counters: each
/// call runs directly on an idle worker in the pool's rotation.
async fn call_pool(calls: usize) -> Figure {
    tokio::spawn(async move {
        let node = wactor_node(NodeConfig::default()).await;
        let pool = node
            .spawn_pool("counter", POOL_WORKERS, Vec::new())
            .await
            .expect("spawn a pool");
        let lat = timed_calls(&node, &pool, calls).await;
        node.shutdown(Duration::from_secs(5)).await;
        Figure::Time(percentile(&lat, 0.5))
    })
    .await
    .expect("the calling task")
}

/// Workers of the pool [`call_pool`] calls.
const POOL_WORKERS: usize = 4;

/// A native actor that answers each call by calling a counter: the
/// counterpart of a testkit guest relaying a call to the counter guest.
struct NativeRelay;

impl Actor for NativeRelay {
    type Msg = RpcReplyPort<u64>;
    type State = ActorRef<CounterMsg>;
    type Arguments = ActorRef<CounterMsg>;

    async fn pre_start(
        &self,
        _me: ActorRef<Self::Msg>,
        counter: ActorRef<CounterMsg>,
    ) -> Result<ActorRef<CounterMsg>, ActorProcessingErr> {
        Ok(counter)
    }

    async fn handle(
        &self,
        _me: ActorRef<Self::Msg>,
        reply: RpcReplyPort<u64>,
        counter: &mut ActorRef<CounterMsg>,
    ) -> Result<(), ActorProcessingErr> {
        if let CallResult::Success(n) = counter.call(CounterMsg::Increment, None).await? {
            let _ = reply.send(n);
        }
        Ok(())
    }
}

/// p50 of a call from a task relayed by a second actor (host → A → B),
/// wactor then native: on wactor the host's call to A and A's call to B
/// both run directly when their callee is idle, as it is here (see
/// `direct.rs`), B's handler inside A's.
async fn call_relayed(calls: usize) -> (Figure, Figure) {
    tokio::spawn(async move {
        let warmup = calls / 10;
        let node = wactor_node(NodeConfig::default()).await;
        node.load("testkit", guest_bytes("target/test-guests", "testkit"))
            .await
            .expect("load the testkit guest");
        let counter = node.spawn("counter", Vec::new()).await.expect("spawn");
        let relay = node
            .spawn(
                "testkit",
                wactor_e2e::enc(&wactor_e2e::proto::TestArgs::default()),
            )
            .await
            .expect("spawn");
        let request = wactor_e2e::enc(&wactor_e2e::proto::TestRequest::Call {
            to: wactor_e2e::proto::Target::Pid(wactor_e2e::wire(&counter)),
            payload: INCREMENT.to_vec(),
            timeout_ms: None,
        });
        let mut lat = Vec::with_capacity(calls);
        for i in 0..warmup + calls {
            let started = Instant::now();
            node.call(&relay, request.clone(), None).await.expect("call");
            if i >= warmup {
                lat.push(started.elapsed());
            }
        }
        lat.sort();
        let w = Figure::Time(percentile(&lat, 0.5));
        node.shutdown(Duration::from_secs(5)).await;

        let counter = native_spawn().await;
        let (relay, _) = Actor::spawn(None, NativeRelay, counter.clone())
            .await
            .expect("spawn a ractor actor");
        lat.clear();
        for i in 0..warmup + calls {
            let started = Instant::now();
            match relay.call(|reply| reply, None).await.expect("ractor call") {
                CallResult::Success(_) => {}
                other => panic!("ractor call failed: {}", describe(&other)),
            }
            if i >= warmup {
                lat.push(started.elapsed());
            }
        }
        lat.sort();
        let n = Figure::Time(percentile(&lat, 0.5));
        relay.stop(None);
        counter.stop(None);
        (w, n)
    })
    .await
    .expect("the calling task")
}

/// Instance pool slots and live-instance budget of the pooled spawn row.
const POOL_SLOTS: u32 = 2_000;
const POOL_BUDGET: usize = 1_000;

/// p50 and p99 of calls to an actor that hibernates whenever it is idle
/// (a live-instance budget of 0), so that every call wakes it.
async fn call_waking(calls: usize) -> (Figure, Figure) {
    let node = wactor_node(NodeConfig {
        live_instance_budget: Some(0),
        ..NodeConfig::default()
    })
    .await;
    let pid = node.spawn("counter", Vec::new()).await.expect("spawn");
    let mut lat = Vec::with_capacity(calls);
    for _ in 0..calls {
        // Asleep before each call.
        while metric(&node, "wactor_instances_live") > 0 {
            tokio::task::yield_now().await;
        }
        let started = Instant::now();
        node.call(&pid, INCREMENT.to_vec(), None).await.expect("call");
        lat.push(started.elapsed());
    }
    assert_eq!(
        wactor_get(&node, &pid).await,
        calls as u64,
        "the count survived every hibernation"
    );
    lat.sort();
    node.shutdown(Duration::from_secs(5)).await;
    (
        Figure::Time(percentile(&lat, 0.5)),
        Figure::Time(percentile(&lat, 0.99)),
    )
}

/// Spawns that may be in flight at once.
const SPAWN_CONCURRENCY: usize = 16;

async fn spawn_native(n: usize) -> Vec<ActorRef<CounterMsg>> {
    spawn_window(n, native_spawn).await
}

async fn spawn_wactor(node: &Node, n: usize) -> Vec<Pid> {
    let node = node.clone();
    spawn_window(n, move || {
        let node = node.clone();
        async move { node.spawn("counter", Vec::new()).await.expect("spawn") }
    })
    .await
}

/// Rounds of each spawn workload; the table shows the median. On these
/// virtual machines one round's rate can be a third off the next one's.
const SPAWN_ROUNDS: usize = 3;

/// The median of [`SPAWN_ROUNDS`] runs of `round`, each on a fresh node.
async fn median_of_rounds<F, Fut>(mut round: F) -> Figure
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Figure>,
{
    let mut rates = Vec::with_capacity(SPAWN_ROUNDS);
    for _ in 0..SPAWN_ROUNDS {
        rates.push(round().await);
    }
    median_rate(rates)
}

/// The median of the rates of a send workload's rounds after the first
/// (see [`SEND_ROUNDS`]).
fn after_warm_up(rounds: Vec<Figure>) -> Figure {
    median_rate(rounds.into_iter().skip(1).collect())
}

/// The median of `rates` (all [`Figure::Rate`]; at least one).
fn median_rate(rates: Vec<Figure>) -> Figure {
    let mut rates: Vec<f64> = rates
        .into_iter()
        .map(|f| match f {
            Figure::Rate(r) => r,
            other => panic!("a rate was expected, not {other:?}"),
        })
        .collect();
    rates.sort_by(f64::total_cmp);
    Figure::Rate(rates[rates.len() / 2])
}

/// Runs `n` spawns, [`SPAWN_CONCURRENCY`] in flight at any moment: each
/// one that finishes makes room for the next. They are made from a task on
/// the runtime, as an actor or a request handler would make them, not from
/// the thread blocked in `block_on`, which every finished spawn would have
/// to wake.
async fn spawn_window<T, F, Fut>(n: usize, mut spawn: F) -> Vec<T>
where
    T: Send + 'static,
    F: FnMut() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
{
    tokio::spawn(async move {
        let mut spawned = Vec::with_capacity(n);
        let mut in_flight = tokio::task::JoinSet::new();
        let mut started = 0;
        while spawned.len() < n {
            while started < n && in_flight.len() < SPAWN_CONCURRENCY {
                in_flight.spawn(spawn());
                started += 1;
            }
            if let Some(done) = in_flight.join_next().await {
                spawned.push(done.expect("spawn task"));
            }
        }
        spawned
    })
    .await
    .expect("the spawning task")
}

/// A value from a node's metrics page.
fn metric(node: &Node, name: &str) -> u64 {
    node.metrics_text()
        .lines()
        .find_map(|l| l.strip_prefix(name).and_then(|rest| rest.strip_prefix(' ')))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .map(|v| v as u64)
        .unwrap_or(0)
}

/// Spawn rate of `n` actors, each keeping its instance (`budget: None`)
/// or hibernating once idle past `budget` live instances, optionally with
/// an instance pool.
async fn spawn_rate(n: usize, budget: Option<usize>, pool: Option<u32>) -> Figure {
    let node = wactor_node(NodeConfig {
        live_instance_budget: budget,
        instance_pool: pool,
        ..NodeConfig::default()
    })
    .await;
    spawn_wactor(&node, 1).await;
    let started = Instant::now();
    spawn_wactor(&node, n).await;
    let spawned = rate(n, started.elapsed());
    node.shutdown(Duration::from_secs(60)).await;
    spawned
}

async fn native_spawn_rate(n: usize) -> Figure {
    spawn_native(1).await;
    let started = Instant::now();
    let actors = spawn_native(n).await;
    let spawned = rate(n, started.elapsed());
    for a in actors {
        a.stop(None);
    }
    spawned
}

/// What a memory probe measures.
#[derive(Clone, Copy)]
enum Probe {
    /// Native ractor actors.
    Native,
    /// wactor actors, each keeping its instance.
    Live,
    /// wactor actors, each hibernated.
    Hibernated,
}

impl Probe {
    fn name(self) -> &'static str {
        match self {
            Probe::Native => "native",
            Probe::Live => "live",
            Probe::Hibernated => "hibernated",
        }
    }

    fn parse(s: &str) -> Option<Probe> {
        [Probe::Native, Probe::Live, Probe::Hibernated]
            .into_iter()
            .find(|p| p.name() == s)
    }
}

/// Resident memory per idle actor with `n` of them live, measured in a
/// fresh process (this program, run with `--probe`): memory an earlier
/// workload freed would otherwise be reused and hide what the actors take.
fn memory(probe: Probe, n: usize) -> Figure {
    let exe = std::env::current_exe().expect("the bench's own path");
    let out = std::process::Command::new(exe)
        .args(["--probe", probe.name(), &n.to_string()])
        .output()
        .expect("run a memory probe");
    let text = String::from_utf8_lossy(&out.stdout);
    let bytes = text
        .lines()
        .find_map(|l| l.strip_prefix("probe-bytes-per-actor "))
        .and_then(|v| v.trim().parse::<f64>().ok())
        .unwrap_or_else(|| {
            panic!(
                "the {} memory probe failed:\n{text}\n{}",
                probe.name(),
                String::from_utf8_lossy(&out.stderr)
            )
        });
    Figure::Bytes(bytes)
}

/// The probe itself: spawns `n` idle actors and prints the resident
/// memory they added, per actor.
async fn run_probe(probe: Probe, n: usize) {
    let per_actor = match probe {
        Probe::Native => {
            spawn_native(1).await;
            let before = rss();
            let actors = spawn_native(n).await;
            let grown = rss() - before;
            drop(actors);
            grown
        }
        Probe::Live | Probe::Hibernated => {
            let budget = match probe {
                Probe::Hibernated => Some(0),
                _ => None,
            };
            let node = wactor_node(NodeConfig {
                live_instance_budget: budget,
                max_actors: n + 1,
                max_actors_per_behaviour: n + 1,
                ..NodeConfig::default()
            })
            .await;
            // One first, so that what a node allocates once is not counted.
            spawn_wactor(&node, 1).await;
            let before = rss();
            let maps_before = mappings();
            let kinds_before = resident_by_kind();
            spawn_wactor(&node, n).await;
            if budget.is_some() {
                while metric(&node, "wactor_actors_hibernating") as usize <= n {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            let grown = rss() - before;
            eprintln!(
                "{} memory mappings per actor",
                (mappings() - maps_before) as f64 / n as f64
            );
            let kinds = resident_by_kind();
            let per = |k: usize| (kinds[k] - kinds_before[k]) / n as f64 / 1024.0;
            eprintln!(
                "resident KiB per actor: linear memories {:.1}, fiber stacks {:.1}, heap and the rest {:.1}",
                per(0),
                per(1),
                per(2)
            );
            grown
        }
    };
    println!("probe-bytes-per-actor {}", per_actor.max(0.0) / n as f64);
}

/// Load time of `counter` compiled from scratch, and read back from the
/// compile cache by a second node.
async fn load_times() -> (Figure, Figure) {
    let dir = tempfile::tempdir().expect("a temporary cache directory");
    let mut times = Vec::new();
    for _ in 0..2 {
        let node = Node::new(NodeConfig {
            cache_dir: Some(dir.path().to_path_buf()),
            ..NodeConfig::default()
        })
        .expect("start a node");
        let b = node
            .load("counter", guest_bytes("target/actors", "counter"))
            .await
            .expect("load the counter guest");
        times.push((b.version.from_cache, b.version.compile_time));
    }
    assert!(
        !times[0].0 && times[1].0,
        "the second load hit the cache: {times:?}"
    );
    (Figure::Time(times[0].1), Figure::Time(times[1].1))
}

/// Switch time of a hot upgrade of `instances` live counters to
/// `counter-v2`, and the load (compile) time of the new version.
async fn reload(instances: usize) -> (Figure, Figure) {
    let node = wactor_node(NodeConfig::default()).await;
    let pids = spawn_wactor(&node, instances).await;
    for pid in &pids {
        node.call(pid, INCREMENT.to_vec(), None).await.expect("call");
    }
    let report = node
        .upgrade("counter", guest_bytes("target/test-guests", "counter-v2"))
        .await
        .expect("upgrade to counter-v2");
    assert_eq!(
        report.upgraded.len(),
        instances,
        "every instance switched: {:?}",
        report.failed
    );
    let compile = node
        .behaviours()
        .into_iter()
        .find(|b| b.name == "counter")
        .map(|b| b.version.compile_time)
        .unwrap_or_default();
    // The state survived: counter-v2 answers count + 1,000,000.
    let n = wactor_get(&node, &pids[0]).await;
    assert_eq!(n, 1_000_001, "the count survived the upgrade");
    node.shutdown(Duration::from_secs(30)).await;
    (Figure::Time(report.switch_time), Figure::Time(compile))
}

/// The floor under the remote rows: the same round trips and bursts
/// between two bare NATS clients through the same server, with no actor
/// host on either side. `b` echoes every message it gets on `floor.b` to
/// `floor.a`; the figures are the round-trip p50 and p99 of `calls`
/// sequential 64-byte messages, and the rate of `sends` messages published
/// and all received.
async fn nats_floor(url: &str, calls: usize, warmup: usize, sends: usize) -> [Figure; 3] {
    use futures_util::StreamExt as _;
    let connect = || async { async_nats::connect(url).await.expect("connect to nats-server") };
    let (a, b) = (connect().await, connect().await);
    let mut echo_in = b.subscribe("floor.b").await.expect("subscribe");
    let mut answers = a.subscribe("floor.a").await.expect("subscribe");
    let mut sink = b.subscribe("floor.sink").await.expect("subscribe");
    b.flush().await.expect("flush");
    a.flush().await.expect("flush");
    let echo = tokio::spawn(async move {
        while let Some(m) = echo_in.next().await {
            b.publish("floor.a", m.payload).await.expect("echo");
        }
    });
    let payload = bytes::Bytes::from(vec![7u8; 64]);
    let mut lat = Vec::with_capacity(calls);
    for i in 0..warmup + calls {
        let started = Instant::now();
        a.publish("floor.b", payload.clone()).await.expect("publish");
        // Bare NATS may drop a message: fail instead of waiting forever.
        tokio::time::timeout(Duration::from_secs(10), answers.next())
            .await
            .expect("bare NATS: an echo within 10 s")
            .expect("an echo");
        if i >= warmup {
            lat.push(started.elapsed());
        }
    }
    lat.sort();
    let started = Instant::now();
    let received = tokio::spawn(async move {
        for _ in 0..sends {
            sink.next().await.expect("a message");
        }
    });
    for _ in 0..sends {
        a.publish("floor.sink", bytes::Bytes::new())
            .await
            .expect("publish");
    }
    tokio::time::timeout(Duration::from_secs(60), received)
        .await
        .expect("bare NATS: the burst arrives within 60 s (NATS drops plain messages to a slow consumer)")
        .expect("every message received");
    let burst = started.elapsed();
    echo.abort();
    [
        Figure::Time(percentile(&lat, 0.5)),
        Figure::Time(percentile(&lat, 0.99)),
        rate(sends, burst),
    ]
}

/// Remote figures between two nodes in one cluster through NATS on
/// loopback: call p50 and p99, plain send throughput, important send
/// throughput (64 senders, each waiting for its acknowledgement); then the
/// [floor](nats_floor) of the first three on bare NATS clients.
async fn remote(sizes: &Sizes) -> ([Figure; 4], [Figure; 3]) {
    // The tests' launcher: a free loopback port, killed on drop.
    let nats = wactor_e2e::binary::NatsServer::start();
    let member = |name: &str| NodeConfig {
        node_name: name.into(),
        cluster: Some(wactor::ClusterConfig::new(nats.url())),
        ..config_for(sizes)
    };
    let alpha = Node::new(member("alpha")).expect("start alpha");
    let beta = wactor_node(member("beta")).await;
    alpha.join_cluster().await.expect("alpha joins");
    beta.join_cluster().await.expect("beta joins");
    let deadline = Instant::now() + Duration::from_secs(30);
    while !(alpha.peers().contains(&"beta".to_string()) && beta.peers().contains(&"alpha".to_string())) {
        assert!(Instant::now() < deadline, "the nodes see each other");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let pid = beta.spawn("counter", Vec::new()).await.expect("spawn on beta");

    let calls = sizes.calls / 10;
    let warmup = calls / 10;
    let mut lat = Vec::with_capacity(calls);
    for i in 0..warmup + calls {
        let started = Instant::now();
        alpha
            .call(&pid, INCREMENT.to_vec(), None)
            .await
            .expect("remote call");
        if i >= warmup {
            lat.push(started.elapsed());
        }
    }
    lat.sort();
    // Messages are not counted by the counter: beta's actor table says how
    // many envelopes the actor handled.
    let handled = |beta: &Node| {
        beta.actors()
            .into_iter()
            .find(|a| a.pid == pid.to_string())
            .map_or(0, |a| a.handled)
    };

    // Bursts stay under the receiving client's subscription buffer (65,536
    // messages): past it NATS drops plain frames as a slow consumer (see
    // BENCHMARKS.md).
    let sends = (sizes.sends / 4).min(50_000);
    let before = handled(&beta);
    let started = Instant::now();
    for _ in 0..sends {
        // A full outgoing queue is back-pressure: wait for the writer.
        while let Err(e) = alpha.send(&pid, Vec::new()) {
            assert_eq!(e, wactor::DeliveryError::MailboxFull, "remote send");
            tokio::task::yield_now().await;
        }
    }
    // The answer comes after every message before it: frames to one node
    // keep their order.
    wactor_get(&alpha, &pid).await;
    let plain = started.elapsed();
    assert_eq!(
        handled(&beta),
        before + sends as u64 + 1,
        "every remote send arrived"
    );

    const SENDERS: usize = 64;
    let per_sender = (sizes.sends / 20 / SENDERS).max(1);
    let before = handled(&beta);
    let started = Instant::now();
    let mut senders = tokio::task::JoinSet::new();
    for _ in 0..SENDERS {
        let (alpha, pid) = (alpha.clone(), pid.clone());
        senders.spawn(async move {
            for _ in 0..per_sender {
                alpha
                    .send_important(&pid, Vec::new())
                    .await
                    .expect("an important send is acknowledged");
            }
        });
    }
    while let Some(r) = senders.join_next().await {
        r.expect("sender task");
    }
    let important = started.elapsed();
    // Acknowledged means in the mailbox; one more call sees them handled.
    wactor_get(&alpha, &pid).await;
    assert_eq!(
        handled(&beta),
        before + (SENDERS * per_sender) as u64 + 1,
        "every important send arrived"
    );

    beta.shutdown(Duration::from_secs(5)).await;
    alpha.shutdown(Duration::from_secs(5)).await;
    beta.leave_cluster().await;
    alpha.leave_cluster().await;
    let floor = nats_floor(&nats.url(), calls, warmup, sends).await;
    (
        [
            Figure::Time(percentile(&lat, 0.5)),
            Figure::Time(percentile(&lat, 0.99)),
            rate(sends, plain),
            rate(SENDERS * per_sender, important),
        ],
        floor,
    )
}

/// Time from a new version landing in a watched directory (renamed over
/// the old file, as a deploy does) to every one of `instances` live
/// counters, started by the directory's manifest, running it. It includes
/// the watcher's debounce ([`wactor::watch::DEBOUNCE`]), reading the file,
/// compiling it and the switch.
async fn reload_from_file(instances: usize) -> Figure {
    let dir = tempfile::tempdir().expect("a temporary actors directory");
    let wasm = dir.path().join("counter.wasm");
    std::fs::write(&wasm, guest_bytes("target/actors", "counter")).expect("write counter.wasm");
    std::fs::write(
        dir.path().join("counter.toml"),
        format!("instances = {instances}\n"),
    )
    .expect("write counter.toml");
    let node = Node::new(NodeConfig::default()).expect("start a node");
    let report = wactor::watch::load_dir(&node, dir.path())
        .await
        .expect("load the directory");
    assert!(report.failed.is_empty(), "{:?}", report.failed);
    let pids: Vec<Pid> = node.actors_of("counter").into_iter().map(|(p, _)| p).collect();
    assert_eq!(pids.len(), instances);
    for pid in &pids {
        node.call(pid, INCREMENT.to_vec(), None).await.expect("call");
    }
    let _watcher = wactor::watch::watch_dir(node.clone(), dir.path()).expect("watch the directory");
    let next = guest_bytes("target/test-guests", "counter-v2");
    let staged = dir.path().join(".counter.wasm.new");
    std::fs::write(&staged, &next).expect("stage counter-v2");
    let landed = Instant::now();
    std::fs::rename(&staged, &wasm).expect("rename counter-v2 over counter.wasm");
    let old = node.version_of(&pids[0]).expect("the counter runs").hash;
    let deadline = landed + Duration::from_secs(120);
    loop {
        let done = pids
            .iter()
            .all(|p| node.version_of(p).is_some_and(|v| v.hash != old));
        if done {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "every instance switched within 2 minutes"
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let took = landed.elapsed();
    // The state survived: counter-v2 answers count + 1,000,000.
    assert_eq!(
        wactor_get(&node, &pids[0]).await,
        1_000_001,
        "the count survived the upgrade"
    );
    node.shutdown(Duration::from_secs(30)).await;
    Figure::Time(took)
}

// ---------------------------------------------------------------------------

fn print_table(rows: &[Row], quick: bool) {
    let header = [
        "workload",
        "wactor (wasm)",
        "ractor (native)",
        "wactor/native",
        "goal",
    ];
    let cells: Vec<[String; 5]> = rows
        .iter()
        .map(|r| {
            let ratio = match r.native {
                Some(n) => format!("{:.2}×", r.wactor.cost() / n.cost()),
                None => "—".into(),
            };
            let goal = match r.goal {
                Some((text, true)) => format!("{text}: met"),
                Some((text, false)) => format!("{text}: NOT met"),
                None => String::new(),
            };
            [
                r.workload.clone(),
                r.wactor.show(r.unit),
                r.native.map(|n| n.show(r.unit)).unwrap_or_else(|| "—".into()),
                ratio,
                goal,
            ]
        })
        .collect();
    let mut widths = header.map(|h| h.chars().count());
    for row in &cells {
        for (w, c) in widths.iter_mut().zip(row) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cols: [&str; 5]| {
        let mut s = String::from("|");
        for (c, w) in cols.iter().zip(widths) {
            s.push_str(&format!(" {c:<w$} |"));
        }
        s
    };
    println!(
        "\nwactor benchmarks ({}; wactor/native is the cost ratio: time, bytes or 1/rate, so 2.00× means wactor costs twice as much)\n",
        if quick { "--quick" } else { "full" }
    );
    println!("{}", line(header));
    println!("|{}|", widths.map(|w| "-".repeat(w + 2)).join("|"));
    for row in &cells {
        println!("{}", line([&row[0], &row[1], &row[2], &row[3], &row[4]]));
    }
}

fn within(w: Figure, n: Figure, times: f64) -> bool {
    w.cost() <= n.cost() * times
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if let Some(i) = args.iter().position(|a| a == "--probe") {
        let probe = args
            .get(i + 1)
            .and_then(|p| Probe::parse(p))
            .expect("--probe native|live|hibernated N");
        let n = args
            .get(i + 2)
            .and_then(|n| n.parse().ok())
            .expect("--probe KIND N");
        let rt = tokio::runtime::Runtime::new().expect("tokio runtime");
        rt.block_on(run_probe(probe, n));
        return;
    }
    let quick = args.iter().any(|a| a == "--quick");
    // `--only GROUP` runs one group: send, call, spawn, memory, remote or reload.
    let only = args
        .iter()
        .position(|a| a == "--only")
        .and_then(|i| args.get(i + 1).cloned());
    let want = |group: &str| only.as_deref().is_none_or(|o| o == group);
    let sizes = if quick { QUICK } else { FULL };
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");
    let began = Instant::now();
    let rows = rt.block_on(async {
        let mut rows = Vec::new();

        if want("send") {
            eprintln!("send 1→1 ...");
            let (w, n) = send_one_to_one(&sizes).await;
            let ok = matches!(w, Figure::Rate(r) if r >= 1_000_000.0) && within(w, n, 3.0);
            rows.push(Row {
                workload: format!("send 1→1 ({} msgs)", group(sizes.sends as f64)),
                unit: "msg/s",
                wactor: w,
                native: Some(n),
                goal: Some(("≥ 1,000,000 msg/s and ≤ 3×", ok)),
            });

            eprintln!("send N→N ...");
            let (w, n) = send_n_to_n(&sizes).await;
            rows.push(Row {
                workload: format!(
                    "send N→N ({} pairs × {})",
                    sizes.pairs,
                    group(sizes.sends_per_pair as f64)
                ),
                unit: "msg/s",
                wactor: w,
                native: Some(n),
                goal: None,
            });
        }
        if want("call") {
            eprintln!("call round trip ...");
            let mut from_task = None;
            for (caller, name) in [(Caller::Task, "from a task"), (Caller::BlockOn, "from block_on")] {
                let ((w50, n50), (w99, n99)) = call_round_trip(sizes.calls, caller).await;
                let ok =
                    matches!(w50, Figure::Time(d) if d < Duration::from_micros(5)) && within(w50, n50, 3.0);
                rows.push(Row {
                    workload: format!("call round trip {name} p50 ({} calls)", group(sizes.calls as f64)),
                    unit: "",
                    wactor: w50,
                    native: Some(n50),
                    goal: Some(("< 5 µs and ≤ 3×", ok)),
                });
                rows.push(Row {
                    workload: format!("call round trip {name} p99"),
                    unit: "",
                    wactor: w99,
                    native: Some(n99),
                    goal: None,
                });
                from_task.get_or_insert((n50, n99));
            }
            let (relayed, relayed_native) = call_relayed(sizes.calls / 2).await;
            rows.push(Row {
                workload: format!(
                    "call relayed by a second actor from a task p50 ({} calls)",
                    group((sizes.calls / 2) as f64)
                ),
                unit: "",
                wactor: relayed,
                native: Some(relayed_native),
                goal: None,
            });
            let (n50, n99) = from_task.expect("measured above");
            rows.push(Row {
                workload: format!(
                    "call to a pool of {POOL_WORKERS} from a task p50 ({} calls)",
                    group(sizes.calls as f64)
                ),
                unit: "",
                wactor: call_pool(sizes.calls).await,
                native: Some(n50),
                goal: None,
            });
            let (wake50, wake99) = call_waking(sizes.calls / 10).await;
            rows.push(Row {
                workload: "call to a hibernated actor p50 (wake, restore, answer)".into(),
                unit: "",
                wactor: wake50,
                native: Some(n50),
                goal: None,
            });
            rows.push(Row {
                workload: "call to a hibernated actor p99".into(),
                unit: "",
                wactor: wake99,
                native: Some(n99),
                goal: None,
            });
        }
        if want("spawn") {
            eprintln!("spawn ...");
            let n = sizes.spawns;
            let ns = median_of_rounds(|| native_spawn_rate(n)).await;
            let ws = median_of_rounds(|| spawn_rate(n, None, None)).await;
            let spawn_goal =
                |w: Figure| Some(("≥ 20,000 actors/s", matches!(w, Figure::Rate(r) if r >= 20_000.0)));
            rows.push(Row {
                workload: format!(
                    "spawn ({} actors, {SPAWN_CONCURRENCY} in flight, median of {SPAWN_ROUNDS} rounds)",
                    group(sizes.spawns as f64)
                ),
                unit: "actors/s",
                wactor: ws,
                native: Some(ns),
                goal: spawn_goal(ws),
            });
            let w = median_of_rounds(|| spawn_rate(n, Some(0), None)).await;
            rows.push(Row {
                workload: "spawn, each hibernating once idle".into(),
                unit: "actors/s",
                wactor: w,
                native: Some(ns),
                goal: spawn_goal(w),
            });
            let w = median_of_rounds(|| spawn_rate(n, Some(POOL_BUDGET), Some(POOL_SLOTS))).await;
            rows.push(Row {
                workload: format!("spawn, instance pool of {POOL_SLOTS}, budget {POOL_BUDGET}"),
                unit: "actors/s",
                wactor: w,
                native: Some(ns),
                goal: spawn_goal(w),
            });
        }
        if want("memory") {
            eprintln!("memory ...");
            let memory_goal =
                |w: Figure| Some(("< 100 KiB", matches!(w, Figure::Bytes(b) if b < 100.0 * 1024.0)));
            let nm = memory(Probe::Native, sizes.idle);
            let wm = memory(Probe::Live, sizes.live_instances);
            rows.push(Row {
                workload: format!(
                    "resident memory per idle actor ({} live; native: {})",
                    group(sizes.live_instances as f64),
                    group(sizes.idle as f64)
                ),
                unit: "",
                wactor: wm,
                native: Some(nm),
                goal: memory_goal(wm),
            });
            let wm = memory(Probe::Hibernated, sizes.idle);
            rows.push(Row {
                workload: format!(
                    "resident memory per hibernated actor ({} live)",
                    group(sizes.idle as f64)
                ),
                unit: "",
                wactor: wm,
                native: Some(nm),
                goal: memory_goal(wm),
            });
        }
        if want("remote") {
            eprintln!("remote call and send through NATS ...");
            let ([p50, p99, plain, important], [floor50, floor99, floor_send]) = remote(&sizes).await;
            let call_goal = matches!(p50, Figure::Time(d) if d < Duration::from_micros(150));
            let send_goal = matches!(plain, Figure::Rate(r) if r > 200_000.0);
            // The native column is bare NATS clients (see `nats_floor`).
            for (workload, unit, wactor, native, goal) in [
                (
                    "remote call p50 (two nodes, NATS on loopback; native: bare NATS echo)",
                    "",
                    p50,
                    Some(floor50),
                    Some(("< 150 µs", call_goal)),
                ),
                ("remote call p99", "", p99, Some(floor99), None),
                (
                    "remote send, plain (native: bare NATS publish)",
                    "msg/s",
                    plain,
                    Some(floor_send),
                    Some(("> 200,000 msg/s", send_goal)),
                ),
                (
                    "remote send, important (64 senders awaiting acks)",
                    "msg/s",
                    important,
                    None,
                    None,
                ),
            ] {
                rows.push(Row {
                    workload: workload.into(),
                    unit,
                    wactor,
                    native,
                    goal,
                });
            }
        }
        if want("reload") {
            for instances in [1, sizes.reload_many] {
                eprintln!("hot reload of {instances} ...");
                let (switch, compile) = reload(instances).await;
                rows.push(Row {
                    workload: format!("hot reload switch, {} instance(s)", group(instances as f64)),
                    unit: "",
                    wactor: switch,
                    native: None,
                    goal: (instances >= 1_000).then(|| {
                        (
                            "< 200 ms",
                            matches!(switch, Figure::Time(d) if d < Duration::from_millis(200)),
                        )
                    }),
                });
                eprintln!("hot reload of {instances} from the watched directory ...");
                rows.push(Row {
                    workload: format!(
                        "hot reload from the file landing, {} instance(s) (debounce, compile, switch)",
                        group(instances as f64)
                    ),
                    unit: "",
                    wactor: reload_from_file(instances).await,
                    native: None,
                    goal: None,
                });
                if instances == 1 {
                    rows.push(Row {
                        workload: "hot reload compile (counter-v2, no cache)".into(),
                        unit: "",
                        wactor: compile,
                        native: None,
                        goal: None,
                    });
                }
            }
            let (fresh, cached) = load_times().await;
            rows.push(Row {
                workload: "load counter: compile".into(),
                unit: "",
                wactor: fresh,
                native: None,
                goal: None,
            });
            rows.push(Row {
                workload: "load counter: compile cache hit".into(),
                unit: "",
                wactor: cached,
                native: None,
                goal: None,
            });
        }
        rows
    });
    print_table(&rows, quick);
    println!("\n(took {:.1} s)", began.elapsed().as_secs_f64());
}
