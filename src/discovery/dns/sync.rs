//! The sans-IO walk of one tree: which names to look up next, and what their answers mean.
//!
//! One calling contract: [`TreeState::handle_root`] takes the TXT records at the tree's
//! domain and, when the tree changed, returns a [`Walk`]; the walk's
//! [`poll_query`](Walk::poll_query) says which name to look up next and
//! [`handle_entry`](Walk::handle_entry) takes each answer, in any order; when
//! `poll_query` is `None` and nothing is outstanding, [`TreeState::finish`] keeps the result.
//! The shell chooses how many lookups run at once and how long they may take.

use std::collections::{HashMap, HashSet, VecDeque};

use super::entry::{Entry, EntryHash, Link, Root};
use super::error::SyncError;
use crate::discovery::enr::Record;

/// Which subtree an entry belongs to: each may hold only its own kind of leaf.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Subtree {
    Enr,
    Link,
}

/// Bounds of one tree's walk.
#[derive(Clone, Copy, Debug)]
pub struct WalkLimits {
    /// Entries (branches and leaves) below the root.
    pub max_entries: usize,
    /// Branches on the way from the root to a leaf.
    pub max_depth: usize,
}

/// What we know of one tree between syncs: the last root and its verified entries, so a
/// re-sync fetches only what changed.
#[derive(Debug)]
pub struct TreeState {
    link: Link,
    root: Option<Root>,
    entries: HashMap<EntryHash, Entry>,
}

impl TreeState {
    /// A tree not synced yet.
    pub fn new(link: Link) -> Self {
        Self {
            link,
            root: None,
            entries: HashMap::new(),
        }
    }

    /// The tree's link (its domain and key).
    pub fn link(&self) -> &Link {
        &self.link
    }

    /// The root of the last complete sync.
    pub fn root(&self) -> Option<&Root> {
        self.root.as_ref()
    }

    /// Takes the TXT records at the tree's domain (other TXT records there are ignored).
    /// Returns a walk when the root is new, `None` when it is the one already synced.
    ///
    /// EIP-1459: *"Verify the signature on the root against the known public key and check
    /// whether the sequence number is larger than or equal to any previous number seen for
    /// that name."*
    pub fn handle_root(
        &self,
        txts: &[String],
        limits: WalkLimits,
    ) -> Result<Option<Walk>, SyncError> {
        let text = txts
            .iter()
            .find(|t| t.starts_with("enrtree-root:"))
            .ok_or(SyncError::NoRoot)?;
        let root: Root = text.parse()?;
        if !root.verify(&self.link.key) {
            return Err(SyncError::BadSignature);
        }
        if let Some(old) = &self.root {
            if root.seq < old.seq {
                return Err(SyncError::SeqRegressed {
                    seen: old.seq,
                    got: root.seq,
                });
            }
            if root == *old {
                return Ok(None);
            }
        }
        Ok(Some(Walk::new(root, limits)))
    }

    /// Keeps a finished walk's tree (and drops entries the new tree no longer has).
    ///
    /// # Panics
    /// Never on network input: call only when [`Walk::is_done`].
    pub fn finish(&mut self, walk: Walk) -> Synced {
        debug_assert!(walk.is_done());
        let mut records = Vec::new();
        let mut links = Vec::new();
        for entry in walk.entries.values() {
            match entry {
                Entry::Enr(r) => records.push((**r).clone()),
                Entry::Link(l) => links.push(l.clone()),
                Entry::Branch(_) => {}
            }
        }
        let synced = Synced {
            seq: walk.root.seq,
            records,
            links,
            fetched: walk.fetched,
            entries: walk.entries.len(),
        };
        self.root = Some(walk.root);
        self.entries = walk.entries;
        synced
    }

    /// The entries of the last complete sync.
    pub fn entries(&self) -> impl Iterator<Item = &Entry> {
        self.entries.values()
    }

    /// The entry with `hash` from the last complete sync, if any (already verified).
    fn cached(&self, hash: &EntryHash) -> Option<&Entry> {
        self.entries.get(hash)
    }
}

/// The result of one tree's sync.
#[derive(Clone, Debug)]
pub struct Synced {
    /// The root's sequence number.
    pub seq: u64,
    /// The node records of the tree.
    pub records: Vec<Record>,
    /// The trees it links to.
    pub links: Vec<Link>,
    /// Entries looked up in this sync (the others were unchanged since the last one).
    pub fetched: usize,
    /// Entries below the root.
    pub entries: usize,
}

