//! `tokio_util::codec` glue for the sans-IO frame halves, and the transport's error type.

use std::io;

use bytes::BytesMut;
use tokio_util::codec::{Decoder, Encoder};

use super::frame::{Frame, FrameCodec, FrameError, Opener, Sealer};
use super::handshake::HandshakeError;

/// Why an RLPx stream failed, grouped by cause.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RlpxError {
    /// The remote sent an invalid handshake packet.
    #[error(transparent)]
    Handshake(#[from] HandshakeError),
    /// The remote sent an invalid frame, or a frame to send was too large.
    #[error(transparent)]
    Frame(#[from] FrameError),
    /// The handshake did not finish within the configured time.
    #[error("handshake timed out")]
    HandshakeTimeout,
    /// The connection closed before the handshake finished.
    #[error("connection closed during the handshake")]
    ClosedDuringHandshake,
    /// The socket failed.
    #[error(transparent)]
    Io(#[from] io::Error),
}

impl Decoder for Opener {
    type Item = Frame;
    type Error = RlpxError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, RlpxError> {
        Ok(self.open(src)?)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, RlpxError> {
        match self.decode(src)? {
            Some(frame) => Ok(Some(frame)),
            None if src.is_empty() && self.at_frame_boundary() => Ok(None),
            None => Err(FrameError::Truncated.into()),
        }
    }
}

impl Encoder<(u64, &[u8])> for Sealer {
    type Error = RlpxError;

    fn encode(
        &mut self,
        (code, payload): (u64, &[u8]),
        dst: &mut BytesMut,
    ) -> Result<(), RlpxError> {
        Ok(self.seal(code, payload, dst)?)
    }
}

impl Decoder for FrameCodec {
    type Item = Frame;
    type Error = RlpxError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, RlpxError> {
        self.opener().decode(src)
    }

    fn decode_eof(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, RlpxError> {
        self.opener().decode_eof(src)
    }
}

impl Encoder<(u64, &[u8])> for FrameCodec {
    type Error = RlpxError;

    fn encode(&mut self, item: (u64, &[u8]), dst: &mut BytesMut) -> Result<(), RlpxError> {
        self.sealer().encode(item, dst)
    }
}
