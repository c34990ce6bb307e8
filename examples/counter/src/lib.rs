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

#[cfg(test)]
mod tests {
    use wactor_guest::testing::TestActor;
    use wactor_guest::Outcome;

    use super::*;

    fn counter() -> TestActor<Counter> {
        TestActor::start(&()).unwrap_or_else(|e| panic!("init: {e}"))
    }

    #[test]
    fn increment_counts_up_and_get_reads_without_counting() {
        let mut t = counter();
        assert_eq!(t.call(&CounterRequest::Get).expect_reply(), 0);
        assert_eq!(t.call(&CounterRequest::Increment).expect_reply(), 1);
        assert_eq!(t.call(&CounterRequest::Increment).expect_reply(), 2);
        assert_eq!(t.call(&CounterRequest::Get).expect_reply(), 2);
        assert_eq!(t.call(&CounterRequest::Get).expect_reply(), 2);
    }

    #[test]
    fn the_count_survives_a_hot_upgrade_and_hibernation() {
        let mut t = counter();
        for _ in 0..3 {
            t.call(&CounterRequest::Increment);
        }
        t.upgrade().expect("upgrade");
        assert_eq!(t.call(&CounterRequest::Get).expect_reply(), 3);

        // Hibernation: the state is all that is kept; a new instance wakes
        // from it.
        let state = t.snapshot().expect("the counter hands its state over");
        let mut woken = TestActor::<Counter>::new();
        woken.restore(state).expect("restore");
        assert_eq!(woken.call(&CounterRequest::Increment).expect_reply(), 4);
    }

    #[test]
    fn it_answers_in_json_too() {
        let mut t = counter();
        assert_eq!(t.call_json(r#""Increment""#).expect_reply(), "1");
        assert_eq!(t.call_json(r#""Get""#).expect_reply(), "1");
        let bad = t.call_json(r#""Decrement""#);
        assert_eq!(bad.outcome, Outcome::Defer);
        let refused = t.response::<u64>(&bad.call);
        assert!(
            matches!(&refused, Some(Err(wactor_guest::Error::NotAllowed(why))) if why.starts_with("bad request")),
            "{refused:?}"
        );
    }
}
