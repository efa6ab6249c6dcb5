//! Arbitrary bytes into both Disconnect decoders: they agree, every reason round-trips.
//! The property is `peerwire::fuzzing::disconnect_decode`; the seed replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peerwire::fuzzing::disconnect_decode(data));
