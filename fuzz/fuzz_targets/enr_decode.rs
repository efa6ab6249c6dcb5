//! Arbitrary bytes into `peerwire::fuzzing::enr_decode`: errors are fine, panics and hangs are not.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = peerwire::fuzzing::enr_decode(data);
});
