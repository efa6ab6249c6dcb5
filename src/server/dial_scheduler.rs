//! Filling the dialed slots from node sources (discovery), as go-ethereum's `dialScheduler`.
//!
//! Rules, checked before a dial starts (so no handshake is completed only to refuse the
//! peer): a free dialed slot (`max_dialed()` minus dialed peers, dials in progress and
//! static peers not connected yet: static peers come first, they have their own dialers), at
//! most `max_concurrent_dials` at once, never ourselves, a connected peer, a static peer or a
//! node dialed within [`HISTORY_EXPIRY`] ([`FAILED_EXPIRY`] after a failure), and no more
//! than `DialConfig::subnet_share` of the dialed peers and dials in one /24 (IPv4) or /64 (IPv6),
//! loopback and LAN exempt, so that one host with many keys cannot take the dialed slots.
//!
//! [`DialState`] holds those rules over plain data with time passed in; [`run`] is the task.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures_util::StreamExt;
use tokio::sync::mpsc;

use super::dialer::{dial_once, DialError};
use super::state::Shared;
use super::store::{Change, NodeUpdate};
use crate::crypto::{Enode, NodeId};
use crate::discovery::source::{FairMix, NodeStream};
use crate::protocol::Direction;
use crate::protocol::ReputationChange;
use crate::util::ip::{is_lan, Subnet};
use crate::util::ExpiringMap;

/// A node dialed is not dialed again for this long (go-ethereum's `dialHistoryExpiration`).
pub const HISTORY_EXPIRY: Duration = Duration::from_secs(35);
/// ... and for this long after the dial failed.
pub const FAILED_EXPIRY: Duration = Duration::from_secs(120);
/// Nodes remembered in the history at once.
pub(crate) const MAX_HISTORY: usize = 4096;

/// Why a candidate is not dialed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Skip {
    /// Our own id.
    Local,
    /// Connected already.
    Connected,
    /// A dial to it is in progress.
    Dialing,
    /// Dialed recently.
    Recent,
    /// A static peer: its own dialer keeps it connected.
    Static,
    /// Its /24 (or /64) holds its share of the dialed slots already.
    Subnet,
}

/// The scheduler's bookkeeping, sans-IO.
#[derive(Debug)]
pub(crate) struct DialState {
    local: NodeId,
    max_dialed: usize,
    max_concurrent: usize,
    /// Dialed peers and dials in one subnet at most.
    max_per_subnet: usize,
    /// Dials in progress and the address each goes to.
    dialing: HashMap<NodeId, IpAddr>,
    /// The nodes not dialed again yet.
    history: ExpiringMap<NodeId, ()>,
}

impl DialState {
    /// `subnet_share`: one subnet may hold `1 / subnet_share` of the `max_dialed` slots,
    /// rounded down, and at least one.
    pub(crate) fn new(
        local: NodeId,
        max_dialed: usize,
        max_concurrent: usize,
        subnet_share: usize,
    ) -> Self {
        Self {
            local,
            max_dialed,
            max_concurrent: max_concurrent.max(1),
            max_per_subnet: (max_dialed / subnet_share.max(1)).max(1),
            dialing: HashMap::new(),
            history: ExpiringMap::new(MAX_HISTORY),
        }
    }

    /// Dials that may start now, given the dialed peers and the static peers that are not
    /// connected (each holds a slot for its own dialer).
    pub(crate) fn free_slots(&self, dialed_peers: usize, statics_waiting: usize) -> usize {
        let slots = self
            .max_dialed
            .saturating_sub(dialed_peers + statics_waiting + self.dialing.len());
        slots.min(self.max_concurrent.saturating_sub(self.dialing.len()))
    }

    /// Whether `id` may be dialed now.
    pub(crate) fn check(
        &self,
        now: Instant,
        id: &NodeId,
        connected: bool,
        is_static: bool,
    ) -> Result<(), Skip> {
        if *id == self.local {
            return Err(Skip::Local);
        }
        if connected {
            return Err(Skip::Connected);
        }
        if is_static {
            return Err(Skip::Static);
        }
        if self.dialing.contains_key(id) {
            return Err(Skip::Dialing);
        }
        if self.history.contains(now, id) {
            return Err(Skip::Recent);
        }
        Ok(())
    }

    /// Whether a dial to `ip` keeps its subnet within its share, given the addresses of the
    /// peers we dialed (dials in progress are counted here). Loopback and LAN addresses
    /// always pass.
    pub(crate) fn check_subnet(
        &self,
        ip: IpAddr,
        dialed_peers: impl IntoIterator<Item = IpAddr>,
    ) -> Result<(), Skip> {
        if is_lan(ip) {
            return Ok(());
        }
        let subnet = Subnet::of(ip);
        let taken = dialed_peers
            .into_iter()
            .chain(self.dialing.values().copied())
            .filter(|p| Subnet::of(*p) == subnet)
            .count();
        if taken >= self.max_per_subnet {
            return Err(Skip::Subnet);
        }
        Ok(())
    }

