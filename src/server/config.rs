//! Server settings, with devp2p's (go-ethereum's) defaults.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use ipnet::IpNet;

use super::gating::{GateConfig, ThrottleExempt};
use crate::crypto::{Enode, NodeId, NodeKey};
use crate::protocol::Protocol;
use crate::session::SessionTimeouts;

/// Everything a [`Server`](super::Server) needs.
#[derive(Clone)]
pub struct ServerConfig {
    /// The node key; its public key is the node id.
    pub key: NodeKey,
    /// Client id sent in Hello, e.g. `peerwire/0.1.0`.
    pub name: String,
    /// Where to listen; port 0 picks a free port. `None`: do not accept connections.
    pub listen_addr: Option<SocketAddr>,
    /// Most connected peers, trusted ones not counted. Default 50.
    pub max_peers: usize,
    /// Most connections in handshake at once. Default 50.
    pub max_pending_peers: usize,
    /// One in `dial_ratio` of the peer slots is for connections we dial. Default 3.
    pub dial_ratio: usize,
    /// Peers to keep connected, redialed with backoff.
    pub static_peers: Vec<Enode>,
    /// Peers admitted even when the peer slots are full.
    pub trusted_peers: Vec<NodeId>,
    /// The sub-protocols we run.
    pub protocols: Vec<Protocol>,
    /// Do not dial anyone, static peers included.
    pub no_dial: bool,
    /// Longest the RLPx handshake, and then the Hello exchange, may each take. Default 5 s.
    pub handshake_timeout: Duration,
    /// Longest a TCP connect may take. Default 15 s.
    pub dial_timeout: Duration,
    /// First and longest delay between redials of a static peer. Default 1 s and 30 s.
    pub redial_backoff: (Duration, Duration),
    /// Ping, idle, write and disconnect timing of sessions.
    pub session: SessionTimeouts,
    /// Peer events kept for slow subscribers before they lag. Default 1024.
    pub event_capacity: usize,
    /// Bytes of received messages one peer may have waiting for our handlers (queued or
    /// parked behind a full protocol queue). When spent, we stop reading from that peer until
    /// the handlers catch up. Default 32 MiB; one message of any size is always let through.
    pub peer_inbound_budget: usize,
    /// Bytes of received messages all peers together may have waiting for our handlers, on
    /// top of each peer's `peer_inbound_budget`. A message counts at its decompressed size
    /// before it is decompressed; when it does not fit, we stop reading from that peer until
    /// handlers catch up, peers being served in turn. Default 256 MiB; held bytes exceed it
    /// by at most one message (one larger than the whole budget goes through alone).
    /// [`ServerHandle::inbound_bytes`](super::ServerHandle::inbound_bytes) reports the use.
    pub inbound_budget: usize,

    // Connection gating (issue 9 §2); see `gating.rs` for the order of the checks.
    /// Only addresses in these networks may connect or be dialed (go-ethereum's NetRestrict).
    /// `None`: any address. Default `None`.
    pub net_restrict: Option<Vec<IpNet>>,
    /// After an inbound connection from an address, further inbound connections from it are
    /// refused for this long (go-ethereum's `inboundThrottleTime`). Zero: no throttle.
    /// Default 30 s.
    pub inbound_throttle: Duration,
    /// Addresses the inbound throttle spares. Default [`ThrottleExempt::Lan`], as go-ethereum.
    pub inbound_throttle_exempt: ThrottleExempt,
    /// Most handshakes in progress from one IP address, so that one host cannot hold the
    /// pending slots. Default 3: a peer's reconnect may overlap its stale attempt, with room
    /// for a few nodes behind one NAT address; with 50 pending slots one address holds 6 %.
    pub max_pending_per_ip: usize,
    /// Pending slots beyond `max_pending_peers`, used only once those are all busy and only by
    /// the addresses of static peers and of trusted peers seen before. While this reserve has
    /// room, other connections are accepted and refused at once
    /// ([`RejectReason::TooManyPending`](super::RejectReason::TooManyPending), as reth does);
    /// once it is full too, new connections wait in the listen backlog. 0: no reserve (they
    /// always wait, as go-ethereum's). Default 5.
    pub reserved_pending_peers: usize,

