//! What every task of one server shares: settings, our Hello, the peer set, and shutdown.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use rand::rngs::StdRng;
use rand::Rng;

use tokio::sync::{broadcast, mpsc, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::admission::Admission;
use super::gating::Gate;
use super::{NodeInfo, PeerEvent, ServerConfig};
use crate::crypto::NodeId;
use crate::discovery::source::NodeStream;
use crate::discovery::v4::Discv4Handle;
use crate::protocol::{Peer, Protocol};
use crate::session::InboundBudget;
use crate::wire::{Capability, Hello};

/// State changed under one lock: admission and registration of peers, static dialers.
#[derive(Debug)]
pub(crate) struct State {
    /// The connected peers, the only record of them.
    pub(crate) peers: Admission<Peer>,
    /// The dialer of each static peer, by id.
    pub(crate) statics: HashMap<NodeId, CancellationToken>,
    /// Bans, the inbound throttle and the pending-handshake slots of accepted connections.
    /// Under the same lock as `peers`, so that a ban and an admission cannot cross.
    pub(crate) gate: Gate,
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
    /// Node sources for the dial scheduler (`None`: it does not run).
    pub(crate) sources: Option<mpsc::Sender<NodeStream>>,
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
