//! The discv4 packet: `hash || signature || packet-type || packet-data`.
//!
//! discv4.md, "Wire Protocol":
//! ```text
//! packet-header = hash || signature || packet-type
//! hash = keccak256(signature || packet-type || packet-data)
//! signature = sign(packet-type || packet-data)
//! ```

use rlp::{DecoderError, Rlp};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message as Digest32, SECP256K1};

use super::error::PacketError;
use super::message::Message;
use crate::crypto::keccak::keccak256;
use crate::crypto::{NodeId, NodeKey};
use crate::discovery::enr;

/// discv4.md: *"The maximum size of any packet is 1280 bytes."*
pub const MAX_PACKET_SIZE: usize = 1280;
/// Length of the hash, the signature and the packet-type byte.
const HEADER_LEN: usize = HASH_LEN + SIGNATURE_LEN + 1;
const HASH_LEN: usize = 32;
/// *"The `signature` is encoded as a byte array of length 65 as the concatenation of the
/// signature values `r`, `s` and the 'recovery id' `v`."*
const SIGNATURE_LEN: usize = 65;

/// A verified packet: its hash, who signed it, and what it says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The packet's `hash` (what a Pong or ENRResponse quotes back).
    pub hash: [u8; 32],
    /// The node whose key signed the packet.
    pub sender: NodeId,
    /// The decoded message.
    pub message: Message,
}

/// An encoded packet ready to send, with its hash (to match the reply against).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EncodedPacket {
    /// The datagram.
    pub bytes: Vec<u8>,
    /// Its `hash`.
    pub hash: [u8; 32],
}

/// Signs and encodes `message` with `key`.
///
/// Fails with [`PacketError::TooLarge`] if the packet would exceed 1280 bytes (a Neighbors
/// message with more than [`super::message::MAX_NEIGHBORS`] IPv6 nodes).
pub fn encode_packet(key: &NodeKey, message: &Message) -> Result<EncodedPacket, PacketError> {
    encode_raw(key, message.packet_type(), &message.encode_data())
}

/// Signs `packet-type || packet-data` as given (tests use it for malformed packets).
pub(crate) fn encode_raw(
    key: &NodeKey,
    ptype: u8,
    data: &[u8],
) -> Result<EncodedPacket, PacketError> {
    let len = HEADER_LEN + data.len();
    if len > MAX_PACKET_SIZE {
        return Err(PacketError::TooLarge(len));
    }
    let digest = keccak256(&[&[ptype], data]);
    let (recid, rs) = SECP256K1
        .sign_ecdsa_recoverable(&Digest32::from_digest(digest), key.secret())
        .serialize_compact();
    let mut bytes = Vec::with_capacity(len);
    bytes.extend_from_slice(&[0u8; HASH_LEN]);
    bytes.extend_from_slice(&rs);
    // `i32::from(RecoveryId)` is 0..=3, so it fits the `v` byte.
    bytes.push(i32::from(recid) as u8);
    bytes.push(ptype);
    bytes.extend_from_slice(data);
    let hash = keccak256(&[&bytes[HASH_LEN..]]);
    bytes[..HASH_LEN].copy_from_slice(&hash);
    Ok(EncodedPacket { bytes, hash })
}

/// Verifies and decodes a datagram, rejecting it if its expiration lies before `now_unix`.
pub fn decode_packet(bytes: &[u8], now_unix: u64) -> Result<Packet, PacketError> {
    let unverified = Unverified::parse(bytes)?;
    let sender = unverified.sender()?;
    let message = unverified.message()?;
    // discv4.md, Ping: "Packets containing a time stamp that lies in the past are expired
    // may not be processed."
    if let Some(expiration) = message.expiration() {
        if expiration < now_unix {
            return Err(PacketError::Expired {
                expiration,
                now: now_unix,
            });
        }
    }
    check_enr_sender(&message, &sender)?;
    Ok(Packet {
        hash: unverified.hash,
        sender,
        message,
    })
}

