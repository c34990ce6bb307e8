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

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use pingpong_proto::PongRequest;
    use wactor_guest::testing::{Event, TestActor};
    use wactor_guest::{Address, Outcome};

    use super::*;

    fn args(rounds: u64) -> PingArgs {
        PingArgs {
            peer: "pong".into(),
            rounds,
        }
    }

    /// A ping whose peer `pong` is registered before it starts.
    fn with_pong(rounds: u64) -> (TestActor<Ping>, Pid) {
        let mut t = TestActor::<Ping>::new();
        let pong = t.new_pid();
        t.register_name("pong", &pong);
        t.init(&args(rounds)).unwrap_or_else(|e| panic!("init: {e}"));
        (t, pong)
    }

    fn pings_to(t: &mut TestActor<Ping>, pong: &Pid) -> Vec<u64> {
        t.take_sent_to::<PongMsg>(pong)
            .into_iter()
            .map(|s| match s.msg {
                PongMsg::Ping { n } => n,
            })
            .collect()
    }

    fn retries(t: &TestActor<Ping>) -> usize {
        t.events()
            .iter()
            .filter(|e| matches!(e, Event::TimerSet { delay, .. } if *delay == RETRY))
            .count()
    }

    #[test]
    fn it_registers_and_waits_for_its_peer_retrying_every_100_ms() {
        let mut t = TestActor::<Ping>::start(&args(3)).unwrap_or_else(|e| panic!("init: {e}"));
        assert_eq!(t.whereis("ping"), Some(t.pid()));
        assert_eq!(retries(&t), 1);
        t.advance(Duration::from_millis(100));
        assert_eq!(retries(&t), 2, "it looked again and set another retry");
        let pong = t.new_pid();
        t.register_name("pong", &pong);
        t.advance(Duration::from_millis(99));
        assert!(pings_to(&mut t, &pong).is_empty(), "not before the retry is due");
        t.advance(Duration::from_millis(1));
        assert_eq!(pings_to(&mut t, &pong), [1]);
    }

    #[test]
    fn it_plays_its_rounds_then_asks_its_peer_for_the_count() {
        let (mut t, pong) = with_pong(2);
        t.on_call("pong").reply(&2u64);
        assert_eq!(pings_to(&mut t, &pong), [1]);
        t.send_from(&pong, &PingMsg::Pong { n: 1 });
        assert_eq!(pings_to(&mut t, &pong), [2]);
        t.send_from(&pong, &PingMsg::Pong { n: 2 });
        assert!(pings_to(&mut t, &pong).is_empty(), "two rounds, no third ping");
        let calls = t.take_calls::<PongRequest>();
        assert_eq!(calls.len(), 1);
        assert_eq!(
            (calls[0].to.clone(), calls[0].request.clone()),
            (Address::Name("pong".into()), PongRequest::Count)
        );
        assert!(t
            .logs()
            .iter()
            .any(|(_, line)| line == "ping: pong counted 2 pings"));
        assert_eq!(t.call(&PingRequest::Rounds).expect_reply(), 2);
    }

    #[test]
    fn run_is_answered_when_its_exchange_is_done() {
        let (mut t, pong) = with_pong(1);
        t.on_call("pong").always().reply(&0u64);
        t.send_from(&pong, &PingMsg::Pong { n: 1 });
        pings_to(&mut t, &pong);

        let run = t.call(&PingRequest::Run { rounds: 2 });
        assert_eq!(run.outcome, Outcome::Defer);
        // A second caller joins the exchange already running.
        let joined = t.call(&PingRequest::Run { rounds: 5 });
        t.send_from(&pong, &PingMsg::Pong { n: 1 });
        assert_eq!(t.response::<u64>(&run.call), None);
        t.send_from(&pong, &PingMsg::Pong { n: 2 });
        assert_eq!(t.response::<u64>(&run.call), Some(Ok(3)));
        assert_eq!(t.response::<u64>(&joined.call), Some(Ok(3)));
        assert_eq!(pings_to(&mut t, &pong), [1, 2]);
        assert_eq!(t.call(&PingRequest::Run { rounds: 0 }).expect_reply(), 3);
    }

    #[test]
    fn a_stray_start_or_a_late_pong_changes_nothing() {
        let (mut t, pong) = with_pong(2);
        t.on_call("pong").always().reply(&0u64);
        pings_to(&mut t, &pong);
        let me = t.pid();
        t.send_from(&me, &PingMsg::Start);
        assert!(pings_to(&mut t, &pong).is_empty(), "no second exchange");
        t.send_from(&pong, &PingMsg::Pong { n: 1 });
        t.send_from(&pong, &PingMsg::Pong { n: 2 });
        t.send_from(&pong, &PingMsg::Pong { n: 2 });
        assert_eq!(
            t.call(&PingRequest::Rounds).expect_reply(),
            2,
            "the late pong is ignored"
        );
    }

    #[test]
    fn losing_the_peer_mid_exchange_starts_over_with_its_successor() {
        let (mut t, pong) = with_pong(3);
        pings_to(&mut t, &pong);
        t.exit(&pong, "crashed");
        t.send_from(&pong, &PingMsg::Pong { n: 1 });
        assert!(t
            .logs()
            .iter()
            .any(|(_, line)| line.starts_with("ping: lost pong")));
        let successor = t.new_pid();
        t.register_name("pong", &successor);
        t.advance(RETRY);
        assert_eq!(pings_to(&mut t, &successor), [1]);
    }

    #[test]
    fn a_second_ping_cannot_start() {
        let mut t = TestActor::<Ping>::new();
        let first = t.new_pid();
        t.register_name("ping", &first);
        let failed = t.init(&args(1)).unwrap_err();
        assert!(failed.contains("cannot register the name \"ping\""), "{failed}");
    }
}
