//! The ack message, sent by the recipient.
//!
//! EIP-8: `ack-body = [recipient-ephemeral-pubk, recipient-nonce, ack-vsn, ...]`, extra list
//! elements ignored. Legacy: `ephemeral-pubk || nonce || 0x0`, 97 bytes.

use rlp::RlpStream;
use secp256k1::PublicKey;

use super::auth::VERSION;
use super::rlp_fields::{body_list, fixed, split_legacy};
use super::HandshakeError;
use crate::crypto::NodeId;

/// A decoded ack message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Ack {
    pub(crate) ephemeral: PublicKey,
    pub(crate) nonce: [u8; 32],
    pub(crate) version: u64,
}

/// The 64-byte form of a public key, as the ack carries it.
fn key_bytes(key: &PublicKey) -> [u8; 64] {
    *NodeId::from_public_key(key).as_bytes()
}

fn parse_key(bytes: &[u8; 64]) -> Result<PublicKey, HandshakeError> {
    NodeId::from_slice(bytes)
        .map(|id| id.public_key())
        .map_err(|_| HandshakeError::InvalidEphemeralKey)
}

impl Ack {
    /// The EIP-8 body, before padding.
    pub(crate) fn encode_eip8(&self) -> Vec<u8> {
        let mut s = RlpStream::new_list(3);
        s.append(&key_bytes(&self.ephemeral).as_slice());
        s.append(&self.nonce.as_slice());
        s.append(&self.version);
        s.out().to_vec()
    }

    /// The legacy plaintext.
    pub(crate) fn encode_legacy(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(97);
        out.extend_from_slice(&key_bytes(&self.ephemeral));
        out.extend_from_slice(&self.nonce);
        out.push(0);
        out
    }

    pub(crate) fn decode_eip8(plaintext: &[u8]) -> Result<Self, HandshakeError> {
        let list = body_list(plaintext)?;
        Ok(Self {
            ephemeral: parse_key(&fixed(&list, 0)?)?,
            nonce: fixed(&list, 1)?,
            version: list.val_at(2)?,
        })
    }

    pub(crate) fn decode_legacy(plaintext: &[u8]) -> Result<Self, HandshakeError> {
        Ok(Self {
            ephemeral: parse_key(&split_legacy(plaintext, 0)?)?,
            nonce: split_legacy(plaintext, 64)?,
            version: VERSION,
        })
    }
}
