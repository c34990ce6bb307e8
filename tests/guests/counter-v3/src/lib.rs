//! `counter-v3`: a version of `examples/counter` whose state changed shape,
//! for the hot reload tests. Its state is version 2 (a count and a history
//! length); it migrates version 1 (the plain count of `counter` and
//! `counter-v2`). Replies are `count + 3_000_000`.

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
    /// Increments seen by this version.
    increments_here: u64,
}

/// The state of version 1.
#[derive(Deserialize)]
struct V1 {
    count: u64,
}

impl Actor for Counter {
    type Args = ();
    type Message = ();
    type Request = CounterRequest;
    type Reply = u64;

    const STATE_VERSION: u32 = 2;

    fn init(_ctx: &mut Context, _args: ()) -> Result<Self, String> {
        Ok(Counter::default())
    }

    fn migrate(_ctx: &mut Context, from_version: u32, state: &[u8]) -> Result<Self, String> {
        match from_version {
            1 => {
                let old: V1 = postcard_decode(state)?;
                Ok(Counter {
                    count: old.count,
                    increments_here: 0,
                })
            }
            v => Err(format!("counter-v3 cannot migrate state version {v}")),
        }
    }

    fn handle_call(&mut self, _ctx: &mut Context, _call: Call, req: CounterRequest) -> Outcome<u64> {
        if let CounterRequest::Increment = req {
            self.count += 1;
            self.increments_here += 1;
        }
        Outcome::Reply(self.count + 3_000_000)
    }
}

/// The SDK's codec is postcard, the encoding of handed-over state too.
fn postcard_decode<T: serde::de::DeserializeOwned>(bytes: &[u8]) -> Result<T, String> {
    use wactor_guest::Decode;
    T::decode(bytes.to_vec()).map_err(|e| e.to_string())
}

wactor_guest::export_actor!(Counter);
