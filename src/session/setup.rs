//! After the RLPx handshake: the Hello exchange and capability matching.

use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};

use crate::rlpx::{RlpxError, RlpxStream};
use crate::wire::{
    code, match_capabilities, Capability, DisconnectReason, Hello, HelloError, PayloadCodec,
    SharedCapability, P2P_VERSION,
};

/// A session that exchanged Hellos and shares at least one capability.
#[derive(Debug)]
pub(crate) struct Negotiated {
    pub(crate) hello: Hello,
    pub(crate) shared: Vec<SharedCapability>,
    /// How messages after Hello are encoded.
    pub(crate) codec: PayloadCodec,
}

/// Why a session could not be set up.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    /// The RLPx transport failed.
    #[error(transparent)]
    Rlpx(#[from] RlpxError),
    /// No Hello arrived in time.
    #[error("hello timed out")]
    Timeout,
    /// The peer's Hello was invalid.
    #[error(transparent)]
    Hello(#[from] HelloError),
    /// The Hello's node id is not the key proven in the handshake.
    #[error("hello node id differs from the handshake identity")]
    UnexpectedIdentity,
    /// The peer sent something other than Hello first.
    #[error("expected hello, got message {0:#x}")]
    UnexpectedMessage(u64),
    /// No capability in common.
    #[error("no shared capability")]
    NoSharedCapability,
    /// The peer sent Disconnect instead of Hello.
    #[error("peer disconnected: {0}")]
    Disconnected(DisconnectReason),
    /// The connection closed before Hello.
    #[error("connection closed before hello")]
    Closed,
}

impl SetupError {
    /// The Disconnect we send for this failure, if the connection can still carry one.
    pub(crate) fn disconnect_reason(&self) -> Option<DisconnectReason> {
        match self {
            Self::Hello(e) => Some(e.disconnect_reason()),
            Self::UnexpectedIdentity => Some(DisconnectReason::UnexpectedIdentity),
            Self::UnexpectedMessage(_) => Some(DisconnectReason::ProtocolError),
            Self::NoSharedCapability => Some(DisconnectReason::UselessPeer),
            Self::Timeout => Some(DisconnectReason::ProtocolError),
            Self::Rlpx(_) | Self::Disconnected(_) | Self::Closed => None,
        }
    }
}

/// Sends our Hello, reads theirs, checks it and matches capabilities.
///
/// On failure a Disconnect with the fitting reason has already been sent where possible.
pub(crate) async fn negotiate<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut RlpxStream<S>,
    ours: &Hello,
    local_caps: &[(Capability, u64)],
    timeout: Duration,
) -> Result<Negotiated, SetupError> {
    // Set once the peer's Hello is read: from then on the peer expects its encoding.
    let mut codec = PayloadCodec::Plain;
    let result = tokio::time::timeout(timeout, exchange(stream, ours, local_caps, &mut codec))
        .await
        .unwrap_or(Err(SetupError::Timeout));
    if let Err(e) = &result {
        if let Some(reason) = e.disconnect_reason() {
            send_disconnect(stream, reason, codec).await;
        }
    }
    result
}

async fn exchange<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut RlpxStream<S>,
    ours: &Hello,
    local_caps: &[(Capability, u64)],
    codec_after_hello: &mut PayloadCodec,
) -> Result<Negotiated, SetupError> {
    stream.send(code::HELLO, &ours.encode()).await?;
    let frame = stream.recv().await?.ok_or(SetupError::Closed)?;
    match frame.code {
        code::HELLO => {}
        code::DISCONNECT => {
            return Err(SetupError::Disconnected(DisconnectReason::read_message(
                &frame.payload,
            )));
        }
        other => return Err(SetupError::UnexpectedMessage(other)),
    }
    let hello = Hello::decode(&frame.payload)?;
    let codec = PayloadCodec::negotiate(ours.protocol_version, hello.protocol_version);
    *codec_after_hello = codec;
    if hello.id != stream.remote_id() {
        return Err(SetupError::UnexpectedIdentity);
    }
    let shared = match_capabilities(local_caps, &hello.capabilities);
    if shared.is_empty() {
        return Err(SetupError::NoSharedCapability);
    }
    Ok(Negotiated {
        hello,
        shared,
        codec,
    })
}

/// Best-effort Disconnect on a stream we are about to drop.
pub(crate) async fn send_disconnect<S: AsyncRead + AsyncWrite + Unpin>(
    stream: &mut RlpxStream<S>,
    reason: DisconnectReason,
    codec: PayloadCodec,
) {
    let payload = reason.encode_message(codec);
    let send = stream.send(code::DISCONNECT, &payload);
    // The connection is being dropped either way; a failed send changes nothing.
    let _ = tokio::time::timeout(Duration::from_secs(2), send).await;
}

/// The Hello we send.
pub(crate) fn our_hello(
    client_id: &str,
    caps: Vec<Capability>,
    port: u16,
    id: crate::crypto::NodeId,
) -> Hello {
    Hello {
        protocol_version: P2P_VERSION,
        client_id: client_id.to_string(),
        capabilities: caps,
        listen_port: port,
        id,
    }
}
