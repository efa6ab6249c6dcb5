//! Node identity: secp256k1 keys and the 64-byte [`NodeId`].

use std::fmt;
use std::str::FromStr;

use rand::{CryptoRng, RngCore};
use secp256k1::{PublicKey, SecretKey};

/// Length in bytes of a node id: an uncompressed secp256k1 point without its `0x04` tag.
pub const NODE_ID_LEN: usize = 64;

/// A node's identity: its secp256k1 public key, uncompressed, without the leading `0x04`.
///
/// A `NodeId` always holds a point on the curve; every constructor checks it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeId([u8; NODE_ID_LEN]);

/// Why bytes or text could not be read as a [`NodeId`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NodeIdError {
    /// The id was not exactly 64 bytes (128 hex digits).
    #[error("node id must be 64 bytes, got {0}")]
    Length(usize),
    /// The text was not hexadecimal (or had an odd number of digits).
    #[error("node id is not valid hex")]
    Hex,
    /// The 64 bytes are not a point on secp256k1.
    #[error("node id is not a point on secp256k1")]
    NotOnCurve,
}

impl NodeId {
    /// The id of a public key.
    pub fn from_public_key(key: &PublicKey) -> Self {
        let uncompressed = key.serialize_uncompressed();
        let mut id = [0u8; NODE_ID_LEN];
        id.copy_from_slice(&uncompressed[1..]);
        Self(id)
    }

    /// The id belonging to a secret key.
    pub fn from_secret_key(key: &SecretKey) -> Self {
        Self::from_public_key(&key.public_key(secp256k1::SECP256K1))
    }

    /// Reads 64 bytes, checking that they are a point on the curve.
    pub fn from_slice(bytes: &[u8]) -> Result<Self, NodeIdError> {
        let bytes: [u8; NODE_ID_LEN] = bytes
            .try_into()
            .map_err(|_| NodeIdError::Length(bytes.len()))?;
        let mut tagged = [0u8; NODE_ID_LEN + 1];
        tagged[0] = 0x04;
        tagged[1..].copy_from_slice(&bytes);
        PublicKey::from_slice(&tagged).map_err(|_| NodeIdError::NotOnCurve)?;
        Ok(Self(bytes))
    }

    /// The public key this id encodes.
    pub fn public_key(&self) -> PublicKey {
        let mut tagged = [0u8; NODE_ID_LEN + 1];
        tagged[0] = 0x04;
        tagged[1..].copy_from_slice(&self.0);
        // Every constructor checked that the bytes are a point on the curve.
        PublicKey::from_slice(&tagged).expect("NodeId holds a valid point")
    }

    /// The raw 64 bytes.
    pub fn as_bytes(&self) -> &[u8; NODE_ID_LEN] {
        &self.0
    }

    /// The first 8 hex digits of the id, for logs and user interfaces.
    pub fn short(&self) -> String {
        hex::encode(&self.0[..4])
    }
}

impl fmt::Display for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for NodeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "NodeId({}..)", self.short())
    }
}

impl FromStr for NodeId {
    type Err = NodeIdError;

    /// Reads 128 hex digits, with or without a `0x` prefix.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let s = s.strip_prefix("0x").unwrap_or(s);
        if s.len() % 2 == 1 {
            return Err(NodeIdError::Hex);
        }
        if s.len() != 2 * NODE_ID_LEN {
            return Err(NodeIdError::Length(s.len() / 2));
        }
        let bytes = hex::decode(s).map_err(|_| NodeIdError::Hex)?;
        Self::from_slice(&bytes)
    }
}

/// A node's secret key together with its id, so the id is derived once.
#[derive(Clone)]
pub struct NodeKey {
    secret: SecretKey,
    id: NodeId,
}

impl NodeKey {
    /// The key pair of `secret`.
    pub fn new(secret: SecretKey) -> Self {
        Self {
            id: NodeId::from_secret_key(&secret),
            secret,
        }
    }

