//! Arbitrary bytes as an RLPx ack packet.
//! The property is `peerwire::fuzzing::ack_decode`; the seed replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peerwire::fuzzing::ack_decode(data));
