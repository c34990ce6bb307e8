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

#[cfg(test)]
mod tests {
    use wactor_guest::testing::TestActor;
    use wactor_guest::Error;

    use super::*;

    fn pong() -> TestActor<Pong> {
        TestActor::start(&()).unwrap_or_else(|e| panic!("init: {e}"))
    }

    #[test]
    fn it_registers_and_answers_each_ping_to_its_sender() {
        let mut t = pong();
        assert_eq!(t.whereis("pong"), Some(t.pid()));
        let a = t.new_pid();
        let b = t.new_pid();
        t.send_from(&a, &PongMsg::Ping { n: 1 });
        t.send_from(&b, &PongMsg::Ping { n: 7 });
        let answers: Vec<(wactor_guest::Address, PingMsg)> = t
            .take_sent::<PingMsg>()
            .into_iter()
            .map(|s| (s.to, s.msg))
            .collect();
        assert_eq!(
            answers,
            [
                (a.into(), PingMsg::Pong { n: 1 }),
                (b.into(), PingMsg::Pong { n: 7 })
            ]
        );
        assert_eq!(t.call(&PongRequest::Count).expect_reply(), 2);
    }

    #[test]
    fn a_ping_whose_answer_cannot_be_sent_still_counts() {
        let mut t = pong();
        let full = t.new_pid();
        t.fail_sends_to(&full, Error::MailboxFull);
        t.send_from(&full, &PongMsg::Ping { n: 1 });
        assert!(t.take_sent::<PingMsg>().is_empty());
        assert!(t
            .logs()
            .iter()
            .any(|(_, line)| line.contains("could not answer ping 1")));
        assert_eq!(t.call(&PongRequest::Count).expect_reply(), 1);
    }

    #[test]
    fn a_second_pong_cannot_start() {
        let mut t = TestActor::<Pong>::new();
        let first = t.new_pid();
        t.register_name("pong", &first);
        let failed = t.init(&()).unwrap_err();
        assert!(failed.contains("cannot register the name \"pong\""), "{failed}");
    }
}
