//! The per-peer, per-protocol message channel handed to a handler.

use std::sync::Arc;

use bytes::Bytes;
use tokio::sync::mpsc;

use crate::session::{Channels, Inbound, Msg, OutboundLimit, Outgoing, SessionControl, SessionEnd};
use crate::wire::{PayloadCodec, WirePayload};

/// Why `read_msg` returned no message.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ReadError {
    /// The session ended (every message received before that was delivered first).
    #[error("peer disconnected: {0:?}")]
    Disconnected(SessionEnd),
}

/// Why a message was not queued. None of these reach the wire.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SendError {
    /// The code is not below the protocol's `length`: an API error.
    #[error("message code {code} is outside the protocol's {length} codes")]
    InvalidCode {
        /// The code asked for.
        code: u64,
        /// The protocol's length.
        length: u64,
    },
    /// The payload is larger than a frame can carry.
    #[error("message of {0} bytes exceeds the frame limit")]
    TooLarge(usize),
    /// `try_send` only: the peer's queue for this protocol is full, in messages or in bytes.
    #[error("send queue full")]
    Full,
    /// The session has ended.
    #[error("peer disconnected")]
    Disconnected,
    /// `Peer::send` and friends: the session does not run this capability (it is not shared,
    /// or the peer's handlers have not started yet).
    #[error("capability not running on this peer")]
    NotShared,
}

/// A handler's view of one peer: its messages for this protocol, and a way to send them.
#[derive(Debug)]
pub struct MsgReadWriter {
    reader: MsgReader,
    sender: MsgSender,
}

/// The receiving half of a [`MsgReadWriter`].
#[derive(Debug)]
pub struct MsgReader {
    inbound: mpsc::Receiver<Inbound>,
    control: Arc<SessionControl>,
}

/// The sending half of a [`MsgReadWriter`]. Cheap to clone: every clone feeds the same
/// bounded queue, so the application can send while the handler waits in `read_msg`.
///
/// The queue is bounded in messages and in bytes (of payloads as they go on the wire), see
/// `Protocol::with_queue_capacity` and `Protocol::with_outbound_bytes`; a message of any
/// size fits when the queue holds no bytes. Room is freed as the connection writes.
#[derive(Clone, Debug)]
pub struct MsgSender {
    outbound: mpsc::Sender<Outgoing>,
    outbound_limit: OutboundLimit,
    offset: u64,
    length: u64,
    codec: PayloadCodec,
    control: Arc<SessionControl>,
}

impl MsgReadWriter {
    pub(crate) fn new(channels: Channels) -> Self {
        let Channels {
            inbound,
            outbound,
            outbound_limit,
            offset,
            length,
            codec,
            control,
        } = channels;
        Self {
            reader: MsgReader {
                inbound,
                control: control.clone(),
            },
            sender: MsgSender {
                outbound,
                outbound_limit,
                offset,
                length,
                codec,
                control,
            },
        }
    }

    /// Splits into a receiving half and a cloneable sending half.
    pub fn split(self) -> (MsgReader, MsgSender) {
        (self.reader, self.sender)
    }

    /// The sending half, to clone and hand to other tasks.
    pub fn sender(&self) -> &MsgSender {
        &self.sender
    }

    /// See [`MsgReader::read_msg`].
    pub async fn read_msg(&mut self) -> Result<Msg, ReadError> {
        self.reader.read_msg().await
    }

    /// See [`MsgSender::send`].
    pub async fn send<T: rlp::Encodable>(&self, code: u64, msg: &T) -> Result<(), SendError> {
        self.sender.send(code, msg).await
    }

    /// See [`MsgSender::try_send`].
    pub fn try_send<T: rlp::Encodable>(&self, code: u64, msg: &T) -> Result<(), SendError> {
        self.sender.try_send(code, msg)
    }

    /// See [`MsgSender::send_items`].
    pub async fn send_items<T: rlp::Encodable>(
        &self,
        code: u64,
        items: &[T],
    ) -> Result<(), SendError> {
        self.sender.send_items(code, items).await
    }

    /// See [`MsgSender::send_raw`].
    pub async fn send_raw(&self, code: u64, payload: Bytes) -> Result<(), SendError> {
        self.sender.send_raw(code, payload).await
    }

