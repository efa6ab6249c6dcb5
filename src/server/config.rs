//! Server settings, with devp2p's (go-ethereum's) defaults, grouped by what they govern.
//!
//! ```text
//! ServerConfig     identity, listen address, protocols, peer slots, known peers, events
//!   .dial          whom and how fast we dial            DialConfig
//!   .gating        who may connect before the handshake GatingConfig
//!   .discovery     Node Discovery v4                    DiscoveryConfig
//!   .connection    sockets, handshake, session timers   ConnectionConfig
//!   .inbound       bytes waiting for our handlers       InboundLimits
//!   .store         what is remembered across restarts   StoreConfig
//! ```

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use ipnet::IpNet;

use super::gating::{GateConfig, ThrottleExempt};
use super::reputation::ReputationConfig;
use super::store::PeerStore;
use crate::crypto::{Enode, NodeId, NodeKey};
use crate::discovery::v5::Discv5Config;
use crate::nat::NatConfig;
use crate::net::{Network, SocketOptions};
use crate::protocol::Protocol;
use crate::session::SessionTimeouts;

/// Everything a [`Server`](super::Server) needs.
#[derive(Clone)]
#[non_exhaustive]
pub struct ServerConfig {
    /// The node key; its public key is the node id.
    pub key: NodeKey,
    /// Client id sent in Hello. Default `peerwire/<version>`.
    pub name: String,
    /// Where to listen; port 0 picks a free port. `None`: do not accept connections.
    /// Default 0.0.0.0:30303.
    pub listen_addr: Option<SocketAddr>,
    /// The sub-protocols we run. Default none.
    pub protocols: Vec<Protocol>,
    /// Most connected peers, trusted ones not counted; one in [`DialConfig::ratio`] of these
    /// slots is for peers we dial. Each idle peer costs about 22 KiB. Default 50.
    pub max_peers: usize,
    /// Peers to keep connected, redialed with backoff. Default none.
    pub static_peers: Vec<Enode>,
    /// Peers admitted even when the peer slots are full. Default none.
    pub trusted_peers: Vec<NodeId>,
    /// Peer events kept for slow subscribers before they lag. Costs about 100 bytes an
    /// event. Default 1024.
    pub event_capacity: usize,
    /// Send a [`PeerEvent::Msg`](super::PeerEvent::Msg) for every protocol message received
    /// or sent (go-ethereum's `EnableMsgEvents`), for debugging tools; costs an event per
    /// message. Default off.
    pub msg_events: bool,
    /// Whom we dial and how fast.
    pub dial: DialConfig,
    /// Which connections we take before the handshake.
    pub gating: GatingConfig,
    /// Node Discovery v4.
    pub discovery: DiscoveryConfig,
    /// Port mapping on a home router (UPnP, NAT-PMP), or a fixed external IP. Default: none.
    /// [`NatMode::ExtIp`](crate::nat::NatMode::ExtIp) acts as `discovery.external_ip`
    /// (which wins when both are set).
    pub nat: NatConfig,
    /// Sockets, the handshake and session timers.
    pub connection: ConnectionConfig,
    /// Received bytes that may wait for our handlers.
    pub inbound: InboundLimits,
    /// What the server remembers across restarts, and how it uses it.
    pub store: StoreConfig,
    /// Peer scores, and the bans a low score brings.
    pub reputation: ReputationConfig,
    /// The network to listen, dial and discover on. Default: the host's, through tokio.
    pub network: Network,
    /// Seed of the choices the server makes at random: discovery's lookup targets and
    /// revalidation picks, redial jitter. With a seed and a simulated network a run repeats
    /// exactly. `None` (the default): seeded from the OS. Keys and handshake nonces always
    /// come from the OS.
    pub rng_seed: Option<u64>,
}

/// Whom we dial and how fast.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct DialConfig {
    /// Whether we dial at all, static peers included. Default `true`.
    pub enabled: bool,
    /// One in `ratio` of the peer slots is for connections we dial (go-ethereum's
    /// `DialRatio`). Default 3.
    pub ratio: usize,
    /// Most dials of discovered nodes in progress at once (go-ethereum's
    /// `maxActiveDialTasks`); each holds a socket and, once connected, a pending slot.
    /// Default 16.
    pub max_concurrent: usize,
    /// Longest a TCP connect may take. Default 15 s.
    pub timeout: Duration,
    /// First and longest delay between redials of a static peer. Default 1 s and 30 s.
    pub redial_backoff: (Duration, Duration),
    /// Discovered nodes in one /24 (IPv4) or /64 (IPv6) may take at most 1 / `subnet_share`
    /// of the dialed slots (at least one), dials in progress counted; loopback and LAN
    /// addresses are exempt. Static peers are not limited. Default 8: with the default 16
    /// dialed slots one network gets 2, as many as it may hold in a discovery bucket, so
    /// one host with many keys needs 8 networks to take every dialed slot.
    pub subnet_share: usize,
}

