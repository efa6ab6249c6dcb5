//! Arbitrary frame data sealed and opened by a fixed session: the message-id parser behind
//! the MACs.
//! The property is `peerwire::fuzzing::frame_plaintext`; the seed replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peerwire::fuzzing::frame_plaintext(data));
