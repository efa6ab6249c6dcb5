//! The async client: walks a tree through a [`TxtResolver`], follows its links, and keeps
//! what it verified so the next sync fetches only what changed.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use futures_util::stream::{FuturesUnordered, StreamExt};

use super::entry::{Entry, Link};
use super::error::SyncError;
use super::resolver::TxtResolver;
use super::sync::{Synced, TreeState, WalkLimits};
use crate::crypto::NodeId;
use crate::discovery::enr::{self, Record};

/// Bounds and timing of DNS discovery. Every default is what a mainnet list needs with room
/// to spare (the largest lists hold a few thousand records).
#[derive(Clone, Debug)]
pub struct DnsConfig {
    /// Entries (branches, leaves and links) one sync may hold, over the tree synced and every
    /// tree it links to, so that lists run by others cannot make us keep more. Default
    /// 20,000; each kept entry costs about 400 bytes (a node record) between syncs.
    pub max_entries: usize,
    /// Branches from a root to a leaf. Default 16 (13 children a branch reach 13^16 leaves).
    pub max_depth: usize,
    /// Linked trees followed from the one synced (in all, at any depth). Default 16.
    pub max_links: usize,
    /// TXT lookups at once. Default 8.
    pub concurrency: usize,
    /// One whole sync (the tree and every linked tree). Default 60 s.
    pub sync_timeout: Duration,
    /// How often a node source checks the root for a new sequence number. Default 30 min,
    /// as go-ethereum. A failed sync is retried after a tenth of this (at least 1 s).
    pub recheck_interval: Duration,
}

impl Default for DnsConfig {
    fn default() -> Self {
        Self {
            max_entries: 20_000,
            max_depth: 16,
            max_links: 16,
            concurrency: 8,
            sync_timeout: Duration::from_secs(60),
            recheck_interval: Duration::from_secs(30 * 60),
        }
    }
}

/// The outcome of [`DnsClient::sync`].
#[derive(Debug, Default)]
pub struct SyncReport {
    /// Node records of the tree and of every linked tree synced, one per node id (the
    /// highest `seq` when several trees list a node).
    pub records: Vec<Record>,
    /// Each tree synced: the one asked for first, then linked ones.
    pub trees: Vec<TreeReport>,
    /// Linked trees not synced, and why (a link loop, too many links, or the linked tree's
    /// own failure). Their nodes are not in `records`; the others are.
    pub refused: Vec<(Link, SyncError)>,
}

/// One tree of a [`SyncReport`].
#[derive(Debug, Clone)]
pub struct TreeReport {
    /// The tree.
    pub link: Link,
    /// Its root's sequence number.
    pub seq: u64,
    /// Entries below its root.
    pub entries: usize,
    /// Entries looked up in this sync; 0 when the root had not changed.
    pub fetched: usize,
}

/// A client for `enrtree://` lists; see the module docs.
#[derive(Debug)]
pub struct DnsClient<R> {
    resolver: R,
    config: DnsConfig,
    trees: HashMap<Link, TreeState>,
}

impl<R: TxtResolver> DnsClient<R> {
    /// A client that looks names up through `resolver`.
    pub fn new(resolver: R, config: DnsConfig) -> Self {
        Self {
            resolver,
            config,
            trees: HashMap::new(),
        }
    }

    /// The configuration.
    pub fn config(&self) -> &DnsConfig {
        &self.config
    }

    /// Syncs the tree at `url` and the trees it links to, within
    /// [`DnsConfig::sync_timeout`]. A tree whose root is unchanged since the last sync is
    /// not walked again; a changed one fetches only the entries it did not have. Between
    /// syncs the client keeps the trees this sync reached (so use one client per URL).
    ///
    /// A failure of the tree at `url` is the error; a linked tree's failure is only listed
    /// in [`SyncReport::refused`]. EIP-1459's rationale says *"If two node lists link to each
    /// other, users can use either list and get nodes from both"*: a link back to a tree on
    /// the path that led to it is refused as [`SyncError::LinkLoop`], and the nodes of both
    /// trees are kept.
    ///
    /// Cancel-safe: a sync dropped midway keeps what the last complete one verified.
    pub async fn sync(&mut self, url: &Link) -> Result<SyncReport, SyncError> {
        let timeout = self.config.sync_timeout;
        tokio::time::timeout(timeout, self.sync_all(url))
            .await
            .map_err(|_| SyncError::Timeout)?
    }

