//! Spawning an actor, and settling everything it leaves when it ends.
//!
//! Spawning creates the actor's mailbox and [`Process`] handle, then starts
//! its task (see [`task`](crate::runtime::task)) and waits for its `init`.
//! However the actor ends, [`NodeInner::finish`] removes the process,
//! releases its names and its place against the spawn limits, fails every
//! call it still owes with `terminated(reason)`, and tells its links and
//! monitors.

use std::sync::Arc;

use tokio::sync::oneshot;
use tracing::Instrument;

use crate::core::error::{DeliveryError, SpawnError};
use crate::core::pid::Pid;
use crate::core::trace;
use crate::node::{Exit, NodeInner};
use crate::process::mailbox::Mailbox;
use crate::process::table::{ActorState, Process};
use crate::runtime::task::{run, MAX_TASK_BYTES};
use crate::sandbox::engine::Behaviour;

impl NodeInner {
    /// Starts an actor of `behaviour`; returns once its `init` succeeded.
    pub(crate) async fn spawn_actor(
        self: &Arc<Self>,
        behaviour: Arc<Behaviour>,
        args: Vec<u8>,
    ) -> Result<Pid, SpawnError> {
        let pid = self.next_pid();
        // Counted before the process exists, released in `finish`.
        self.spawn_counts.reserve(&self.config, pid.id, &behaviour.name)?;
        let (mailbox, rx) = Mailbox::new(self.settings(&behaviour.name).mailbox_capacity);
        let (process, control) = Process::new(pid.clone(), behaviour.name.clone(), mailbox);
        // Visible before `init` runs, so `init` can send to itself.
        self.processes.insert(pid.id, process.clone());
        let (started_tx, started_rx) = oneshot::channel();
        // A root span: the actor outlives the message of the spawner that
        // started it, and its log lines carry only its own trace ids.
        let span = tracing::info_span!(parent: None, "actor", actor = %behaviour.name, pid = %pid);
        // `init` (and so whatever it sends) continues the spawner's trace.
        let run = run(self.clone(), process, behaviour, rx, control, args, started_tx);
        debug_assert!(
            std::mem::size_of_val(&run) <= MAX_TASK_BYTES,
            "the actor task takes {} bytes: box the stage that grew it (see `run`)",
            std::mem::size_of_val(&run)
        );
        tokio::spawn(trace::scope(trace::current_or_new(), run).instrument(span));
        match started_rx.await {
            Ok(Ok(())) => Ok(pid),
            Ok(Err(e)) => Err(e),
            Err(_) => Err(SpawnError::InitFailed("the actor ended during init".into())),
        }
    }

    /// Removes an ended process and settles everything it leaves behind.
    pub(crate) fn finish(&self, p: &Process, reason: &str) {
        p.set_state(ActorState::Terminated);
        p.desk.clear();
        self.processes.remove(&p.pid.id);
        // Before the exit is announced: whoever sees it can spawn again.
        self.spawn_counts.release(p.pid.id);
        self.names.release_all(p);
        for call in p.close_owed() {
            self.calls
                .fail(call.r, DeliveryError::Terminated(call.reason(reason)));
        }
        self.close_async_calls(p);
        self.announce_exit(p, reason);
        if reason == "normal" || reason == "shutdown" {
            tracing::info!(reason, "actor ended");
        } else {
            tracing::warn!(reason, "actor ended");
        }
        let _ = self.exits.send(Exit {
            pid: p.pid.clone(),
            behaviour: p.behaviour.clone(),
            reason: reason.to_string(),
        });
    }
}