    /// A fresh key pair from the operating system's randomness (through `rand`'s
    /// thread-local CSPRNG, seeded from it). Use [`generate`](Self::generate) to draw from
    /// an RNG of your own, e.g. a seeded one in tests.
    pub fn random() -> Self {
        Self::generate(&mut rand::thread_rng())
    }

    /// A fresh key pair drawn from `rng`.
    pub fn generate<R: RngCore + CryptoRng>(rng: &mut R) -> Self {
        Self::new(generate_secret_key(rng))
    }

    /// The secret key.
    pub fn secret(&self) -> &SecretKey {
        &self.secret
    }

    /// The node id (public key).
    pub fn id(&self) -> NodeId {
        self.id
    }
}

impl fmt::Debug for NodeKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NodeKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// A fresh secret key drawn from `rng`.
pub fn generate_secret_key<R: RngCore + CryptoRng>(rng: &mut R) -> SecretKey {
    SecretKey::new(rng)
}

/// Why text could not be read as a secret key.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SecretKeyError {
    /// Not 64 hex digits.
    #[error("secret key must be 64 hex digits")]
    Format,
    /// Zero or not below the curve order.
    #[error("secret key is out of range for secp256k1")]
    OutOfRange,
}

/// Reads a secret key from 64 hex digits (optional `0x` prefix, surrounding whitespace ignored).
pub fn parse_secret_key(text: &str) -> Result<SecretKey, SecretKeyError> {
    let text = text.trim();
    let text = text.strip_prefix("0x").unwrap_or(text);
    let bytes = hex::decode(text).map_err(|_| SecretKeyError::Format)?;
    let bytes: [u8; 32] = bytes.try_into().map_err(|_| SecretKeyError::Format)?;
    SecretKey::from_byte_array(&bytes).map_err(|_| SecretKeyError::OutOfRange)
}

#[cfg(test)]
mod tests {
    use super::*;

    const KEY_A: &str = "49a7b37aa6f6645917e7b807e9d1c00d4fa71f18343b0d4122a4d2df64dd6fee";

    #[test]
    fn id_round_trips_through_hex_and_public_key() {
        let key = parse_secret_key(KEY_A).unwrap();
        let id = NodeId::from_secret_key(&key);
        let text = id.to_string();
        assert_eq!(text.len(), 128);
        assert_eq!(text.parse::<NodeId>().unwrap(), id);
        assert_eq!(format!("0x{text}").parse::<NodeId>().unwrap(), id);
        assert_eq!(NodeId::from_public_key(&id.public_key()), id);
    }

    #[test]
    fn malformed_ids_are_rejected_with_their_kind() {
        assert_eq!("abcd".parse::<NodeId>(), Err(NodeIdError::Length(2)));
        assert_eq!("zz".repeat(64).parse::<NodeId>(), Err(NodeIdError::Hex));
        assert_eq!("a".repeat(129).parse::<NodeId>(), Err(NodeIdError::Hex));
        // x = 0 has no y on secp256k1 (0^3 + 7 = 7 is not a square mod p), so (0, 0) is off-curve.
        assert_eq!(NodeId::from_slice(&[0u8; 64]), Err(NodeIdError::NotOnCurve));
        assert_eq!(NodeId::from_slice(&[1u8; 63]), Err(NodeIdError::Length(63)));
    }

    #[test]
    fn secret_keys_parse_strictly() {
        assert!(parse_secret_key(&format!(" 0x{KEY_A}\n")).is_ok());
        assert_eq!(parse_secret_key("12"), Err(SecretKeyError::Format));
        assert_eq!(
            parse_secret_key(&"g".repeat(64)),
            Err(SecretKeyError::Format)
        );
        assert_eq!(
            parse_secret_key(&"0".repeat(64)),
            Err(SecretKeyError::OutOfRange)
        );
        assert_eq!(
            parse_secret_key(&"f".repeat(64)),
            Err(SecretKeyError::OutOfRange)
        );
    }
}
