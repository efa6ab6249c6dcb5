//! A running server's handle: what the application calls.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::dialer::{self, DialError};
use super::gating::BanTarget;
use super::state::{Shared, State};
use super::store::{Change, Snapshot};
use super::{NodeInfo, PeerEvent};
use crate::crypto::{Enode, NodeId};
use crate::discovery::source::NodeStream;
use crate::discovery::v4::Discv4Handle;
use crate::nat::{Mapping, NatEvent};
use crate::protocol::{Peer, PeerInfo};
use crate::wire::DisconnectReason;

/// A running server. Cheap to clone; all clones control the same server.
#[derive(Clone)]
pub struct ServerHandle {
    pub(super) shared: Arc<Shared>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("enode", &self.shared.info.enode)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// Our enode URL: the address and ports a gateway maps for us (`ServerConfig::nat`),
    /// else `external_ip`, else the IP discovery learned, else the listen IP (an
    /// unspecified one is advertised as 127.0.0.1); the UDP port is discovery's.
    pub fn local_enode(&self) -> Enode {
        let enode = self.shared.info.enode;
        let enode = match &self.shared.discovery {
            Some(d) => {
                let found = d.local_enode();
                Enode {
                    ip: found.ip,
                    udp_port: found.udp_port,
                    ..enode
                }
            }
            None => enode,
        };
        match self.nat_mapping() {
            Some(m) => Enode {
                ip: m.external_ip,
                tcp_port: m.tcp_port,
                udp_port: if m.udp_port == 0 {
                    enode.udp_port
                } else {
                    m.udp_port
                },
                ..enode
            },
            None => enode,
        }
    }

    /// Our ports as the gateway maps them now, when port mapping runs and holds a mapping.
    pub fn nat_mapping(&self) -> Option<Mapping> {
        self.shared.nat.as_ref().and_then(|n| n.current())
    }

    /// Subscribes to port mapping events from now on; `None` when port mapping does not run
    /// ([`NatConfig::mode`](crate::nat::NatConfig::mode) maps no ports, or no listen port).
    pub fn nat_events(&self) -> Option<broadcast::Receiver<NatEvent>> {
        self.shared.nat.as_ref().map(|n| n.events.subscribe())
    }

    /// The discovery service, if it runs (table, lookups, our ENR, events such as
    /// [`DiscoveryEvent::NodeFound`](crate::discovery::v4::DiscoveryEvent::NodeFound)).
    pub fn discovery(&self) -> Option<&Discv4Handle> {
        self.shared.discovery.as_ref()
    }

    /// Node Discovery v5, if it runs ([`DiscoveryConfig::v5`](super::DiscoveryConfig::v5)):
    /// lookups, table, our record (the same one discv4 serves).
    pub fn discv5(&self) -> Option<&crate::discovery::v5::Discv5Handle> {
        self.shared.discv5.as_ref()
    }

    /// Adds a node source the dial scheduler draws from, in turn with the others
    /// ([`FairMix`](crate::discovery::source::FairMix)). Returns `false` if the server does
    /// not dial or is stopping (or 16 sources are still waiting to be taken in).
    pub fn add_node_source(&self, source: NodeStream) -> bool {
        self.shared
            .sources
            .as_ref()
            .is_some_and(|tx| tx.try_send(source).is_ok())
    }

    /// Dials `enode` once (no redial) and reports the outcome: the peer's info once it is
    /// admitted (its session keeps running) or why not. Subject to the same gating and
    /// admission rules as every dial; a dial that would find every dialed slot taken is
    /// refused before it starts ([`DialError::NoSlot`]).
    ///
    /// Cancel-safe: dropping the future before it resolves abandons the report, not the
    /// connection, which completes or fails by itself.
    pub async fn dial(&self, enode: Enode) -> Result<Arc<PeerInfo>, DialError> {
        dialer::dial_once(&self.shared, enode).await
    }

