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

#[cfg(test)]
mod tests {
    use wactor_guest::testing::TestActor;

    use super::*;

    fn kv() -> TestActor<Kv> {
        TestActor::start(&()).unwrap_or_else(|e| panic!("init: {e}"))
    }

    fn put(t: &mut TestActor<Kv>, key: &str, value: &[u8]) -> Option<Vec<u8>> {
        t.call(&KvRequest::Put(key.into(), value.to_vec())).expect_reply()
    }

    #[test]
    fn put_get_and_delete_answer_the_value_concerned() {
        let mut t = kv();
        assert_eq!(t.call(&KvRequest::Get("a".into())).expect_reply(), None);
        assert_eq!(put(&mut t, "a", b"1"), None);
        assert_eq!(
            put(&mut t, "a", b"2"),
            Some(b"1".to_vec()),
            "the value it replaced"
        );
        assert_eq!(
            t.call(&KvRequest::Get("a".into())).expect_reply(),
            Some(b"2".to_vec())
        );
        assert_eq!(
            t.call(&KvRequest::Delete("a".into())).expect_reply(),
            Some(b"2".to_vec())
        );
        assert_eq!(t.call(&KvRequest::Delete("a".into())).expect_reply(), None);
        assert_eq!(t.call(&KvRequest::Get("a".into())).expect_reply(), None);
    }

    #[test]
    fn the_map_lasts_as_long_as_the_actor_and_not_across_an_upgrade() {
        let mut t = kv();
        put(&mut t, "k", b"v");
        // The state is not serde: nothing is handed over, and the new
        // version starts from init.
        assert_eq!(t.snapshot(), None);
        t.upgrade().expect("upgrade");
        assert_eq!(t.call(&KvRequest::Get("k".into())).expect_reply(), None);
    }
}
