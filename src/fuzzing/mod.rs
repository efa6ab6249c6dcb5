//! What the cargo-fuzz targets run, shared with the test that replays their seed corpora.
//!
//! One function per target in `fuzz/fuzz_targets/`, of the same name: it feeds arbitrary bytes
//! to a decoder that reads network input and panics when a property is broken (a decoded value
//! survives its own encoder, limits hold, related decoders agree). Errors are fine, panics and
//! hangs are not. [`TARGETS`] holds the same properties as [`Target::check`], which also says
//! whether the decoder accepted the input in full; the seed replay runs every file of
//! `fuzz/seeds/<target>/` through it.

mod discovery;
mod dns;
mod rlpx;
mod wire;

pub use rlpx::FRAME_SESSION_SEED;
pub use wire::cap_input;

/// A fuzz target: its name (of its file in `fuzz/fuzz_targets/` and its folder in
/// `fuzz/seeds/`) and its property.
#[derive(Debug, Clone, Copy)]
pub struct Target {
    /// The target's name.
    pub name: &'static str,
    /// Runs the target's property on the input (panics when it is broken); true when the
    /// decoder accepted the input in full.
    pub check: fn(&[u8]) -> bool,
}

/// Every fuzz target. A decoder accepts an input in full when it reads a complete value: at
/// least one frame, a complete handshake, a record with an endpoint, a non-empty set of shared
/// capabilities, the Disconnect message form.
pub const TARGETS: [Target; 13] = [
    Target {
        name: "frame_decode",
        check: |data| matches!(rlpx::frame_decode(data), Ok(frames) if frames > 0),
    },
    Target {
        name: "frame_plaintext",
        check: |data| rlpx::frame_plaintext(data).is_ok(),
    },
    Target {
        name: "auth_decode",
        check: |data| matches!(rlpx::auth_decode(data), Ok(Some(_))),
    },
    Target {
        name: "ack_decode",
        check: |data| matches!(rlpx::ack_decode(data), Ok(Some(_))),
    },
    Target {
        name: "auth_body",
        check: |data| matches!(rlpx::auth_body(data), Ok(Some(_))),
    },
    Target {
        name: "ack_body",
        check: |data| matches!(rlpx::ack_body(data), Ok(Some(_))),
    },
    Target {
        name: "hello_decode",
        check: |data| wire::hello_decode(data).is_ok(),
    },
    Target {
        name: "disconnect_decode",
        check: |data| wire::disconnect_decode(data).is_ok(),
    },
    Target {
        name: "snappy_decode",
        check: |data| wire::snappy_decode(data).is_ok(),
    },
    Target {
        name: "capability_match",
        check: |data| !wire::capability_match(data).is_empty(),
    },
    Target {
        name: "discv4_packet",
        check: |data| discovery::discv4_packet(data).is_ok(),
    },
    Target {
        name: "enr_decode",
        check: |data| matches!(discovery::enr_decode(data), Ok(Some(_))),
    },
    Target {
        name: "dns_entry",
        check: dns::dns_entry,
    },
];

/// Runs the property of the target called `name` on `data`; true when the decoder accepted
/// `data` in full. Panics for a name that is not in [`TARGETS`].
pub fn check(name: &str, data: &[u8]) -> bool {
    match TARGETS.iter().find(|t| t.name == name) {
        Some(target) => (target.check)(data),
        None => panic!("no fuzz target {name}"),
    }
}

/// The seed inputs built from the test vectors, by file name, for the targets whose seeds need
/// crate internals: the RLPx and discovery targets. Panics for any other target.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    match target {
        "discv4_packet" => discovery::discv4_seeds(),
        "enr_decode" => discovery::enr_seeds(),
        "dns_entry" => dns::dns_seeds(),
        other => rlpx::seeds(other),
    }
}

/// Opens frames from `data` with an established session.
pub fn frame_decode(data: &[u8]) {
    let _ = rlpx::frame_decode(data);
}

/// Seals `data` as raw frame data and opens it on the other end of a session.
pub fn frame_plaintext(data: &[u8]) {
    let _ = rlpx::frame_plaintext(data);
}

/// Reads `data` as an auth packet.
pub fn auth_decode(data: &[u8]) {
    let _ = rlpx::auth_decode(data);
}

/// Reads `data` as an ack packet.
pub fn ack_decode(data: &[u8]) {
    let _ = rlpx::ack_decode(data);
}

/// Seals `data` as an auth body and reads it.
pub fn auth_body(data: &[u8]) {
    let _ = rlpx::auth_body(data);
}

/// Seals `data` as an ack body and reads it.
pub fn ack_body(data: &[u8]) {
    let _ = rlpx::ack_body(data);
}

/// Reads `data` as a Hello: it round-trips, errors carry the right Disconnect reason.
pub fn hello_decode(data: &[u8]) {
    let _ = wire::hello_decode(data);
}

/// Reads `data` with both Disconnect decoders: they agree, every reason round-trips.
pub fn disconnect_decode(data: &[u8]) {
    let _ = wire::disconnect_decode(data);
}

/// Decompresses `data` with two limits: they agree and hold, the output round-trips.
pub fn snappy_decode(data: &[u8]) {
    let _ = wire::snappy_decode(data);
}

/// Matches the capability lists `data` describes: the devp2p sharing rule holds.
pub fn capability_match(data: &[u8]) {
    let _ = wire::capability_match(data);
}

/// Decodes `data` as a discv4 packet: its message, signed again, decodes to itself.
pub fn discv4_packet(data: &[u8]) {
    let _ = discovery::discv4_packet(data);
}

/// Decodes `data` as a node record: it verifies and round-trips.
pub fn enr_decode(data: &[u8]) {
    let _ = discovery::enr_decode(data);
}

/// Reads `data` as the text of an EIP-1459 tree entry (root, branch, record or link):
/// whatever is accepted reads back from its own text.
pub fn dns_entry(data: &[u8]) {
    let _ = dns::dns_entry(data);
}
