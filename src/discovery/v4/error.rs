//! Every error of discv4, grouped by who is at fault: the sender of a packet
//! ([`PacketError`]), a limit or a missing endpoint proof on our side ([`RequestError`]),
//! the service's setup ([`ServiceError`]) and its queries ([`QueryError`]).
//!
//! In a file of their own so that the modules raising them need not import each other
//! (the message codec and the packet codec both return [`PacketError`]).

use std::net::SocketAddr;

use rlp::DecoderError;

use crate::discovery::enr::RecordError;

/// Why bytes are not a valid discv4 packet (all of them are the sender's fault).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PacketError {
    /// Longer than [`MAX_PACKET_SIZE`](super::MAX_PACKET_SIZE) (also returned when encoding a message that would be).
    #[error("discv4 packet of {0} bytes exceeds 1280")]
    TooLarge(usize),
    /// Shorter than the header plus one byte of data.
    #[error("discv4 packet of {0} bytes is shorter than its header")]
    TooShort(usize),
    /// The leading hash does not match the rest of the packet.
    #[error("discv4 packet hash mismatch")]
    BadHash,
    /// The signature is malformed or recovers to no key.
    #[error("discv4 packet signature is invalid")]
    BadSignature,
    /// A packet type outside 0x01..=0x06.
    #[error("unknown discv4 packet type {0:#04x}")]
    UnknownType(u8),
    /// The packet data is not the RLP the type requires.
    #[error("malformed discv4 packet data: {0:?}")]
    BadRlp(DecoderError),
    /// An IP address that is neither 4 nor 16 bytes long.
    #[error("discv4 endpoint IP of {0} bytes")]
    BadIp(usize),
    /// A node id in Neighbors that is not a point on secp256k1.
    #[error("discv4 neighbor id is not a public key")]
    BadNodeId,
    /// The ENR in an ENRResponse is malformed or its signature does not verify.
    #[error("discv4 ENRResponse carries an invalid record")]
    BadEnr,
    /// The ENR in an ENRResponse belongs to another key than the one that signed the packet.
    #[error("discv4 ENRResponse record is not the sender's")]
    EnrNotSenders,
    /// The expiration time stamp lies in the past.
    #[error("discv4 packet expired at {expiration}, now {now}")]
    Expired {
        /// The packet's expiration (UNIX seconds).
        expiration: u64,
        /// The time it was checked against (UNIX seconds).
        now: u64,
    },
}

impl From<DecoderError> for PacketError {
    fn from(e: DecoderError) -> Self {
        Self::BadRlp(e)
    }
}

/// Why a request could not be started.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// `max_pending` requests are already outstanding.
    #[error("too many outstanding discovery requests")]
    TooManyPending,
    /// FindNode and ENRRequest need a proven endpoint first: ping the node.
    #[error("node has no endpoint proof; ping it first")]
    NotBonded,
}

/// Why the service could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServiceError {
    /// The UDP address could not be bound.
    #[error("cannot bind discovery socket {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Our record could not be built.
    #[error("cannot build our node record: {0}")]
    Record(#[from] RecordError),
}

/// Why a request to the service failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum QueryError {
    /// The service has stopped.
    #[error("discovery service stopped")]
    Stopped,
    /// Too many lookups are queued.
    #[error("too many discovery lookups queued")]
    Busy,
    /// The node did not answer (or not with a record).
    #[error("node did not answer")]
    NoAnswer,
}
