//! `counter-badrestore`: a version of `examples/counter` that traps while
//! restoring its state, for the rollback test: the actor must stay on the
//! version it had.

use serde::{Deserialize, Serialize};
use wactor_guest::{Actor, Call, Context, Outcome};

#[derive(Serialize, Deserialize, Debug, Clone, Copy, PartialEq, Eq)]
pub enum CounterRequest {
    Increment,
    Get,
}

#[derive(Default, Serialize, Deserialize)]
pub struct Counter {
    count: u64,
}

impl Actor for Counter {
    type Args = ();
    type Message = ();
    type Request = CounterRequest;
    type Reply = u64;

    /// Never the version it is handed, so `migrate` runs and traps.
    const STATE_VERSION: u32 = 99;

    fn init(_ctx: &mut Context, _args: ()) -> Result<Self, String> {
        Ok(Counter::default())
    }

    fn migrate(_ctx: &mut Context, from_version: u32, _state: &[u8]) -> Result<Self, String> {
        panic!("counter-badrestore: restoring state version {from_version} fails on purpose");
    }

    fn handle_call(&mut self, _ctx: &mut Context, _call: Call, _req: CounterRequest) -> Outcome<u64> {
        Outcome::Reply(self.count + 99_000_000)
    }
}

wactor_guest::export_actor!(Counter);
