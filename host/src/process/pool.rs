//! Pools: one pid in front of N workers of the same behaviour.
//!
//! A pool's pid has no task of its own. A message or call addressed to it
//! goes straight to the mailbox of the next worker in rotation, with the
//! original sender and ref, so the worker answers the caller directly and
//! the pool adds no hop. If a worker's mailbox is full the next one is
//! tried; only when every worker's mailbox is full does the sender get
//! `mailbox-full`, at once and counted as rejected, never dropped silently.
//! A call finds an idle worker first if it can, and runs on it directly
//! (see [`direct`](crate::runtime::direct)).
//!
//! A worker that ends for any reason other than being retired is replaced
//! by a fresh one (counted as a restart). Workers can be added and removed
//! while the pool runs; removing retires the oldest first.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use parking_lot::RwLock;

use crate::core::error::SpawnError;
use crate::core::pid::Pid;
use crate::node::NodeInner;
use crate::process::mailbox::Mailbox;
use crate::process::table::{ActorState, Process};

/// Counters of one pool.
#[derive(Clone, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct PoolStats {
    /// Workers now.
    pub size: usize,
    /// Messages and calls handed to a worker.
    pub forwarded: u64,
    /// Workers replaced after they ended.
    pub restarts: u64,
    /// Messages and calls refused because every worker's mailbox was full.
    pub rejected: u64,
}

/// The shared state of one pool.
#[derive(Debug)]
pub(crate) struct Pool {
    behaviour: String,
    args: Vec<u8>,
    /// Oldest first.
    workers: RwLock<VecDeque<Arc<Process>>>,
    next: AtomicUsize,
    closed: AtomicBool,
    pub(crate) forwarded: AtomicU64,
    restarts: AtomicU64,
    pub(crate) rejected: AtomicU64,
}

impl Pool {
    /// The workers in the order to try them, starting with the next in
    /// rotation.
    pub(crate) fn rotation(&self, exclude: Option<&Pid>) -> Vec<Arc<Process>> {
        self.in_turn(self.next.fetch_add(1, Ordering::Relaxed), exclude, usize::MAX)
    }

    /// The first `n` workers [`rotation`](Self::rotation) would give,
    /// without moving the rotation on: a direct call looks for an idle one
    /// and moves it on with [`advance`](Self::advance) only if it found
    /// one, so that a call that goes on to the mailbox moves it once.
    pub(crate) fn peek(&self, exclude: Option<&Pid>, n: usize) -> Vec<Arc<Process>> {
        self.in_turn(self.next.load(Ordering::Relaxed), exclude, n)
    }

    /// Up to `n` workers, the one at `start` (modulo their number) first,
    /// without `exclude`.
    fn in_turn(&self, start: usize, exclude: Option<&Pid>, n: usize) -> Vec<Arc<Process>> {
        let workers = self.workers.read();
        let len = workers.len();
        (0..len)
            .map(|i| &workers[(start + i) % len])
            .filter(|w| exclude != Some(&w.pid))
            .take(n)
            .cloned()
            .collect()
    }

    /// Moves the rotation on by one.
    pub(crate) fn advance(&self) {
        self.next.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn stats(&self) -> PoolStats {
        PoolStats {
            size: self.workers.read().len(),
            forwarded: self.forwarded.load(Ordering::Relaxed),
            restarts: self.restarts.load(Ordering::Relaxed),
            rejected: self.rejected.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn workers(&self) -> Vec<Pid> {
        self.workers.read().iter().map(|w| w.pid.clone()).collect()
    }
}

impl NodeInner {
    /// Starts a pool of `size` workers of `behaviour`, each with `args`.
    pub(crate) async fn spawn_pool(
        self: &Arc<Self>,
        behaviour: &str,
        size: usize,
        args: Vec<u8>,
    ) -> Result<Pid, SpawnError> {
        if self.behaviour(behaviour).is_none() {
            return Err(SpawnError::UnknownBehaviour(behaviour.to_string()));
        }
        let pool = Arc::new(Pool {
            behaviour: behaviour.to_string(),
            args,
            workers: RwLock::new(VecDeque::new()),
            next: AtomicUsize::new(0),
            closed: AtomicBool::new(false),
            forwarded: AtomicU64::new(0),
            restarts: AtomicU64::new(0),
            rejected: AtomicU64::new(0),
        });
        let pid = self.next_pid();
        // The front never receives: envelopes go to the workers' mailboxes.
        let (mailbox, _never_read) = Mailbox::new(1);
        let (front, _no_task) =
            Process::with_pool(pid.clone(), behaviour.to_string(), mailbox, Some(pool.clone()));
        front.set_state(ActorState::Running);
        self.processes.insert(pid.id, front.clone());
        for _ in 0..size {
            if let Err(e) = self.add_worker(&pool).await {
                self.close_pool(&front, &format!("a worker did not start: {e}"));
                return Err(e);
            }
        }
        Ok(pid)
    }

    /// Starts one more worker in `pool`.
    pub(crate) async fn add_worker(self: &Arc<Self>, pool: &Arc<Pool>) -> Result<Pid, SpawnError> {
        let pid = self.spawn(&pool.behaviour, pool.args.clone()).await?;
        let worker = self
            .processes
            .get(&pid.id)
            .map(|p| p.value().clone())
            .ok_or_else(|| SpawnError::InitFailed("the new worker ended at once".into()))?;
        let _ = worker.member_of.set(Arc::downgrade(pool));
        pool.workers.write().push_back(worker);
        if pool.closed.load(Ordering::SeqCst) {
            // The pool closed while this worker started.
            self.retire(pool, 1);
        }
        Ok(pid)
    }

    /// Takes the `n` oldest workers out of `pool` and stops them.
    pub(crate) fn retire(&self, pool: &Pool, n: usize) -> Vec<Pid> {
        let gone: Vec<Arc<Process>> = {
            let mut workers = pool.workers.write();
            let n = n.min(workers.len());
            workers.drain(..n).collect()
        };
        for w in &gone {
            w.retired.store(true, Ordering::SeqCst);
            w.stop("retired from its pool");
        }
        gone.into_iter().map(|w| w.pid.clone()).collect()
    }

    /// Called when any process ends: a pool worker that did not retire is
    /// replaced.
    pub(crate) fn on_worker_exit(self: &Arc<Self>, p: &Process) {
        let Some(pool) = p.member_of.get().and_then(|w| w.upgrade()) else {
            return;
        };
        pool.workers.write().retain(|w| w.pid != p.pid);
        if p.retired.load(Ordering::SeqCst) || pool.closed.load(Ordering::SeqCst) {
            return;
        }
        pool.restarts.fetch_add(1, Ordering::Relaxed);
        self.metrics.restarts.inc();
        let node = self.clone();
        tokio::spawn(async move {
            if let Err(e) = node.add_worker(&pool).await {
                tracing::error!(behaviour = %pool.behaviour, error = %e, "pool worker not replaced");
            }
        });
    }

    /// Ends a pool: its workers stop, its pid and names are released.
    pub(crate) fn close_pool(&self, front: &Process, reason: &str) {
        let Some(pool) = &front.pool else { return };
        pool.closed.store(true, Ordering::SeqCst);
        let size = pool.workers.read().len();
        self.retire(pool, size);
        self.finish(front, reason);
    }
}
