//! The task between the server and its [`PeerStore`]: changes arrive on a bounded channel
//! (never awaited: a full channel drops the change and counts it), are merged per node, and
//! go to the store as one batch per `flush_interval` (or sooner when [`MAX_BATCH`] are
//! waiting), applied on a blocking thread. Nodes discovery finds live arrive the same way,
//! and the discovery table is recorded whole every [`TABLE_INTERVAL`]. On shutdown the
//! waiting changes are written before the task ends.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, mpsc};

use super::{Change, NodeUpdate, PeerStore};
use crate::crypto::NodeId;
use crate::discovery::v4::{DiscoveryEvent, Discv4Handle};
use crate::server::state::Shared;

/// Changes waiting in the channel before new ones are dropped.
pub(crate) const CHANNEL: usize = 4096;
/// Changes merged in memory before a batch is written early.
pub(crate) const MAX_BATCH: usize = 4096;
/// How often the whole discovery table is recorded as live.
pub(crate) const TABLE_INTERVAL: Duration = Duration::from_secs(30);

/// Where the server sends changes.
#[derive(Clone, Debug)]
pub(crate) struct StoreWriter {
    tx: mpsc::Sender<Change>,
}

impl StoreWriter {
    pub(crate) fn new() -> (Self, mpsc::Receiver<Change>) {
        let (tx, rx) = mpsc::channel(CHANNEL);
        (Self { tx }, rx)
    }

    /// Queues `change` without waiting; when the writer is this far behind, it is dropped.
    pub(crate) fn record(&self, change: Change) {
        if self.tx.try_send(change).is_err() {
            metrics::counter!(crate::metrics::STORE_DROPPED).increment(1);
        }
    }
}

/// Changes merged while they wait: one update per node, the rest in order.
#[derive(Debug, Default)]
pub(crate) struct Pending {
    nodes: HashMap<NodeId, NodeUpdate>,
    order: Vec<NodeId>,
    /// The latest score of each peer: only it matters.
    reputation: HashMap<NodeId, Change>,
    others: Vec<Change>,
}

impl Pending {
    pub(crate) fn add(&mut self, change: Change) {
        match change {
            Change::Node(update) => match self.nodes.get_mut(&update.id) {
                Some(old) => *old = old.then(update),
                None => {
                    self.nodes.insert(update.id, update);
                    self.order.push(update.id);
                }
            },
            Change::Reputation(rep) => {
                self.reputation.insert(rep.id, change);
            }
            other => self.others.push(other),
        }
    }

    pub(crate) fn len(&self) -> usize {
        self.nodes.len() + self.reputation.len() + self.others.len()
    }

    /// The batch, node updates first (bans, peers and reputation do not depend on them).
    pub(crate) fn take(&mut self) -> Vec<Change> {
        let mut nodes = std::mem::take(&mut self.nodes);
        let mut batch: Vec<Change> = std::mem::take(&mut self.order)
            .into_iter()
            .filter_map(|id| nodes.remove(&id).map(Change::Node))
            .collect();
        batch.append(&mut self.others);
        batch.extend(self.reputation.drain().map(|(_, change)| change));
        batch
    }
}

/// Runs until the server stops, then writes what waits.
pub(crate) async fn run(
    shared: Arc<Shared>,
    store: Arc<dyn PeerStore>,
    mut rx: mpsc::Receiver<Change>,
) {
    let interval = shared
        .config
        .store
        .flush_interval
        .max(Duration::from_millis(1));
    let mut flush = tokio::time::interval(interval);
    flush.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut table = tokio::time::interval(TABLE_INTERVAL);
    table.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let discovery = shared.discovery.clone();
    let mut found = discovery.as_ref().map(Discv4Handle::events);
    let mut pending = Pending::default();
    let mut failing = false;
    loop {
        tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => break,
            Some(change) = rx.recv() => {
                pending.add(change);
                if pending.len() >= MAX_BATCH {
                    write(&store, &mut pending, &mut failing).await;
                }
            }
            event = next_found(&mut found) => {
                if let Some(enode) = event {
                    let now = shared.unix_now();
                    pending.add(Change::Node(NodeUpdate::seen(enode, now)));
                }
            }
            _ = flush.tick() => write(&store, &mut pending, &mut failing).await,
            _ = table.tick() => {
                if let Some(d) = &discovery {
                    if let Ok(nodes) = d.table().await {
                        let now = shared.unix_now();
                        for enode in nodes {
                            pending.add(Change::Node(NodeUpdate::seen(enode, now)));
                        }
                    }
                }
            }
        }
    }
    while let Ok(change) = rx.try_recv() {
        pending.add(change);
    }
    write(&store, &mut pending, &mut failing).await;
}

/// The next node discovery found, `None` for other events; pending forever without
/// discovery or once it stopped.
async fn next_found(
    events: &mut Option<broadcast::Receiver<DiscoveryEvent>>,
) -> Option<crate::crypto::Enode> {
    let Some(rx) = events else {
        return std::future::pending().await;
    };
    match rx.recv().await {
        Ok(DiscoveryEvent::NodeFound(enode)) => Some(enode),
        Ok(_) | Err(broadcast::error::RecvError::Lagged(_)) => None,
        Err(broadcast::error::RecvError::Closed) => {
            *events = None;
            None
        }
    }
}

/// Applies what waits as one batch, on a blocking thread. A failure is logged (a warning
/// the first time in a row, then at debug level) and the batch dropped: the store is a
/// memory aid, and the node runs on without it.
async fn write(store: &Arc<dyn PeerStore>, pending: &mut Pending, failing: &mut bool) {
    let batch = pending.take();
    if batch.is_empty() {
        return;
    }
    let changes = batch.len() as u64;
    let store = store.clone();
    let result = tokio::task::spawn_blocking(move || store.apply(&batch)).await;
    match result {
        Ok(Ok(())) => {
            *failing = false;
            metrics::counter!(crate::metrics::STORE_BATCHES).increment(1);
            metrics::counter!(crate::metrics::STORE_CHANGES).increment(changes);
        }
        Ok(Err(e)) if !*failing => {
            *failing = true;
            tracing::warn!(error = %e, "peer store write failed; changes dropped");
        }
        Ok(Err(e)) => tracing::debug!(error = %e, "peer store write failed"),
        Err(e) => tracing::warn!(error = %e, "peer store writer thread failed"),
    }
}