impl Default for DialConfig {
    fn default() -> Self {
        Self {
            enabled: true,
            ratio: 3,
            max_concurrent: 16,
            timeout: Duration::from_secs(15),
            redial_backoff: (Duration::from_secs(1), Duration::from_secs(30)),
            subnet_share: 8,
        }
    }
}

/// Which connections we take before the handshake; `gating.rs` gives the order of the
/// checks.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct GatingConfig {
    /// Most connections in handshake at once, each holding a socket and a handshake buffer
    /// of a few KiB. Default 50.
    pub max_pending: usize,
    /// Pending slots beyond `max_pending`, used only once those are all busy and only by
    /// the addresses of static peers and of trusted peers seen before. While this reserve has
    /// room, other connections are accepted and refused at once
    /// ([`RejectReason::TooManyPending`](super::RejectReason::TooManyPending), as reth does);
    /// once it is full too, new connections wait in the listen backlog. 0: no reserve (they
    /// always wait, as go-ethereum's). Default 5.
    pub reserved_pending: usize,
    /// Most handshakes in progress from one IP address, so that one host cannot hold the
    /// pending slots. Default 3: a peer's reconnect may overlap its stale attempt, with room
    /// for a few nodes behind one NAT address; with 50 pending slots one address holds 6 %.
    pub max_pending_per_ip: usize,
    /// Only addresses in these networks may connect or be dialed (go-ethereum's
    /// `NetRestrict`), and discovery contacts and stores only nodes in them
    /// ([`DriverConfig::net_restrict`](crate::discovery::v4::DriverConfig::net_restrict)).
    /// `None`: any address. Default `None`.
    pub net_restrict: Option<Vec<IpNet>>,
    /// After an inbound connection from an address, further inbound connections from it are
    /// refused for this long (go-ethereum's `inboundThrottleTime`). Zero: no throttle. The
    /// throttle remembers at most 16,384 addresses (about 1 MiB). Default 30 s.
    pub inbound_throttle: Duration,
    /// Addresses the inbound throttle spares. Default [`ThrottleExempt::Lan`], as
    /// go-ethereum.
    pub throttle_exempt: ThrottleExempt,
}

impl Default for GatingConfig {
    fn default() -> Self {
        Self {
            max_pending: 50,
            reserved_pending: 5,
            max_pending_per_ip: 3,
            net_restrict: None,
            inbound_throttle: Duration::from_secs(30),
            throttle_exempt: ThrottleExempt::Lan,
        }
    }
}

/// When Node Discovery v4 runs.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscoveryMode {
    /// Only when [`DiscoveryConfig::bootnodes`] are given, so that servers started without
    /// them (tests, embedded uses) bind no UDP socket and send nothing. The default.
    #[default]
    WithBootnodes,
    /// Always, with or without bootnodes: a bootnode itself, or a node others find first.
    Always,
    /// Never: the dial scheduler has only static peers.
    Never,
}

/// Node Discovery v4: one UDP socket, a table of up to 16 × 256 nodes (a few hundred KiB at
/// most) and the lookups that fill the dialed slots.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct DiscoveryConfig {
    /// When discovery runs. Default [`DiscoveryMode::WithBootnodes`].
    pub mode: DiscoveryMode,
    /// Entry points: where the first lookups start. Default none.
    pub bootnodes: Vec<Enode>,
    /// The UDP address of discovery. `None` (the default): the listen address's IP and bound
    /// TCP port.
    pub addr: Option<SocketAddr>,
    /// The IP address to advertise (enode, ENR), e.g. a NAT's public address. `None` (the
    /// default): the listen IP (127.0.0.1 for an unspecified one), replaced by what other
    /// nodes report seeing once enough of them agree (discovery only).
    pub external_ip: Option<IpAddr>,
    /// Node Discovery v5 beside v4, on the same UDP port and with the same record, feeding
    /// the dialer too. Default off.
    pub v5: Discv5Config,
}

impl DiscoveryConfig {
    /// Whether discovery runs, as [`mode`](Self::mode) decides (enabling
    /// [`v5`](Self::v5) counts as having bootnodes).
    pub fn enabled(&self) -> bool {
        match self.mode {
            DiscoveryMode::WithBootnodes => !self.bootnodes.is_empty() || self.v5.enabled,
            DiscoveryMode::Always => true,
            DiscoveryMode::Never => false,
        }
    }
}

