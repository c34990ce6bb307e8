//! `missing-export`: a component of the `actor` world's package and
//! version that leaves out one export, `handle-call` (its `wit/actor.wit`
//! is the contract with that export removed).
//!
//! The host's tests load it to check that such a component is rejected
//! with an error naming what is missing, instead of failing at the first
//! call.

wit_bindgen::generate!({
    path: "wit",
    world: "actor",
});

struct Partial;

impl Guest for Partial {
    fn init(_args: Vec<u8>) -> Result<(), String> {
        Ok(())
    }

    fn handle_message(_from: Pid, _message: Vec<u8>) {}

    fn handle_info(_info: Info) {}

    fn terminate(_reason: String) {}

    fn snapshot() -> Option<State> {
        None
    }

    fn restore(_state: State) -> Result<(), String> {
        Ok(())
    }
}

export!(Partial);