/// One walk from a verified root down to every leaf.
#[derive(Debug)]
pub struct Walk {
    root: Root,
    limits: WalkLimits,
    /// Hashes to look up (or take from the cache), with their subtree and depth.
    queue: VecDeque<(EntryHash, Subtree, usize)>,
    /// Looked up, answer not in yet.
    outstanding: HashMap<EntryHash, (Subtree, usize)>,
    /// Every hash ever queued: EIP-1459 *"During traversal, the client must track hashes
    /// and domains which are already resolved to avoid going into an infinite loop."*
    seen: HashSet<EntryHash>,
    entries: HashMap<EntryHash, Entry>,
    fetched: usize,
}

impl Walk {
    fn new(root: Root, limits: WalkLimits) -> Self {
        let mut walk = Self {
            queue: VecDeque::new(),
            outstanding: HashMap::new(),
            seen: HashSet::new(),
            entries: HashMap::new(),
            fetched: 0,
            limits,
            root,
        };
        // Links first: EIP-1459, *"A client wanting to get as many nodes as possible will
        // sync the link tree first"*.
        for (hash, subtree) in [
            (walk.root.link_root, Subtree::Link),
            (walk.root.enr_root, Subtree::Enr),
        ] {
            // Both are the empty branch in a tree with no records and no links: once.
            if walk.seen.insert(hash) {
                walk.queue.push_back((hash, subtree, 0));
            }
        }
        walk
    }

    /// Queues a child, once. Every entry was queued, so bounding `seen` bounds the tree.
    fn push(&mut self, hash: EntryHash, subtree: Subtree, depth: usize) -> Result<(), SyncError> {
        if self.seen.insert(hash) {
            if self.seen.len() > self.limits.max_entries {
                return Err(SyncError::TooManyEntries(self.limits.max_entries));
            }
            self.queue.push_back((hash, subtree, depth));
        }
        Ok(())
    }

    /// The root this walk verified.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// The next hash to look up at `<hash>.<domain>`, or `None` if nothing is left to ask
    /// (answers may still be outstanding). Entries the last sync of `state` verified are
    /// taken from it instead of asked again. Call until `None` after every answer; an extra
    /// call is harmless.
    pub fn poll_query(&mut self, state: &TreeState) -> Result<Option<EntryHash>, SyncError> {
        while let Some((hash, subtree, depth)) = self.queue.pop_front() {
            if let Some(entry) = state.cached(&hash) {
                self.accept(hash, entry.clone(), subtree, depth)?;
                continue;
            }
            self.outstanding.insert(hash, (subtree, depth));
            self.fetched += 1;
            return Ok(Some(hash));
        }
        Ok(None)
    }

    /// Takes the TXT records at `<hash>.<domain>`, a name [`poll_query`](Self::poll_query)
    /// returned. An answer for a name not asked for is ignored.
    ///
    /// EIP-1459: *"Resolve the TXT record of the hash subdomain ... and verify whether the
    /// content matches the hash."*
    pub fn handle_entry(&mut self, hash: EntryHash, txts: &[String]) -> Result<(), SyncError> {
        let Some((subtree, depth)) = self.outstanding.remove(&hash) else {
            return Ok(());
        };
        let text = txts
            .iter()
            .find(|t| hash.matches(t))
            .ok_or(SyncError::HashMismatch)?;
        let entry: Entry = text.parse()?;
        self.accept(hash, entry, subtree, depth)
    }

    fn accept(
        &mut self,
        hash: EntryHash,
        entry: Entry,
        subtree: Subtree,
        depth: usize,
    ) -> Result<(), SyncError> {
        match (&entry, subtree) {
            // EIP-1459: a link *"may only appear in the subtree pointed to by `link-root`"*,
            // a node record *"may only appear in the `enr-root` subtree"*.
            (Entry::Link(_), Subtree::Enr) => return Err(SyncError::LinkInEnrTree),
            (Entry::Enr(_), Subtree::Link) => return Err(SyncError::EnrInLinkTree),
            (Entry::Branch(children), _) => {
                if depth >= self.limits.max_depth {
                    return Err(SyncError::TooDeep(self.limits.max_depth));
                }
                for child in children {
                    self.push(*child, subtree, depth + 1)?;
                }
            }
            _ => {}
        }
        self.entries.insert(hash, entry);
        Ok(())
    }

    /// Whether every entry is in: nothing queued, nothing outstanding.
    pub fn is_done(&self) -> bool {
        self.queue.is_empty() && self.outstanding.is_empty()
    }
}