/// discv4.md, ENRResponse: *"The recipient of the packet should verify that the node record
/// is signed by the public key which signed the response packet."*
pub(crate) fn check_enr_sender(message: &Message, sender: &NodeId) -> Result<(), PacketError> {
    match message {
        Message::EnrResponse(r) if enr::node_id(&r.record) != *sender => {
            Err(PacketError::EnrNotSenders)
        }
        _ => Ok(()),
    }
}

/// A datagram whose length, hash and packet type were checked, nothing else yet: what can
/// be read before the signature is recovered, the one expensive step (tens of
/// microseconds, against about one for the hash and the RLP). The steps are separate so
/// that a receiver can drop what it does not want first.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Unverified<'a> {
    /// The packet's `hash`.
    pub(crate) hash: [u8; 32],
    /// The `packet-type` byte, one of the six known.
    pub(crate) ptype: u8,
    signature: &'a [u8],
    /// `packet-type || packet-data`, what the signature covers.
    body: &'a [u8],
}

impl<'a> Unverified<'a> {
    /// Checks the length, the hash and the packet type.
    pub(crate) fn parse(bytes: &'a [u8]) -> Result<Self, PacketError> {
        if bytes.len() > MAX_PACKET_SIZE {
            return Err(PacketError::TooLarge(bytes.len()));
        }
        if bytes.len() <= HEADER_LEN {
            return Err(PacketError::TooShort(bytes.len()));
        }
        let (hash, signed) = bytes.split_at(HASH_LEN);
        if keccak256(&[signed]) != hash {
            return Err(PacketError::BadHash);
        }
        let (signature, body) = signed.split_at(SIGNATURE_LEN);
        let ptype = body[0];
        if !(0x01..=0x06).contains(&ptype) {
            return Err(PacketError::UnknownType(ptype));
        }
        let mut packet_hash = [0u8; 32];
        packet_hash.copy_from_slice(hash);
        Ok(Unverified {
            hash: packet_hash,
            ptype,
            signature,
            body,
        })
    }

    /// Decodes the message. Only RLP, except for an ENRResponse, whose record's own
    /// signature is checked too (see [`quoted_request`](Self::quoted_request)).
    pub(crate) fn message(&self) -> Result<Message, PacketError> {
        Message::decode_data(self.ptype, first_item(&self.body[1..])?)
    }

    /// The `request-hash` an ENRResponse quotes, read without decoding (or verifying) its
    /// record; `None` for other types or malformed data.
    pub(crate) fn quoted_request(&self) -> Option<[u8; 32]> {
        if self.ptype != 0x06 {
            return None;
        }
        let list = Rlp::new(first_item(&self.body[1..]).ok()?);
        list.at(0).ok()?.data().ok()?.try_into().ok()
    }

    /// Recovers the node that signed the packet (the expensive step).
    pub(crate) fn sender(&self) -> Result<NodeId, PacketError> {
        recover(self.signature, self.body)
    }
}

fn recover(signature: &[u8], body: &[u8]) -> Result<NodeId, PacketError> {
    let recid =
        RecoveryId::try_from(i32::from(signature[64])).map_err(|_| PacketError::BadSignature)?;
    let sig = RecoverableSignature::from_compact(&signature[..64], recid)
        .map_err(|_| PacketError::BadSignature)?;
    let key = SECP256K1
        .recover_ecdsa(&Digest32::from_digest(keccak256(&[body])), &sig)
        .map_err(|_| PacketError::BadSignature)?;
    Ok(NodeId::from_public_key(&key))
}

/// The first RLP item of `data`; *"any extra data after the list"* is ignored.
fn first_item(data: &[u8]) -> Result<&[u8], PacketError> {
    let info = Rlp::new(data).payload_info()?;
    data.get(..info.total())
        .ok_or(PacketError::BadRlp(DecoderError::RlpIsTooShort))
}

#[cfg(test)]
mod tests;
