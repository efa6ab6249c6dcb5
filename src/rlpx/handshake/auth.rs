//! The auth message, sent by the initiator.
//!
//! EIP-8: `auth-body = [sig, initiator-pubk, initiator-nonce, auth-vsn, ...]`, where
//! "implementations should ignore any additional list elements" and `auth-vsn` may be higher
//! than 4. Legacy: `sig || keccak256(ephemeral-pubk) || pubk || nonce || 0x0`, 194 bytes.
//!
//! RLPx: "`sig = sign(ephemeral-privkey, static-shared-secret ^ nonce)`" where
//! `static-shared-secret = ecdh.agree(privkey, remote-pubk)`.

use rlp::RlpStream;
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message, PublicKey, SecretKey, SECP256K1};

use super::rlp_fields::{body_list, fixed, split_legacy};
use super::HandshakeError;
use crate::crypto::ecies::ecdh_x;
use crate::crypto::{NodeId, NodeKey};

/// The handshake version we send; EIP-8 says to accept any.
pub(crate) const VERSION: u64 = 4;

/// A decoded auth message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Auth {
    pub(crate) signature: [u8; 65],
    pub(crate) initiator_id: NodeId,
    pub(crate) nonce: [u8; 32],
    pub(crate) version: u64,
}

fn signed_message(static_shared: &[u8; 32], nonce: &[u8; 32]) -> Message {
    let mut digest = *static_shared;
    for (d, n) in digest.iter_mut().zip(nonce) {
        *d ^= n;
    }
    Message::from_digest(digest)
}

impl Auth {
    /// Builds the initiator's auth for `remote`, signed with its ephemeral key.
    pub(crate) fn new(
        key: &NodeKey,
        remote: &PublicKey,
        ephemeral: &SecretKey,
        nonce: [u8; 32],
    ) -> Self {
        let message = signed_message(&ecdh_x(remote, key.secret()), &nonce);
        let (recovery_id, compact) = SECP256K1
            .sign_ecdsa_recoverable(&message, ephemeral)
            .serialize_compact();
        let mut signature = [0u8; 65];
        signature[..64].copy_from_slice(&compact);
        signature[64] = i32::from(recovery_id) as u8;
        Self {
            signature,
            initiator_id: key.id(),
            nonce,
            version: VERSION,
        }
    }

    /// The EIP-8 body, before padding.
    pub(crate) fn encode_eip8(&self) -> Vec<u8> {
        let mut s = RlpStream::new_list(4);
        s.append(&self.signature.as_slice());
        s.append(&self.initiator_id.as_bytes().as_slice());
        s.append(&self.nonce.as_slice());
        s.append(&self.version);
        s.out().to_vec()
    }

    pub(crate) fn decode_eip8(plaintext: &[u8]) -> Result<Self, HandshakeError> {
        let list = body_list(plaintext)?;
        Ok(Self {
            signature: fixed(&list, 0)?,
            initiator_id: NodeId::from_slice(&fixed::<64>(&list, 1)?)?,
            nonce: fixed(&list, 2)?,
            version: list.val_at(3)?,
        })
    }

    pub(crate) fn decode_legacy(plaintext: &[u8]) -> Result<Self, HandshakeError> {
        // The keccak256 of the ephemeral key at 65..97 is redundant with the signature and, as
        // in other implementations, not checked.
        Ok(Self {
            signature: split_legacy(plaintext, 0)?,
            initiator_id: NodeId::from_slice(&split_legacy::<64>(plaintext, 97)?)?,
            nonce: split_legacy(plaintext, 161)?,
            version: VERSION,
        })
    }

    /// The initiator's ephemeral public key, recovered from the signature by the recipient.
    pub(crate) fn recover_ephemeral(&self, key: &SecretKey) -> Result<PublicKey, HandshakeError> {
        let static_shared = ecdh_x(&self.initiator_id.public_key(), key);
        let recovery_id = RecoveryId::try_from(i32::from(self.signature[64]))
            .map_err(|_| HandshakeError::InvalidSignature)?;
        let signature = RecoverableSignature::from_compact(&self.signature[..64], recovery_id)
            .map_err(|_| HandshakeError::InvalidSignature)?;
        SECP256K1
            .recover_ecdsa(&signed_message(&static_shared, &self.nonce), &signature)
            .map_err(|_| HandshakeError::InvalidSignature)
    }
}
