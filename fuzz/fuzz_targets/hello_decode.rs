//! Arbitrary bytes into `Hello::decode`: a Hello that decodes must survive
//! `decode(encode(hello))` unchanged, and errors must carry the right Disconnect reason.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../wire_checks.rs"]
#[allow(dead_code)]
mod wire_checks;

fuzz_target!(|data: &[u8]| {
    let _ = wire_checks::hello(data);
});
