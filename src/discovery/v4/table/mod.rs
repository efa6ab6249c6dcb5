//! The Kademlia table (discv4.md, "Kademlia Table").
//!
//! *"For each `0 ≤ i < 256`, every node keeps a k-bucket for nodes of distance between `2i`
//! and `2i+1` from itself."* *"The Node Discovery Protocol uses `k = 16`"* and *"the
//! least-recently seen node \[is\] at the head, most-recently seen at the tail."*
//!
//! A full bucket does not evict on contact: like geth, newcomers wait in a bounded
//! replacement list, and periodic revalidation pings the least-recently seen entry of a
//! random bucket; an entry that fails is replaced by the most recent replacement.
//!
//! One host with many keys must not fill the table (and through it our dials): as in
//! go-ethereum, at most [`IpLimits::per_bucket`] entries of one /24 (IPv4) or /64 (IPv6) in a
//! bucket and [`IpLimits::per_table`] in the whole table, replacements counted. Loopback and
//! LAN addresses are exempt (`util::ip::is_lan`): nodes there are ours or our neighbours'.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::Instant;

use rand::Rng;

use super::distance::NodeHash;
use super::message::{Endpoint, NodeRecord};
use crate::crypto::NodeId;
use crate::util::ip::{is_lan, SubnetCounts};

/// *"every k-bucket contains up to 16 node entries"*.
pub const BUCKET_SIZE: usize = 16;
/// Candidates kept per bucket to replace entries that fail revalidation.
pub const MAX_REPLACEMENTS: usize = 10;
const BUCKETS: usize = 256;

/// How many nodes of one network the table keeps: a network is a /24 for IPv4 and a /64 for
/// IPv6; entries and replacements both count; loopback and LAN addresses are not limited.
/// Each network in use costs one small map entry.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct IpLimits {
    /// In one bucket. Default 2 (go-ethereum's `bucketIPLimit`).
    pub per_bucket: usize,
    /// In the whole table. Default 10 (go-ethereum's `tableIPLimit`).
    pub per_table: usize,
}

impl Default for IpLimits {
    fn default() -> Self {
        Self {
            per_bucket: 2,
            per_table: 10,
        }
    }
}

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
    /// Its network already has as many nodes as [`IpLimits`] allow in its bucket or the
    /// table: not stored (a known node keeps its old endpoint).
    IpLimit,
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

#[derive(Clone, Debug)]
struct Bucket {
    /// Least-recently seen first.
    entries: Vec<TableEntry>,
    /// Most recent first, at most [`MAX_REPLACEMENTS`].
    replacements: VecDeque<TableEntry>,
    /// Networks of the entries and replacements (LAN addresses not counted).
    ips: SubnetCounts,
}

/// The routing table of one node.
#[derive(Clone, Debug)]
pub struct Table {
    local: NodeHash,
    local_id: NodeId,
    buckets: Vec<Bucket>,
    /// Networks of all entries and replacements (LAN addresses not counted).
    ips: SubnetCounts,
}

impl Table {
    /// An empty table around `local`, with the default [`IpLimits`].
    pub fn new(local: NodeId) -> Self {
        Self::with_limits(local, IpLimits::default())
    }

    /// An empty table around `local` keeping at most `limits` nodes per network.
    pub fn with_limits(local: NodeId, limits: IpLimits) -> Self {
        let bucket = Bucket {
            entries: Vec::new(),
            replacements: VecDeque::new(),
            ips: SubnetCounts::new(limits.per_bucket),
        };
        Self {
            local: NodeHash::of_id(&local),
            local_id: local,
            buckets: vec![bucket; BUCKETS],
            ips: SubnetCounts::new(limits.per_table),
        }
    }

    /// Counts `ip` in bucket `index` and the table if both have room (a LAN address always
    /// fits and is not counted); returns whether it fits.
    fn track(&mut self, index: usize, ip: IpAddr) -> bool {
        if is_lan(ip) {
            return true;
        }
        let bucket = &mut self.buckets[index].ips;
        if !bucket.has_room(ip) || !self.ips.has_room(ip) {
            return false;
        }
        bucket.add(ip);
        self.ips.add(ip);
        true
    }

    /// Undoes [`track`](Self::track) for an entry or replacement that leaves.
    fn untrack(&mut self, index: usize, ip: IpAddr) {
        if !is_lan(ip) {
            self.buckets[index].ips.remove(ip);
            self.ips.remove(ip);
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
            let old = bucket.entries[pos].endpoint.ip;
            if old != endpoint.ip {
                self.untrack(index, old);
                if !self.track(index, endpoint.ip) {
                    // Room was just made for `old`, so it fits again.
                    self.track(index, old);
                    return TableInsert::IpLimit;
                }
            }
            let bucket = &mut self.buckets[index];
            bucket.entries.remove(pos);
            bucket.entries.push(entry);
            return TableInsert::Refreshed;
        }
        if let Some(pos) = bucket.replacements.iter().position(|e| e.id == id) {
            if let Some(old) = bucket.replacements.remove(pos) {
                self.untrack(index, old.endpoint.ip);
            }
        }
        if !self.track(index, endpoint.ip) {
            return TableInsert::IpLimit;
        }
        let bucket = &mut self.buckets[index];
        if bucket.entries.len() < BUCKET_SIZE {
            bucket.entries.push(entry);
            return TableInsert::Added;
        }
        bucket.replacements.push_front(entry);
        if bucket.replacements.len() > MAX_REPLACEMENTS {
            if let Some(dropped) = bucket.replacements.pop_back() {
                self.untrack(index, dropped.endpoint.ip);
            }
        }
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
        if let Some(pos) = bucket.replacements.iter().position(|e| e.id == *id) {
            if let Some(old) = bucket.replacements.remove(pos) {
                self.untrack(index, old.endpoint.ip);
            }
        }
        let bucket = &mut self.buckets[index];
        let pos = bucket.entries.iter().position(|e| e.id == *id)?;
        let gone = bucket.entries.remove(pos);
        // A promoted replacement was counted in this bucket already.
        let promoted = bucket.replacements.pop_front();
        if let Some(p) = promoted {
            bucket.entries.push(p);
        }
        self.untrack(index, gone.endpoint.ip);
        promoted
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