    // Discovery and the dial scheduler (issue 10).
    /// Discovery entry points: where the first lookups start. Default none.
    pub bootnodes: Vec<Enode>,
    /// Whether to run Node Discovery v4 (a UDP socket, see `discovery_addr`) and fill the
    /// dialed slots from it. `None` (the default): only when `bootnodes` are given, so that
    /// servers started without them (tests, embedded uses) bind no UDP socket and send
    /// nothing. A bootnode itself sets `Some(true)`.
    pub discovery: Option<bool>,
    /// The UDP address of discovery. `None`: the listen address's IP and bound TCP port.
    pub discovery_addr: Option<SocketAddr>,
    /// The IP address to advertise (enode, ENR), e.g. a NAT's public address. `None`: the
    /// listen IP (127.0.0.1 for an unspecified one), replaced by what other nodes report
    /// seeing once enough of them agree (discovery only).
    pub external_ip: Option<IpAddr>,
    /// Most dials of discovered nodes in progress at once. Default 16 (go-ethereum's
    /// `maxActiveDialTasks`).
    pub max_concurrent_dials: usize,
    /// Send a [`PeerEvent::Msg`](super::PeerEvent::Msg) for every protocol message received
    /// or sent (go-ethereum's `EnableMsgEvents`), for debugging tools. Default off.
    pub msg_events: bool,
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

impl ServerConfig {
    /// A configuration with `key`, listening on 0.0.0.0:30303, and defaults elsewhere.
    pub fn new(key: NodeKey) -> Self {
        ServerConfig {
            key,
            name: concat!("peerwire/", env!("CARGO_PKG_VERSION")).to_string(),
            listen_addr: Some(SocketAddr::from(([0, 0, 0, 0], 30303))),
            max_peers: 50,
            max_pending_peers: 50,
            dial_ratio: 3,
            static_peers: Vec::new(),
            trusted_peers: Vec::new(),
            protocols: Vec::new(),
            no_dial: false,
            handshake_timeout: Duration::from_secs(5),
            dial_timeout: Duration::from_secs(15),
            redial_backoff: (Duration::from_secs(1), Duration::from_secs(30)),
            session: SessionTimeouts::default(),
            event_capacity: 1024,
            peer_inbound_budget: 32 * 1024 * 1024,
            inbound_budget: 256 * 1024 * 1024,

            net_restrict: None,
            inbound_throttle: Duration::from_secs(30),
            inbound_throttle_exempt: ThrottleExempt::Lan,
            max_pending_per_ip: 3,
            reserved_pending_peers: 5,

            bootnodes: Vec::new(),
            discovery: None,
            discovery_addr: None,
            external_ip: None,
            max_concurrent_dials: 16,
            msg_events: false,
            socket_buffer: None,
            unsent_limit: Some(128 * 1024),
        }
    }

    /// Whether discovery runs: `discovery`, or by default whether `bootnodes` are given.
    pub fn discovery_enabled(&self) -> bool {
        self.discovery.unwrap_or(!self.bootnodes.is_empty())
    }

    /// Slots for connections we dial: `max_peers / dial_ratio`, at least 1 (0 with `no_dial`).
    pub fn max_dialed(&self) -> usize {
        if self.no_dial || self.max_peers == 0 {
            return 0;
        }
        (self.max_peers / self.dial_ratio.max(1)).max(1)
    }

    /// Slots for connections dialed to us: the rest of `max_peers`.
    pub fn max_inbound(&self) -> usize {
        self.max_peers.saturating_sub(self.max_dialed())
    }

    pub(crate) fn gate(&self) -> GateConfig {
        GateConfig {
            net_restrict: self.net_restrict.clone(),
            throttle: self.inbound_throttle,
            throttle_exempt: self.inbound_throttle_exempt,
            max_pending: self.max_pending_peers.max(1),
            reserved_pending: self.reserved_pending_peers,
            max_pending_per_ip: self.max_pending_per_ip.max(1),
        }
    }
}

impl fmt::Debug for ServerConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServerConfig")
            .field("id", &self.key.id())
            .field("name", &self.name)
            .field("listen_addr", &self.listen_addr)
            .field("max_peers", &self.max_peers)
            .field("max_pending_peers", &self.max_pending_peers)
            .field("dial_ratio", &self.dial_ratio)
            .field("static_peers", &self.static_peers.len())
            .field("trusted_peers", &self.trusted_peers.len())
            .field("protocols", &self.protocols)
            .field("no_dial", &self.no_dial)
            .field("net_restrict", &self.net_restrict)
            .field("inbound_throttle", &self.inbound_throttle)
            .field("max_pending_per_ip", &self.max_pending_per_ip)
            .field("reserved_pending_peers", &self.reserved_pending_peers)
            .field("bootnodes", &self.bootnodes.len())
            .field("discovery", &self.discovery_enabled())
            .field("external_ip", &self.external_ip)
            .field("socket_buffer", &self.socket_buffer)
            .field("unsent_limit", &self.unsent_limit)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_follow_go_ethereum() {
        let mut c = ServerConfig::new(NodeKey::generate(&mut rand::rngs::OsRng));
        assert_eq!((c.max_dialed(), c.max_inbound()), (16, 34));
        c.max_peers = 2;
        assert_eq!((c.max_dialed(), c.max_inbound()), (1, 1));
        c.no_dial = true;
        assert_eq!((c.max_dialed(), c.max_inbound()), (0, 2));
        c.no_dial = false;
        c.max_peers = 0;
        assert_eq!((c.max_dialed(), c.max_inbound()), (0, 0));
    }
}
