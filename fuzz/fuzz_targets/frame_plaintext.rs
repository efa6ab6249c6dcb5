//! Arbitrary frame data sealed and opened by a fixed session: fuzzes the message-id parser
//! behind the MACs. Errors are fine, panics and hangs are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = peerwire::fuzzing::frame_plaintext(data);
});
