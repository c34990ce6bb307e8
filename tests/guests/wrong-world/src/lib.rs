//! `wrong-world`: a valid component that does not export the actor world.
//!
//! The host's tests load it to check that a component for another world is
//! rejected with a clear error instead of being run.

wit_bindgen::generate!({
    path: "wit",
    world: "other",
});

struct Other;

impl Guest for Other {
    fn run() -> u32 {
        42
    }
}

export!(Other);
