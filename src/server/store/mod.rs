//! What a node remembers across restarts: nodes discovery found live, peers we were
//! connected to, static and trusted peers added at run time, bans, reputation.
//!
//! ```text
//! mod.rs        PeerStore (the interface), Snapshot, Change, StoreError
//! memory.rs     MemoryStore: a PeerStore in a mutex, for tests and short-lived nodes
//! database.rs   DbStore: a PeerStore in a redb file, one transaction per batch
//! codec.rs      the byte layout of keys and values in the database
//! writer.rs     (server-internal) the task that batches changes off the hot path
//! ```
//!
//! The server works without a store ([`ServerConfig::store`](super::ServerConfig::store)
//! `None`). With one, it reads a [`Snapshot`] once at start (bans, static and trusted
//! peers, reputation; discovery seeds and dial candidates from the nodes) and sends
//! [`Change`]s to a writer task, which coalesces them and hands the store one batch at a
//! time from a blocking thread: a peer event never waits for the disk.
//!
//! Times in the store are Unix seconds (an [`Instant`](std::time::Instant) means nothing
//! after a restart); the server converts with its network's clock.
//!
//! ```
//! use peerwire::crypto::{Enode, NodeKey};
//! use peerwire::server::store::{Change, MemoryStore, NodeUpdate, PeerStore};
//!
//! let store = MemoryStore::new(1000);
//! let enode = Enode::new(NodeKey::random().id(), ([10, 0, 0, 1], 30303).into());
//! store.apply(&[Change::Node(NodeUpdate::seen(enode, 1_700_000_000))]).unwrap();
//! let snapshot = store.load().unwrap();
//! assert_eq!(snapshot.nodes[0].enode, enode);
//! ```

mod codec;
mod database;
mod memory;
pub(crate) mod writer;

use std::fmt;

pub use self::database::DbStore;
pub use self::memory::MemoryStore;
use super::gating::BanTarget;
use crate::crypto::{Enode, NodeId};

/// The layout version a [`DbStore`] writes. A store of an older version is migrated on
/// open; a newer one is refused ([`StoreError::SchemaTooNew`]) and left untouched.
pub const SCHEMA_VERSION: u32 = 1;

/// Nodes a store keeps by default; past it the ones live longest ago are forgotten. Each
/// costs about 0.5 KiB of database file (4.7 MB measured for 10,000, redb's page slack
/// included).
pub const DEFAULT_MAX_NODES: usize = 10_000;

/// A node as the store remembers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredNode {
    /// Its address.
    pub enode: Enode,
    /// When discovery last found it live (Unix seconds; 0: never).
    pub last_seen: u64,
    /// When a session with it last started (Unix seconds; 0: never).
    pub last_connected: u64,
    /// Failed dials since the last session with it.
    pub dial_failures: u32,
}

impl StoredNode {
    /// When it was last known to be live, by discovery or a session.
    pub fn last_live(&self) -> u64 {
        self.last_seen.max(self.last_connected)
    }
}

/// What to change about one node. Several updates of one node merge into one
/// ([`NodeUpdate::then`]) before they reach the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeUpdate {
    /// The node.
    pub id: NodeId,
    /// Its (new) address; `None`: keep the stored one (an update of a node the store does
    /// not hold is then dropped: there is nothing to dial).
    pub enode: Option<Enode>,
    /// Discovery found it live at this time.
    pub seen: Option<u64>,
    /// A session with it started at this time; resets the dial failures.
    pub connected: Option<u64>,
    /// Failed dials to add (after the reset, if `connected`).
    pub failed_dials: u32,
}

impl NodeUpdate {
    fn empty(id: NodeId) -> Self {
        Self {
            id,
            enode: None,
            seen: None,
            connected: None,
            failed_dials: 0,
        }
    }

    /// Discovery found `enode` live at `at`.
    pub fn seen(enode: Enode, at: u64) -> Self {
        Self {
            enode: Some(enode),
            seen: Some(at),
            ..Self::empty(enode.id)
        }
    }

    /// A session with `enode` started at `at`.
    pub fn connected(enode: Enode, at: u64) -> Self {
        Self {
            enode: Some(enode),
            connected: Some(at),
            ..Self::empty(enode.id)
        }
    }

    /// A dial to `id` failed.
    pub fn dial_failed(id: NodeId) -> Self {
        Self {
            failed_dials: 1,
            ..Self::empty(id)
        }
    }

    /// This update followed by `later` (of the same node), as one update.
    pub fn then(self, later: Self) -> Self {
        let max = |a: Option<u64>, b: Option<u64>| a.max(b);
        Self {
            id: self.id,
            enode: later.enode.or(self.enode),
            seen: max(self.seen, later.seen),
            connected: max(self.connected, later.connected),
            failed_dials: if later.connected.is_some() {
                later.failed_dials
            } else {
                self.failed_dials.saturating_add(later.failed_dials)
            },
        }
    }

