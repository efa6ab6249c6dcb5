//! Arbitrary bytes as a node record (EIP-778): it verifies and round-trips.
//! The property is `peerwire::fuzzing::enr_decode`; the seed replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peerwire::fuzzing::enr_decode(data));
