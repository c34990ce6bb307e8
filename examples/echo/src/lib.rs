//! `echo`: answers every call with the request bytes, unchanged.
//!
//! The smallest useful actor, and the one to reach for when checking that a
//! host, a network path or a client works. It speaks raw bytes
//! ([`Raw`]) rather than postcard, so any client can call it with any
//! payload, including an empty one, and gets exactly those bytes back.
//!
//! Messages (plain sends) have no answer; echo logs their length at info.

use wactor_guest::{Actor, Call, Context, Outcome, Pid, Raw};

struct Echo;

impl Actor for Echo {
    type Args = ();
    type Message = Raw;
    type Request = Raw;
    type Reply = Raw;

    fn init(_ctx: &mut Context, _args: ()) -> Result<Self, String> {
        Ok(Echo)
    }

    fn handle_message(&mut self, ctx: &mut Context, from: Pid, msg: Raw) {
        ctx.info(format!("echo: message of {} bytes from {from}", msg.len()));
    }

    fn handle_call(&mut self, _ctx: &mut Context, _call: Call, req: Raw) -> Outcome<Raw> {
        Outcome::Reply(req)
    }
}

wactor_guest::export_actor!(Echo);

#[cfg(test)]
mod tests {
    use wactor_guest::testing::TestActor;
    use wactor_guest::Level;

    use super::*;

    #[test]
    fn a_call_comes_back_byte_for_byte_in_either_encoding() {
        let mut t = TestActor::<Echo>::start(&()).unwrap_or_else(|e| panic!("init: {e}"));
        let bytes = Raw(vec![0, 159, 146, 150, 255]);
        assert_eq!(t.call(&bytes).expect_reply(), bytes);
        assert_eq!(t.call(&Raw(Vec::new())).expect_reply(), Raw(Vec::new()));
        // Raw is not JSON-decoded: any text comes back as it is.
        assert_eq!(t.call_json("not json {").expect_reply(), "not json {");
    }

    #[test]
    fn a_message_is_logged_with_its_length_and_sender() {
        let mut t = TestActor::<Echo>::start(&()).unwrap_or_else(|e| panic!("init: {e}"));
        let from = t.new_pid();
        t.send_from(&from, &Raw(b"hello".to_vec()));
        assert_eq!(
            t.logs(),
            [(Level::Info, format!("echo: message of 5 bytes from {from}"))]
        );
        assert!(t.take_sent::<Raw>().is_empty(), "messages get no answer");
    }
}
