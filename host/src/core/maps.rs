//! The hash maps of the hot paths.

use dashmap::DashMap;

/// The maps looked up on every send and call (processes by id, pending
/// calls by ref). Their keys are sequential numbers or random bits, which
/// need no DoS-resistant hash; foldhash is several times cheaper than the
/// default SipHash.
pub(crate) type FastMap<K, V> = DashMap<K, V, foldhash::fast::RandomState>;

/// A set under one owner's lock, hashed like [`FastMap`] (the calls an
/// actor owes, its async calls).
pub(crate) type FastSet<K> = std::collections::HashSet<K, foldhash::fast::RandomState>;
