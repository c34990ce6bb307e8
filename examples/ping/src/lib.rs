//! `ping`: plays round trips with `pong` and times them.
//!
//! On start it registers itself as `ping`, looks up its peer (`pong` unless
//! the init arguments say otherwise), and plays `rounds` round trips: it
//! sends `Ping { n }`, the peer answers `Pong { n }`, and so on up to `n =
//! rounds`. It retries every 100 ms, without blocking, while the peer is not
//! registered yet, so the two can be started in any order.
//!
//! When an exchange finishes, ping logs how long it took, asks the peer with
//! a call how many pings it has counted, and answers every caller that was
//! waiting for the exchange.
//!
//! Calls ([`PingRequest`]):
//! * `Rounds`: the round trips completed so far, at once;
//! * `Run { rounds }`: starts another exchange and answers only when it is
//!   done (a deferred reply), with the total round trips completed.

use std::time::{Duration, Instant};

use pingpong_proto::{PingArgs, PingMsg, PingRequest, PongMsg, PongRequest};
use wactor_guest::{Actor, Call, Context, Outcome, Pid};

/// How long to wait before looking for the peer again.
const RETRY: Duration = Duration::from_millis(100);

enum Phase {
    /// No exchange running or planned.
    Idle,
    /// An exchange is planned; a `Start` is on its way.
    WaitingForPeer,
    /// Pings are flowing to `peer`.
    Running { peer: Pid, started: Instant },
}

struct Ping {
    peer: String,
    /// Round trips in the current (or planned) exchange.
    rounds: u64,
    /// Round trips completed over all exchanges.
    completed: u64,
    phase: Phase,
    /// Callers of `Run`, answered when the exchange finishes.
    waiters: Vec<Call>,
}

impl Ping {
    /// Starts the planned exchange if the peer is there, or tries again soon.
    fn start(&mut self, ctx: &mut Context) {
        let Some(peer) = ctx.whereis(&self.peer) else {
            ctx.info(format!("ping: waiting for {} to be registered", self.peer));
            self.retry_later(ctx);
            return;
        };
        ctx.info(format!(
            "ping: starting {} rounds with {}",
            self.rounds, self.peer
        ));
        self.phase = Phase::Running {
            peer: peer.clone(),
            started: Instant::now(),
        };
        self.ping(ctx, peer, 1);
    }

    fn retry_later(&mut self, ctx: &mut Context) {
        self.phase = Phase::WaitingForPeer;
        let me = ctx.self_pid();
        if let Err(e) = ctx.send_after(me, &PingMsg::Start, RETRY) {
            ctx.error(format!("ping: could not schedule a retry: {e}"));
        }
    }

    fn ping(&mut self, ctx: &mut Context, peer: Pid, n: u64) {
        if let Err(e) = ctx.send(&peer, &PongMsg::Ping { n }) {
            // The peer went away mid-exchange: start over once it is back.
            ctx.warn(format!("ping: lost {}: {e}; starting over", self.peer));
            self.retry_later(ctx);
        }
    }

    fn finish(&mut self, ctx: &mut Context, started: Instant) {
        self.phase = Phase::Idle;
        let ms = started.elapsed().as_millis();
        ctx.info(format!(
            "ping: finished {} round trips with {} in {ms} ms",
            self.rounds, self.peer
        ));
        match ctx.call::<_, u64>(&self.peer, &PongRequest::Count) {
            Ok(count) => ctx.info(format!("ping: {} counted {count} pings", self.peer)),
            Err(e) => ctx.warn(format!("ping: could not ask {} for its count: {e}", self.peer)),
        }
        for call in self.waiters.drain(..) {
            if let Err(e) = ctx.reply(&call, &self.completed) {
                ctx.debug(format!("ping: could not answer {}: {e}", call.from));
            }
        }
    }
}

impl Actor for Ping {
    type Args = PingArgs;
    type Message = PingMsg;
    type Request = PingRequest;
    type Reply = u64;

    fn init(ctx: &mut Context, args: PingArgs) -> Result<Self, String> {
        ctx.register("ping")
            .map_err(|e| format!("ping: cannot register the name \"ping\": {e}"))?;
        let me = ctx.self_pid();
        ctx.send(me, &PingMsg::Start)
            .map_err(|e| format!("ping: cannot start: {e}"))?;
        Ok(Ping {
            peer: args.peer,
            rounds: args.rounds,
            completed: 0,
            phase: Phase::WaitingForPeer,
            waiters: Vec::new(),
        })
    }

    fn handle_message(&mut self, ctx: &mut Context, _from: Pid, msg: PingMsg) {
        match msg {
            PingMsg::Start => {
                // Only the pending retry acts; a stray `Start` must not
                // begin a second exchange.
                if let Phase::WaitingForPeer = self.phase {
                    self.start(ctx);
                }
            }
            PingMsg::Pong { n } => {
                let Phase::Running { peer, started } = &self.phase else {
                    return; // a late answer from an abandoned exchange
                };
                let (peer, started) = (peer.clone(), *started);
                self.completed += 1;
                if n < self.rounds {
                    self.ping(ctx, peer, n + 1);
                } else {
                    self.finish(ctx, started);
                }
            }
        }
    }

    fn handle_call(&mut self, ctx: &mut Context, call: Call, req: PingRequest) -> Outcome<u64> {
        match req {
            PingRequest::Rounds => Outcome::Reply(self.completed),
            PingRequest::Run { rounds: 0 } => Outcome::Reply(self.completed),
            PingRequest::Run { rounds } => {
                match self.phase {
                    Phase::Idle => {
                        self.rounds = rounds;
                        self.waiters.push(call);
                        self.start(ctx);
                    }
                    // Not started yet: the new request decides the length.
                    Phase::WaitingForPeer => {
                        self.rounds = rounds;
                        self.waiters.push(call);
                    }
                    // Joins the exchange already running.
                    Phase::Running { .. } => self.waiters.push(call),
                }
                Outcome::Defer
            }
        }
    }
}

wactor_guest::export_actor!(Ping);