    /// Dialed peers and dials one /24 (IPv4) or /64 (IPv6) may hold.
    #[cfg(test)]
    pub(crate) fn max_per_subnet(&self) -> usize {
        self.max_per_subnet
    }

    /// A dial to `id` at `ip` starts.
    pub(crate) fn started(&mut self, now: Instant, id: NodeId, ip: IpAddr) {
        self.dialing.insert(id, ip);
        self.remember(now, id, HISTORY_EXPIRY);
    }

    /// The dial to `id` ended: it became a peer or it failed.
    pub(crate) fn finished(&mut self, now: Instant, id: NodeId, connected: bool) {
        self.dialing.remove(&id);
        if !connected {
            self.remember(now, id, FAILED_EXPIRY);
        }
    }

    /// Dials in progress.
    #[cfg(test)]
    pub(crate) fn dialing(&self) -> usize {
        self.dialing.len()
    }

    fn remember(&mut self, now: Instant, id: NodeId, expiry: Duration) {
        // A full history forgets the entry expiring first.
        self.history.insert(now, id, (), expiry);
    }
}

/// How often the task looks at the slots without being told (a peer added, a source added).
const RECHECK: Duration = Duration::from_secs(1);

/// Dials from `mix` (and sources sent on `added`) until the server stops.
pub(crate) async fn run(
    shared: Arc<Shared>,
    mut mix: FairMix,
    mut added: mpsc::Receiver<NodeStream>,
) {
    let config = &shared.config;
    let mut state = DialState::new(
        shared.info.id,
        config.max_dialed(),
        config.dial.max_concurrent,
        config.dial.subnet_share,
    );
    // Every dial task sends exactly one message, and at most `max_concurrent` run.
    let (done_tx, mut done_rx) = mpsc::channel::<(NodeId, bool)>(state.max_concurrent);
    let mut recheck = tokio::time::interval(RECHECK);
    recheck.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let free = {
            let s = shared.state();
            let dialed = s.peers.count_direction(Direction::Outbound);
            let statics_waiting = s
                .statics
                .keys()
                .filter(|id| !s.peers.is_connected(id))
                .count();
            state.free_slots(dialed, statics_waiting)
        };
        // Biased: the same inputs at the same instant are handled in the same order (a
        // seeded simulation replays exactly). Nothing starves: finished dials and new sources
        // are few, and `recheck` only recomputes `free`, as every turn does.
        tokio::select! {
            biased;
            _ = shared.shutdown.cancelled() => return,
            Some(source) = added.recv() => mix.add(source),
            Some((id, ok)) = done_rx.recv() => state.finished(shared.now(), id, ok),
            Some(enode) = mix.next(), if free > 0 => {
                let now = shared.now();
                let (connected, is_static, subnet) = {
                    let s = shared.state();
                    let dialed = s
                        .peers
                        .peers()
                        .filter(|p| p.direction() == Direction::Outbound)
                        .map(|p| p.remote_addr().ip());
                    (
                        s.peers.is_connected(&enode.id),
                        s.statics.contains_key(&enode.id),
                        state.check_subnet(enode.ip, dialed),
                    )
                };
                let checked = state
                    .check(now, &enode.id, connected, is_static)
                    .and(subnet);
                if let Err(skip) = checked {
                    tracing::trace!(peer = %enode.id.short(), ?skip, "candidate skipped");
                    continue;
                }
                state.started(now, enode.id, enode.ip);
                let shared2 = shared.clone();
                let done = done_tx.clone();
                shared.tasks.spawn(async move {
                    let ok = dial(&shared2, enode).await;
                    let _ = done.send((enode.id, ok)).await;
                });
            }
            _ = recheck.tick() => {}
        }
    }
}

