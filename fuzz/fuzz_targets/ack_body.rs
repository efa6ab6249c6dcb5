//! Arbitrary ack bodies sealed to the vectors' key and read back: the body decoding behind
//! ECIES.
//! The property is `peerwire::fuzzing::ack_body`; the seed replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peerwire::fuzzing::ack_body(data));
