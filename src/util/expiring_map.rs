//! A map with a capacity whose entries expire, time passed in (no clock inside).
//!
//! Used for what a node remembers about many others for a while: endpoint proofs, who
//! pinged us, statements about our IP, recently dialed nodes. The network decides how many
//! keys arrive, so the map is capped: inserting a new key into a full map first drops the
//! expired entries, then, if it is still full, the entry that expires first.

use std::cmp::{Ordering, Reverse};
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::time::{Duration, Instant};

#[derive(Clone, Debug)]
struct Slot<V> {
    value: V,
    /// When it was inserted.
    at: Instant,
    /// How long it lives from `at`.
    ttl: Duration,
    /// Which insertion made it, to tell its queue item from stale ones.
    seq: u64,
}

impl<V> Slot<V> {
    fn is_live(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.at) < self.ttl
    }
}

/// When an entry ends, in the order entries go: soonest first, those that never end
/// (`at + ttl` beyond what an `Instant` holds) last, equal ends in insertion order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
struct End {
    never: bool,
    at: Option<Instant>,
    seq: u64,
}

/// One entry's place in the expiry queue; ordered by its [`End`] alone.
#[derive(Clone, Debug)]
struct Queued<K> {
    end: End,
    key: K,
}

impl<K> PartialEq for Queued<K> {
    fn eq(&self, other: &Self) -> bool {
        self.end == other.end
    }
}

impl<K> Eq for Queued<K> {}

impl<K> PartialOrd for Queued<K> {
    fn partial_cmp(&self, other: &Self) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl<K> Ord for Queued<K> {
    fn cmp(&self, other: &Self) -> Ordering {
        self.end.cmp(&other.end)
    }
}

/// At most `capacity` entries, each live for the time-to-live it was inserted with.
///
/// Expired entries stay until an insertion needs room or [`ExpiringMap::expire`] runs, but
/// the lookups ([`get`](Self::get), [`contains`](Self::contains), [`iter`](Self::iter))
/// never return them. Making room costs O(log n) per entry dropped, however full the map
/// is: a queue keeps the entries in the order they end (a network flood that keeps a map
/// full must not make every insertion scan it).
#[derive(Clone, Debug)]
pub(crate) struct ExpiringMap<K, V> {
    capacity: usize,
    entries: HashMap<K, Slot<V>>,
    /// Every entry's end, soonest first, plus stale items of removed or replaced entries
    /// (skipped when they surface, and dropped when they outnumber the entries).
    queue: BinaryHeap<Reverse<Queued<K>>>,
    next_seq: u64,
}

impl<K: Eq + Hash + Clone, V> ExpiringMap<K, V> {
    /// An empty map holding at most `capacity` entries (at least one).
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: HashMap::new(),
            queue: BinaryHeap::new(),
            next_seq: 0,
        }
    }

    /// Inserts (or replaces) `key`, live from `now` for `ttl`. A new key in a full map
    /// drops the expired entries, then, if none had expired, the one that expires first.
    pub(crate) fn insert(&mut self, now: Instant, key: K, value: V, ttl: Duration) {
        if self.entries.len() >= self.capacity && !self.entries.contains_key(&key) {
            self.expire(now);
            if self.entries.len() >= self.capacity {
                self.pop_first();
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let at = now.checked_add(ttl);
        let end = End {
            never: at.is_none(),
            at,
            seq,
        };
        self.queue.push(Reverse(Queued {
            end,
            key: key.clone(),
        }));
        self.entries.insert(
            key,
            Slot {
                value,
                at: now,
                ttl,
                seq,
            },
        );
        if self.queue.len() > 2 * self.entries.len() + 16 {
            self.rebuild_queue();
        }
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
        while let Some(Reverse(first)) = self.queue.peek() {
            let ended = first.end.at.is_some_and(|at| at <= now);
            let stale = self.is_stale(first);
            if !ended && !stale {
                break;
            }
            if let Some(Reverse(first)) = self.queue.pop() {
                if !stale {
                    self.entries.remove(&first.key);
                }
            }
        }
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

    /// Whether `item` no longer stands for its key's entry (removed or replaced since).
    fn is_stale(&self, item: &Queued<K>) -> bool {
        self.entries
            .get(&item.key)
            .is_none_or(|slot| slot.seq != item.end.seq)
    }

    /// Drops the entry that ends first.
    fn pop_first(&mut self) {
        while let Some(Reverse(first)) = self.queue.pop() {
            if !self.is_stale(&first) {
                self.entries.remove(&first.key);
                return;
            }
        }
    }

    fn rebuild_queue(&mut self) {
        let mut items = std::mem::take(&mut self.queue).into_vec();
        items.retain(|Reverse(item)| !self.is_stale(item));
        self.queue = BinaryHeap::from(items);
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

    #[test]
    fn removed_and_replaced_entries_leave_no_trace_in_what_goes_first() {
        let t0 = Instant::now();
        let mut m = ExpiringMap::new(3);
        m.insert(t0, 1, (), 10 * SEC);
        m.insert(t0, 2, (), 20 * SEC);
        m.insert(t0, 3, (), 30 * SEC);
        // 1 is removed and 2 replaced with a longer life: 3 now ends first.
        m.remove(&1);
        m.insert(t0, 2, (), 40 * SEC);
        m.insert(t0, 4, (), 50 * SEC);
        m.insert(t0, 5, (), 50 * SEC);
        assert!(!m.contains(t0, &3), "3 ended first and went");
        assert!(m.contains(t0, &2) && m.contains(t0, &4) && m.contains(t0, &5));
        // Many replacements of one key keep the queue small.
        for i in 0..10_000u32 {
            m.insert(t0 + Duration::from_millis(u64::from(i)), 2, (), 40 * SEC);
        }
        assert!(
            m.queue.len() <= 2 * m.len() + 16,
            "{} queued",
            m.queue.len()
        );
    }
}
