//! Arbitrary auth bodies sealed to the vectors' key and read back: the body decoding behind
//! ECIES.
//! The property is `peerwire::fuzzing::auth_body`; the seed replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peerwire::fuzzing::auth_body(data));
