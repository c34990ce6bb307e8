//! Turning a `wasm32-wasip1` core module into a component.
//!
//! A guest built with the SDK for `wasm32-wasip1` is a core module, not a
//! component, but wit-bindgen has embedded the `actor` world it was built
//! against in custom sections named `component-type…`. From that type
//! information and the WASI preview-1 *reactor* adapter (a core module that
//! implements the preview-1 imports on top of the preview-2 interfaces the
//! host provides), `wit-component` builds the same component a
//! `wasm32-wasip2` build would have produced. The result is then compiled,
//! checked and cached like any other component, so after conversion the
//! actor is indistinguishable from its `wasm32-wasip2` twin, sandbox
//! included: the adapter reaches WASI only through the host's preview-2
//! imports, which grant nothing by default.
//!
//! A core module without that type information (plain C, or Rust not built
//! against the SDK or the WIT) cannot be converted: nothing says which of its
//! functions are the actor's exports. It is refused with
//! [`ConvertError::NoTypeInformation`].

pub use crate::core::error::ConvertError;
use wasi_preview1_component_adapter_provider::{
    WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME, WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
};
use wasmparser::{Parser, Payload};
use wit_component::ComponentEncoder;

/// The prefix of the custom sections in which wit-bindgen embeds the world
/// a core module was built against.
const COMPONENT_TYPE_SECTION: &str = "component-type";

/// True if `module` (a core module) carries embedded component type
/// information, as every wit-bindgen guest does.
pub fn has_type_information(module: &[u8]) -> Result<bool, ConvertError> {
    for payload in Parser::new(0).parse_all(module) {
        match payload.map_err(|e| ConvertError::Invalid(e.to_string()))? {
            Payload::CustomSection(s) if s.name().starts_with(COMPONENT_TYPE_SECTION) => return Ok(true),
            _ => {}
        }
    }
    Ok(false)
}

/// Turns the core module `module` into a component, with the WASI
/// preview-1 reactor adapter. CPU-bound: call it off the async threads.
pub fn to_component(module: &[u8]) -> Result<Vec<u8>, ConvertError> {
    if !has_type_information(module)? {
        return Err(ConvertError::NoTypeInformation);
    }
    let encode = || -> anyhow::Result<Vec<u8>> {
        ComponentEncoder::default()
            .module(module)?
            .adapter(
                WASI_SNAPSHOT_PREVIEW1_ADAPTER_NAME,
                WASI_SNAPSHOT_PREVIEW1_REACTOR_ADAPTER,
            )?
            .validate(true)
            .encode()
    };
    encode().map_err(|e| ConvertError::Encode(format!("{e:#}")))
}
