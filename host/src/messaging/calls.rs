//! Calls: requests that wait for an answer, and the refs that tie an answer
//! to its caller.
//!
//! A call registers a [`PendingCall`] under a fresh 128-bit [`RefId`], puts
//! the request in the callee's mailbox and parks the caller until one of
//! these happens:
//!
//! - an answer arrives for that ref *from the addressed caller's point of
//!   view*: `send-response` must name both the caller's pid and the ref, so
//!   a forged or stale ref cannot touch anyone else's call;
//! - the callee ends (trap, `stop`, kill): every call it still owes gets
//!   `terminated(reason)` at once instead of waiting for the timeout;
//! - the deadline passes: the caller gets `timeout`, the entry is removed,
//!   and a late answer is dropped and counted, never confused with a later
//!   call (the next call has a new ref).
//!
//! Only the calling actor waits: its import future is pending, so its fiber
//! is suspended and the thread runs other actors.
//!
//! `call-async` sends the same request without parking anyone: the caller
//! gets the ref at once, and a small task waits in its place and puts the
//! outcome on the caller's system lane as a `response` info. It cannot
//! deadlock, so it is never refused as a cycle; an actor may have at most
//! its mailbox capacity of them outstanding, which keeps the system lane
//! bounded.
//!
//! A call to oneself, or one that would close a cycle of actors waiting on
//! each other (A→B→A, A→B→C→A), is refused at once with `not-allowed`: each
//! process publishes whom it is waiting on, and the caller walks that chain
//! before it parks. A caller of a pool waits on the worker that took its
//! request, and a worker whose chain leads back to the caller is passed
//! over, so cycles through pools are seen too.
//!
//! A cycle through other nodes fails the same way, with the same error, but
//! a little later: the chain of waits leaves this node, so the caller parks,
//! and once it has waited [`PROBE_AFTER`] (10 ms) a probe follows the chain
//! from node to node (see [`cycles`](crate::messaging::cycles)). When it comes back to
//! the caller, the call fails with `not-allowed`: some milliseconds after
//! it was sent instead of before, and long before its timeout.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::oneshot;

use crate::core::error::DeliveryError;
use crate::core::maps::FastMap;
use crate::core::pid::{now_ms, Address, CallOptions, Delivery, Pid, Ref, RefId};
use crate::messaging::cycles::PROBE_AFTER;
use crate::messaging::routing::worst;
use crate::messaging::routing::Route;
use crate::node::NodeInner;
use crate::process::mailbox::{Envelope, Info};
use crate::process::table::{ActorState, Process};
use crate::runtime::direct;

/// What a caller finally gets.
pub(crate) type CallResult = Result<Vec<u8>, DeliveryError>;

/// Longest chain of waiting actors walked when looking for a cycle.
pub(crate) const MAX_WAIT_CHAIN: usize = 256;

/// Who owes the answer to a call.
enum Owner {
    /// A process of this node.
    Local(Arc<Process>),
    /// Some process of another node.
    Node(Arc<str>),
}

impl Owner {
    fn paid(&self, r: RefId) {
        if let Owner::Local(p) = self {
            p.paid(r);
        }
    }
}

/// A call that has not been answered yet.
struct PendingCall {
    caller: Pid,
    /// Who owes the answer.
    callee: Owner,
    tx: oneshot::Sender<CallResult>,
}

/// The table of pending calls of one node.
#[derive(Default)]
pub(crate) struct Calls {
    pending: FastMap<RefId, PendingCall>,
    /// Answers that came after their caller had stopped waiting.
    late: AtomicU64,
}

impl Calls {
    fn open(&self, r: RefId, caller: Pid, callee: Arc<Process>) -> oneshot::Receiver<CallResult> {
        self.open_owed(r, caller, Owner::Local(callee))
    }

    /// Registers a call whose callee is on `node`.
    fn open_remote(&self, r: RefId, caller: Pid, peer: &str) -> oneshot::Receiver<CallResult> {
        self.open_owed(r, caller, Owner::Node(Arc::from(peer)))
    }

