//! Arbitrary bytes as frames of an established RLPx session.
//! The property is `peerwire::fuzzing::frame_decode`; the seed replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peerwire::fuzzing::frame_decode(data));
