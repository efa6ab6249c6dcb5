//! Disconnect reasons and the Disconnect message (`p2p` message 0x01).
//!
//! devp2p: "Disconnect (0x01) `[reason: P]`: Inform the peer that a disconnection is imminent;
//! if received, a peer should disconnect immediately." Some implementations send the reason as
//! a bare integer rather than a one-element list; both are read.

use std::fmt;

use bytes::Bytes;

use super::PayloadCodec;

/// Why a session ended, as devp2p numbers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// 0x00: disconnect requested.
    Requested,
    /// 0x01: TCP sub-system error.
    TcpError,
    /// 0x02: breach of protocol, e.g. a malformed message or bad RLP.
    ProtocolError,
    /// 0x03: useless peer (no shared capability).
    UselessPeer,
    /// 0x04: too many peers.
    TooManyPeers,
    /// 0x05: already connected.
    AlreadyConnected,
    /// 0x06: incompatible p2p protocol version.
    IncompatibleVersion,
    /// 0x07: null or invalid node identity received.
    InvalidIdentity,
    /// 0x08: client quitting.
    Quitting,
    /// 0x09: unexpected identity in handshake.
    UnexpectedIdentity,
    /// 0x0a: identity is the same as this node (connected to itself).
    ConnectedToSelf,
    /// 0x0b: ping timeout.
    PingTimeout,
    /// 0x10: some other reason specific to a subprotocol.
    SubprotocolError,
}

/// Why a Disconnect payload could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DisconnectDecodeError {
    /// Neither `[reason]` nor a bare integer.
    #[error("malformed disconnect message")]
    Malformed,
    /// A reason code devp2p does not define.
    #[error("unknown disconnect reason {0:#04x}")]
    UnknownReason(u64),
}

const ALL: [DisconnectReason; 13] = [
    DisconnectReason::Requested,
    DisconnectReason::TcpError,
    DisconnectReason::ProtocolError,
    DisconnectReason::UselessPeer,
    DisconnectReason::TooManyPeers,
    DisconnectReason::AlreadyConnected,
    DisconnectReason::IncompatibleVersion,
    DisconnectReason::InvalidIdentity,
    DisconnectReason::Quitting,
    DisconnectReason::UnexpectedIdentity,
    DisconnectReason::ConnectedToSelf,
    DisconnectReason::PingTimeout,
    DisconnectReason::SubprotocolError,
];

impl DisconnectReason {
    /// Every reason devp2p defines.
    pub fn all() -> &'static [Self] {
        &ALL
    }

    /// The wire code.
    pub fn code(self) -> u8 {
        match self {
            Self::Requested => 0x00,
            Self::TcpError => 0x01,
            Self::ProtocolError => 0x02,
            Self::UselessPeer => 0x03,
            Self::TooManyPeers => 0x04,
            Self::AlreadyConnected => 0x05,
            Self::IncompatibleVersion => 0x06,
            Self::InvalidIdentity => 0x07,
            Self::Quitting => 0x08,
            Self::UnexpectedIdentity => 0x09,
            Self::ConnectedToSelf => 0x0a,
            Self::PingTimeout => 0x0b,
            Self::SubprotocolError => 0x10,
        }
    }

    /// The reason for a wire code, if devp2p defines one.
    pub fn from_code(code: u64) -> Option<Self> {
        ALL.iter().copied().find(|r| u64::from(r.code()) == code)
    }

    /// The uncompressed Disconnect payload, `[reason]`.
    pub fn encode(self) -> Vec<u8> {
        let mut s = rlp::RlpStream::new_list(1);
        s.append(&self.code());
        s.out().to_vec()
    }

    /// Reads `[reason]`, a bare integer, or an empty payload or list (read as `Requested`).
    pub fn decode(payload: &[u8]) -> Result<Self, DisconnectDecodeError> {
        if payload.is_empty() {
            return Ok(Self::Requested);
        }
        let item = rlp::Rlp::new(payload);
        let info = item
            .payload_info()
            .map_err(|_| DisconnectDecodeError::Malformed)?;
        if info.header_len + info.value_len != payload.len() {
            return Err(DisconnectDecodeError::Malformed);
        }
        let value = if !item.is_list() {
            item
        } else if item.item_count() == Ok(0) {
            return Ok(Self::Requested);
        } else {
            item.at(0).map_err(|_| DisconnectDecodeError::Malformed)?
        };
        // A byte 0x00 is not canonical RLP for zero (0x80 is), but it is unambiguous, so it
        // is read as Requested rather than refused.
        let code = if value.as_raw() == [0x00] {
            0
        } else {
            value
                .as_val::<u64>()
                .map_err(|_| DisconnectDecodeError::Malformed)?
        };
        Self::from_code(code).ok_or(DisconnectDecodeError::UnknownReason(code))
    }
}

impl DisconnectReason {
    /// The Disconnect message payload, `[reason]`, in the session's payload encoding.
    pub fn encode_message(self, codec: PayloadCodec) -> Bytes {
        let plain = Bytes::from(self.encode());
        // Four bytes at most: far below the frame limit.
        codec.encode(plain.clone()).unwrap_or(plain)
    }

