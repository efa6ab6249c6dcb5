//! Arbitrary bytes as a discv4 packet: its message, signed again, decodes to itself.
//! The property is `peerwire::fuzzing::discv4_packet`; the seed replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peerwire::fuzzing::discv4_packet(data));
