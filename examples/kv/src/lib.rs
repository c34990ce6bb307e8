//! `kv`: an in-memory key-value store, one per actor.
//!
//! Keys are strings, values are bytes. Every request answers with
//! `Option<Vec<u8>>`:
//!
//! * `Get(key)`: the value, if any;
//! * `Put(key, value)`: the value it replaced, if any;
//! * `Delete(key)`: the value it removed, if any.
//!
//! The map lives in the actor's state, so it lasts as long as the actor.
//! Wire format (postcard): a request is [`KvRequest`], the reply is
//! `Option<Vec<u8>>`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use wactor_guest::{Actor, Call, Context, Outcome};

/// An operation on the store.
#[derive(Serialize, Deserialize, Debug, Clone, PartialEq, Eq)]
pub enum KvRequest {
    /// Read a key.
    Get(String),
    /// Write a key.
    Put(String, Vec<u8>),
    /// Remove a key.
    Delete(String),
}

struct Kv {
    // Ordered, so that a future listing or debugging dump is deterministic.
    map: BTreeMap<String, Vec<u8>>,
}

impl Actor for Kv {
    type Args = ();
    type Message = ();
    type Request = KvRequest;
    type Reply = Option<Vec<u8>>;

    fn init(_ctx: &mut Context, _args: ()) -> Result<Self, String> {
        Ok(Kv { map: BTreeMap::new() })
    }

    fn handle_call(&mut self, _ctx: &mut Context, _call: Call, req: KvRequest) -> Outcome<Option<Vec<u8>>> {
        Outcome::Reply(match req {
            KvRequest::Get(key) => self.map.get(&key).cloned(),
            KvRequest::Put(key, value) => self.map.insert(key, value),
            KvRequest::Delete(key) => self.map.remove(&key),
        })
    }
}

wactor_guest::export_actor!(Kv);
