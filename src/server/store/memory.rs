//! [`MemoryStore`]: the peer store in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use super::{Change, PeerStore, Snapshot, StoreError, StoredBan, StoredNode, StoredReputation};
use crate::crypto::{Enode, NodeId};
use crate::server::BanTarget;

/// A [`PeerStore`] in memory: for tests, and for a node that should remember within one
/// run only. Holds at most `max_nodes` nodes: past it the node live longest ago goes.
#[derive(Debug)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
    max_nodes: usize,
}

#[derive(Debug, Default)]
struct Inner {
    nodes: HashMap<NodeId, StoredNode>,
    bans: HashMap<BanTarget, Option<u64>>,
    statics: HashMap<NodeId, Enode>,
    trusted: HashMap<NodeId, ()>,
    reputation: HashMap<NodeId, StoredReputation>,
    /// Batches applied.
    batches: u64,
}

impl MemoryStore {
    /// An empty store keeping at most `max_nodes` nodes.
    pub fn new(max_nodes: usize) -> Self {
        Self {
            inner: Mutex::default(),
            max_nodes: max_nodes.max(1),
        }
    }

    /// How many batches [`PeerStore::apply`] has taken (for tests of batching).
    pub fn batches(&self) -> u64 {
        self.lock().batches
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        // No code panics while holding the lock; recover the data if it ever happens.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl PeerStore for MemoryStore {
    fn load(&self) -> Result<Snapshot, StoreError> {
        let inner = self.lock();
        Ok(Snapshot {
            nodes: inner.nodes.values().copied().collect(),
            bans: inner
                .bans
                .iter()
                .map(|(target, until)| StoredBan {
                    target: *target,
                    until: *until,
                })
                .collect(),
            static_peers: inner.statics.values().copied().collect(),
            trusted_peers: inner.trusted.keys().copied().collect(),
            reputation: inner.reputation.values().copied().collect(),
        })
    }

    fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        let mut inner = self.lock();
        inner.batches += 1;
        for change in changes {
            match *change {
                Change::Node(update) => {
                    let old = inner.nodes.get(&update.id).copied();
                    if let Some(node) = update.apply_to(old) {
                        inner.nodes.insert(update.id, node);
                    }
                }
                Change::Ban(ban) => {
                    inner.bans.insert(ban.target.canonical(), ban.until);
                }
                Change::Unban(target) => {
                    inner.bans.remove(&target.canonical());
                }
                Change::AddStatic(enode) => {
                    inner.statics.insert(enode.id, enode);
                }
                Change::RemoveStatic(id) => {
                    inner.statics.remove(&id);
                }
                Change::AddTrusted(id) => {
                    inner.trusted.insert(id, ());
                }
                Change::RemoveTrusted(id) => {
                    inner.trusted.remove(&id);
                }
                Change::Reputation(rep) if rep.score == 0 => {
                    inner.reputation.remove(&rep.id);
                }
                Change::Reputation(rep) => {
                    inner.reputation.insert(rep.id, rep);
                }
            }
        }
        while inner.nodes.len() > self.max_nodes {
            let oldest = inner
                .nodes
                .values()
                .min_by_key(|n| n.last_live())
                .map(|n| n.enode.id);
            match oldest {
                Some(id) => inner.nodes.remove(&id),
                None => break,
            };
        }
        Ok(())
    }
}
