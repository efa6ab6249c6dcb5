//! Arbitrary bytes into `DisconnectReason::decode` and `decode_message`: every reason decoded
//! re-encodes (list, bare integer, compressed or not) and decodes to itself, and the two
//! decoders agree whenever the plain form reads.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../wire_checks.rs"]
#[allow(dead_code)]
mod wire_checks;

fuzz_target!(|data: &[u8]| {
    let _ = wire_checks::disconnect(data);
});