/// Sockets, the handshake and the session timers of each peer connection.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ConnectionConfig {
    /// Longest the RLPx handshake, and then the Hello exchange, may each take. Default 5 s.
    pub handshake_timeout: Duration,
    /// Ping, idle, write and disconnect timing of sessions. Defaults in
    /// [`SessionTimeouts`].
    pub session: SessionTimeouts,
    /// Kernel send and receive buffer size of each peer connection (`SO_SNDBUF`,
    /// `SO_RCVBUF`), or `None` for the OS default, which on Linux grows to several MB on a
    /// busy connection. Bytes already in these buffers are ahead of any later frame,
    /// however urgent, so a bound caps that wait at about size / bandwidth, and caps a
    /// connection's throughput at about size / round-trip time. Linux doubles the value for
    /// its bookkeeping: 256 KiB holds up to 512 KiB, 1.3 ms at 400 MB/s, and allows about
    /// 5 MB/s over a 100 ms round trip. Default `None`; see also `unsent_limit`.
    pub socket_buffer: Option<usize>,
    /// Most bytes a peer connection's kernel send buffer holds that TCP has not sent yet
    /// (`TCP_NOTSENT_LOWAT`, Linux and Android; ignored elsewhere). Frames beyond it wait in
    /// the session's own queues, where a later Pong or small request can still go first;
    /// unlike `socket_buffer` it does not shrink the TCP window. Only bytes the peer has not
    /// taken for `SessionTimeouts::write` count as a stall, however long a large message
    /// takes. `None`: the kernel's default, unbounded. Default 128 KiB.
    pub unsent_limit: Option<usize>,
}

impl ConnectionConfig {
    pub(crate) fn socket_options(&self) -> SocketOptions {
        SocketOptions {
            buffer: self.socket_buffer,
            unsent_limit: self.unsent_limit,
        }
    }
}

impl Default for ConnectionConfig {
    fn default() -> Self {
        Self {
            handshake_timeout: Duration::from_secs(5),
            session: SessionTimeouts::default(),
            socket_buffer: None,
            unsent_limit: Some(128 * 1024),
        }
    }
}

/// Received bytes that may wait for our handlers. When a budget is spent we stop reading
/// from the peer until the handlers catch up, so these bound the memory peers can make us
/// hold.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct InboundLimits {
    /// Bytes of received messages one peer may have waiting for our handlers (queued or
    /// parked behind a full protocol queue). One message of any size is always let through.
    /// Default 32 MiB.
    pub per_peer: usize,
    /// Bytes of received messages all peers together may have waiting for our handlers, on
    /// top of each peer's `per_peer`. A message counts at its decompressed size before it is
    /// decompressed; when it does not fit, we stop reading from that peer until handlers
    /// catch up, peers being served in turn. Held bytes exceed it by at most one message
    /// (one larger than the whole budget goes through alone).
    /// [`ServerHandle::inbound_bytes`](super::ServerHandle::inbound_bytes) reports the use.
    /// Default 256 MiB.
    pub total: usize,
}

impl Default for InboundLimits {
    fn default() -> Self {
        Self {
            per_peer: 32 * 1024 * 1024,
            total: 256 * 1024 * 1024,
        }
    }
}

/// What the server remembers across restarts ([`store`](super::store)), and how it uses it
/// when it starts.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct StoreConfig {
    /// Where to remember: nodes found live, peers connected, runtime static and trusted
    /// peers, bans, reputation. Read once at start (a few ms per 1,000 nodes), written in
    /// batches from a blocking thread. `None` (the default): nothing is remembered.
    pub backend: Option<Arc<dyn PeerStore>>,
    /// How often waiting changes are written, one transaction each. A crash loses at most
    /// this much. Default 1 s.
    pub flush_interval: Duration,
    /// Stored nodes, the most recently live first, that seed discovery's lookups while its
    /// table is empty, with the bootnodes (go-ethereum's `QuerySeeds`); with some, discovery
    /// runs in [`DiscoveryMode::WithBootnodes`] even without bootnodes. Default 30.
    pub seed_count: usize,
    /// Stored nodes last live longer ago than this are not used as seeds or dialed first.
    /// Default 5 days.
    pub seed_max_age: Duration,
    /// Stored nodes we had sessions with, the most recent first, that the dial scheduler
    /// tries before discovery's candidates. Default 32.
    pub redial_count: usize,
    /// A stored node whose dials failed this many times since its last session is not dialed
    /// first. Default 3.
    pub redial_max_failures: u32,
}

