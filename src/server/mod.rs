//! The devp2p server: accepts and dials connections, admits peers and runs their sessions.
//!
//! ```text
//! accept.rs ─┐  gating.rs (bans, net_restrict, throttle, pending slots)
//!            ├─▶ connection.rs ─────────┬─ admission.rs (slots, duplicates, self)
//! dialer.rs ─┘   RLPx + Hello           └─ session (reader, writer) + protocol handlers
//!   ▲
//! dial_scheduler.rs  fills dialed slots from node sources (discovery::source, discv4, discv5)
//! handle.rs      ServerHandle: peers, events, static/trusted peers, stop
//! oneshot.rs     ServerHandle::dial_oneshot (a one-shot slot, outside the dialed ones)
//! send_all.rs    ServerHandle::broadcast (try_send to each peer), peers_info
//! state.rs       what the tasks share
//! reputation.rs  peer scores, decay, the ban threshold (sans-IO)
//! store/         what is remembered across restarts (PeerStore) and its writer task
//! ```

mod accept;
mod admission;
mod config;
mod connection;
mod dial_scheduler;
mod dialer;
mod events;
mod gating;
mod handle;
mod metrics;
mod named;
mod oneshot;
mod reputation;
mod send_all;
mod state;
pub mod store;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{broadcast, Notify, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::admission::Admission;
pub use self::admission::ONESHOT_SLOTS;
pub use self::config::{
    ConnectionConfig, DialConfig, DiscoveryConfig, DiscoveryMode, GatingConfig, InboundLimits,
    ServerConfig, StoreConfig,
};
pub use self::dial_scheduler::{FAILED_EXPIRY, HISTORY_EXPIRY};
pub use self::dialer::DialError;
pub use self::events::PeerEvent;
use self::gating::Gate;
pub use self::gating::{Ban, BanTarget, RejectReason, ThrottleExempt};
pub use self::handle::ServerHandle;
pub use self::named::{HostLookup, HostResolver, SystemResolver, NAME_RECHECK};
pub use self::reputation::ReputationConfig;
pub use self::send_all::BroadcastReport;
use self::state::{Shared, State};
use crate::crypto::{Enode, NodeId};
use crate::discovery::source::FairMix;
use crate::discovery::v4::{Discv4Handle, ServiceConfig, ServiceError};
use crate::discovery::v5::{Discv5Error, Discv5Handle};
pub use crate::metrics::MsgDirection;
use crate::nat::{NatMode, NatShared, Ports};
pub use crate::protocol::{ReputationChange, REPUTATION_UNIT};
use crate::session;
pub use crate::session::SessionTimeouts;
use crate::wire::Capability;
/// A network in CIDR form, as [`GatingConfig::net_restrict`] takes it (from `ipnet`).
pub use ipnet::IpNet;

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Two protocols with the same name and version.
    #[error("protocol {0} registered twice")]
    DuplicateProtocol(Capability),
    /// The protocols' message codes together overflow the 64-bit code space.
    #[error("protocol {0} does not fit the message-code space")]
    TooManyCodes(Capability),
    /// Our Hello (client id and capabilities) would exceed the 2 KiB peers accept.
    #[error(
        "our Hello is {0} bytes, above the 2 KiB limit: shorten the name or the protocol list"
    )]
    HelloTooLarge(usize),
    /// The discovery service could not start (UDP port taken, ...).
    #[error("discovery: {0}")]
    Discovery(#[source] ServiceError),
    /// Node Discovery v5 (with v4 on its socket) could not start.
    #[error("discv5: {0}")]
    Discv5(#[source] Discv5Error),
    /// The peer store could not be read.
    #[error("peer store: {0}")]
    Store(#[source] store::StoreError),
}

/// Starts servers; see [`Server::start`].
#[derive(Debug)]
pub struct Server;

/// Facts about the local node (go-ethereum's `p2p.NodeInfo`), serializable for an admin API.
#[derive(Clone, Debug, serde::Serialize)]
#[non_exhaustive]
pub struct NodeInfo {
    /// Our node id.
    pub id: NodeId,
    /// Our enode URL.
    pub enode: Enode,
    /// Our client id.
    pub name: String,
    /// The bound listen address, if listening.
    pub listen_addr: Option<SocketAddr>,
    /// The capabilities we run.
    pub capabilities: Vec<Capability>,
    /// The protocols' node-info hook reports (`Protocol::with_node_info`) by protocol name,
    /// as of the `ServerHandle::node_info()` call.
    pub protocols: std::collections::BTreeMap<String, crate::protocol::InfoValue>,
}

impl Server {
    /// Binds the listen address, starts accepting, and dials the static peers.
    pub async fn start(config: ServerConfig) -> Result<ServerHandle, StartError> {
        let mut local_caps: Vec<(Capability, u64)> = Vec::new();
        let mut codes = crate::wire::BASE_PROTOCOL_LENGTH;
        for p in &config.protocols {
            if local_caps.iter().any(|(c, _)| *c == p.capability()) {
                return Err(StartError::DuplicateProtocol(p.capability()));
            }
            // Every protocol may end up shared, so all of them must fit the code space.
            codes = codes
                .checked_add(p.length())
                .ok_or(StartError::TooManyCodes(p.capability()))?;
            local_caps.push((p.capability(), p.length()));
        }
        crate::metrics::describe();
        let snapshot = match &config.store.backend {
            Some(store) => Some(load_store(store.clone()).await?),
            None => None,
        };
        let unix_now = config.network.unix_time().as_secs();
        let since = unix_now.saturating_sub(config.store.seed_max_age.as_secs());
        let query_seeds: Vec<Enode> = snapshot.as_ref().map_or_else(Vec::new, |s| {
            s.recently_live(since, config.store.seed_count)
                .into_iter()
                .filter(|e| e.id != config.key.id())
                .collect()
        });
        let listener = match config.listen_addr {
            Some(addr) => Some(
                config
                    .network
                    .listen(addr, config.connection.socket_options())
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?,
            ),
            None => None,
        };
        let bound = match &listener {
            Some(l) => Some(l.local_addr().map_err(|source| {
                StartError::Bind {
                    addr: config
                        .listen_addr
                        .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
                    source,
                }
            })?),
            None => None,
        };
        let id = config.key.id();
        let external_ip = config.discovery.external_ip.or(match config.nat.mode {
            NatMode::ExtIp(ip) => Some(ip),
            _ => None,
        });
        let advertised = bound.map_or(SocketAddr::from(([127, 0, 0, 1], 0)), |mut a| {
            // An unspecified address is not dialable: advertise loopback until discovery
            // learns better (or `external_ip` says).
            if let Some(ip) = external_ip {
                a.set_ip(ip);
            } else if a.ip().is_unspecified() {
                a.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
            }
            a
        });
        // Each component draws from its own generator, so that one drawing more does not
        // change what another draws.
        let mut seeds = config.rng_seed.map(StdRng::seed_from_u64);
        let (discovery, discv5) = match config.discovery.addr.or(bound) {
            Some(udp)
                if config.discovery.enabled()
                    || (config.discovery.mode == DiscoveryMode::WithBootnodes
                        && !query_seeds.is_empty()) =>
            {
                let tcp_port = bound.map_or(0, |b| b.port());
                let mut disc = ServiceConfig::new(config.key.clone(), udp, tcp_port);
                disc.external_ip = external_ip;
                disc.driver.bootnodes = config.discovery.bootnodes.clone();
                for seed in &query_seeds {
                    if !disc.driver.bootnodes.iter().any(|b| b.id == seed.id) {
                        disc.driver.bootnodes.push(*seed);
                    }
                }
                // Whom we may dial is whom discovery may contact and store.
                disc.driver.net_restrict = config.gating.net_restrict.clone();
                disc.network = config.network.clone();
                disc.rng_seed = seeds.as_mut().map(Rng::gen);
                if config.discovery.v5.enabled {
                    let mut v5_config = config.discovery.v5.clone();
                    // The router's external address is not discv5's to argue with: its
                    // votes would re-sign our record at every Pong that disagrees.
                    v5_config.learn_ip &= !config.nat.mode.maps_ports();
                    let (v5, v4) = Discv5Handle::spawn_with_v4(disc, v5_config)
                        .await
                        .map_err(StartError::Discv5)?;
                    (Some(v4), Some(v5))
                } else {
                    let v4 = Discv4Handle::spawn(disc)
                        .await
                        .map_err(StartError::Discovery)?;
                    (Some(v4), None)
                }
            }
            _ => (None, None),
        };
        // Port mapping needs a listen port; the discovery port is mapped too when it runs.
        let nat_ports = match bound {
            Some(tcp) if config.nat.mode.maps_ports() && tcp.port() != 0 => Some(Ports {
                tcp: tcp.port(),
                udp: discovery.as_ref().map(|d| d.local_addr().port()),
            }),
            _ => None,
        };
        let scheduled = config.dial.enabled && config.max_dialed() > 0;
        let (sources, sources_rx) = if scheduled {
            let (tx, rx) = tokio::sync::mpsc::channel(16);
            (Some(tx), Some(rx))
        } else {
            (None, None)
        };
        let info = NodeInfo {
            id,
            enode: Enode::new(id, advertised),
            name: config.name.clone(),
            listen_addr: bound,
            capabilities: local_caps.iter().map(|(c, _)| c.clone()).collect(),
            protocols: Default::default(),
        };
        let hello = session::our_hello(
            &config.name,
            info.capabilities.clone(),
            advertised.port(),
            id,
        );
        let writer = config.store.backend.clone().map(|backend| {
            let (writer, rx) = store::writer::StoreWriter::new();
            (writer, backend, rx)
        });
        let admission = Admission::new(
            id,
            config.max_peers,
            config.max_inbound(),
            config.max_dialed(),
            config.trusted_peers.iter().copied(),
        );
        let shared = Arc::new(Shared {
            info,
            hello,
            local_caps,
            state: Mutex::new(State {
                peers: admission,
                statics: HashMap::new(),
                names: HashMap::new(),
                gate: Gate::new(config.gate()),
                reputation: reputation::Reputations::new(config.reputation.clone()),
            }),
            events: broadcast::channel(config.event_capacity.max(1)).0,
            slot_freed: Notify::new(),
            dialing: Arc::new(Semaphore::new(config.gating.max_pending.max(1))),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            peers_changed: Notify::new(),
            inbound_budget: session::InboundBudget::new(config.inbound.total),
            discovery,
            discv5,
            nat: nat_ports.map(|_| Arc::new(NatShared::new(config.event_capacity))),
            sources,
            store: writer.as_ref().map(|(w, _, _)| w.clone()),
            rng: Mutex::new(match seeds.as_mut() {
                Some(seeds) => StdRng::seed_from_u64(seeds.gen()),
                None => StdRng::from_entropy(),
            }),
            config,
        });
        if let Some(listener) = listener {
            shared
                .tasks
                .spawn(accept::accept_loop(shared.clone(), listener));
        }
        if let (Some(ports), Some(nat)) = (nat_ports, &shared.nat) {
            shared.tasks.spawn(crate::nat::run(
                shared.config.nat.clone(),
                ports,
                shared.discovery.clone(),
                nat.clone(),
                shared.shutdown.clone(),
            ));
        }
        if let Some((_, backend, rx)) = writer {
            shared
                .tasks
                .spawn(store::writer::run(shared.clone(), backend, rx));
        }
        if let Some(rx) = sources_rx {
            let mut mix = FairMix::new();
            // Peers of the last run first: ready at once, while discovery's walk takes
            // round trips.
            if let Some(snapshot) = &snapshot {
                let config = &shared.config.store;
                let good = snapshot.recently_connected(
                    since,
                    config.redial_max_failures,
                    config.redial_count,
                );
                if !good.is_empty() {
                    mix.add(Box::pin(futures_util::stream::iter(good)));
                }
            }
            if let Some(d) = &shared.discovery {
                mix.add(d.random_nodes());
            }
            if let Some(d) = &shared.discv5 {
                mix.add(d.random_nodes());
            }
            shared
                .tasks
                .spawn(dial_scheduler::run(shared.clone(), mix, rx));
        }
        let handle = ServerHandle { shared };
        if let Some(snapshot) = &snapshot {
            handle.restore(snapshot, unix_now);
        }
        for enode in handle.shared.config.static_peers.clone() {
            handle.keep_connected(enode);
        }
        tracing::info!(enode = %handle.shared.info.enode, "server started");
        Ok(handle)
    }
}

/// Reads the whole store on a blocking thread.
async fn load_store(store: Arc<dyn store::PeerStore>) -> Result<store::Snapshot, StartError> {
    match tokio::task::spawn_blocking(move || store.load()).await {
        Ok(loaded) => loaded.map_err(StartError::Store),
        // Only a panic in the store's code gets here: start without what it held.
        Err(e) => {
            tracing::warn!(error = %e, "peer store could not be read; starting without it");
            Ok(store::Snapshot::default())
        }
    }
}
