//! The tokio layer: the handshake and then frames over any `AsyncRead + AsyncWrite`.

use std::time::Duration;

use bytes::BytesMut;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio_util::codec::{Framed, FramedParts};

use super::codec::RlpxError;
use super::frame::{Frame, FrameCodec, FrameError, Opener, Sealer, MAX_FRAME_SIZE};
use super::handshake::{AckProgress, AuthProgress, Initiator, Recipient, MAX_PACKET_SIZE};
use super::secrets::Secrets;
use crate::crypto::{NodeId, NodeKey};

/// Settings for an RLPx stream.
#[derive(Clone, Debug)]
pub struct RlpxConfig {
    /// Longest the whole handshake may take. Default 5 s.
    pub handshake_timeout: Duration,
    /// Largest frame accepted from the remote. Default and ceiling [`MAX_FRAME_SIZE`].
    pub max_frame_size: usize,
}

impl Default for RlpxConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(5),
            max_frame_size: MAX_FRAME_SIZE,
        }
    }
}

/// An established RLPx session over `S`.
#[derive(Debug)]
pub struct RlpxStream<S> {
    framed: Framed<S, FrameCodec>,
    remote_id: NodeId,
    /// A receive failed: the stream is out of step and every later receive fails too.
    failed: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> RlpxStream<S> {
    /// Runs the handshake as initiator towards `remote_id`. Only the owner of that key can
    /// answer with an ack whose frames open, so the first received frame authenticates it.
    pub async fn connect(
        io: S,
        key: &NodeKey,
        remote_id: NodeId,
        config: &RlpxConfig,
    ) -> Result<Self, RlpxError> {
        let mut io = io;
        let work = initiate(&mut io, key, remote_id);
        let (secrets, read_buf) = with_timeout(config, work).await?;
        Ok(Self::established(io, secrets, read_buf, config))
    }

    /// Runs the handshake as recipient; the remote's id is learned from its auth. An auth can
    /// be replayed by a third party, so the id is authenticated only by the first frame that
    /// opens (the server reads Hello before admitting anyone).
    pub async fn accept(io: S, key: &NodeKey, config: &RlpxConfig) -> Result<Self, RlpxError> {
        let mut io = io;
        let (secrets, read_buf) = with_timeout(config, respond(&mut io, key)).await?;
        Ok(Self::established(io, secrets, read_buf, config))
    }

    fn established(io: S, secrets: Secrets, read_buf: BytesMut, config: &RlpxConfig) -> Self {
        let remote_id = secrets.remote_id();
        let codec = FrameCodec::new(secrets).with_max_frame_size(config.max_frame_size);
        let mut parts = FramedParts::new::<(u64, &[u8])>(io, codec);
        // Frames the remote sent right behind its handshake packet.
        parts.read_buf = read_buf;
        Self {
            framed: Framed::from_parts(parts),
            remote_id,
            failed: false,
        }
    }

    /// Lowers (or restores) the largest frame accepted from now on; capped at
    /// [`MAX_FRAME_SIZE`]. A frame whose header announces more fails with `TooLarge` before
    /// its body is read.
    pub fn set_max_frame_size(&mut self, max: usize) {
        self.framed.codec_mut().opener().set_max_frame_size(max);
    }

    /// The remote node's id, as presented in the handshake (see [`Self::accept`]).
    pub fn remote_id(&self) -> NodeId {
        self.remote_id
    }

    /// Sends one frame and flushes it.
    ///
    /// Not cancel-safe: the frame is sealed into the write buffer whole before any byte is
    /// written, so a dropped call never corrupts the stream, but its frame may still go out
    /// with the next `send`.
    pub async fn send(&mut self, code: u64, payload: &[u8]) -> Result<(), RlpxError> {
        self.framed.send((code, payload)).await
    }

    /// Receives the next frame; `Ok(None)` when the remote closed cleanly between frames.
    ///
    /// Cancel-safe: a dropped call loses no bytes; the next call continues the frame.
    ///
    /// After an error every later call fails with [`FrameError::Poisoned`].
    pub async fn recv(&mut self) -> Result<Option<Frame>, RlpxError> {
        if self.failed {
            return Err(FrameError::Poisoned.into());
        }
        let next = self.framed.next().await.transpose();
        self.failed = next.is_err();
        next
    }

    /// The underlying framed transport.
    pub fn into_framed(self) -> Framed<S, FrameCodec> {
        self.framed
    }

    /// The connection, both frame halves and the bytes received but not yet opened, e.g. to
    /// run each direction in its own task (hand `read_buf` to a [`FrameReader`](super::FrameReader)).
    pub fn into_parts(self) -> RlpxParts<S> {
        let parts = self.framed.into_parts();
        let (sealer, opener) = parts.codec.split();
        RlpxParts {
            io: parts.io,
            sealer,
            opener,
            read_buf: parts.read_buf,
        }
    }
}

/// An [`RlpxStream`] taken apart; see [`RlpxStream::into_parts`].
#[derive(Debug)]
#[non_exhaustive]
pub struct RlpxParts<S> {
    /// The connection.
    pub io: S,
    /// Seals outgoing frames.
    pub sealer: Sealer,
    /// Opens incoming frames.
    pub opener: Opener,
    /// Bytes received and not yet opened: they belong to the next frames.
    pub read_buf: BytesMut,
}

async fn with_timeout<T>(
    config: &RlpxConfig,
    work: impl std::future::Future<Output = Result<T, RlpxError>>,
) -> Result<T, RlpxError> {
    tokio::time::timeout(config.handshake_timeout, work)
        .await
        .map_err(|_| RlpxError::HandshakeTimeout)?
}

/// Room for the largest handshake packet plus what may follow it in the same read.
fn handshake_buffer() -> BytesMut {
    BytesMut::with_capacity(2 * (MAX_PACKET_SIZE + 2))
}

async fn read_more<S: AsyncRead + Unpin>(io: &mut S, buf: &mut BytesMut) -> Result<(), RlpxError> {
    if io.read_buf(buf).await? == 0 {
        return Err(RlpxError::ClosedDuringHandshake);
    }
    Ok(())
}

// The handshake's keys, nonces and IVs come from rand's thread-local CSPRNG (ChaCha, seeded
// and reseeded from the OS): the same quality as `OsRng` without a getrandom syscall for each
// of them, about six per handshake. The generator is never held across an `.await`.

async fn initiate<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    key: &NodeKey,
    remote_id: NodeId,
) -> Result<(Secrets, BytesMut), RlpxError> {
    let mut state = Initiator::new(&mut rand::thread_rng(), key, remote_id);
    io.write_all(state.auth_packet()).await?;
    io.flush().await?;
    let mut buf = handshake_buffer();
    loop {
        match state.read_ack(&mut buf)? {
            AckProgress::NeedMore(next) => state = next,
            AckProgress::Done(secrets) => return Ok((secrets, buf)),
        }
        read_more(io, &mut buf).await?;
    }
}

async fn respond<S: AsyncRead + AsyncWrite + Unpin>(
    io: &mut S,
    key: &NodeKey,
) -> Result<(Secrets, BytesMut), RlpxError> {
    let mut state = Recipient::new(&mut rand::thread_rng(), key);
    let mut buf = handshake_buffer();
    loop {
        let progress = state.read_auth(&mut rand::thread_rng(), &mut buf)?;
        match progress {
            AuthProgress::NeedMore(next) => state = next,
            AuthProgress::Done { ack, secrets } => {
                io.write_all(&ack).await?;
                io.flush().await?;
                return Ok((secrets, buf));
            }
        }
        read_more(io, &mut buf).await?;
    }
}
