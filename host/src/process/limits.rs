//! Spawn limits: how many actors may live, on the node and per behaviour.

use std::sync::atomic::{AtomicUsize, Ordering};

use dashmap::DashMap;

use crate::core::config::NodeConfig;
use crate::core::error::SpawnError;

/// Live actors, host-wide and per behaviour, against
/// [`NodeConfig::max_actors`] and [`NodeConfig::max_actors_per_behaviour`].
///
/// A spawn reserves its place before its process exists, so concurrent
/// spawns can never overshoot a limit; the end of the process gives the
/// place back. Places are held by pid, so releasing a process that never
/// reserved one (or releasing twice) changes nothing.
#[derive(Debug, Default)]
pub(crate) struct SpawnCounts {
    /// Live actors on the node.
    live: AtomicUsize,
    /// Live actors per behaviour name; a name with none has no entry.
    per_behaviour: DashMap<String, usize>,
    /// Which behaviour each counted process (by pid id) is counted under.
    holders: DashMap<u64, String>,
}

impl SpawnCounts {
    /// Counts process `id` of `behaviour` as live, or says which limit
    /// refuses it.
    pub(crate) fn reserve(&self, config: &NodeConfig, id: u64, behaviour: &str) -> Result<(), SpawnError> {
        let max = config.max_actors;
        self.live
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < max).then_some(n + 1)
            })
            .map_err(|_| {
                SpawnError::LimitReached(format!(
                    "max_actors = {max}: the node already runs {max} live actors; \
                     wait for some to end or raise the limit (`wactor run --max-actors`)"
                ))
            })?;
        let max = config.max_actors_per_behaviour;
        {
            // The entry holds its shard's lock: check and count are one step.
            let mut n = self.per_behaviour.entry(behaviour.to_string()).or_insert(0);
            if *n < max {
                *n += 1;
                self.holders.insert(id, behaviour.to_string());
                return Ok(());
            }
        }
        self.per_behaviour.remove_if(behaviour, |_, n| *n == 0);
        self.live.fetch_sub(1, Ordering::AcqRel);
        Err(SpawnError::LimitReached(format!(
            "max_actors_per_behaviour = {max}: the node already runs {max} live actors of `{behaviour}`; \
             wait for some to end or raise the limit (`wactor run --max-actors-per-behaviour`)"
        )))
    }

    /// Gives back the place of process `id`, if it holds one.
    pub(crate) fn release(&self, id: u64) {
        let Some((_, behaviour)) = self.holders.remove(&id) else {
            return;
        };
        if let Some(mut n) = self.per_behaviour.get_mut(&behaviour) {
            *n = n.saturating_sub(1);
        }
        self.per_behaviour.remove_if(&behaviour, |_, n| *n == 0);
        self.live.fetch_sub(1, Ordering::AcqRel);
    }
}
