//! Registered names: one name, one live process.
//!
//! A process may hold several names. A name is released when its holder
//! unregisters it or ends; registering a name one already holds succeeds.

use dashmap::mapref::entry::Entry;
use dashmap::DashMap;

use crate::core::error::RegisterError;
use crate::core::pid::Pid;
use crate::process::table::Process;

/// The name registry of one node.
#[derive(Default)]
pub(crate) struct Names {
    map: DashMap<String, Pid>,
}

impl Names {
    /// Checks that `name` can be registered (the rule is
    /// [`wactor_manifest::check_name`], which manifests use too).
    pub(crate) fn validate(name: &str) -> Result<(), RegisterError> {
        wactor_manifest::check_name(name).map_err(RegisterError::Invalid)
    }

    pub(crate) fn register(&self, name: &str, pid: &Pid) -> Result<(), RegisterError> {
        Self::validate(name)?;
        match self.map.entry(name.to_string()) {
            Entry::Occupied(e) if e.get() == pid => Ok(()),
            Entry::Occupied(e) => Err(RegisterError::Taken(e.get().clone())),
            Entry::Vacant(e) => {
                e.insert(pid.clone());
                Ok(())
            }
        }
    }

    /// Releases `name` if `pid` holds it.
    pub(crate) fn unregister(&self, name: &str, pid: &Pid) -> bool {
        self.map.remove_if(name, |_, holder| holder == pid).is_some()
    }

    pub(crate) fn whereis(&self, name: &str) -> Option<Pid> {
        self.map.get(name).map(|p| p.value().clone())
    }

    /// Registers `name` for the live process `p`, which then lists it
    /// among the names it holds.
    pub(crate) fn hold(&self, name: &str, p: &Process) -> Result<(), RegisterError> {
        self.register(name, &p.pid)?;
        let mut held = p.names.lock();
        if !held.iter().any(|n| n == name) {
            held.push(name.to_string());
        }
        Ok(())
    }

    /// Releases `name` if `p` holds it.
    pub(crate) fn release(&self, name: &str, p: &Process) -> bool {
        p.names.lock().retain(|n| n != name);
        self.unregister(name, &p.pid)
    }

    /// Releases every name `p` holds (it ended).
    pub(crate) fn release_all(&self, p: &Process) {
        for name in std::mem::take(&mut *p.names.lock()) {
            self.unregister(&name, &p.pid);
        }
    }
}
