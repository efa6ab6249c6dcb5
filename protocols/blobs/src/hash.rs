//! Content addresses: the sha256 of a blob.

use std::fmt;
use std::str::FromStr;

use sha2::{Digest, Sha256};

/// A blob's sha256, which is also its name.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct BlobHash(pub [u8; 32]);

impl BlobHash {
    /// The hash of `data`.
    pub fn of(data: &[u8]) -> Self {
        Self(Sha256::digest(data).into())
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode(self.0))
    }
}

impl fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobHash({}..)", &hex::encode(&self.0[..4]))
    }
}

/// Why text is not a [`BlobHash`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("a blob hash is 64 hex digits")]
pub struct BlobHashError;

impl FromStr for BlobHash {
    type Err = BlobHashError;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let mut hash = [0u8; 32];
        hex::decode_to_slice(text, &mut hash).map_err(|_| BlobHashError)?;
        Ok(Self(hash))
    }
}

impl peerwire::rlp::Encodable for BlobHash {
    fn rlp_append(&self, s: &mut peerwire::rlp::RlpStream) {
        // `encoder()`, not `append`: inside `rlp_append`, `append` would count a second item.
        s.encoder().encode_value(&self.0);
    }
}

impl peerwire::rlp::Decodable for BlobHash {
    fn decode(rlp: &peerwire::rlp::Rlp<'_>) -> Result<Self, peerwire::rlp::DecoderError> {
        let bytes = rlp.data()?;
        let hash = bytes
            .try_into()
            .map_err(|_| peerwire::rlp::DecoderError::Custom("a blob hash is 32 bytes"))?;
        Ok(Self(hash))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_answer_text_and_rlp_round_trip() {
        // sha256("abc"), FIPS 180-2 appendix B.1.
        let abc = BlobHash::of(b"abc");
        let text = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
        assert_eq!(abc.to_string(), text);
        assert_eq!(text.parse::<BlobHash>(), Ok(abc));
        assert_eq!("abcd".parse::<BlobHash>(), Err(BlobHashError));
        let encoded = peerwire::rlp::encode(&abc);
        assert_eq!(peerwire::rlp::decode::<BlobHash>(&encoded), Ok(abc));
        // Inside a list it is one item.
        let pair = peerwire::rlp::encode_list(&[abc, abc]);
        assert_eq!(peerwire::rlp::Rlp::new(&pair).item_count(), Ok(2));
        assert!(
            peerwire::rlp::decode::<BlobHash>(&peerwire::rlp::encode(&&[1u8; 31][..])).is_err()
        );
    }
}
