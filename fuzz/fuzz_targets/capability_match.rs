//! Capability lists built from the input bytes: the devp2p sharing rule holds.
//! The property is `peerwire::fuzzing::capability_match`; the seed replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peerwire::fuzzing::capability_match(data));
