//! The XOR metric of discv4.md, "Node Identities":
//! *"distance(n₁, n₂) = keccak256(n₁) XOR keccak256(n₂)"*.

use std::cmp::Ordering;

use super::message::Target;
use crate::crypto::keccak::keccak256;
use crate::crypto::NodeId;

/// keccak256 of a node id or target: the point in the keyspace distances are measured on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct NodeHash(pub [u8; 32]);

impl NodeHash {
    /// The hash of a node id.
    pub fn of_id(id: &NodeId) -> Self {
        Self(keccak256(&[id.as_bytes()]))
    }

    /// The hash of a FindNode target.
    pub fn of_target(target: &Target) -> Self {
        Self(keccak256(&[target]))
    }

    /// `log2(distance) + 1`: 0 for the same point, 256 when the top bit differs.
    pub fn log_distance(&self, other: &Self) -> u32 {
        for (i, (a, b)) in self.0.iter().zip(other.0.iter()).enumerate() {
            let x = a ^ b;
            if x != 0 {
                // i < 32, so this stays within 1..=256.
                return (32 - i as u32) * 8 - x.leading_zeros();
            }
        }
        0
    }

    /// Whether `a` is closer to `self` than `b` (XOR distances compared as numbers).
    pub fn cmp_distance(&self, a: &Self, b: &Self) -> Ordering {
        for i in 0..32 {
            let (da, db) = (a.0[i] ^ self.0[i], b.0[i] ^ self.0[i]);
            if da != db {
                return da.cmp(&db);
            }
        }
        Ordering::Equal
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with_first(b: u8) -> NodeHash {
        let mut h = [0u8; 32];
        h[0] = b;
        NodeHash(h)
    }

    #[test]
    fn log_distance_counts_from_the_top_bit() {
        let zero = NodeHash([0; 32]);
        assert_eq!(zero.log_distance(&zero), 0);
        assert_eq!(zero.log_distance(&with_first(0x80)), 256);
        assert_eq!(zero.log_distance(&with_first(0x01)), 249);
        let mut last = [0u8; 32];
        last[31] = 1;
        assert_eq!(zero.log_distance(&NodeHash(last)), 1);
    }

    #[test]
    fn cmp_distance_is_xor_order() {
        let t = with_first(0x10);
        assert_eq!(
            t.cmp_distance(&with_first(0x11), &with_first(0x20)),
            Ordering::Less
        );
        assert_eq!(
            t.cmp_distance(&with_first(0x30), &with_first(0x00)),
            Ordering::Greater
        );
        assert_eq!(
            t.cmp_distance(&with_first(0x30), &with_first(0x30)),
            Ordering::Equal
        );
    }
}
