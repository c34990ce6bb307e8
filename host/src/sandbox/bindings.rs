//! Host bindings generated from `wit/actor.wit`, and conversions between the
//! generated WIT types and the library's own types.

mod generated {
    wasmtime::component::bindgen!({
        path: "../wit",
        world: "actor",
        imports: {
            // Called between two messages of a batch: kept synchronous, as
            // it never waits and runs once per message.
            "wactor:actor/host.batch-next": trappable,
            default: async | trappable,
        },
        exports: { default: async },
    });
}

pub(crate) use generated::wactor::actor::host::Host;
pub(crate) use generated::wactor::actor::types as wit;
pub(crate) use generated::{Actor as ActorBindings, ActorIndices, ActorPre};

use std::sync::Arc;

use crate::core::error::{DeliveryError, RegisterError, SpawnError};
use crate::core::pid::{Address, Pid, Ref, RefId};

impl From<&Pid> for wit::Pid {
    fn from(p: &Pid) -> Self {
        wit::Pid {
            node: p.node.to_string(),
            id: p.id,
            creation: p.creation,
        }
    }
}

impl From<wit::Pid> for Pid {
    fn from(p: wit::Pid) -> Self {
        Pid {
            node: Arc::from(p.node),
            id: p.id,
            creation: p.creation,
        }
    }
}

impl From<Ref> for wit::Ref {
    fn from(r: Ref) -> Self {
        wit::Ref {
            id_hi: (r.id.0 >> 64) as u64,
            id_lo: r.id.0 as u64,
            deadline_ms: r.deadline_ms,
        }
    }
}

impl From<wit::Ref> for Ref {
    fn from(r: wit::Ref) -> Self {
        Ref {
            id: RefId(((r.id_hi as u128) << 64) | r.id_lo as u128),
            deadline_ms: r.deadline_ms,
        }
    }
}

impl From<wit::Address> for Address {
    fn from(a: wit::Address) -> Self {
        match a {
            wit::Address::Pid(p) => Address::Pid(p.into()),
            wit::Address::Name(n) => Address::Name(n),
        }
    }
}

impl From<DeliveryError> for wit::DeliveryError {
    fn from(e: DeliveryError) -> Self {
        match e {
            DeliveryError::UnknownProcess => wit::DeliveryError::UnknownProcess,
            DeliveryError::MailboxFull => wit::DeliveryError::MailboxFull,
            DeliveryError::Timeout => wit::DeliveryError::Timeout,
            DeliveryError::NoConnection => wit::DeliveryError::NoConnection,
            DeliveryError::ResponseIgnored => wit::DeliveryError::ResponseIgnored,
            DeliveryError::Terminated(r) => wit::DeliveryError::Terminated(r),
            DeliveryError::Remote(r) => wit::DeliveryError::Remote(r),
            DeliveryError::NotAllowed(r) => wit::DeliveryError::NotAllowed(r),
            DeliveryError::PayloadTooLarge(n) => wit::DeliveryError::PayloadTooLarge(n),
            // `delivery-error` cannot grow within 0.2: see the WIT's
            // `not-allowed` and `refuse-request`.
            DeliveryError::BadRequest(r) => wit::DeliveryError::NotAllowed(format!("bad request: {r}")),
        }
    }
}

impl From<SpawnError> for wit::SpawnError {
    fn from(e: SpawnError) -> Self {
        match e {
            SpawnError::UnknownBehaviour(b) => wit::SpawnError::UnknownBehaviour(b),
            SpawnError::LimitReached(r) => wit::SpawnError::LimitReached(r),
            SpawnError::InitFailed(r) => wit::SpawnError::InitFailed(r),
        }
    }
}

impl From<RegisterError> for wit::RegisterError {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::Taken(p) => wit::RegisterError::Taken((&p).into()),
            RegisterError::Invalid(r) => wit::RegisterError::Invalid(r),
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_wit_package_named_in_errors_is_the_one_bound() {
        let wit = include_str!("../../../wit/actor.wit");
        let package = wit
            .lines()
            .find_map(|l| l.strip_prefix("package "))
            .and_then(|l| l.strip_suffix(';'))
            .expect("a package line");
        assert_eq!(package, crate::core::error::WIT_PACKAGE);
    }
}
