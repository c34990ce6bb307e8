//! Behaviour manifests as the host applies them.
//!
//! Parsing and checking `NAME.toml` lives in the `wactor-manifest` crate
//! (re-exported here; its docs list every key), which needs no engine so
//! that it can be fuzzed on its own. This module turns a checked manifest
//! into what an actor runs with: its [`Settings`] (limits, the node's
//! where the manifest is silent) and its WASI grants.

use std::time::Duration;

use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

pub use wactor_manifest::*;

use crate::core::config::{NodeConfig, EPOCH_TICK};

/// The limits an actor of one behaviour runs with: its manifest's, or else
/// the node's.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Settings {
    /// Mailbox capacity, in messages.
    pub mailbox_capacity: usize,
    /// Default timeout of the calls the actor makes.
    pub call_timeout: Duration,
    /// Linear memory the actor may grow to, in bytes.
    pub memory_limit_bytes: usize,
    /// CPU budget of one message, in epoch ticks.
    pub cpu_budget_ticks: u64,
}

impl Settings {
    /// The node's defaults, overridden by what `manifest` sets.
    pub fn resolve(config: &NodeConfig, manifest: Option<&Manifest>) -> Settings {
        let mut s = Settings {
            mailbox_capacity: config.mailbox_capacity,
            call_timeout: config.call_timeout,
            memory_limit_bytes: config.memory_limit_bytes,
            cpu_budget_ticks: config.cpu_budget_ticks,
        };
        let Some(m) = manifest else { return s };
        if let Some(n) = m.mailbox {
            s.mailbox_capacity = n;
        }
        if let Some(t) = m.call_timeout {
            s.call_timeout = t;
        }
        if let Some(b) = m.memory_limit {
            s.memory_limit_bytes = b;
        }
        if let Some(cpu) = m.cpu_budget {
            let tick = EPOCH_TICK.as_millis().max(1);
            let ticks = cpu.as_millis().div_ceil(tick).max(1);
            s.cpu_budget_ticks = u64::try_from(ticks).unwrap_or(u64::MAX);
        }
        s
    }
}

/// Adds `grants` to a WASI context being built: environment,
/// arguments and preopened directories. Fails if a directory cannot be
/// opened.
pub(crate) fn grant(grants: &WasiGrants, wasi: &mut WasiCtxBuilder) -> Result<(), ManifestError> {
    for (k, v) in &grants.env {
        wasi.env(k, v);
    }
    wasi.args(&grants.args);
    if grants.inherit_args {
        wasi.inherit_args();
    }
    for d in &grants.dirs {
        let perms = match d.mode {
            DirMode::ReadOnly => FsPerms::ReadOnly,
            DirMode::ReadWrite => FsPerms::ReadWrite,
        };
        wasi.preopened_dir(&d.host, &d.guest, perms)
            .map_err(|e| d.missing(format!("{e:#}")))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    fn parse(text: &str) -> Manifest {
        Manifest::parse(text, Path::new("/srv/actors")).expect("a valid manifest")
    }

    #[test]
    fn settings_override_only_what_the_manifest_sets() {
        let config = NodeConfig::default();
        let none = Settings::resolve(&config, None);
        assert_eq!(none, Settings::resolve(&config, Some(&Manifest::default())));
        assert_eq!(none.mailbox_capacity, config.mailbox_capacity);
        let m = parse("mailbox = 3\ncpu_budget_ms = 95");
        let s = Settings::resolve(&config, Some(&m));
        assert_eq!(s.mailbox_capacity, 3);
        assert_eq!(s.cpu_budget_ticks, 10, "95 ms rounds up to ten 10 ms ticks");
        assert_eq!(s.call_timeout, config.call_timeout);
        assert_eq!(s.memory_limit_bytes, config.memory_limit_bytes);
    }

    #[test]
    fn a_missing_dir_fails_the_grant() {
        let m = parse("[[wasi.dirs]]\nhost = \"/nonexistent/wactor-grant\"\nguest = \"/d\"");
        let mut wasi = WasiCtxBuilder::new();
        let e = grant(&m.wasi, &mut wasi).unwrap_err();
        assert!(matches!(*e.kind, ManifestErrorKind::MissingDir { .. }), "{e}");
    }
}
