//! A published message: who published it, when, on which topic, what; its id and the
//! origin's signature over that id.

use std::fmt;

use bytes::Bytes;
use peerwire::crypto::{NodeId, NodeKey, NODE_ID_LEN};
use secp256k1::ecdsa::{RecoverableSignature, RecoveryId};
use secp256k1::{Message as Digest32, SECP256K1};
use sha2::{Digest, Sha256};

/// Length of a [`MessageId`].
pub const ID_LEN: usize = 32;
/// Length of an origin signature: r, s and the recovery id.
pub const SIGNATURE_LEN: usize = 65;

/// A message's network-wide name: sha256 over its origin, publish time, topic and data.
///
/// Over all four rather than the data alone, so that two nodes (or one node twice) saying
/// the same words publish two messages, not one that the seen-cache swallows the second
/// time. Over the data as well as origin and time, so that the id is what the origin
/// signs: a relay cannot attach a valid signature to other content under a known id, and
/// an origin that reuses a time with other content just makes another message.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MessageId(pub [u8; ID_LEN]);

impl MessageId {
    /// The first 4 bytes in hex, for logs.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for MessageId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "MessageId({})", self.short())
    }
}

/// What an origin publishes. Everything here is covered by the origin's signature.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Message {
    /// The publishing node.
    pub origin: NodeId,
    /// The origin's clock at publishing, in milliseconds since the Unix epoch; strictly
    /// increasing per origin, so it also tells its messages apart.
    pub time_ms: u64,
    /// The topic, UTF-8.
    pub topic: String,
    /// The payload.
    pub data: Bytes,
}

impl Message {
    /// Its id: sha256 of origin (64 bytes), time (8 bytes big-endian), topic length (2 bytes
    /// big-endian), topic, data. Every part before the data has a fixed or stated length,
    /// so two different messages cannot hash the same bytes.
    pub fn id(&self) -> MessageId {
        let mut hash = Sha256::new();
        hash.update(self.origin.as_bytes());
        hash.update(self.time_ms.to_be_bytes());
        // The topic length is checked against `Limits::max_topic_len` (at most 255 in any
        // configuration) before a message is built or decoded; u16 holds it.
        hash.update((self.topic.len() as u16).to_be_bytes());
        hash.update(self.topic.as_bytes());
        hash.update(&self.data);
        MessageId(hash.finalize().into())
    }
}

/// A message with its id and its origin's signature, as relayed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Signed {
    pub(crate) message: Message,
    pub(crate) id: MessageId,
    pub(crate) signature: [u8; SIGNATURE_LEN],
}

/// Why a signature does not prove the origin.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("the signature is not the origin's")]
pub(crate) struct BadSignature;

impl Signed {
    /// Signs `message` with `key` (which must be the origin's).
    pub(crate) fn sign(message: Message, key: &NodeKey) -> Self {
        let id = message.id();
        let (recid, rs) = SECP256K1
            .sign_ecdsa_recoverable(&Digest32::from_digest(id.0), key.secret())
            .serialize_compact();
        let mut signature = [0u8; SIGNATURE_LEN];
        signature[..64].copy_from_slice(&rs);
        // `i32::from(RecoveryId)` is 0..=3, so it fits the byte.
        signature[64] = i32::from(recid) as u8;
        Self {
            message,
            id,
            signature,
        }
    }

    /// A received message, its id computed; the signature is not checked yet
    /// ([`Signed::verify`]).
    pub(crate) fn unverified(message: Message, signature: [u8; SIGNATURE_LEN]) -> Self {
        Self {
            id: message.id(),
            message,
            signature,
        }
    }

    /// Whether the signature over the id recovers to the origin's key (the expensive step,
    /// about 50 µs).
    pub(crate) fn verify(&self) -> Result<(), BadSignature> {
        let recid =
            RecoveryId::try_from(i32::from(self.signature[64])).map_err(|_| BadSignature)?;
        let sig = RecoverableSignature::from_compact(&self.signature[..64], recid)
            .map_err(|_| BadSignature)?;
        let key = SECP256K1
            .recover_ecdsa(&Digest32::from_digest(self.id.0), &sig)
            .map_err(|_| BadSignature)?;
        if NodeId::from_public_key(&key) == self.message.origin {
            Ok(())
        } else {
            Err(BadSignature)
        }
    }

    /// Bytes it holds in memory, roughly: what the caches count.
    pub(crate) fn size(&self) -> usize {
        NODE_ID_LEN
            + 8
            + self.message.topic.len()
            + self.message.data.len()
            + SIGNATURE_LEN
            + ID_LEN
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn message(key: &NodeKey, time_ms: u64, topic: &str, data: &'static [u8]) -> Message {
        Message {
            origin: key.id(),
            time_ms,
            topic: topic.into(),
            data: Bytes::from_static(data),
        }
    }

    #[test]
    fn the_same_words_from_two_origins_or_times_are_two_messages() {
        let (a, b) = (NodeKey::random(), NodeKey::random());
        let ids = [
            message(&a, 1, "t", b"hi").id(),
            message(&b, 1, "t", b"hi").id(),
            message(&a, 2, "t", b"hi").id(),
            message(&a, 1, "u", b"hi").id(),
            message(&a, 1, "t", b"ho").id(),
            // Topic and data boundaries are not ambiguous: "t"+"hi" vs "th"+"i".
            message(&a, 1, "th", b"i").id(),
        ];
        for (i, x) in ids.iter().enumerate() {
            for y in &ids[i + 1..] {
                assert_ne!(x, y);
            }
        }
        assert_eq!(ids[0], message(&a, 1, "t", b"hi").id(), "deterministic");
    }

    #[test]
    fn a_signature_proves_the_origin_and_nothing_else() {
        let (a, b) = (NodeKey::random(), NodeKey::random());
        let signed = Signed::sign(message(&a, 7, "t", b"hello"), &a);
        assert_eq!(signed.verify(), Ok(()));

        // Signed by someone else than the origin it names.
        let forged = Signed::sign(message(&a, 7, "t", b"hello"), &b);
        assert_eq!(forged.verify(), Err(BadSignature));
        // A relay changing the content: the id changes, the signature no longer fits.
        let mut changed = signed.message.clone();
        changed.data = Bytes::from_static(b"HELLO");
        assert_eq!(
            Signed::unverified(changed, signed.signature).verify(),
            Err(BadSignature)
        );
        // Garbage signatures: a bad recovery id, and r = s = 0.
        let mut bad_v = signed.signature;
        bad_v[64] = 9;
        assert_eq!(
            Signed::unverified(signed.message.clone(), bad_v).verify(),
            Err(BadSignature)
        );
        let zero = [0u8; SIGNATURE_LEN];
        assert_eq!(
            Signed::unverified(signed.message.clone(), zero).verify(),
            Err(BadSignature)
        );
    }
}
