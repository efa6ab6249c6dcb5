//! Arbitrary bytes into `snappy::decompress` and `decompress_max` with a 64-byte limit: the
//! limits agree and hold, a block read as one literal is what the decoder gives, and the
//! input round-trips through compress and decompress.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../wire_checks.rs"]
#[allow(dead_code)]
mod wire_checks;

fuzz_target!(|data: &[u8]| {
    let _ = wire_checks::snappy(data);
});
