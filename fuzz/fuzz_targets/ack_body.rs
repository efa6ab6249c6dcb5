//! Arbitrary handshake bodies sealed to the vectors' key and read back: fuzzes the body
//! decoding behind ECIES. Errors are fine, panics and hangs are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = peerwire::fuzzing::ack_body(data);
});
