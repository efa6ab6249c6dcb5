//! Packets seen recently ([`Seen`]): where each came from first and who signed it.
//!
//! Like [`ExpiringMap`](crate::util::ExpiringMap), but a full cache forgets the entry
//! inserted first in O(1) instead of searching for the one expiring first: under a flood of
//! distinct packets every insertion finds the cache full, and that search (a pass over
//! every entry) cost about two thirds of a signature recovery per packet at 4096 entries.
//! Every entry lives at most `max_expiration_ahead` (packets expiring later are refused
//! before they get here) and most live the 20 s or 60 s senders put in their packets (per
//! implementation, so alike for all of one sender's packets), so the first
//! inserted is nearly always among the first to expire.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::time::Instant;

use crate::crypto::NodeId;

type Hash = [u8; 32];

#[derive(Debug)]
pub(super) struct Seen {
    capacity: usize,
    entries: HashMap<Hash, (SocketAddr, NodeId, Instant)>,
    /// Insertion order. Each hash is inserted once (a packet seen is looked up, not
    /// inserted again), so every item names a live entry or one already expired and removed.
    order: VecDeque<Hash>,
}

impl Seen {
    pub(super) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    /// Where packet `hash` came from first and who signed it, if seen and not expired.
    pub(super) fn get(&self, now: Instant, hash: &Hash) -> Option<(SocketAddr, NodeId)> {
        self.entries
            .get(hash)
            .filter(|(_, _, until)| *until > now)
            .map(|(from, id, _)| (*from, *id))
    }

    /// Remembers packet `hash` until `until`; a full cache forgets the oldest first. A hash
    /// already held is left as it is.
    pub(super) fn insert(
        &mut self,
        now: Instant,
        hash: Hash,
        from: SocketAddr,
        id: NodeId,
        until: Instant,
    ) {
        // Forget what expired at the front, then make room.
        while let Some(front) = self.order.front() {
            let expired = self.entries.get(front).is_none_or(|e| e.2 <= now);
            if !expired && self.entries.len() < self.capacity {
                break;
            }
            if let Some(h) = self.order.pop_front() {
                self.entries.remove(&h);
            }
        }
        if self.entries.contains_key(&hash) {
            return;
        }
        self.entries.insert(hash, (from, id, until));
        self.order.push_back(hash);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use rand::SeedableRng;

    use super::*;

    #[test]
    fn entries_live_until_their_time_and_a_full_cache_forgets_the_oldest() {
        let t0 = Instant::now();
        let id = crate::crypto::NodeKey::generate(&mut rand::rngs::StdRng::seed_from_u64(1)).id();
        let from: SocketAddr = "10.0.0.1:30303".parse().unwrap();
        let sec = Duration::from_secs(1);
        let mut seen = Seen::new(3);
        for i in 0..3u8 {
            seen.insert(t0, [i; 32], from, id, t0 + 20 * sec);
        }
        assert_eq!(seen.get(t0, &[1; 32]), Some((from, id)));
        seen.insert(t0, [3; 32], from, id, t0 + 20 * sec);
        assert_eq!(seen.len(), 3);
        assert_eq!(seen.get(t0, &[0; 32]), None, "the oldest went");
        assert_eq!(seen.get(t0 + 20 * sec, &[3; 32]), None, "expired");
        // Expired entries at the front go first, and are not looked up meanwhile.
        seen.insert(t0 + 21 * sec, [4; 32], from, id, t0 + 40 * sec);
        assert_eq!(seen.len(), 1);
        assert_eq!(seen.order.len(), 1);
    }
}