    fn open_owed(&self, r: RefId, caller: Pid, callee: Owner) -> oneshot::Receiver<CallResult> {
        let (tx, rx) = oneshot::channel();
        self.pending.insert(r, PendingCall { caller, callee, tx });
        rx
    }

    /// Fails every call owed by processes of `node` (it is down).
    pub(crate) fn fail_node(&self, peer: &str, error: DeliveryError) {
        let owed: Vec<RefId> = self
            .pending
            .iter()
            .filter(|e| matches!(&e.value().callee, Owner::Node(n) if &**n == peer))
            .map(|e| *e.key())
            .collect();
        for r in owed {
            self.fail(r, error.clone());
        }
    }

    /// Drops the entry of a call from another node's `caller` that came in
    /// through this node, once it is answered (the answer goes straight
    /// to the caller's node).
    pub(crate) fn forget_proxy(&self, caller: &Pid, r: RefId) {
        if let Some((_, p)) = self.pending.remove_if(&r, |_, p| p.caller == *caller) {
            p.callee.paid(r);
        }
    }

    /// The local process that owes `caller`'s call `r`, if it is pending.
    pub(crate) fn owner(&self, caller: &Pid, r: RefId) -> Option<Arc<Process>> {
        let p = self.pending.get(&r).filter(|p| p.caller == *caller)?;
        match &p.callee {
            Owner::Local(p) => Some(p.clone()),
            Owner::Node(_) => None,
        }
    }

    /// Ends `caller`'s call `r` with `error` although its callee still
    /// owes it (it closes a cycle); a later answer is ignored.
    pub(crate) fn refuse(&self, caller: &Pid, r: RefId, error: DeliveryError) {
        if let Some((_, p)) = self.pending.remove_if(&r, |_, p| p.caller == *caller) {
            p.callee.paid(r);
            let _ = p.tx.send(Err(error));
        }
    }

    /// Removes a call that will not be answered through the table.
    fn close(&self, r: RefId) {
        if let Some((_, p)) = self.pending.remove(&r) {
            p.callee.paid(r);
        }
    }

    /// Delivers an answer to `caller`'s call `r`. The pair must match a
    /// pending call, or the answer is refused with `response-ignored`.
    pub(crate) fn answer(&self, caller: &Pid, r: RefId, result: CallResult) -> Result<(), DeliveryError> {
        match self.pending.remove_if(&r, |_, p| p.caller == *caller) {
            Some((_, p)) => {
                p.callee.paid(r);
                p.tx.send(result).map_err(|_| DeliveryError::ResponseIgnored)
            }
            None => {
                self.late.fetch_add(1, Ordering::Relaxed);
                Err(DeliveryError::ResponseIgnored)
            }
        }
    }

    /// Fails the call `r` (its callee ended).
    pub(crate) fn fail(&self, r: RefId, error: DeliveryError) {
        if let Some((_, p)) = self.pending.remove(&r) {
            let _ = p.tx.send(Err(error));
        }
    }

    /// True while the caller behind `r` is still waiting.
    pub(crate) fn is_alive(&self, r: &Ref) -> bool {
        now_ms() < r.deadline_ms && self.pending.contains_key(&r.id)
    }

    /// Answers that arrived after their caller gave up.
    pub(crate) fn late_answers(&self) -> u64 {
        self.late.load(Ordering::Relaxed)
    }
}

/// Removes the pending entry however the wait ends, including when the
/// caller's task is dropped mid-call (its actor was killed).
struct OpenCall<'a> {
    calls: &'a Calls,
    r: RefId,
}

impl Drop for OpenCall<'_> {
    fn drop(&mut self) {
        self.calls.close(self.r);
    }
}

/// Marks an actor as waiting on another for as long as it lives.
struct Waiting<'a> {
    me: &'a Process,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.me.unpark();
        self.me.set_state(ActorState::Running);
    }
}

