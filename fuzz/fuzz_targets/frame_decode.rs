//! Arbitrary bytes into the frame decoder: it must refuse or accept them,
//! never panic, and what it accepts must survive a round trip.

#![no_main]

use libfuzzer_sys::fuzz_target;

use wactor_wire as frame;

/// The frame limit of a host with the default payload limit (1 MiB).
const LIMIT: usize = 1024 * 1024 + frame::FRAME_OVERHEAD;

fuzz_target!(|data: &[u8]| {
    if let Ok((f, stamp)) = frame::decode(data, LIMIT) {
        let again = frame::encode(&f).expect("a decoded frame encodes").seal(&stamp);
        assert_eq!(frame::decode(&again, usize::MAX), Ok((f, stamp)));
    }
});