async fn dial(shared: &Arc<Shared>, enode: Enode) -> bool {
    match dial_once(shared, enode).await {
        Ok(info) => {
            tracing::debug!(peer = %info.id.short(), "dialed discovered node");
            true
        }
        Err(DialError::AlreadyConnected) => true,
        Err(e) => {
            tracing::debug!(peer = %enode.id.short(), error = %e, "dial of discovered node failed");
            let penalty = match e {
                DialError::Connect(_) | DialError::Timeout => {
                    Some(ReputationChange::FailedToConnect)
                }
                DialError::Handshake => Some(ReputationChange::HandshakeFailed),
                _ => None,
            };
            if let Some(change) = penalty {
                shared.remember(Change::Node(NodeUpdate::dial_failed(enode.id)));
                shared.report(enode.id, change);
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::NodeKey;

    fn ip(i: u8) -> IpAddr {
        IpAddr::from([9, 9, i, 9])
    }

    fn id(seed: u8) -> NodeId {
        use rand::SeedableRng;
        NodeKey::generate(&mut rand::rngs::StdRng::seed_from_u64(u64::from(seed))).id()
    }

    #[test]
    fn slots_count_peers_dials_and_waiting_statics() {
        let t0 = Instant::now();
        let mut s = DialState::new(id(0), 5, 3, 8);
        assert_eq!(s.free_slots(0, 0), 3, "capped by concurrent dials");
        assert_eq!(s.free_slots(2, 0), 3);
        assert_eq!(s.free_slots(2, 1), 2, "a static peer holds a slot");
        s.started(t0, id(1), ip(1));
        s.started(t0, id(2), ip(2));
        assert_eq!(s.free_slots(0, 0), 1, "two of three concurrent dials busy");
        assert_eq!(s.free_slots(3, 0), 0, "3 peers + 2 dials fill 5 slots");
        s.finished(t0, id(1), true);
        assert_eq!((s.dialing(), s.free_slots(1, 0)), (1, 2));
    }

    #[test]
    fn candidates_are_checked_before_dialing() {
        let t0 = Instant::now();
        let mut s = DialState::new(id(0), 5, 3, 8);
        assert_eq!(s.check(t0, &id(0), false, false), Err(Skip::Local));
        assert_eq!(s.check(t0, &id(1), true, false), Err(Skip::Connected));
        assert_eq!(s.check(t0, &id(1), false, true), Err(Skip::Static));
        assert_eq!(s.check(t0, &id(1), false, false), Ok(()));
        s.started(t0, id(1), ip(1));
        assert_eq!(s.check(t0, &id(1), false, false), Err(Skip::Dialing));
    }

    #[test]
    fn history_expires_later_after_a_failure() {
        let t0 = Instant::now();
        let mut s = DialState::new(id(0), 5, 3, 8);
        s.started(t0, id(1), ip(1));
        s.finished(t0, id(1), true);
        s.started(t0, id(2), ip(2));
        s.finished(t0, id(2), false);
        let t1 = t0 + HISTORY_EXPIRY - Duration::from_secs(1);
        assert_eq!(s.check(t1, &id(1), false, false), Err(Skip::Recent));
        let t2 = t0 + HISTORY_EXPIRY;
        assert_eq!(s.check(t2, &id(1), false, false), Ok(()));
        assert_eq!(s.check(t2, &id(2), false, false), Err(Skip::Recent));
        assert_eq!(s.check(t0 + FAILED_EXPIRY, &id(2), false, false), Ok(()));
    }

    #[test]
    fn history_is_bounded() {
        let t0 = Instant::now();
        let mut s = DialState::new(id(0), 5, 3, 8);
        let mut rng = rand::rngs::OsRng;
        for _ in 0..MAX_HISTORY + 5 {
            let n = NodeKey::generate(&mut rng).id();
            s.started(t0, n, ip(0));
            s.finished(t0, n, false);
        }
        assert_eq!(s.history.len(), MAX_HISTORY);
    }

    /// Candidates all on one /24 get at most `max_dialed / 8` (at least 1) of the slots,
    /// dials in progress and dialed peers counted; other networks and LANs are not held up.
    #[test]
    fn one_slash_24_gets_a_small_share_of_the_dialed_slots() {
        let t0 = Instant::now();
        let mut s = DialState::new(id(0), 16, 16, 8);
        assert_eq!(s.max_per_subnet(), 2);
        let one = |i: u8| IpAddr::from([6, 6, 6, i]);
        let mut dialed = 0;
        for i in 1..=20u8 {
            if s.check(t0, &id(i), false, false).is_ok() && s.check_subnet(one(i), []).is_ok() {
                s.started(t0, id(i), one(i));
                dialed += 1;
            }
        }
        assert_eq!(dialed, 2);
        // Once connected they count as dialed peers.
        s.finished(t0, id(1), true);
        s.finished(t0, id(2), true);
        assert_eq!(s.check_subnet(one(30), [one(1), one(2)]), Err(Skip::Subnet));
        assert_eq!(s.check_subnet(one(30), [one(1)]), Ok(()));
        assert_eq!(
            s.check_subnet(IpAddr::from([6, 6, 7, 1]), [one(1), one(2)]),
            Ok(())
        );
        let lo = |i: u8| IpAddr::from([127, 0, 0, i]);
        assert_eq!(s.check_subnet(lo(9), (1..=10).map(lo)), Ok(()), "loopback");
        // A small server still dials one node of a network.
        assert_eq!(DialState::new(id(0), 4, 4, 8).max_per_subnet(), 1);
    }
}
