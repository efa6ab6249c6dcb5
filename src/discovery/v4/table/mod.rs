//! The Kademlia table (discv4.md, "Kademlia Table").
//!
//! *"For each `0 ≤ i < 256`, every node keeps a k-bucket for nodes of distance between `2i`
//! and `2i+1` from itself."* *"The Node Discovery Protocol uses `k = 16`"* and *"the
//! least-recently seen node \[is\] at the head, most-recently seen at the tail."*
//!
//! A full bucket does not evict on contact: like geth, newcomers wait in a bounded
//! replacement list, and periodic revalidation pings the least-recently seen entry of a
//! random bucket; an entry that fails is replaced by the most recent replacement.

use std::collections::VecDeque;
use std::time::Instant;

use rand::Rng;

use super::distance::NodeHash;
use super::message::{Endpoint, NodeRecord};
use crate::crypto::NodeId;

/// *"every k-bucket contains up to 16 node entries"*.
pub const BUCKET_SIZE: usize = 16;
/// Candidates kept per bucket to replace entries that fail revalidation.
pub const MAX_REPLACEMENTS: usize = 10;
const BUCKETS: usize = 256;

/// A node in the table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableEntry {
    /// Its id.
    pub id: NodeId,
    /// Where it is reached.
    pub endpoint: Endpoint,
    /// When it was last seen alive (inserted, or answered a revalidation).
    pub last_seen: Instant,
    hash: NodeHash,
}

impl TableEntry {
    /// keccak256 of the id.
    pub fn hash(&self) -> &NodeHash {
        &self.hash
    }

    /// The node as Neighbors lists it.
    pub fn record(&self) -> NodeRecord {
        NodeRecord {
            endpoint: self.endpoint,
            id: self.id,
        }
    }
}

/// What [`Table::insert`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TableInsert {
    /// Added to its bucket.
    Added,
    /// Already in its bucket; the endpoint was updated and it counts as seen.
    Refreshed,
    /// The bucket is full: kept as a replacement candidate.
    Replacement,
    /// Our own id is never stored.
    Local,
}

/// What [`Table::revalidated`] did with a dead entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Revalidated {
    /// The node answered and moved to the tail of its bucket.
    Alive,
    /// The node was removed; the replacement, if one was waiting, took its place.
    Replaced(Option<TableEntry>),
    /// The node is no longer in the table.
    Unknown,
}

#[derive(Clone, Debug, Default)]
struct Bucket {
    /// Least-recently seen first.
    entries: Vec<TableEntry>,
    /// Most recent first, at most [`MAX_REPLACEMENTS`].
    replacements: VecDeque<TableEntry>,
}

/// The routing table of one node.
#[derive(Clone, Debug)]
pub struct Table {
    local: NodeHash,
    local_id: NodeId,
    buckets: Vec<Bucket>,
}

impl Table {
    /// An empty table around `local`.
    pub fn new(local: NodeId) -> Self {
        Self {
            local: NodeHash::of_id(&local),
            local_id: local,
            buckets: vec![Bucket::default(); BUCKETS],
        }
    }

    /// Number of nodes in the buckets (replacements not counted).
    pub fn len(&self) -> usize {
        self.buckets.iter().map(|b| b.entries.len()).sum()
    }

    /// Whether no node is in the buckets.
    pub fn is_empty(&self) -> bool {
        self.buckets.iter().all(|b| b.entries.is_empty())
    }

    /// The entry of `id`, if it is in a bucket.
    pub fn get(&self, id: &NodeId) -> Option<&TableEntry> {
        let hash = NodeHash::of_id(id);
        let bucket = self.bucket_index(&hash)?;
        self.buckets[bucket].entries.iter().find(|e| e.id == *id)
    }

    /// The bucket a hash falls in (`None` for our own).
    fn bucket_index(&self, hash: &NodeHash) -> Option<usize> {
        let d = self.local.log_distance(hash);
        // d is 1..=256 for any other node.
        (d > 0).then(|| d as usize - 1)
    }

