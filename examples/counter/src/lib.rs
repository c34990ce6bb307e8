//! `counter`: a number that goes up.
//!
//! `Increment` adds one and answers the new count; `Get` answers the count.
//! The count lives in the actor's state, so it shows whether state survives
//! what happens to the actor (a reload of its behaviour, for instance).
//!
//! Wire format (postcard): a request is [`CounterRequest`], the reply is a
//! `u64`.

use serde::{Deserialize, Serialize};
use wactor_guest::{Actor, Call, Context, Outcome};

/// What to do with the counter.
#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterRequest {
    /// Add one; answers the new count.
    Increment,
    /// Answers the count.
    Get,
}

/// The state. It is serde, so the guest SDK hands it to the next version
/// of the actor on a hot upgrade: the count survives a reload.
#[derive(Default, Serialize, Deserialize)]
pub struct Counter {
    count: u64,
}

impl Actor for Counter {
    type Args = ();
    type Message = ();
    type Request = CounterRequest;
    type Reply = u64;

    fn init(_ctx: &mut Context, _args: ()) -> Result<Self, String> {
        Ok(Counter::default())
    }

    fn handle_call(&mut self, _ctx: &mut Context, _call: Call, req: CounterRequest) -> Outcome<u64> {
        if let CounterRequest::Increment = req {
            self.count += 1;
        }
        Outcome::Reply(self.count)
    }
}

wactor_guest::export_actor!(Counter);