    async fn sync_all(&mut self, url: &Link) -> Result<SyncReport, SyncError> {
        let mut report = SyncReport::default();
        let mut records: HashMap<NodeId, Record> = HashMap::new();
        let mut visited: HashSet<Link> = HashSet::new();
        // Entries the trees still to sync may hold.
        let mut budget = self.config.max_entries;
        // Depth first, each tree with the trees on its path from `url`.
        let mut stack: Vec<(Link, Vec<Link>)> = vec![(url.clone(), Vec::new())];
        while let Some((link, path)) = stack.pop() {
            if path.contains(&link) {
                report.refused.push((link, SyncError::LinkLoop));
                continue;
            }
            if visited.contains(&link) {
                // Reached along another path: synced already.
                continue;
            }
            if visited.len() > self.config.max_links {
                report
                    .refused
                    .push((link, SyncError::TooManyLinks(self.config.max_links)));
                continue;
            }
            visited.insert(link.clone());
            let synced = match self.sync_tree(&link, budget).await {
                Ok(synced) => synced,
                Err(e) if path.is_empty() => return Err(e),
                Err(e) => {
                    report.refused.push((link, e));
                    continue;
                }
            };
            budget = budget.saturating_sub(synced.entries);
            for record in synced.records {
                let id = enr::node_id(&record);
                match records.get(&id) {
                    Some(old) if old.seq() >= record.seq() => {}
                    _ => {
                        records.insert(id, record);
                    }
                }
            }
            report.trees.push(TreeReport {
                link: link.clone(),
                seq: synced.seq,
                entries: synced.entries,
                fetched: synced.fetched,
            });
            let mut child_path = path;
            child_path.push(link);
            for next in synced.links {
                stack.push((next, child_path.clone()));
            }
        }
        self.trees.retain(|link, _| visited.contains(link));
        report.records = records.into_values().collect();
        Ok(report)
    }

    /// Syncs one tree (links not followed) of at most `max_entries` entries.
    async fn sync_tree(&mut self, link: &Link, max_entries: usize) -> Result<Synced, SyncError> {
        let Self {
            resolver,
            config,
            trees,
        } = self;
        let limits = WalkLimits {
            max_entries,
            max_depth: config.max_depth,
        };
        let state = trees
            .entry(link.clone())
            .or_insert_with(|| TreeState::new(link.clone()));
        // EIP-1459: *"Resolve the TXT record of the name and check whether it contains a
        // valid "enrtree-root=v1" entry."*
        let txts = resolver.lookup_txt(&link.domain).await?;
        let Some(mut walk) = state.handle_root(&txts, limits)? else {
            return Ok(unchanged(state));
        };
        let domain = link.domain.as_str();
        let resolver = &*resolver;
        let mut inflight = FuturesUnordered::new();
        loop {
            while inflight.len() < config.concurrency.max(1) {
                let Some(hash) = walk.poll_query(state)? else {
                    break;
                };
                inflight.push(async move {
                    let name = format!("{hash}.{domain}");
                    (hash, resolver.lookup_txt(&name).await)
                });
            }
            let Some((hash, answer)) = inflight.next().await else {
                break;
            };
            walk.handle_entry(hash, &answer?)?;
        }
        Ok(state.finish(walk))
    }
}

/// The last complete sync of a tree whose root did not change.
fn unchanged(state: &TreeState) -> Synced {
    let mut synced = Synced {
        seq: state.root().map_or(0, |r| r.seq),
        records: Vec::new(),
        links: Vec::new(),
        fetched: 0,
        entries: 0,
    };
    for entry in state.entries() {
        synced.entries += 1;
        match entry {
            Entry::Enr(r) => synced.records.push((**r).clone()),
            Entry::Link(l) => synced.links.push(l.clone()),
            Entry::Branch(_) => {}
        }
    }
    synced
}