impl NodeInner {
    /// Sends a request from `from` (running as `me`, if it is an actor of
    /// this node) and waits for the answer.
    pub(crate) async fn call(
        &self,
        from: &Pid,
        me: Option<&Process>,
        to: &Address,
        payload: Vec<u8>,
        timeout: Option<Duration>,
    ) -> CallResult {
        let how = CallOptions {
            timeout,
            ..CallOptions::default()
        };
        self.call_with(from, me, to, payload, how).await
    }

    /// [`call`](Self::call) made `how`: an important request to another
    /// node that cannot be delivered fails at once with the reason; the
    /// encoding travels with the call's ref to whoever answers. Counted
    /// here, once: its duration and error, and for an important call
    /// whether it was delivered.
    pub(crate) async fn call_with(
        &self,
        from: &Pid,
        me: Option<&Process>,
        to: &Address,
        payload: Vec<u8>,
        how: CallOptions,
    ) -> CallResult {
        let started = std::time::Instant::now();
        let result = self.call_uncounted(from, me, to, payload, how, started).await;
        self.metrics.called(started, &result);
        if how.delivery.is_important() {
            self.metrics.important(&result);
        }
        result
    }

    async fn call_uncounted(
        &self,
        from: &Pid,
        me: Option<&Process>,
        to: &Address,
        payload: Vec<u8>,
        how: CallOptions,
        started: std::time::Instant,
    ) -> CallResult {
        let CallOptions {
            timeout,
            delivery,
            encoding,
        } = how;
        self.check_size(payload.len())?;
        // An actor's default comes from its behaviour's manifest.
        let timeout = timeout.unwrap_or_else(|| match me {
            Some(me) => self.settings(&me.behaviour).call_timeout,
            None => self.config.call_timeout,
        });
        if let Route::Remote(node) = self.route(to) {
            self.cluster()?.check_up(node)?;
            let r = Ref::encoded(timeout, encoding);
            // Parked before the request goes, so that a probe that comes
            // back finds the call.
            let _waiting = me.map(|me| {
                me.park(r.id, Some(node));
                me.set_state(ActorState::WaitingOnCall);
                Waiting { me }
            });
            let rx = self.call_out(node, from, to, r, payload, delivery)?;
            let _open = OpenCall {
                calls: &self.calls,
                r: r.id,
            };
            return self.wait_parked(me, r.id, rx, timeout).await;
        }
        let target = self.resolve(to)?;
        let r = Ref::encoded(timeout, encoding);
        // An actor caller publishes its wait first: a call that would close
        // a cycle is refused whichever way it would then go.
        let _waiting = match me {
            Some(me) => Some(self.enter_wait(me, &target, r.id)?),
            None => None,
        };
        // A worker of a pool is waited on as the mailbox path would:
        // published first, skipped if it would close a cycle.
        let lent = direct::lend_for_call(&target, from, |w| match me {
            Some(me) => self.wait_on(me, w).is_none(),
            None => true,
        });
        if let Some((callee, lent)) = lent {
            let deadline = tokio::time::Instant::from_std(started) + timeout;
            return self.call_direct(from, &callee, lent, r, payload, deadline).await;
        }
        let rx = self.deliver_call(&target, from, me, r, payload)?;
        let _open = OpenCall {
            calls: &self.calls,
            r: r.id,
        };
        self.wait_parked(me, r.id, rx, timeout).await
    }

    /// Runs the call `r` on the idle instance of `target` that `lent`
    /// borrowed (see [`direct`]), and waits for the answer.
    async fn call_direct(
        &self,
        from: &Pid,
        target: &Arc<Process>,
        loan: direct::Loan,
        r: Ref,
        payload: Vec<u8>,
        deadline: tokio::time::Instant,
    ) -> CallResult {
        let rx = self.calls.open(r.id, from.clone(), target.clone());
        let open = OpenCall {
            calls: &self.calls,
            r: r.id,
        };
        // Owed as if it were in the mailbox: should the actor end first,
        // the call fails with the reason.
        if !target.owe(r.id, true) {
            // Ending already: the handler is not run.
            direct::unused(target, loan);
            return Err(DeliveryError::UnknownProcess);
        }
        let env = Envelope::Call {
            from: from.clone(),
            r,
            payload,
        };
        self.metrics.direct_calls.inc();
        let run = direct::run(target.clone(), loan, env);
        // Past the deadline the handler finishes on its own task.
        let mut run = std::pin::pin!(run);
        if now_or_pending(run.as_mut()).await.is_none()
            && tokio::time::timeout_at(deadline, run).await.is_err()
        {
            return Err(DeliveryError::Timeout);
        }
        let mut rx = std::pin::pin!(rx);
        if let Some(answer) = now_or_pending(rx.as_mut()).await {
            // Whoever answered took the entry out already.
            std::mem::forget(open);
            return answered(answer);
        }
        match tokio::time::timeout_at(deadline, rx).await {
            Ok(answer) => answered(answer),
            Err(_) => Err(DeliveryError::Timeout),
        }
    }

