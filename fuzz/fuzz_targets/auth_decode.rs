//! Arbitrary bytes as an RLPx auth packet.
//! The property is `peerwire::fuzzing::auth_decode`; the seed replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peerwire::fuzzing::auth_decode(data));
