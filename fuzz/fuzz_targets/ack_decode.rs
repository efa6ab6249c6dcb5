//! Arbitrary bytes into `peerwire::fuzzing::ack_decode`: errors are fine, panics and hangs are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = peerwire::fuzzing::ack_decode(data);
});
