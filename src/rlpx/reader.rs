//! Frames from the read half of a connection.
//!
//! A [`FrameReader`] is built with whatever bytes were read before it existed (those that
//! came in behind the handshake packet, or behind Hello), and opens them before it reads
//! the socket again: a frame that arrived in the same segment as the one before it is
//! delivered at once, and a bad one is refused at once.

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt};

use super::codec::RlpxError;
use super::frame::{Frame, FrameError, Opener};

/// Least room made in the buffer before a read.
const MIN_READ: usize = 1024;

/// Opens frames from `R`, buffered bytes first.
#[derive(Debug)]
pub struct FrameReader<R> {
    io: R,
    /// Boxed: the cipher and MAC states are kilobytes, and a reader is moved into (and
    /// stored by) the futures that own it; one pointer keeps those futures small.
    opener: Box<Opener>,
    buf: BytesMut,
}

impl<R: AsyncRead + Unpin> FrameReader<R> {
    /// A reader that opens `buffered` before reading from `io`.
    pub fn new(io: R, opener: Opener, buffered: BytesMut) -> Self {
        Self {
            io,
            opener: Box::new(opener),
            buf: buffered,
        }
    }

    /// The next frame; `Ok(None)` when the remote closed cleanly between frames.
    ///
    /// Cancel-safe: bytes read are kept in the buffer, and the next call continues the frame.
    /// After an error every later call fails (the opener is poisoned).
    pub async fn recv(&mut self) -> Result<Option<Frame>, RlpxError> {
        loop {
            if let Some(frame) = self.opener.open(&mut self.buf)? {
                return Ok(Some(frame));
            }
            // The opener reserved room for a frame whose header it read; otherwise make some.
            if self.buf.capacity() - self.buf.len() < MIN_READ {
                self.buf.reserve(MIN_READ);
            }
            if self.io.read_buf(&mut self.buf).await? == 0 {
                if self.buf.is_empty() && self.opener.at_frame_boundary() {
                    return Ok(None);
                }
                return Err(FrameError::Truncated.into());
            }
        }
    }

    /// The opener, e.g. to change the frame size limit.
    pub fn opener_mut(&mut self) -> &mut Opener {
        &mut self.opener
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rlpx::Sealer;
    use tokio::io::AsyncWriteExt;

    fn codec_pair() -> (Sealer, Opener) {
        let (a, b) = crate::testdata::session_pair(7);
        (a.split().0, b.split().1)
    }

    #[tokio::test]
    async fn buffered_frames_are_opened_before_the_socket_is_read() {
        let (mut sealer, opener) = codec_pair();
        let mut buffered = BytesMut::new();
        sealer.seal(0x10, b"first", &mut buffered).unwrap();
        sealer.seal(0x11, b"second", &mut buffered).unwrap();
        // The socket never delivers a byte: both frames must come from the buffer alone.
        let (io, _keep_open) = tokio::io::duplex(64);
        let mut reader = FrameReader::new(io, opener, buffered);
        let first = reader.recv().await.unwrap().unwrap();
        let second = reader.recv().await.unwrap().unwrap();
        assert_eq!((first.code, &first.payload[..]), (0x10, &b"first"[..]));
        assert_eq!((second.code, &second.payload[..]), (0x11, &b"second"[..]));
    }

    #[tokio::test]
    async fn a_bad_buffered_frame_fails_without_a_read() {
        let (mut sealer, opener) = codec_pair();
        let mut buffered = BytesMut::new();
        sealer.seal(0x10, b"frame", &mut buffered).unwrap();
        let last = buffered.len() - 1;
        buffered[last] ^= 1;
        let (io, _keep_open) = tokio::io::duplex(64);
        let mut reader = FrameReader::new(io, opener, buffered);
        assert!(matches!(
            reader.recv().await,
            Err(RlpxError::Frame(FrameError::FrameMac))
        ));
    }

    #[tokio::test]
    async fn a_clean_close_between_frames_is_none_and_a_cut_frame_is_truncated() {
        let (mut sealer, opener) = codec_pair();
        let (io, mut remote) = tokio::io::duplex(1024);
        let mut reader = FrameReader::new(io, opener, BytesMut::new());
        let mut wire = BytesMut::new();
        sealer.seal(0x10, b"whole", &mut wire).unwrap();
        sealer.seal(0x10, b"cut short", &mut wire).unwrap();
        let cut = wire.len() - 5;
        remote.write_all(&wire[..cut]).await.unwrap();
        drop(remote);
        assert_eq!(&reader.recv().await.unwrap().unwrap().payload[..], b"whole");
        assert!(matches!(
            reader.recv().await,
            Err(RlpxError::Frame(FrameError::Truncated))
        ));

        let (_, opener) = codec_pair();
        let (io, remote) = tokio::io::duplex(1024);
        drop(remote);
        let mut reader = FrameReader::new(io, opener, BytesMut::new());
        assert!(reader.recv().await.unwrap().is_none());
    }
}
