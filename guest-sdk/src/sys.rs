//! Where [`Context`](crate::Context) sends its requests to the host.
//!
//! Inside a component (wasm32) these are the `wactor:actor/host` imports
//! themselves, with no indirection. Anywhere else there is no host to
//! import from, so the same functions go to the fake host of
//! [`testing`](crate::testing), which runs an actor natively under `cargo
//! test`.

#[cfg(target_arch = "wasm32")]
pub(crate) use crate::__private::bindings::wactor::actor::host::*;

#[cfg(not(target_arch = "wasm32"))]
pub(crate) use crate::testing::imports::*;
