//! Keccak-256, the hash devp2p uses everywhere (RLPx secrets, discv4 packet hashes and
//! signatures, the Kademlia keyspace).

use sha3::{Digest, Keccak256};

/// keccak256 of the concatenation of `parts`.
pub(crate) fn keccak256(parts: &[&[u8]]) -> [u8; 32] {
    let mut h = Keccak256::new();
    for p in parts {
        h.update(p);
    }
    h.finalize().into()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parts_hash_as_their_concatenation() {
        // keccak256("") from the Keccak team's known answers.
        assert_eq!(
            hex::encode(keccak256(&[])),
            "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"
        );
        assert_eq!(keccak256(&[b"ab", b"", b"c"]), keccak256(&[b"abc"]));
    }
}
