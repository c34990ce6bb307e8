//! `unbatched`: a component built against `wactor:actor@0.2.0` (its
//! `wit/actor.wit` is that version of the contract), with plain
//! `wit-bindgen` instead of the guest SDK: it has no `handle-messages`
//! export and does not import `batch-next`.
//!
//! The host's tests load it to check that a component of the earlier minor
//! version still loads and gets its messages one `handle-message` at a time,
//! in order. It keeps the payloads of the messages it handled; any call
//! answers with all of them, concatenated.

use std::cell::RefCell;

wit_bindgen::generate!({
    path: "wit",
    world: "actor",
});

thread_local! {
    static RECEIVED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

struct Unbatched;

impl Guest for Unbatched {
    fn init(_args: Vec<u8>) -> Result<(), String> {
        Ok(())
    }

    fn handle_message(_from: Pid, message: Vec<u8>) {
        RECEIVED.with(|r| r.borrow_mut().extend_from_slice(&message));
    }

    fn handle_call(_from: Pid, _r: Ref, _request: Vec<u8>) -> CallOutcome {
        CallOutcome::Reply(RECEIVED.with(|r| r.borrow().clone()))
    }

    fn handle_info(_info: Info) {}

    fn terminate(_reason: String) {}

    fn snapshot() -> Option<State> {
        None
    }

    fn restore(_state: State) -> Result<(), String> {
        Ok(())
    }
}

export!(Unbatched);