    /// See [`MsgSender::try_send_raw`].
    pub fn try_send_raw(&self, code: u64, payload: Bytes) -> Result<(), SendError> {
        self.sender.try_send_raw(code, payload)
    }

    /// The number of message codes of this protocol.
    pub fn length(&self) -> u64 {
        self.sender.length
    }
}

impl MsgReader {
    /// The next message from the peer for this protocol. Once the session has ended and
    /// every message received before that was read, it returns `Disconnected`.
    ///
    /// Messages received before the end, also those still waiting behind a full queue, are
    /// delivered first if the handler reads them within the session's disconnect linger
    /// time (`SessionTimeouts::disconnect_linger`); after that the session stops, and what is
    /// left unread is dropped.
    ///
    /// Cancel-safe: a dropped call loses no message.
    pub async fn read_msg(&mut self) -> Result<Msg, ReadError> {
        match self.inbound.recv().await {
            // Dropping the charge returns the message's bytes to the inbound budgets.
            Some(Inbound { msg, .. }) => Ok(msg),
            None => Err(ReadError::Disconnected(
                self.control.outcome().unwrap_or(SessionEnd::Closed),
            )),
        }
    }
}

impl MsgSender {
    /// Queues `msg` (RLP-encoded) under `code`, waiting while this protocol's queue for the
    /// peer is full (in messages, or in bytes: senders waiting for bytes are served in order).
    ///
    /// Cancel-safe: if the future is dropped, the message was either queued whole or not at all.
    pub async fn send<T: rlp::Encodable>(&self, code: u64, msg: &T) -> Result<(), SendError> {
        self.send_raw(code, rlp::encode(msg).freeze()).await
    }

    /// Queues `msg` under `code` if there is room now, in messages and in bytes;
    /// [`SendError::Full`] if not. Never waits.
    pub fn try_send<T: rlp::Encodable>(&self, code: u64, msg: &T) -> Result<(), SendError> {
        self.try_send_raw(code, rlp::encode(msg).freeze())
    }

    /// Queues `items` as one RLP list under `code`, waiting for room. Cancel-safe like `send`.
    pub async fn send_items<T: rlp::Encodable>(
        &self,
        code: u64,
        items: &[T],
    ) -> Result<(), SendError> {
        self.send_raw(code, rlp::encode_list(items).freeze()).await
    }

    /// Queues an already-encoded payload, waiting for room. Cancel-safe like `send`.
    pub async fn send_raw(&self, code: u64, payload: Bytes) -> Result<(), SendError> {
        let (code, payload) = self.prepare(code, payload)?;
        let room = tokio::select! {
            room = self.outbound_limit.reserve(payload.len()) => room,
            _ = self.control.ending() => return Err(SendError::Disconnected),
        };
        self.outbound
            .send(Outgoing {
                code,
                payload,
                _room: room,
            })
            .await
            .map_err(|_| SendError::Disconnected)?;
        self.control.wake_writer();
        Ok(())
    }

    /// Queues an already-encoded payload if there is room now.
    pub fn try_send_raw(&self, code: u64, payload: Bytes) -> Result<(), SendError> {
        let (code, payload) = self.prepare(code, payload)?;
        let room = self
            .outbound_limit
            .try_reserve(payload.len())
            .ok_or(SendError::Full)?;
        let out = Outgoing {
            code,
            payload,
            _room: room,
        };
        self.outbound.try_send(out).map_err(|e| match e {
            mpsc::error::TrySendError::Full(_) => SendError::Full,
            mpsc::error::TrySendError::Closed(_) => SendError::Disconnected,
        })?;
        self.control.wake_writer();
        Ok(())
    }

    /// The absolute code and the payload as it goes on the wire.
    fn prepare(&self, code: u64, payload: Bytes) -> Result<(u64, WirePayload), SendError> {
        if code >= self.length {
            return Err(SendError::InvalidCode {
                code,
                length: self.length,
            });
        }
        if self.control.is_ending() {
            return Err(SendError::Disconnected);
        }
        let payload = self
            .codec
            .encode_parts(payload)
            .map_err(|too_large| SendError::TooLarge(too_large.0))?;
        Ok((self.offset + code, payload))
    }
}
