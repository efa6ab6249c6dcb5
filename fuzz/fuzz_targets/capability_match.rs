//! Local and remote capability lists built from the input bytes, matched with
//! `match_capabilities`: the shared set, versions, name order and code ranges follow devp2p.
#![no_main]

use libfuzzer_sys::fuzz_target;

#[path = "../wire_checks.rs"]
#[allow(dead_code)]
mod wire_checks;

fuzz_target!(|data: &[u8]| {
    let _ = wire_checks::capabilities(data);
});
