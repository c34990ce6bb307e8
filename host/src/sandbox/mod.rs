//! The sandbox layer: turning a component into a running, limited instance.
//!
//! Owns the engine and its settings ([`engine`]), the compile cache on disk
//! ([`cache`]), the conversion of `wasm32-wasip1` core modules into
//! components ([`convert`]), the bindings generated from `wit/actor.wit`
//! ([`bindings`]), the `host` imports a guest calls (`imports`), guest
//! stdout/stderr (`stdio`), and the memory an instance runs in: linear
//! memories (`memories`) and fiber stacks (`stacks`) mapped by `mappings`.
//!
//! May use: [`core`](crate::core).

pub mod bindings;
pub mod cache;
pub mod convert;
pub mod engine;
pub(crate) mod imports;
pub(crate) mod mappings;
pub(crate) mod memories;
pub(crate) mod stacks;
pub(crate) mod stdio;
