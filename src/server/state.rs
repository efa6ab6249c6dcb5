//! What every task of one server shares: settings, our Hello, the peer set, and shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::Rng;

use tokio::sync::{broadcast, mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::admission::Admission;
use super::gating::{BanTarget, Gate};
use super::reputation::Reputations;
use super::store::writer::StoreWriter;
use super::store::{Change, StoredBan, StoredReputation};
use super::{NodeInfo, PeerEvent, ServerConfig};
use crate::crypto::NodeId;
use crate::discovery::source::NodeStream;
use crate::discovery::v4::Discv4Handle;
use crate::protocol::{Peer, Protocol, ReputationChange};
use crate::session::InboundBudget;
use crate::wire::{Capability, DisconnectReason, Hello};

/// State changed under one lock: admission and registration of peers, static dialers.
#[derive(Debug)]
pub(crate) struct State {
    /// The connected peers, the only record of them.
    pub(crate) peers: Admission<Peer>,
    /// The dialer of each static peer, by id.
    pub(crate) statics: HashMap<NodeId, CancellationToken>,
    /// The host-name watcher of each static peer given by name, by id.
    pub(crate) names: HashMap<NodeId, CancellationToken>,
    /// Bans, the inbound throttle and the pending-handshake slots of accepted connections.
    /// Under the same lock as `peers`, so that a ban and an admission cannot cross.
    pub(crate) gate: Gate,
    /// Peer scores; under the same lock as `gate`, so that a score and its ban agree.
    pub(crate) reputation: Reputations,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) config: ServerConfig,
    pub(crate) info: NodeInfo,
    pub(crate) hello: Hello,
    pub(crate) local_caps: Vec<(Capability, u64)>,
    pub(crate) state: Mutex<State>,
    pub(crate) events: broadcast::Sender<PeerEvent>,
    /// Notified when an accepted connection gives back its pending slot (`gate`).
    pub(crate) slot_freed: Notify,
    /// Handshake slots of dialed connections, separate so that neither direction can starve
    /// the other.
    pub(crate) dialing: Arc<Semaphore>,
    pub(crate) shutdown: CancellationToken,
    pub(crate) tasks: TaskTracker,
    /// Notified whenever a peer leaves.
    pub(crate) peers_changed: Notify,
    /// Received bytes all sessions together may hold for the handlers.
    pub(crate) inbound_budget: Arc<InboundBudget>,
    /// The discovery service, when it runs.
    pub(crate) discovery: Option<Discv4Handle>,
    /// Node Discovery v5, when it runs (on discovery's socket).
    pub(crate) discv5: Option<crate::discovery::v5::Discv5Handle>,
    /// Port mapping's state and events, when it runs.
    pub(crate) nat: Option<Arc<crate::nat::NatShared>>,
    /// Node sources for the dial scheduler (`None`: it does not run).
    pub(crate) sources: Option<mpsc::Sender<NodeStream>>,
    /// Where changes to remember go (`None`: no store).
    pub(crate) store: Option<StoreWriter>,
    /// The server's random choices (`ServerConfig::rng_seed`).
    pub(crate) rng: Mutex<StdRng>,
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock; recover the data if it ever happens.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The clock the gating rules are given: tokio's, so that a paused test clock applies.
    pub(crate) fn now(&self) -> std::time::Instant {
        tokio::time::Instant::now().into_std()
    }

    /// Unix seconds by the network's clock, for the store.
    pub(crate) fn unix_now(&self) -> u64 {
        self.config.network.unix_time().as_secs()
    }

    /// Sends `change` to the store, if there is one; never waits.
    pub(crate) fn remember(&self, change: Change) {
        if let Some(store) = &self.store {
            store.record(change);
        }
    }

    /// Bans `target` for `duration` (remembered, if there is a store) and returns the
    /// connected peers it matches, for the caller to disconnect.
    pub(crate) fn ban(&self, target: BanTarget, duration: std::time::Duration) -> Vec<Peer> {
        let target = target.canonical();
        let now = self.now();
        let matched = {
            let mut state = self.state();
            state.gate.ban(target, duration, now);
            let matches = |p: &&Peer| match target {
                BanTarget::Ip(ip) => p.remote_addr().ip().to_canonical() == ip,
                BanTarget::Node(id) => p.id() == id,
            };
            state.peers.peers().filter(matches).cloned().collect()
        };
        let until = self.unix_now().checked_add(duration.as_secs());
        self.remember(Change::Ban(StoredBan { target, until }));
        matched
    }

    /// Applies a reputation change to `id`: a score at or below the threshold bans it for
    /// `ReputationConfig::ban_duration` and disconnects it. Reported as events and metrics,
    /// and remembered.
    pub(crate) fn report(&self, id: NodeId, change: ReputationChange) {
        let applied = self.state().reputation.apply(id, change, self.now());
        metrics::counter!(crate::metrics::REPUTATION_CHANGES, "kind" => change.kind()).increment(1);
        self.remember(Change::Reputation(StoredReputation {
            id,
            score: applied.score,
            at: self.unix_now(),
        }));
        tracing::debug!(peer = %id.short(), kind = change.kind(), score = applied.score, "reputation changed");
        self.emit(PeerEvent::ReputationChanged {
            id,
            change,
            score: applied.score,
        });
        if applied.ban {
            let duration = self.config.reputation.ban_duration;
            metrics::counter!(crate::metrics::REPUTATION_BANS).increment(1);
            tracing::info!(peer = %id.short(), score = applied.score, ?duration, "peer banned for its reputation");
            let matched = self.ban(BanTarget::Node(id), duration);
            self.emit(PeerEvent::Banned {
                id,
                score: applied.score,
                duration,
            });
            for peer in matched {
                peer.disconnect(DisconnectReason::Requested);
            }
        }
    }

    /// A number in `0..=max` from the server's random choices.
    pub(crate) fn random_up_to(&self, max: u64) -> u64 {
        // Only the draw happens under the lock.
        let mut rng = self.rng.lock().unwrap_or_else(|e| e.into_inner());
        rng.gen_range(0..=max)
    }

    pub(crate) fn is_connected(&self, id: &NodeId) -> bool {
        self.state().peers.is_connected(id)
    }

    pub(crate) fn emit(&self, event: PeerEvent) {
        if let PeerEvent::Added(info) = &event {
            // Where to dial it next time: the address we dialed, or the one it connected
            // from with the port its Hello names.
            let port = match info.direction {
                crate::protocol::Direction::Outbound => info.remote_addr.port(),
                crate::protocol::Direction::Inbound => info.listen_port,
            };
            if port != 0 {
                let addr = std::net::SocketAddr::new(info.remote_addr.ip(), port);
                let enode = crate::crypto::Enode::new(info.id, addr);
                self.remember(Change::Node(super::store::NodeUpdate::connected(
                    enode,
                    self.unix_now(),
                )));
            }
        }
        super::metrics::event(&event);
        // No subscribers is fine.
        let _ = self.events.send(event);
    }

    pub(crate) fn protocol_for(&self, cap: &Capability) -> Option<Protocol> {
        self.config
            .protocols
            .iter()
            .find(|p| p.capability() == *cap)
            .cloned()
    }
}
