//! How values become payload bytes and back.
//!
//! Every path that moves a value through the host (init arguments, messages,
//! requests, replies, spawn arguments, timer messages) goes through the two
//! traits here. The native encoding is the only one for everything but
//! calls:
//!
//! * any `serde` type is [postcard](https://docs.rs/postcard), a compact
//!   binary format that actors in other languages can read too;
//! * [`Raw`] is its bytes, unchanged, for actors that speak a format of their
//!   own.
//!
//! A call can also come in JSON: its [`Ref`](crate::Ref) says so
//! ([`Ref::encoding`](crate::Ref::encoding)), as for `wactor call --json`,
//! an HTTP request with `Content-Type: application/json`, or an actor in
//! another language. The SDK then decodes the request and encodes the reply
//! (now or deferred, with [`Context::reply`](crate::Context::reply)) with
//! serde_json, and [`Raw`] passes through unchanged either way. The JSON
//! form of a type is serde's default, externally tagged:
//!
//! | Rust | JSON |
//! | --- | --- |
//! | `Divide(7, 2)` (tuple variant) | `{"Divide":[7,2]}` |
//! | `Add(5)` (newtype variant) | `{"Add":5}` |
//! | `Get` (unit variant) | `"Get"` |
//! | `Move { x: 1 }` (struct variant) | `{"Move":{"x":1}}` |
//! | `Point { x: 1, y: 2 }` (struct) | `{"x":1,"y":2}` |
//! | `Ok(3)`, `Err(CalcError::DivisionByZero)` | `{"Ok":3}`, `{"Err":"DivisionByZero"}` |
//! | `Option`: `None`, `Some(3)` | `null`, `3` |
//! | `Vec<u8>`, tuples | arrays of numbers, arrays |
//!
//! (serde attributes such as `#[serde(tag = "type")]` change it, as they
//! would for any serde_json user.)
//!
//! Decoding is strict: bytes left over after a value are an error, which
//! catches most mix-ups between message types.
//!
//! ```
//! use wactor_guest::codec::{Decode, Encode, Encoding};
//!
//! #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
//! enum Calc { Divide(i64, i64) }
//!
//! let json = Calc::Divide(7, 2).encode_as(Encoding::Json).unwrap();
//! assert_eq!(&*json, br#"{"Divide":[7,2]}"#);
//! let back = Calc::decode_as(json.into_owned(), Encoding::Json).unwrap();
//! assert_eq!(back, Calc::Divide(7, 2));
//! ```

use std::any::type_name;
use std::borrow::Cow;

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::Error;

/// The two encodings of a call (see the module docs); a call's
/// [`Ref`](crate::Ref) carries which one its caller used.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// Postcard for `serde` types: the fast path between Rust actors, and
    /// the only encoding of messages, init arguments and state.
    #[default]
    Native,
    /// JSON text (serde_json), for callers that do not share the Rust types.
    Json,
}

/// A value that can be turned into payload bytes.
///
/// Implemented for every [`Serialize`] type (postcard, or JSON) and for
/// [`Raw`].
pub trait Encode {
    /// The payload bytes for this value, in the native encoding.
    fn encode(&self) -> Result<Cow<'_, [u8]>, Error>;

    /// The payload bytes for this value in `encoding`. Types other than
    /// `serde` ones and [`Raw`] have only the native encoding.
    fn encode_as(&self, encoding: Encoding) -> Result<Cow<'_, [u8]>, Error> {
        match encoding {
            Encoding::Native => self.encode(),
            Encoding::Json => Err(Error::Decode(format!(
                "{} has no JSON encoding",
                type_name::<Self>()
            ))),
        }
    }
}

/// A value that can be read back from payload bytes.
///
/// Implemented for every [`DeserializeOwned`] type (postcard, or JSON) and
/// for [`Raw`].
pub trait Decode: Sized {
    /// Reads a value from a whole payload in the native encoding.
    fn decode(bytes: Vec<u8>) -> Result<Self, Error>;

    /// Reads a value from a whole payload in `encoding`. Types other than
    /// `serde` ones and [`Raw`] have only the native encoding.
    fn decode_as(bytes: Vec<u8>, encoding: Encoding) -> Result<Self, Error> {
        match encoding {
            Encoding::Native => Self::decode(bytes),
            Encoding::Json => Err(Error::Decode(format!(
                "{} has no JSON encoding",
                type_name::<Self>()
            ))),
        }
    }
}

