//! Arbitrary bytes as a behaviour manifest: parsing (and printing what it
//! returns) must never panic, whatever the text, and what it accepts keeps
//! the promises the host relies on.

#![no_main]

use std::path::Path;

use libfuzzer_sys::fuzz_target;
use wactor_manifest::{check_name, Manifest, Start, MAX_MAILBOX};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    match Manifest::parse(text, Path::new("/srv/actors")) {
        Ok(m) => {
            assert!(m.mailbox.is_none_or(|n| (1..=MAX_MAILBOX as usize).contains(&n)));
            assert!(!matches!(m.start, Start::Pool(0)));
            assert!(m.name.as_deref().is_none_or(|n| check_name(n).is_ok()));
            assert!(m.wasi.dirs.iter().all(|d| d.guest.starts_with('/') && !d.guest.contains("..")));
        }
        Err(e) => {
            let _ = e.to_string();
        }
    }
});