    /// Registers a call to a process of `node` and sends the request.
    fn call_out(
        &self,
        peer: &str,
        from: &Pid,
        to: &Address,
        r: Ref,
        payload: Vec<u8>,
        delivery: Delivery,
    ) -> Result<oneshot::Receiver<CallResult>, DeliveryError> {
        let cluster = self.cluster()?;
        let rx = self.calls.open_remote(r.id, from.clone(), peer);
        let frame = crate::frame::Frame::Call {
            from: from.into(),
            to: to.into(),
            r: (&r).into(),
            payload,
            trace: crate::core::trace::current_or_new().to_bits(),
            important: delivery.is_important(),
        };
        if let Err(e) = cluster.publish(peer, &frame) {
            self.calls.close(r.id);
            return Err(e);
        }
        Ok(rx)
    }

    /// Delivers a call from a process of another node to `target`. The
    /// answer goes to the caller's node from whoever gives it; should the
    /// callee end first, a task here tells the caller.
    pub(crate) fn deliver_proxy_call(
        self: &Arc<Self>,
        target: &Arc<Process>,
        from: &Pid,
        r: Ref,
        payload: Vec<u8>,
    ) -> Result<(), DeliveryError> {
        let rx = self.deliver_call(target, from, None, r, payload)?;
        let node = self.clone();
        let caller = from.clone();
        let left = Duration::from_millis(r.deadline_ms.saturating_sub(now_ms()));
        tokio::spawn(async move {
            let _open = OpenCall {
                calls: &node.calls,
                r: r.id,
            };
            // Dropped (without a result) when the answer went out directly.
            if let Ok(Ok(result)) = tokio::time::timeout(left, rx).await {
                if let Err(e) = node.respond_remote(&caller, &r, result, None) {
                    tracing::debug!(%caller, error = %e, "cannot tell a caller on another node");
                }
            }
        });
        Ok(())
    }

    /// Sends a request from the actor `me` and returns its ref at once; the
    /// outcome comes later to `me`'s system lane. An important request to
    /// another node that cannot be delivered is answered at once with why;
    /// its outcome is counted as an important delivery when it comes.
    pub(crate) fn call_async(
        self: &Arc<Self>,
        me: &Arc<Process>,
        to: &Address,
        payload: Vec<u8>,
        timeout: Option<Duration>,
        delivery: Delivery,
    ) -> Result<Ref, DeliveryError> {
        self.check_size(payload.len())?;
        let timeout = timeout.unwrap_or(self.config.call_timeout);
        let route = self.route(to);
        let target = match route {
            Route::Local => Some(self.resolve(to)?),
            Route::Remote(node) => {
                self.cluster()?.check_up(node)?;
                None
            }
        };
        let r = Ref::new(timeout);
        {
            let mut outstanding = me.async_calls.lock();
            let cap = me.mailbox.capacity();
            if outstanding.len() >= cap {
                return Err(DeliveryError::NotAllowed(format!(
                    "{} has {cap} async calls outstanding, as many as its mailbox holds; \
                     handle some answers first",
                    me.pid
                )));
            }
            outstanding.insert(r.id);
        }
        let delivered = match (&target, route) {
            (Some(target), _) => self.deliver_call(target, &me.pid, None, r, payload),
            (None, Route::Remote(node)) => self.call_out(node, &me.pid, to, r, payload, delivery),
            (None, Route::Local) => Err(DeliveryError::UnknownProcess),
        };
        let rx = match delivered {
            Ok(rx) => rx,
            Err(e) => {
                me.async_calls.lock().remove(&r.id);
                if delivery.is_important() {
                    self.metrics.important_nacks.inc();
                }
                return Err(e);
            }
        };
        let node = self.clone();
        let me = me.clone();
        // The answer comes back under the trace of the call that asked.
        let trace = crate::core::trace::current_or_new();
        tokio::spawn(crate::core::trace::scope(trace, async move {
            let _open = OpenCall {
                calls: &node.calls,
                r: r.id,
            };
            let result = match tokio::time::timeout(timeout, rx).await {
                Ok(Ok(result)) => result,
                // The caller ended: `finish` closed its async calls.
                Ok(Err(_)) => return,
                Err(_) => Err(DeliveryError::Timeout),
            };
            if delivery.is_important() {
                node.metrics.important(&result);
            }
            if me.async_calls.lock().remove(&r.id) {
                me.mailbox
                    .push_system(Envelope::Info(Info::Response { r, result }));
            }
        }));
        Ok(r)
    }

