//! The devp2p base protocol (`p2p`) as sans-IO messages: Hello, Disconnect, Ping/Pong,
//! capability matching and the payload encoding (snappy) negotiated at Hello.

mod capability;
mod disconnect;
mod hello;
mod payload;
mod serialize;
pub mod snappy;

pub use capability::{match_capabilities, Capability, SharedCapability, BASE_PROTOCOL_LENGTH};
pub use disconnect::{DisconnectDecodeError, DisconnectReason};
pub use hello::{Hello, HelloError, MAX_HELLO_SIZE, P2P_VERSION};
pub use payload::{PayloadCodec, PayloadTooLarge, WirePayload, MAX_PAYLOAD_SIZE, VIEW_MIN};

/// Message codes of the base protocol.
pub mod code {
    /// Hello.
    pub const HELLO: u64 = 0x00;
    /// Disconnect.
    pub const DISCONNECT: u64 = 0x01;
    /// Ping.
    pub const PING: u64 = 0x02;
    /// Pong.
    pub const PONG: u64 = 0x03;
}

/// The payload of Ping and Pong: an empty list.
pub const EMPTY_LIST: [u8; 1] = [0xc0];
