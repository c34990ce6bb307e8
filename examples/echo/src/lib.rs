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