    /// Adds a node we have heard of (and, for a bonded node, seen alive).
    ///
    /// *"If the bucket contains less than `k` entries N₁ can simply be added"*; otherwise it
    /// becomes a replacement candidate.
    pub fn insert(&mut self, now: Instant, id: NodeId, endpoint: Endpoint) -> TableInsert {
        let hash = NodeHash::of_id(&id);
        let Some(index) = self.bucket_index(&hash) else {
            return TableInsert::Local;
        };
        if id == self.local_id {
            return TableInsert::Local;
        }
        let entry = TableEntry {
            id,
            endpoint,
            last_seen: now,
            hash,
        };
        let bucket = &mut self.buckets[index];
        if let Some(pos) = bucket.entries.iter().position(|e| e.id == id) {
            bucket.entries.remove(pos);
            bucket.entries.push(entry);
            return TableInsert::Refreshed;
        }
        bucket.replacements.retain(|e| e.id != id);
        if bucket.entries.len() < BUCKET_SIZE {
            bucket.entries.push(entry);
            return TableInsert::Added;
        }
        bucket.replacements.push_front(entry);
        bucket.replacements.truncate(MAX_REPLACEMENTS);
        TableInsert::Replacement
    }

    /// Marks `id` as seen alive at `now`, moving it to the tail. Returns whether it is known.
    pub fn seen(&mut self, now: Instant, id: &NodeId) -> bool {
        let hash = NodeHash::of_id(id);
        let Some(index) = self.bucket_index(&hash) else {
            return false;
        };
        let bucket = &mut self.buckets[index];
        let Some(pos) = bucket.entries.iter().position(|e| e.id == *id) else {
            return false;
        };
        let mut entry = bucket.entries.remove(pos);
        entry.last_seen = now;
        bucket.entries.push(entry);
        true
    }

    /// Removes `id` (from its bucket or the replacements); a replacement takes a freed slot.
    /// Returns the promoted replacement, if any.
    pub fn remove(&mut self, id: &NodeId) -> Option<TableEntry> {
        let index = self.bucket_index(&NodeHash::of_id(id))?;
        let bucket = &mut self.buckets[index];
        bucket.replacements.retain(|e| e.id != *id);
        let pos = bucket.entries.iter().position(|e| e.id == *id)?;
        bucket.entries.remove(pos);
        let promoted = bucket.replacements.pop_front()?;
        bucket.entries.push(promoted);
        Some(promoted)
    }

    /// Every node in the buckets (replacements not included): nearest bucket first, and
    /// least-recently seen first within a bucket.
    pub fn iter(&self) -> impl Iterator<Item = &TableEntry> {
        self.buckets.iter().flat_map(|b| b.entries.iter())
    }

    /// The `n` nodes closest to `target`, closest first.
    pub fn closest(&self, target: &NodeHash, n: usize) -> Vec<TableEntry> {
        let mut all: Vec<TableEntry> = self.iter().copied().collect();
        all.sort_by(|a, b| target.cmp_distance(&a.hash, &b.hash));
        all.truncate(n);
        all
    }

    /// The node to revalidate next: the least-recently seen entry of a random non-empty
    /// bucket. Ping it and report the outcome with [`Table::revalidated`].
    pub fn pick_revalidation(&self, rng: &mut impl Rng) -> Option<TableEntry> {
        let filled: Vec<&Bucket> = self
            .buckets
            .iter()
            .filter(|b| !b.entries.is_empty())
            .collect();
        if filled.is_empty() {
            return None;
        }
        let bucket = filled[rng.gen_range(0..filled.len())];
        bucket.entries.first().copied()
    }

    /// The outcome of revalidating `id`: *"If no reply is received from N₂ it is considered
    /// dead, removed and N₁ added"*, N₁ being the most recent replacement.
    pub fn revalidated(&mut self, now: Instant, id: &NodeId, alive: bool) -> Revalidated {
        if self.get(id).is_none() {
            return Revalidated::Unknown;
        }
        if alive {
            self.seen(now, id);
            Revalidated::Alive
        } else {
            Revalidated::Replaced(self.remove(id))
        }
    }
}

#[cfg(test)]
mod tests;
