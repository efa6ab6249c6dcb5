//! Arbitrary bytes into `peerwire::fuzzing::discv4_packet`: errors are fine, panics and hangs are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = peerwire::fuzzing::discv4_packet(data);
});
