//! RLPx: the encrypted, authenticated transport under every devp2p protocol.
//!
//! ```text
//! stream.rs     tokio: RlpxStream::connect / accept, then send / recv frames
//! reader.rs     tokio: FrameReader, the read half of a split stream (buffered bytes first)
//!   │
//! codec.rs      tokio_util Encoder / Decoder over the sans-IO halves
//!   │
//! handshake/    sans-IO ECIES handshake (EIP-8 and legacy)  ──▶ Secrets
//! frame/        sans-IO frame codec built only from Secrets ──▶ Sealer, Opener
//! mac.rs        per-direction keccak MAC state
//! ```

mod codec;
mod frame;
pub(crate) mod handshake;
mod mac;
mod reader;
mod secrets;
mod stream;

pub use codec::RlpxError;
pub use frame::{Frame, FrameCodec, FrameError, Opener, Sealer, MAX_FRAME_SIZE};
pub use handshake::{
    AckProgress, AuthProgress, HandshakeError, Initiator, Recipient, MAX_PACKET_SIZE,
};
pub use reader::FrameReader;
pub use secrets::{Role, Secrets};
pub use stream::{RlpxConfig, RlpxParts, RlpxStream};
