//! A received message.

use std::time::Instant;

use bytes::Bytes;

/// A message received from a peer, for one protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    /// The message code, relative to the protocol (`0..length`).
    pub code: u64,
    /// The payload, decompressed: normally RLP.
    pub payload: Bytes,
    /// Payload size in bytes (decompressed).
    pub size: usize,
    /// When the connection read it.
    pub received_at: Instant,
}

impl Msg {
    /// A message as a handler would receive it.
    pub fn new(code: u64, payload: Bytes) -> Self {
        Msg {
            code,
            size: payload.len(),
            payload,
            received_at: Instant::now(),
        }
    }

    /// Decodes the payload as RLP.
    pub fn decode<T: rlp::Decodable>(&self) -> Result<T, rlp::DecoderError> {
        rlp::decode(&self.payload)
    }
}
