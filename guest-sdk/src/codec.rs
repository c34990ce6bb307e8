//! How values become payload bytes and back.
//!
//! Every path that moves a value through the host (init arguments, messages,
//! requests, replies, spawn arguments, timer messages) goes through the two
//! traits here, so there is exactly one encoding:
//!
//! * any `serde` type is [postcard](https://docs.rs/postcard), a compact
//!   binary format that actors in other languages can read too;
//! * [`Raw`] is its bytes, unchanged, for actors that speak a format of their
//!   own.
//!
//! Decoding is strict: bytes left over after a value are an error, which
//! catches most mix-ups between message types.

use std::any::type_name;
use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Error;

/// A value that can be turned into payload bytes.
///
/// Implemented for every [`Serialize`] type (postcard) and for [`Raw`].
pub trait Encode {
    /// The payload bytes for this value.
    fn encode(&self) -> Result<Cow<'_, [u8]>, Error>;
}

/// A value that can be read back from payload bytes.
///
/// Implemented for every [`DeserializeOwned`] type (postcard) and for
/// [`Raw`].
pub trait Decode: Sized {
    /// Reads a value from a whole payload.
    fn decode(bytes: Vec<u8>) -> Result<Self, Error>;
}

impl<T: Serialize + ?Sized> Encode for T {
    fn encode(&self) -> Result<Cow<'_, [u8]>, Error> {
        postcard::to_allocvec(self)
            .map(Cow::Owned)
            .map_err(|e| Error::Decode(format!("could not encode {}: {e}", type_name::<T>())))
    }
}

impl<T: DeserializeOwned> Decode for T {
    fn decode(bytes: Vec<u8>) -> Result<Self, Error> {
        let fail = |why: &dyn std::fmt::Display| {
            Error::Decode(format!(
                "could not decode {} from {} bytes: {why}",
                type_name::<T>(),
                bytes.len()
            ))
        };
        match postcard::take_from_bytes::<T>(&bytes) {
            Ok((value, [])) => Ok(value),
            Ok((_, rest)) => Err(fail(&format_args!("{} trailing bytes", rest.len()))),
            Err(e) => Err(fail(&e)),
        }
    }
}

/// A payload passed through as it is, without postcard.
///
/// Use it as an actor's `Args`, `Message`, `Request` or `Reply` type, or as
/// the value given to [`Context::send`](crate::Context::send) and friends,
/// when the bytes are already in the format the other side expects (JSON
/// from an HTTP client, a protocol of your own, an echo).
///
/// ```
/// use wactor_guest::Raw;
///
/// let raw = Raw::from(&b"hello"[..]);
/// assert_eq!(raw.as_ref(), b"hello");
/// assert_eq!(raw.into_inner(), b"hello".to_vec());
/// ```
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Raw(pub Vec<u8>);

impl Raw {
    /// The bytes.
    pub fn into_inner(self) -> Vec<u8> {
        self.0
    }
}

impl Encode for Raw {
    fn encode(&self) -> Result<Cow<'_, [u8]>, Error> {
        Ok(Cow::Borrowed(&self.0))
    }
}

impl Decode for Raw {
    fn decode(bytes: Vec<u8>) -> Result<Self, Error> {
        Ok(Raw(bytes))
    }
}

impl From<Vec<u8>> for Raw {
    fn from(bytes: Vec<u8>) -> Self {
        Raw(bytes)
    }
}

impl From<&[u8]> for Raw {
    fn from(bytes: &[u8]) -> Self {
        Raw(bytes.to_vec())
    }
}

impl From<Raw> for Vec<u8> {
    fn from(raw: Raw) -> Self {
        raw.0
    }
}

impl AsRef<[u8]> for Raw {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl std::ops::Deref for Raw {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        &self.0
    }
}