    /// Forgets the async calls of an actor that ended: their answers are
    /// refused as `response-ignored`.
    pub(crate) fn close_async_calls(&self, me: &Process) {
        let refs: Vec<RefId> = me.async_calls.lock().drain().collect();
        for r in refs {
            self.calls.close(r);
        }
    }

    /// Registers the call and puts the request in the mailbox of `target`,
    /// or for a pool of the next worker with room; the process that takes
    /// it is the one that owes the answer. A `waiter` (the caller that will
    /// park) waits on that worker, and a worker that would close a cycle
    /// with it is passed over.
    fn deliver_call(
        &self,
        target: &Arc<Process>,
        from: &Pid,
        waiter: Option<&Process>,
        r: Ref,
        payload: Vec<u8>,
    ) -> Result<oneshot::Receiver<CallResult>, DeliveryError> {
        let mut env = Envelope::Call {
            from: from.clone(),
            r,
            payload,
        };
        let mut failure = DeliveryError::UnknownProcess;
        for w in target.candidates(Some(from)) {
            if let (Some(me), Some(_)) = (waiter, &target.pool) {
                if let Some(cycle) = self.wait_on(me, &w) {
                    failure = worst(failure, DeliveryError::NotAllowed(cycle));
                    continue;
                }
            }
            let rx = self.calls.open(r.id, from.clone(), w.clone());
            if !w.owe(r.id, false) {
                self.calls.close(r.id);
                continue;
            }
            match w.mailbox.push(env) {
                Ok(()) => {
                    target.forwarded();
                    return Ok(rx);
                }
                Err(refused) => {
                    self.calls.close(r.id);
                    env = refused.env;
                    failure = worst(failure, refused.error);
                }
            }
        }
        target.rejected();
        Err(failure)
    }