    /// `node` (or nothing, for a node not stored yet) with this update applied; `None` when
    /// there is no address to store.
    pub fn apply_to(&self, node: Option<StoredNode>) -> Option<StoredNode> {
        let mut node = match (node, self.enode) {
            (Some(mut node), enode) => {
                if let Some(enode) = enode {
                    node.enode = enode;
                }
                node
            }
            (None, Some(enode)) => StoredNode {
                enode,
                last_seen: 0,
                last_connected: 0,
                dial_failures: 0,
            },
            (None, None) => return None,
        };
        if let Some(seen) = self.seen {
            node.last_seen = node.last_seen.max(seen);
        }
        if let Some(at) = self.connected {
            node.last_connected = node.last_connected.max(at);
            node.dial_failures = 0;
        }
        node.dial_failures = node.dial_failures.saturating_add(self.failed_dials);
        Some(node)
    }
}

/// A ban as the store remembers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredBan {
    /// Whom.
    pub target: BanTarget,
    /// Until when (Unix seconds); `None`: until unbanned.
    pub until: Option<u64>,
}

/// A peer's reputation as the store remembers it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct StoredReputation {
    /// The peer.
    pub id: NodeId,
    /// Its score (0 neutral, negative bad).
    pub score: i32,
    /// When the score was this (Unix seconds), so that decay since then can be applied.
    pub at: u64,
}

/// One change to the store.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Change {
    /// Something learned about a node.
    Node(NodeUpdate),
    /// A ban, or a new expiry of one.
    Ban(StoredBan),
    /// A ban lifted.
    Unban(BanTarget),
    /// A static peer added at run time (`ServerHandle::add_peer`).
    AddStatic(Enode),
    /// A static peer removed.
    RemoveStatic(NodeId),
    /// A trusted peer added at run time (`ServerHandle::add_trusted_peer`).
    AddTrusted(NodeId),
    /// A trusted peer removed.
    RemoveTrusted(NodeId),
    /// A reputation score; a score of 0 removes the entry.
    Reputation(StoredReputation),
}

/// Everything a store holds, as the server reads it at start.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Snapshot {
    /// The nodes, in no particular order.
    pub nodes: Vec<StoredNode>,
    /// Bans, expired ones included (the server skips them).
    pub bans: Vec<StoredBan>,
    /// Static peers added at run time.
    pub static_peers: Vec<Enode>,
    /// Trusted peers added at run time.
    pub trusted_peers: Vec<NodeId>,
    /// Reputation scores other than 0.
    pub reputation: Vec<StoredReputation>,
}

impl Snapshot {
    /// Up to `count` nodes live at or after `since`, the most recently live first.
    pub fn recently_live(&self, since: u64, count: usize) -> Vec<Enode> {
        let mut live: Vec<&StoredNode> = self
            .nodes
            .iter()
            .filter(|n| n.last_live() >= since && n.last_live() > 0)
            .collect();
        live.sort_by_key(|n| std::cmp::Reverse(n.last_live()));
        live.into_iter().take(count).map(|n| n.enode).collect()
    }

    /// Up to `count` nodes we had a session with at or after `since` and whose dials have
    /// failed fewer than `max_failures` times since, the most recently connected first.
    pub fn recently_connected(&self, since: u64, max_failures: u32, count: usize) -> Vec<Enode> {
        let mut good: Vec<&StoredNode> = self
            .nodes
            .iter()
            .filter(|n| {
                n.last_connected > 0 && n.last_connected >= since && n.dial_failures < max_failures
            })
            .collect();
        good.sort_by_key(|n| std::cmp::Reverse(n.last_connected));
        good.into_iter().take(count).map(|n| n.enode).collect()
    }
}

/// A place to keep what a node remembers. Both calls block (they may touch the disk): the
/// server calls them from a blocking thread, never from a task.
pub trait PeerStore: Send + Sync + fmt::Debug {
    /// Everything stored. Called once when the server starts.
    fn load(&self) -> Result<Snapshot, StoreError>;

    /// Applies `changes`, in order, all or none (one transaction for a database).
    fn apply(&self, changes: &[Change]) -> Result<(), StoreError>;
}

/// Why the store failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The database failed: I/O, a corrupt file, a transaction that could not commit.
    #[error("peer store database: {0}")]
    Database(#[source] Box<redb::Error>),
    /// A stored value does not have the layout of its table.
    #[error("peer store: a malformed {0} entry")]
    Malformed(&'static str),
    /// The store was written by a newer version of this library.
    #[error("peer store schema version {found} is newer than this program's {supported}")]
    SchemaTooNew {
        /// The store's.
        found: u32,
        /// Ours ([`SCHEMA_VERSION`]).
        supported: u32,
    },
}

impl StoreError {
    /// Whether the file itself is at fault (unreadable, corrupt, malformed), so that moving
    /// it aside and starting afresh is the remedy; not for a newer schema, which a newer
    /// program can still read.
    pub fn is_damaged_file(&self) -> bool {
        !matches!(self, Self::SchemaTooNew { .. })
    }
}

macro_rules! from_redb {
    ($($t:ty),*) => {$(
        impl From<$t> for StoreError {
            fn from(e: $t) -> Self {
                Self::Database(Box::new(e.into()))
            }
        }
    )*};
}
from_redb!(
    redb::Error,
    redb::DatabaseError,
    redb::TransactionError,
    redb::TableError,
    redb::StorageError,
    redb::CommitError
);

#[cfg(test)]
mod tests;
