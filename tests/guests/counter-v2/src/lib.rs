//! `counter-v2`: the next version of `examples/counter`, for the hot reload
//! tests. Same state shape (so the count is handed over as it is), but it
//! reports the count differently: `Get` and `Increment` answer
//! `count + 1_000_000`, which tells a test which version answered.

use serde::{Deserialize, Serialize};
use wactor_guest::{Actor, Call, Context, Outcome};

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterRequest {
    Increment,
    Get,
}

/// The same fields as `examples/counter`'s state: postcard reads one as
/// the other.
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
        Outcome::Reply(self.count + 1_000_000)
    }
}

wactor_guest::export_actor!(Counter);
