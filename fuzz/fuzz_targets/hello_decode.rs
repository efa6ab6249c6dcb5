//! Arbitrary bytes as a Hello: it round-trips, errors carry the right Disconnect reason.
//! The property is `peerwire::fuzzing::hello_decode`; the seed replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peerwire::fuzzing::hello_decode(data));