impl<T: Serialize + ?Sized> Encode for T {
    fn encode(&self) -> Result<Cow<'_, [u8]>, Error> {
        postcard::to_allocvec(self)
            .map(Cow::Owned)
            .map_err(|e| Error::Decode(format!("could not encode {}: {e}", type_name::<T>())))
    }

    fn encode_as(&self, encoding: Encoding) -> Result<Cow<'_, [u8]>, Error> {
        match encoding {
            Encoding::Native => self.encode(),
            Encoding::Json => serde_json::to_vec(self)
                .map(Cow::Owned)
                .map_err(|e| Error::Decode(format!("could not encode {} as JSON: {e}", type_name::<T>()))),
        }
    }
}

impl<T: DeserializeOwned> Decode for T {
    fn decode_as(bytes: Vec<u8>, encoding: Encoding) -> Result<Self, Error> {
        match encoding {
            Encoding::Native => Self::decode(bytes),
            // serde_json refuses trailing characters other than whitespace.
            Encoding::Json => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Decode(format!("could not decode {} from JSON: {e}", type_name::<T>()))),
        }
    }

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

// Raw is the same bytes in every encoding: the actor reads and writes them.
impl Encode for Raw {
    fn encode(&self) -> Result<Cow<'_, [u8]>, Error> {
        Ok(Cow::Borrowed(&self.0))
    }

    fn encode_as(&self, _: Encoding) -> Result<Cow<'_, [u8]>, Error> {
        self.encode()
    }
}

impl Decode for Raw {
    fn decode(bytes: Vec<u8>) -> Result<Self, Error> {
        Ok(Raw(bytes))
    }

    fn decode_as(bytes: Vec<u8>, _: Encoding) -> Result<Self, Error> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    enum Request {
        Divide(i64, i64),
        Add(u64),
        Get,
        Move { x: i32 },
    }

    #[derive(serde::Serialize, serde::Deserialize, Debug, PartialEq)]
    enum CalcError {
        DivisionByZero,
    }

    fn json<T: Encode + ?Sized>(v: &T) -> String {
        String::from_utf8(v.encode_as(Encoding::Json).unwrap().into_owned()).unwrap()
    }

    #[test]
    fn json_is_serdes_externally_tagged_form() {
        assert_eq!(json(&Request::Divide(7, 2)), r#"{"Divide":[7,2]}"#);
        assert_eq!(json(&Request::Add(5)), r#"{"Add":5}"#);
        assert_eq!(json(&Request::Get), r#""Get""#);
        assert_eq!(json(&Request::Move { x: 1 }), r#"{"Move":{"x":1}}"#);
        assert_eq!(json(&Ok::<i64, CalcError>(3)), r#"{"Ok":3}"#);
        assert_eq!(
            json(&Err::<i64, CalcError>(CalcError::DivisionByZero)),
            r#"{"Err":"DivisionByZero"}"#
        );
    }

    #[test]
    fn json_decodes_back_and_tolerates_whitespace() {
        let req = Request::decode_as(br#" {"Divide": [7, 2]} "#.to_vec(), Encoding::Json).unwrap();
        assert_eq!(req, Request::Divide(7, 2));
        let get = Request::decode_as(br#""Get""#.to_vec(), Encoding::Json).unwrap();
        assert_eq!(get, Request::Get);
    }

    #[test]
    fn a_request_of_the_wrong_shape_names_the_expected_type() {
        let err = Request::decode_as(br#"{"Multiply":[1,2]}"#.to_vec(), Encoding::Json).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("Request"), "{text}");
        assert!(text.contains("Multiply"), "{text}");
        let trailing = Request::decode_as(br#""Get" "Get""#.to_vec(), Encoding::Json);
        assert!(trailing.is_err());
    }

    #[test]
    fn native_stays_postcard() {
        let native = Request::Divide(7, 2).encode_as(Encoding::Native).unwrap();
        assert_eq!(native, Request::Divide(7, 2).encode().unwrap());
        assert_eq!(
            Request::decode_as(native.into_owned(), Encoding::Native).unwrap(),
            Request::Divide(7, 2)
        );
        // Postcard bytes are not JSON.
        let postcard = Request::Divide(7, 2).encode().unwrap().into_owned();
        assert!(Request::decode_as(postcard, Encoding::Json).is_err());
    }

    #[test]
    fn raw_passes_through_in_both_encodings() {
        let raw = Raw(b"\x00not json".to_vec());
        for enc in [Encoding::Native, Encoding::Json] {
            assert_eq!(&*raw.encode_as(enc).unwrap(), b"\x00not json");
            assert_eq!(Raw::decode_as(b"\x01".to_vec(), enc).unwrap(), Raw(vec![1]));
        }
    }
}
