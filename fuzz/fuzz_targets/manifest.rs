//! Arbitrary bytes as a behaviour manifest: parsing (and printing what it
//! returns) must never panic, whatever the text.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wactor::manifest::{Manifest, Settings};
use wactor::NodeConfig;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Manifest::parse(text, Path::new("/srv/actors")) {
        Ok(m) => {
            let s = Settings::resolve(&NodeConfig::default(), Some(&m));
            assert!(s.mailbox_capacity >= 1 && s.cpu_budget_ticks >= 1);
            assert!(m.wasi.dirs.iter().all(|d| d.guest.starts_with('/')));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