    /// Publishes that `me` waits on `target` in its call `r`, unless that
    /// would wait on itself or close a cycle.
    fn enter_wait<'a>(
        &self,
        me: &'a Process,
        target: &Process,
        r: RefId,
    ) -> Result<Waiting<'a>, DeliveryError> {
        if target.pid == me.pid {
            return Err(DeliveryError::NotAllowed(format!(
                "{} called itself; an actor handles one message at a time, so it can never answer its own call",
                me.pid
            )));
        }
        // Publish first, then walk: of two actors that call each other at
        // the same moment, at least one sees the cycle.
        let waiting = Waiting { me };
        me.park(r, None);
        if let Some(cycle) = self.wait_on(me, target) {
            return Err(DeliveryError::NotAllowed(cycle));
        }
        me.set_state(ActorState::WaitingOnCall);
        Ok(waiting)
    }

    /// Publishes that `me` waits on `target`, then walks the chain of
    /// waits from `target`: if it comes back to `me`, says which cycle the
    /// call would close.
    fn wait_on(&self, me: &Process, target: &Process) -> Option<String> {
        me.waiting_on.store(target.pid.id, Ordering::SeqCst);
        crate::messaging::cycles::local_cycle(&self.processes, me, target)
    }

    /// Waits for the answer to the call `r` that `me` (if an actor) is
    /// parked in. In a cluster, a call still waiting after
    /// [`PROBE_AFTER`] looks for a cycle through other nodes.
    async fn wait_parked(
        &self,
        me: Option<&Process>,
        r: RefId,
        mut rx: oneshot::Receiver<CallResult>,
        timeout: Duration,
    ) -> CallResult {
        let Some(me) = me.filter(|_| self.cluster.get().is_some() && timeout > PROBE_AFTER) else {
            return wait_answer(rx, timeout).await;
        };
        if let Ok(answer) = tokio::time::timeout(PROBE_AFTER, &mut rx).await {
            return answered(answer);
        }
        self.chase(me, r);
        wait_answer(rx, timeout - PROBE_AFTER).await
    }

    /// Answers `caller`'s call `r`, from wherever the answer comes.
    pub(crate) fn respond(&self, caller: &Pid, r: &Ref, result: CallResult) -> Result<(), DeliveryError> {
        if let Route::Remote(_) = self.route_pid(caller) {
            if let Ok(payload) = &result {
                if let Err(too_large) = self.check_size(payload.len()) {
                    self.respond_remote(caller, r, Err(too_large.clone()), None)?;
                    return Err(too_large);
                }
            }
            return self.respond_remote(caller, r, result, None);
        }
        self.check_local(caller)?;
        if let Ok(payload) = &result {
            if let Err(too_large) = self.check_size(payload.len()) {
                // The caller learns why no answer comes, and so does the responder.
                self.calls.answer(caller, r.id, Err(too_large.clone()))?;
                return Err(too_large);
            }
        }
        self.calls.answer(caller, r.id, result)
    }
}

/// Waits for a call's answer, at most `timeout`.
async fn wait_answer(rx: oneshot::Receiver<CallResult>, timeout: Duration) -> CallResult {
    match tokio::time::timeout(timeout, rx).await {
        Ok(answer) => answered(answer),
        Err(_) => Err(DeliveryError::Timeout),
    }
}

/// Polls `f` once, with the task's own waker: its output if it is ready.
/// Most direct calls are answered in one poll, and then no timer needs to
/// be set up for them.
async fn now_or_pending<F: std::future::Future>(mut f: std::pin::Pin<&mut F>) -> Option<F::Output> {
    let polled = std::future::poll_fn(|cx| std::task::Poll::Ready(f.as_mut().poll(cx))).await;
    match polled {
        std::task::Poll::Ready(out) => Some(out),
        std::task::Poll::Pending => None,
    }
}

/// What a caller gets from the channel of its call.
fn answered(answer: Result<CallResult, oneshot::error::RecvError>) -> CallResult {
    answer.unwrap_or_else(|_| {
        Err(DeliveryError::Terminated(
            "the call was dropped by the host".to_string(),
        ))
    })
}

/// Keeps a timer armed ahead of every call's deadline while the node
/// lives. Tokio wakes the thread parked on its timers whenever a timer is
/// armed that is due before all the others; without this, every call
/// arming its timeout on an otherwise empty timer wheel would pay for
/// that wake-up (a system call, on the caller's path).
pub(crate) fn keep_timer_armed(node: &Arc<NodeInner>) {
    let node = Arc::downgrade(node);
    tokio::spawn(async move {
        while node.strong_count() > 0 {
            tokio::time::sleep(TIMER_ANCHOR).await;
        }
    });
}

