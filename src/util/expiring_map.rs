//! A map with a capacity whose entries expire, time passed in (no clock inside).
//!
//! Used for what a node remembers about many others for a while: endpoint proofs, who
//! pinged us, statements about our IP, recently dialed nodes. The network decides how many
//! keys arrive, so the map is capped: inserting a new key into a full map first drops the
//! expired entries, then, if it is still full, the entry that expires first.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
struct Slot<V> {
    value: V,
    /// When it was inserted.
    at: Instant,
    /// How long it lives from `at`.
    ttl: Duration,
}

impl<V> Slot<V> {
    fn is_live(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.at) < self.ttl
    }

    /// `None` when `at + ttl` is beyond what an `Instant` holds (it never expires).
    fn expires(&self) -> Option<Instant> {
        self.at.checked_add(self.ttl)
    }
}

/// At most `capacity` entries, each live for the time-to-live it was inserted with.
///
/// Expired entries stay until an insertion needs room or [`ExpiringMap::expire`] runs, but
/// the lookups ([`get`](Self::get), [`contains`](Self::contains), [`iter`](Self::iter))
/// never return them.
#[derive(Clone, Debug)]
pub(crate) struct ExpiringMap<K, V> {
    capacity: usize,
    entries: HashMap<K, Slot<V>>,
}

impl<K: Eq + Hash + Clone, V> ExpiringMap<K, V> {
    /// An empty map holding at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: HashMap::new(),
        }
    }

    /// Inserts (or replaces) `key`, live from `now` for `ttl`. A new key in a full map
    /// drops the expired entries, then, if none had expired, the one that expires first.
    pub(crate) fn insert(&mut self, now: Instant, key: K, value: V, ttl: Duration) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.expire(now);
            if self.entries.len() >= self.capacity {
                // Expiring last sorts `None` (never) after every instant.
                let first = self
                    .entries
                    .iter()
                    .min_by_key(|(_, s)| (s.expires().is_none(), s.expires()))
                    .map(|(k, _)| k.clone());
                if let Some(first) = first {
                    self.entries.remove(&first);
                }
            }
        }
        self.entries.insert(
            key,
            Slot {
                value,
                at: now,
                ttl,
            },
        );
    }

    /// The value of `key` if it is live at `now`.
    pub(crate) fn get(&self, now: Instant, key: &K) -> Option<&V> {
        self.entries
            .get(key)
            .filter(|s| s.is_live(now))
            .map(|s| &s.value)
    }

    /// Whether `key` is live at `now`.
    pub(crate) fn contains(&self, now: Instant, key: &K) -> bool {
        self.get(now, key).is_some()
    }

    /// Removes `key`, live or not.
    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        self.entries.remove(key).map(|s| s.value)
    }

    /// Drops the entries that are no longer live at `now`.
    pub(crate) fn expire(&mut self, now: Instant) {
        self.entries.retain(|_, s| s.is_live(now));
    }

    /// The entries live at `now`, in no particular order.
    pub(crate) fn iter(&self, now: Instant) -> impl Iterator<Item = (&K, &V)> {
        self.entries
            .iter()
            .filter(move |(_, s)| s.is_live(now))
            .map(|(k, s)| (k, &s.value))
    }

    /// Entries held, including expired ones not dropped yet (never more than the capacity).
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SEC: Duration = Duration::from_secs(1);

    #[test]
    fn entries_live_for_their_ttl() {
        let t0 = Instant::now();
        let mut m = ExpiringMap::new(4);
        m.insert(t0, 'a', 1, 10 * SEC);
        m.insert(t0, 'b', 2, 20 * SEC);
        assert_eq!(m.get(t0 + 9 * SEC, &'a'), Some(&1));
        assert_eq!(
            m.get(t0 + 10 * SEC, &'a'),
            None,
            "expired at exactly its ttl"
        );
        assert!(m.contains(t0 + 10 * SEC, &'b'));
        let live: Vec<_> = m.iter(t0 + 10 * SEC).collect();
        assert_eq!(live, vec![(&'b', &2)]);
        assert_eq!(m.len(), 2, "expired entries stay until dropped");
        m.expire(t0 + 10 * SEC);
        assert_eq!(m.len(), 1);
        // Inserting again restarts the time to live.
        m.insert(t0 + 15 * SEC, 'b', 3, 20 * SEC);
        assert_eq!(m.get(t0 + 30 * SEC, &'b'), Some(&3));
        assert_eq!(m.remove(&'b'), Some(3));
        assert!(m.iter(t0).next().is_none());
    }

    #[test]
    fn a_full_map_drops_expired_entries_before_live_ones() {
        let t0 = Instant::now();
        let mut m = ExpiringMap::new(3);
        m.insert(t0, 1, (), SEC);
        m.insert(t0, 2, (), SEC);
        m.insert(t0, 3, (), 100 * SEC);
        m.insert(t0 + 2 * SEC, 4, (), 100 * SEC);
        assert_eq!(m.len(), 2, "both expired entries went");
        assert!(m.contains(t0 + 2 * SEC, &3) && m.contains(t0 + 2 * SEC, &4));
    }

    #[test]
    fn a_full_map_evicts_the_entry_expiring_first() {
        let t0 = Instant::now();
        let mut m = ExpiringMap::new(3);
        m.insert(t0, 1, (), 50 * SEC);
        m.insert(t0 + SEC, 2, (), 10 * SEC);
        m.insert(t0 + 2 * SEC, 3, (), 50 * SEC);
        // 2 was inserted later than 1 but expires first.
        m.insert(t0 + 3 * SEC, 4, (), 50 * SEC);
        let now = t0 + 3 * SEC;
        assert_eq!(m.len(), 3);
        assert!(!m.contains(now, &2));
        // With equal lifetimes, the oldest goes.
        m.insert(now, 5, (), 50 * SEC);
        assert!(!m.contains(now, &1));
        assert!(m.contains(now, &3) && m.contains(now, &4) && m.contains(now, &5));
    }

    #[test]
    fn replacing_a_key_in_a_full_map_evicts_nothing() {
        let t0 = Instant::now();
        let mut m = ExpiringMap::new(2);
        m.insert(t0, 1, 'a', SEC);
        m.insert(t0, 2, 'b', SEC);
        m.insert(t0, 2, 'c', SEC);
        assert_eq!((m.get(t0, &1), m.get(t0, &2)), (Some(&'a'), Some(&'c')));
    }

    #[test]
    fn the_capacity_bounds_the_map() {
        let t0 = Instant::now();
        let mut m = ExpiringMap::new(100);
        for i in 0..1000u32 {
            m.insert(
                t0 + Duration::from_millis(u64::from(i)),
                i,
                (),
                Duration::MAX,
            );
        }
        assert_eq!(m.len(), 100);
        // An entry that never expires (its end overflows `Instant`) is evicted last.
        let now = t0 + 2 * SEC;
        m.insert(now, 5000, (), SEC);
        m.insert(now, 5001, (), SEC);
        assert!(!m.contains(now, &5000) && m.contains(now, &5001));
        assert_eq!(m.iter(now).count(), 100);
    }
}