    /// The reason of a received Disconnect. One we cannot read still ends the session, as a
    /// breach of protocol.
    pub fn read_message(payload: &[u8]) -> Self {
        Self::decode_message(payload).unwrap_or(Self::ProtocolError)
    }

    /// Reads a Disconnect message payload, compressed or not: the plain form is tried first,
    /// as some implementations never compress Disconnect.
    pub fn decode_message(payload: &[u8]) -> Result<Self, DisconnectDecodeError> {
        Self::decode(payload).or_else(|plain_error| {
            // A Disconnect is a few bytes; anything larger is not one.
            super::snappy::decompress_max(payload, 64)
                .map_err(|_| plain_error)
                .and_then(|plain| Self::decode(&plain))
        })
    }
}

impl fmt::Display for DisconnectReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Requested => "disconnect requested",
            Self::TcpError => "network error",
            Self::ProtocolError => "breach of protocol",
            Self::UselessPeer => "useless peer",
            Self::TooManyPeers => "too many peers",
            Self::AlreadyConnected => "already connected",
            Self::IncompatibleVersion => "incompatible p2p protocol version",
            Self::InvalidIdentity => "invalid node identity",
            Self::Quitting => "client quitting",
            Self::UnexpectedIdentity => "unexpected identity",
            Self::ConnectedToSelf => "connected to self",
            Self::PingTimeout => "ping timeout",
            Self::SubprotocolError => "subprotocol error",
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_the_devp2p_table() {
        let codes: Vec<u8> = ALL.iter().map(|r| r.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 0x0a, 0x0b, 0x10]);
    }

    #[test]
    fn every_reason_round_trips_as_list_and_as_bare_integer() {
        for reason in DisconnectReason::all() {
            let list = reason.encode();
            assert_eq!(DisconnectReason::decode(&list), Ok(*reason));
            let bare = rlp::encode(&reason.code());
            assert_eq!(DisconnectReason::decode(&bare), Ok(*reason));
        }
        // Hand-written encodings, independent of the encoder above.
        assert_eq!(
            DisconnectReason::encode(DisconnectReason::Requested),
            [0xc1, 0x80]
        );
        assert_eq!(
            DisconnectReason::decode(&[0xc1, 0x08]),
            Ok(DisconnectReason::Quitting)
        );
        assert_eq!(
            DisconnectReason::decode(&[0x10]),
            Ok(DisconnectReason::SubprotocolError)
        );
        assert_eq!(
            DisconnectReason::decode(&[0x80]),
            Ok(DisconnectReason::Requested)
        );
    }

    #[test]
    fn messages_are_read_compressed_or_not_list_or_bare() {
        use DisconnectReason::*;
        for reason in [Requested, TooManyPeers, SubprotocolError] {
            assert_eq!(
                DisconnectReason::decode_message(&reason.encode_message(PayloadCodec::Snappy)),
                Ok(reason)
            );
            assert_eq!(
                DisconnectReason::decode_message(&reason.encode_message(PayloadCodec::Plain)),
                Ok(reason)
            );
            let bare = vec![reason.code()];
            assert_eq!(DisconnectReason::decode_message(&bare), Ok(reason));
            let compressed_bare = crate::wire::snappy::compress(&bare);
            assert_eq!(
                DisconnectReason::decode_message(&compressed_bare),
                Ok(reason)
            );
        }
        assert_eq!(
            DisconnectReason::decode_message(&[0xff, 0xff, 0xff]),
            Err(DisconnectDecodeError::Malformed)
        );
        assert_ne!(
            Requested.encode_message(PayloadCodec::Snappy),
            Requested.encode()
        );
    }

    #[test]
    fn an_unreadable_disconnect_counts_as_a_protocol_error() {
        assert_eq!(
            DisconnectReason::read_message(&[0xff, 0xff, 0xff]),
            DisconnectReason::ProtocolError
        );
        assert_eq!(
            DisconnectReason::read_message(&[0x04]),
            DisconnectReason::TooManyPeers
        );
    }

    #[test]
    fn empty_forms_mean_requested() {
        assert_eq!(
            DisconnectReason::decode(&[]),
            Ok(DisconnectReason::Requested)
        );
        assert_eq!(
            DisconnectReason::decode(&[0xc0]),
            Ok(DisconnectReason::Requested)
        );
    }

    #[test]
    fn unknown_and_malformed_payloads_are_typed() {
        assert_eq!(
            DisconnectReason::decode(&[0x0c]),
            Err(DisconnectDecodeError::UnknownReason(0x0c))
        );
        assert_eq!(
            DisconnectReason::decode(&[0xc2, 0xc0, 0x01]),
            Err(DisconnectDecodeError::Malformed)
        );
        assert_eq!(
            DisconnectReason::decode(&[0xc5, 0x01]),
            Err(DisconnectDecodeError::Malformed)
        );
        assert_eq!(
            DisconnectReason::decode(&[0x82, 0x00, 0x01]),
            Err(DisconnectDecodeError::Malformed)
        );
    }
}
