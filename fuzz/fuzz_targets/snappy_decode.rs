//! Arbitrary bytes into snappy decompression with two limits: they agree and hold, the
//! output round-trips.
//! The property is `peerwire::fuzzing::snappy_decode`; the seed replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peerwire::fuzzing::snappy_decode(data));