/// How often the timer [`keep_timer_armed`] keeps comes due: shorter than
/// the usual call timeout, long enough to cost nothing.
const TIMER_ANCHOR: Duration = Duration::from_millis(500);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::process::mailbox::Mailbox;

    fn pid(id: u64) -> Pid {
        Pid {
            node: Arc::from("here"),
            id,
            creation: 1,
        }
    }

    fn process(id: u64) -> Arc<Process> {
        let (mailbox, _rx) = Mailbox::new(4);
        Process::new(pid(id), "t".into(), mailbox).0
    }

    fn r() -> Ref {
        Ref::new(Duration::from_secs(5))
    }

    #[tokio::test]
    async fn an_answer_reaches_its_caller_once_and_pays_the_callee_s_debt() {
        let calls = Calls::default();
        let (caller, callee, r) = (pid(1), process(2), r());
        assert!(callee.owe(r.id, true));
        let rx = calls.open(r.id, caller.clone(), callee.clone());
        assert!(calls.is_alive(&r));
        assert_eq!(calls.answer(&caller, r.id, Ok(b"yes".to_vec())), Ok(()));
        assert_eq!(rx.await.expect("answered"), Ok(b"yes".to_vec()));
        assert!(
            callee.close_owed().is_empty(),
            "the callee owes nothing once it answered"
        );
        assert!(!calls.is_alive(&r));
        // A second answer finds no one waiting.
        assert_eq!(
            calls.answer(&caller, r.id, Ok(vec![])),
            Err(DeliveryError::ResponseIgnored)
        );
        assert_eq!(calls.late_answers(), 1);
    }

    #[tokio::test]
    async fn an_answer_for_another_caller_is_refused_and_the_caller_still_waits() {
        let calls = Calls::default();
        let (caller, r) = (pid(1), r());
        let mut rx = calls.open(r.id, caller.clone(), process(2));
        assert_eq!(
            calls.answer(&pid(3), r.id, Ok(b"forged".to_vec())),
            Err(DeliveryError::ResponseIgnored)
        );
        assert!(rx.try_recv().is_err(), "nothing reached the real caller");
        assert!(calls.is_alive(&r));
        assert_eq!(calls.answer(&caller, r.id, Ok(b"real".to_vec())), Ok(()));
        assert_eq!(rx.await.expect("answered"), Ok(b"real".to_vec()));
    }

    #[tokio::test]
    async fn a_node_going_down_fails_only_the_calls_it_owed() {
        let calls = Calls::default();
        let (a, b, c) = (r(), r(), r());
        let on_beta = calls.open_remote(a.id, pid(1), "beta");
        let on_gamma = calls.open_remote(b.id, pid(1), "gamma");
        let local = calls.open(c.id, pid(1), process(2));
        let down = DeliveryError::Terminated("node down".into());
        calls.fail_node("beta", down.clone());
        assert_eq!(on_beta.await.expect("failed"), Err(down));
        assert!(calls.is_alive(&b) && calls.is_alive(&c), "other calls still wait");
        drop((on_gamma, local));
    }

    #[tokio::test]
    async fn a_refused_call_ends_at_once_and_its_late_answer_is_ignored() {
        let calls = Calls::default();
        let (caller, callee, r) = (pid(1), process(2), r());
        assert!(callee.owe(r.id, true));
        let rx = calls.open(r.id, caller.clone(), callee.clone());
        assert_eq!(calls.owner(&caller, r.id).map(|p| p.pid.id), Some(2));
        assert_eq!(
            calls.owner(&pid(9), r.id).map(|p| p.pid.id),
            None,
            "only for its caller"
        );
        let cycle = DeliveryError::NotAllowed("call cycle".into());
        calls.refuse(&caller, r.id, cycle.clone());
        assert_eq!(rx.await.expect("refused"), Err(cycle));
        assert!(
            callee.close_owed().is_empty(),
            "a refused call is not owed any more"
        );
        assert_eq!(
            calls.answer(&caller, r.id, Ok(vec![])),
            Err(DeliveryError::ResponseIgnored)
        );
    }

    #[test]
    fn a_call_past_its_deadline_is_not_alive() {
        let calls = Calls::default();
        let r = Ref::new(Duration::ZERO);
        let _rx = calls.open(r.id, pid(1), process(2));
        assert!(!calls.is_alive(&r), "the caller stopped waiting at its deadline");
    }
}
