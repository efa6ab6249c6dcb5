//! Arbitrary bytes as the text of an EIP-1459 tree entry (root, branch, record, link): what
//! is accepted reads back from its own text. The property is `peerwire::fuzzing::dns_entry`;
//! the seed replay test runs it too.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| peerwire::fuzzing::dns_entry(data));
