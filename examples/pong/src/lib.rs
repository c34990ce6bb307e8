//! `pong`: answers every `Ping { n }` with `Pong { n }`.
//!
//! It registers itself as `pong` so that `ping` can find it by name, and
//! counts the pings it receives; `PongRequest::Count` answers that count.
//! Starting a second `pong` on the same host fails in `init`, because the
//! name is taken.
//!
//! The answers are messages (`send`), not call replies: the two actors never
//! wait on each other, which is what makes the exchange fast.

use pingpong_proto::{PingMsg, PongMsg, PongRequest};
use wactor_guest::{Actor, Call, Context, Outcome, Pid};

struct Pong {
    pings: u64,
}

impl Actor for Pong {
    type Args = ();
    type Message = PongMsg;
    type Request = PongRequest;
    type Reply = u64;

    fn init(ctx: &mut Context, _args: ()) -> Result<Self, String> {
        ctx.register("pong")
            .map_err(|e| format!("pong: cannot register the name \"pong\": {e}"))?;
        Ok(Pong { pings: 0 })
    }

    fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: PongMsg) {
        let PongMsg::Ping { n } = msg;
        self.pings += 1;
        if let Err(e) = ctx.send(&from, &PingMsg::Pong { n }) {
            ctx.warn(format!("pong: could not answer ping {n} from {from}: {e}"));
        }
    }

    fn handle_call(&mut self, _ctx: &mut Context, _call: Call, req: PongRequest) -> Outcome<u64> {
        match req {
            PongRequest::Count => Outcome::Reply(self.pings),
        }
    }
}

wactor_guest::export_actor!(Pong);