    /// The bound listen address, if listening.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.shared.info.listen_addr
    }

    /// Facts about the local node, with each protocol's node-info hook asked now.
    pub fn node_info(&self) -> NodeInfo {
        let mut info = self.shared.info.clone();
        info.enode = self.local_enode();
        info.protocols = crate::protocol::node_infos(&self.shared.config.protocols);
        info
    }

    /// The connected peers.
    pub fn peers(&self) -> Vec<Peer> {
        self.shared.state().peers.peers().cloned().collect()
    }

    /// The connected peer with `id`.
    pub fn peer(&self, id: &NodeId) -> Option<Peer> {
        self.shared.state().peers.get(id).cloned()
    }

    /// How many peers are connected.
    pub fn peer_count(&self) -> usize {
        self.shared.state().peers.len()
    }

    /// Bytes of received messages that wait for handlers now, across all peers (see
    /// [`InboundLimits::total`](super::InboundLimits::total)).
    pub fn inbound_bytes(&self) -> usize {
        self.shared.inbound_budget.used()
    }

    /// Subscribes to peer events from now on.
    pub fn events(&self) -> broadcast::Receiver<PeerEvent> {
        self.shared.events.subscribe()
    }

    /// Adds a static peer: dialed now and redialed with backoff whenever it is not connected.
    /// Adding one twice does nothing. Ignored when the server does not dial (`no_dial`).
    /// Its address is exempt from the inbound throttle and may use the reserved pending slots.
    /// Remembered in the store, if the server has one, and dialed again after a restart.
    pub fn add_peer(&self, enode: Enode) {
        self.shared.remember(Change::AddStatic(enode));
        self.keep_connected(enode);
    }

    /// Keeps `enode` connected at its address, replacing the dialer of a static peer with
    /// the same id (a session already up is left to run), unless `watch` (the watcher of the
    /// peer's host name) was cancelled: checked under the lock `remove_peer` cancels it
    /// under, so a peer removed while its name was being resolved stays removed.
    pub(super) fn retarget(&self, enode: Enode, watch: &CancellationToken) {
        let mut state = self.shared.state();
        if watch.is_cancelled() {
            return;
        }
        if let Some(old) = state.statics.remove(&enode.id) {
            old.cancel();
        }
        self.keep_connected_locked(&mut state, enode);
    }

    /// [`add_peer`](Self::add_peer) without remembering it: a static peer of the
    /// configuration or of the store.
    pub(super) fn keep_connected(&self, enode: Enode) {
        self.keep_connected_locked(&mut self.shared.state(), enode);
    }

    fn keep_connected_locked(&self, state: &mut State, enode: Enode) {
        state.gate.know(enode.id, enode.tcp_addr().ip());
        if !self.shared.config.dial.enabled {
            return;
        }
        // Checked and spawned under the lock `stop` takes after cancelling: either this dialer
        // exists before `stop` looks, or it is never started.
        if self.shared.shutdown.is_cancelled() || state.statics.contains_key(&enode.id) {
            return;
        }
        let cancel = self.shared.shutdown.child_token();
        state.statics.insert(enode.id, cancel.clone());
        self.shared
            .tasks
            .spawn(dialer::keep_connected(self.shared.clone(), enode, cancel));
    }

    /// Stops keeping `id` connected and disconnects it (reason `Requested`) if connected.
    /// Forgotten by the store too.
    pub fn remove_peer(&self, id: &NodeId) {
        self.shared.remember(Change::RemoveStatic(*id));
        let (cancel, peer) = {
            let mut state = self.shared.state();
            if !state.peers.is_trusted(id) {
                state.gate.forget(id);
            }
            if let Some(watch) = state.names.remove(id) {
                watch.cancel();
            }
            (state.statics.remove(id), state.peers.get(id).cloned())
        };
        if let Some(cancel) = cancel {
            cancel.cancel();
        }
        if let Some(peer) = peer {
            peer.disconnect(DisconnectReason::Requested);
        }
    }

    /// Admits `id` even when the peer slots are full. Remembered in the store, if any.
    pub fn add_trusted_peer(&self, id: NodeId) {
        self.shared.remember(Change::AddTrusted(id));
        self.shared.state().peers.trust(id);
    }

    /// Whether `id` is a trusted peer ([`add_trusted_peer`](Self::add_trusted_peer)).
    pub fn is_trusted(&self, id: &NodeId) -> bool {
        self.shared.state().peers.is_trusted(id)
    }

    /// Whether `id` is a static peer ([`add_peer`](Self::add_peer)), kept connected.
    pub fn is_static(&self, id: &NodeId) -> bool {
        self.shared.state().statics.contains_key(id)
    }

    /// Makes `id` an ordinary peer again (in the store too).
    pub fn remove_trusted_peer(&self, id: &NodeId) {
        self.shared.remember(Change::RemoveTrusted(*id));
        let mut state = self.shared.state();
        state.peers.distrust(id);
        if !state.statics.contains_key(id) {
            state.gate.forget(id);
        }
    }

    /// Bans `target` for `duration` (`Duration::MAX`: until [`unban`](Self::unban)), and
    /// disconnects the connected peers it matches (reason `Requested`). A banned address is
    /// refused before the handshake, inbound and dialed; a banned node id is refused once the
    /// handshake proves it (Disconnect `Requested`), and is not dialed. Banning again replaces
    /// the expiry. Refusals are reported as [`PeerEvent::Refused`]. With a store, the ban
    /// and its expiry are remembered across restarts.
    pub fn ban(&self, target: impl Into<BanTarget>, duration: Duration) {
        let target = target.into().canonical();
        let matched: Vec<Peer> = self.shared.ban(target, duration);
        for peer in matched {
            tracing::info!(peer = %peer.id().short(), ?target, "banned peer disconnected");
            peer.disconnect(DisconnectReason::Requested);
        }
    }

    /// Lifts a ban; says whether `target` was banned.
    pub fn unban(&self, target: impl Into<BanTarget>) -> bool {
        let target = target.into().canonical();
        self.shared.remember(Change::Unban(target));
        self.shared.state().gate.unban(&target)
    }

    /// The bans in force now (by [`ban`](Self::ban), by reputation, or restored from the
    /// store), in no particular order.
    pub fn bans(&self) -> Vec<super::Ban> {
        let now = self.shared.now();
        self.shared.state().gate.bans(now)
    }

    /// A peer's reputation score now (0: neutral or unknown; see
    /// [`ReputationConfig`](super::ReputationConfig)).
    pub fn reputation(&self, id: &NodeId) -> i32 {
        let now = self.shared.now();
        self.shared.state().reputation.score(id, now)
    }

    /// Applies a reputation change to `id` as [`Peer::report`] does, for a peer connected
    /// or not.
    pub fn report(&self, id: NodeId, change: super::ReputationChange) {
        self.shared.report(id, change);
    }

    /// Puts back what the store held: bans not expired yet, trusted and static peers,
    /// scores decayed by the time passed since they were stored.
    pub(super) fn restore(&self, snapshot: &Snapshot, unix_now: u64) {
        let now = self.shared.now();
        {
            let mut state = self.shared.state();
            for ban in &snapshot.bans {
                let duration = match ban.until {
                    None => Duration::MAX,
                    Some(until) if until > unix_now => Duration::from_secs(until - unix_now),
                    Some(_) => continue,
                };
                state.gate.ban(ban.target, duration, now);
            }
            for id in &snapshot.trusted_peers {
                state.peers.trust(*id);
            }
            for rep in &snapshot.reputation {
                let ago = Duration::from_secs(unix_now.saturating_sub(rep.at));
                state.reputation.restore(rep.id, rep.score, ago, now);
            }
        }
        for enode in &snapshot.static_peers {
            self.keep_connected(*enode);
        }
    }

    /// Stops accepting and dialing, sends Disconnect `Quitting` to every peer, and returns
    /// once every task of the server has finished. Calling it again waits again.
    pub async fn stop(&self) {
        let peers: Vec<Peer> = {
            let mut state = self.shared.state();
            self.shared.shutdown.cancel();
            state.peers.close();
            state.peers.peers().cloned().collect()
        };
        for peer in peers {
            peer.disconnect(DisconnectReason::Quitting);
        }
        if let Some(d) = &self.shared.discovery {
            d.stop();
        }
        if let Some(d) = &self.shared.discv5 {
            d.stop();
        }
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
        tracing::info!("server stopped");
    }
}