impl Default for StoreConfig {
    fn default() -> Self {
        Self {
            backend: None,
            flush_interval: Duration::from_secs(1),
            seed_count: 30,
            seed_max_age: Duration::from_secs(5 * 24 * 3600),
            redial_count: 32,
            redial_max_failures: 3,
        }
    }
}

impl ServerConfig {
    /// A configuration with `key`, listening on 0.0.0.0:30303, and defaults elsewhere.
    pub fn new(key: NodeKey) -> Self {
        Self {
            key,
            name: concat!("peerwire/", env!("CARGO_PKG_VERSION")).to_string(),
            listen_addr: Some(SocketAddr::from(([0, 0, 0, 0], 30303))),
            protocols: Vec::new(),
            max_peers: 50,
            static_peers: Vec::new(),
            trusted_peers: Vec::new(),
            event_capacity: 1024,
            msg_events: false,
            dial: DialConfig::default(),
            gating: GatingConfig::default(),
            discovery: DiscoveryConfig::default(),
            nat: NatConfig::default(),
            connection: ConnectionConfig::default(),
            inbound: InboundLimits::default(),
            store: StoreConfig::default(),
            reputation: ReputationConfig::default(),
            network: Network::host(),
            rng_seed: None,
        }
    }

    /// Slots for connections we dial: `max_peers / dial.ratio`, at least 1 (0 when dialing
    /// is off).
    pub fn max_dialed(&self) -> usize {
        if !self.dial.enabled || self.max_peers == 0 {
            return 0;
        }
        (self.max_peers / self.dial.ratio.max(1)).max(1)
    }

    /// Slots for connections dialed to us: the rest of `max_peers`.
    pub fn max_inbound(&self) -> usize {
        self.max_peers.saturating_sub(self.max_dialed())
    }

    pub(crate) fn gate(&self) -> GateConfig {
        let g = &self.gating;
        GateConfig {
            net_restrict: g.net_restrict.clone(),
            throttle: g.inbound_throttle,
            throttle_exempt: g.throttle_exempt,
            max_pending: g.max_pending.max(1),
            reserved_pending: g.reserved_pending,
            max_pending_per_ip: g.max_pending_per_ip.max(1),
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("id", &self.key.id())
            .field("name", &self.name)
            .field("listen_addr", &self.listen_addr)
            .field("protocols", &self.protocols)
            .field("max_peers", &self.max_peers)
            .field("static_peers", &self.static_peers.len())
            .field("trusted_peers", &self.trusted_peers.len())
            .field("event_capacity", &self.event_capacity)
            .field("msg_events", &self.msg_events)
            .field("dial", &self.dial)
            .field("gating", &self.gating)
            .field("discovery", &self.discovery)
            .field("connection", &self.connection)
            .field("inbound", &self.inbound)
            .field("store", &self.store)
            .field("reputation", &self.reputation)
            .field("network", &self.network)
            .field("rng_seed", &self.rng_seed)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_go_ethereum() {
        let mut c = ServerConfig::new(NodeKey::random());
        assert_eq!((c.max_dialed(), c.max_inbound()), (16, 34));
        c.max_peers = 2;
        assert_eq!((c.max_dialed(), c.max_inbound()), (1, 1));
        c.dial.enabled = false;
        assert_eq!((c.max_dialed(), c.max_inbound()), (0, 2));
        c.dial.enabled = true;
        c.max_peers = 0;
        assert_eq!((c.max_dialed(), c.max_inbound()), (0, 0));
    }

    #[test]
    fn discovery_runs_as_its_mode_says() {
        let mut d = DiscoveryConfig::default();
        assert!(!d.enabled(), "no bootnodes, no discovery by default");
        d.bootnodes.push(Enode::new(
            NodeKey::random().id(),
            SocketAddr::from(([127, 0, 0, 1], 30303)),
        ));
        assert!(d.enabled());
        d.mode = DiscoveryMode::Never;
        assert!(!d.enabled());
        d.bootnodes.clear();
        d.mode = DiscoveryMode::Always;
        assert!(d.enabled());
        // discv5 on counts as bootnodes: a discv5 node needs no discv4 entry point.
        d.mode = DiscoveryMode::WithBootnodes;
        d.v5.enabled = true;
        assert!(d.enabled());
        d.mode = DiscoveryMode::Never;
        assert!(!d.enabled(), "never means never, v5 included");
    }
}
