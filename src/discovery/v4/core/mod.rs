//! The discv4 protocol state machine ([`Discv4`]).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use rand::Rng;

use super::error::RequestError;
use super::message::*;
use super::packet;
use super::table::{IpLimits, Revalidated, Table};
use crate::crypto::{NodeId, NodeKey};
use crate::discovery::enr::{LocalRecord, Record, RecordError};
use bonds::Bonds;
use budget::PingBacks;
use replay::Seen;

mod bonds;
mod budget;
mod handlers;
mod intake;
mod replay;

/// Timers and limits.
#[derive(Clone, Debug)]
pub struct Discv4Config {
    /// How long a Pong proves an endpoint (spec: 12 hours).
    pub bond_lifetime: Duration,
    /// How long to wait for a reply.
    pub request_timeout: Duration,
    /// Expiration we put on our packets, from now.
    pub packet_lifetime: Duration,
    /// Interval between revalidation pings.
    pub revalidate_interval: Duration,
    /// Requests of our own (lookups, revalidation, commands) outstanding at once. Default
    /// 256; each costs about 200 bytes (a FindNode up to 2 KiB while its nodes arrive).
    pub max_pending: usize,
    /// Pings other nodes made us send (to prove their endpoint when they pinged us)
    /// outstanding at once, apart from `max_pending`; a full budget forgets the oldest.
    /// Default 512, about 150 bytes each. go-ethereum has no cap (each lives 500 ms).
    pub max_ping_backs: usize,
    /// ... of which at most this many to one IP (loopback excepted: nodes on one machine
    /// share it); more Pings from that IP get their Pong but no Ping back until one is
    /// answered or times out. Default 4.
    pub max_ping_backs_per_ip: usize,
    /// Hosts (IPv4 addresses, IPv6 /64s) whose endpoint proofs are remembered at once;
    /// about 100 bytes a host plus 60 a proof. Default 8192.
    pub max_bonds: usize,
    /// Endpoint proofs one host keeps, its oldest giving way, so that one machine with many
    /// keys never pushes out other hosts' proofs. Loopback and LAN hosts, where many nodes
    /// share an address, may hold up to `max_bonds`. Default 16.
    pub max_bonds_per_host: usize,
    /// Nodes of one /24 (IPv4) or /64 (IPv6) the table keeps. Default 2 per bucket, 10 in
    /// all (go-ethereum).
    pub ip_limits: IpLimits,
    /// Packets whose expiration lies further ahead than this are dropped. Default 120 s: the
    /// longest lifetime an implementation puts there (ethereumjs 60 s; go-ethereum and we
    /// 20 s), plus 60 s for a sender's clock running ahead (six times the drift at which
    /// go-ethereum warns). Without a bound, one Ping signed to expire in 2^63 s could be
    /// replayed for ever; with it, for two minutes at most, and the packets-seen cache
    /// remembers a packet that long.
    pub max_expiration_ahead: Duration,
    /// Packets remembered (hash, source address and signer, each until the packet expires,
    /// so at most `max_expiration_ahead`): the same packet again from another address is a
    /// replay, dropped before its signature is recovered; from the same address it is
    /// handled without recovering it again. Default 4096, about 150 bytes each; a full cache
    /// forgets the oldest entry, so a replay then costs one signature recovery, as any new
    /// packet does.
    pub replay_cache: usize,
}

impl Default for Discv4Config {
    fn default() -> Self {
        Self {
            bond_lifetime: Duration::from_secs(12 * 3600),
            request_timeout: Duration::from_millis(500),
            packet_lifetime: Duration::from_secs(20),
            revalidate_interval: Duration::from_secs(10),
            max_pending: 256,
            max_ping_backs: 512,
            max_ping_backs_per_ip: 4,
            max_bonds: 8192,
            max_bonds_per_host: 16,
            ip_limits: IpLimits::default(),
            max_expiration_ahead: Duration::from_secs(120),
            replay_cache: 4096,
        }
    }
}

/// A datagram to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Transmit {
    /// Destination.
    pub to: SocketAddr,
    /// The packet.
    pub bytes: Vec<u8>,
}

/// Something the application may want to know.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Discv4Event {
    /// A node answered our Ping: its endpoint is proven for `bond_lifetime`.
    Bonded(NodeId, SocketAddr),
    /// The reply to our FindNode (complete, or what arrived before the timeout).
    Neighbors(NodeId, Vec<NodeRecord>),
    /// The reply to our ENRRequest.
    Record(NodeId, Box<Record>),
    /// A request to the node at this address got no (usable) reply in time.
    Timeout(NodeId, SocketAddr, RequestKind),
    /// A node entered the table (it answered our Ping).
    Added(NodeId, Endpoint),
    /// A node pinged us and was answered: it now holds our endpoint proof, so it will
    /// answer our FindNode.
    Pinged(NodeId, SocketAddr),
    /// A bonded node's Pong, received from the address given, said where it sees us: the
    /// `to` endpoint (the statement our external address is learned from).
    Statement(NodeId, SocketAddr, Endpoint),
    /// A Ping or Pong of a bonded node carried this ENR sequence number (EIP-868).
    EnrSeq(NodeId, SocketAddr, u64),
}

/// The kinds of request we track.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RequestKind {
    /// Ping to prove an endpoint or revalidate a table entry.
    Ping,
    /// FindNode.
    FindNode,
    /// ENRRequest.
    EnrRequest,
}

/// Counters of packets dropped, by reason.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Discv4Stats {
    /// Packets that failed to decode or verify (including expired and far-future ones).
    pub invalid: u64,
    /// ... of which: their expiration lay beyond `max_expiration_ahead`.
    pub far_future: u64,
    /// Packets seen before from another address, dropped before their signature was
    /// checked.
    pub replayed: u64,
    /// Signatures recovered: the expensive step of each packet, taken only by packets that
    /// passed the cheap checks (what a flood costs us).
    pub signatures_checked: u64,
    /// Pongs, Neighbors and ENRResponses we had not asked for.
    pub unsolicited: u64,
    /// FindNode/ENRRequest from senders without an endpoint proof.
    pub unbonded_queries: u64,
    /// Pongs from a table node's new address that said it saw our Ping come from an address
    /// not ours (a relay's): the node was not moved.
    pub relayed_pongs: u64,
    /// Pings from unproven endpoints answered with a Pong only: their IP had
    /// `max_ping_backs_per_ip` Pings of ours in flight.
    pub ping_backs_refused: u64,
}

/// What an outstanding request is keyed by: one request of each kind per node *and address*,
/// so a request to a node at an address someone else named never replaces (or answers for)
/// one to the address the table holds.
type RequestKey = (NodeId, SocketAddr, RequestKind);

#[derive(Clone, Debug)]
struct Pending {
    deadline: Instant,
    /// Ping/ENRRequest: the hash the reply must quote.
    hash: [u8; 32],
    /// FindNode: nodes received so far (at most `BUCKET_SIZE`).
    nodes: Vec<NodeRecord>,
    /// Ping: the TCP port the node is known to listen on (0 if unknown), for the table entry.
    tcp_port: u16,
}

/// The discv4 protocol state machine: endpoint proofs, request/reply matching, answering
/// queries, revalidation timers. Sans-IO: datagrams, time and randomness go in, datagrams
/// to send and events come out.
///
/// discv4.md, "Endpoint Proof": *"To prevent traffic amplification attacks, implementations
/// must verify that the sender of a query participates in the discovery protocol. The sender
/// of a packet is considered verified if it has sent a valid pong response with matching ping
/// hash within the last 12 hours."*
///
/// # Calling contract
///
/// As quinn-proto's `Connection`: inputs go in through [`Discv4::handle_packet`],
/// [`Discv4::handle_timeout`] and the commands ([`Discv4::ping`], [`Discv4::ping_node`],
/// [`Discv4::find_node`], [`Discv4::request_enr`]), which return at most an error. What they
/// produce waits in two queues: after every input, drain [`Discv4::poll_transmit`] and
/// [`Discv4::poll_event`] until they return `None`, then sleep until
/// [`Discv4::poll_timeout`].
///
/// The queues are not capped; they are drained by construction: the
/// [`Driver`](super::Driver) takes the events after every input it feeds in, the tokio shell
/// the datagrams. One input adds little: a packet at most two datagrams and four events, a
/// timeout one datagram and one event per expired request (at most `max_pending`) plus one
/// revalidation Ping, a command one datagram.
#[derive(Debug)]
pub struct Discv4 {
    key: NodeKey,
    local: LocalRecord,
    table: Table,
    config: Discv4Config,
    /// `now` as an Instant and as UNIX seconds, so one clock input serves both.
    anchor: (Instant, u64),
    /// Endpoint proofs: who answered our Ping, from which IP.
    bonds: Bonds,
    /// Our own requests.
    pending: HashMap<RequestKey, Pending>,
    /// Pings other nodes' Pings made us send, on a budget of their own.
    ping_backs: PingBacks,
    /// Recent packets by hash: where each came from first, and who signed it.
    seen: Seen,
    next_revalidation: Instant,
    stats: Discv4Stats,
    /// Datagrams produced and not yet taken by [`Discv4::poll_transmit`].
    transmits: VecDeque<Transmit>,
    /// Events produced and not yet taken by [`Discv4::poll_event`].
    events: VecDeque<Discv4Event>,
}

impl Discv4 {
    /// A node with identity `key` advertising `local`; `unix_now` is the UNIX time at `now`.
    pub fn new(
        key: NodeKey,
        local: LocalRecord,
        config: Discv4Config,
        now: Instant,
        unix_now: u64,
    ) -> Self {
        Self {
            table: Table::with_limits(key.id(), config.ip_limits),
            key,
            local,
            anchor: (now, unix_now),
            next_revalidation: now + config.revalidate_interval,
            bonds: Bonds::new(config.max_bonds, config.max_bonds_per_host),
            ping_backs: PingBacks::new(config.max_ping_backs, config.max_ping_backs_per_ip),
            seen: Seen::new(config.replay_cache),
            config,
            pending: HashMap::new(),
            stats: Discv4Stats::default(),
            transmits: VecDeque::new(),
            events: VecDeque::new(),
        }
    }

    /// The routing table.
    pub fn table(&self) -> &Table {
        &self.table
    }

    /// Drop counters.
    pub fn stats(&self) -> Discv4Stats {
        self.stats
    }

    /// Whether `id` at `ip` has a valid endpoint proof at `now`.
    pub fn is_bonded(&self, now: Instant, id: &NodeId, ip: IpAddr) -> bool {
        self.bonds.contains(now, id, ip)
    }

    /// The next datagram to send, oldest first; `None` when there is none.
    ///
    /// Call after every input (packet, timeout, command) until it returns `None`: only
    /// inputs add datagrams. An extra call is harmless.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event, oldest first; `None` when there is none.
    ///
    /// Call after every [`handle_packet`](Self::handle_packet) and
    /// [`handle_timeout`](Self::handle_timeout) until it returns `None` (commands produce no
    /// events). An extra call is harmless.
    pub fn poll_event(&mut self) -> Option<Discv4Event> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work to do: the earliest reply
    /// deadline, or the next revalidation. There always is a next revalidation, so this is
    /// an `Instant`, not an `Option`.
    ///
    /// Call after every input and sleep until then: a request sent moves it earlier, a reply
    /// or a timeout handled moves it later. It may lie in the past (call `handle_timeout` at
    /// once). It changes nothing, so an extra call is harmless.
    pub fn poll_timeout(&self) -> Instant {
        self.pending
            .values()
            .map(|p| p.deadline)
            .fold(self.next_revalidation, Instant::min)
    }

    /// Queues a Ping to `id` at `to` (to bond with it, or check it is alive); its Pong comes
    /// as [`Discv4Event::Bonded`], its absence as [`Discv4Event::Timeout`].
    ///
    /// Fails, queueing nothing, when `max_pending` other requests are outstanding. A Ping to
    /// a node at an address with one outstanding already replaces it (only the latest is
    /// answered); one to the same node at another address leaves it alone.
    ///
    /// Only a Ping to the endpoint the table holds for `id` counts against that entry when
    /// it goes unanswered; a Pong from another endpoint moves the entry there.
    pub fn ping(&mut self, now: Instant, id: NodeId, to: SocketAddr) -> Result<(), RequestError> {
        self.ping_node(now, id, endpoint_of(to, 0))
    }

    /// [`ping`](Self::ping) to `endpoint`'s UDP address; if it answers, its table entry gets
    /// `endpoint` (with its TCP port, e.g. from a Neighbors record or an enode URL).
    pub fn ping_node(
        &mut self,
        now: Instant,
        id: NodeId,
        endpoint: Endpoint,
    ) -> Result<(), RequestError> {
        let to = SocketAddr::new(endpoint.ip, endpoint.udp_port);
        self.send_ping(now, id, to, endpoint.tcp_port)
    }

    /// Our record.
    pub fn local_record(&self) -> &LocalRecord {
        &self.local
    }

    /// Advertises `endpoint` from now on (bumping the record's `seq` if it changed).
    pub fn set_local_endpoint(&mut self, endpoint: Endpoint) -> Result<bool, RecordError> {
        self.local.set_endpoint(endpoint)
    }

    /// Advertises `other`, a dual-stack node's endpoint in the other IP family, beside the
    /// main one, signing at `seq` `min_seq` or above (see
    /// [`LocalRecord::set_other_endpoint_seq`]).
    pub fn set_local_other_endpoint(
        &mut self,
        other: Option<Endpoint>,
        min_seq: u64,
    ) -> Result<bool, RecordError> {
        self.local.set_other_endpoint_seq(other, min_seq)
    }

    /// As [`set_local_endpoint`](Self::set_local_endpoint), signing at `seq` `min_seq` or
    /// above ([`LocalRecord::set_endpoint_seq`]).
    pub fn set_local_endpoint_seq(
        &mut self,
        endpoint: Endpoint,
        min_seq: u64,
    ) -> Result<bool, RecordError> {
        self.local.set_endpoint_seq(endpoint, min_seq)
    }

    /// Queues FindNode(`target`) to a bonded node; the reply comes as
    /// [`Discv4Event::Neighbors`], its absence as [`Discv4Event::Timeout`].
    ///
    /// Fails, queueing nothing, without an endpoint proof of `id` at `to`'s IP or when
    /// `max_pending` other requests are outstanding.
    pub fn find_node(
        &mut self,
        now: Instant,
        id: NodeId,
        to: SocketAddr,
        target: Target,
    ) -> Result<(), RequestError> {
        let expiration = self.expiration(now);
        self.request(
            now,
            id,
            to,
            RequestKind::FindNode,
            Message::FindNode(FindNode { target, expiration }),
        )
    }

    /// Queues ENRRequest to a bonded node; the reply comes as [`Discv4Event::Record`], its
    /// absence as [`Discv4Event::Timeout`]. Fails as [`find_node`](Self::find_node) does.
    pub fn request_enr(
        &mut self,
        now: Instant,
        id: NodeId,
        to: SocketAddr,
    ) -> Result<(), RequestError> {
        let expiration = self.expiration(now);
        self.request(
            now,
            id,
            to,
            RequestKind::EnrRequest,
            Message::EnrRequest(EnrRequest { expiration }),
        )
    }

    /// Expires requests and runs revalidation. Call once the
    /// [`poll_timeout`](Self::poll_timeout) instant has passed, then drain the queues; an
    /// early or extra call does nothing that is not due yet.
    pub fn handle_timeout(&mut self, now: Instant, rng: &mut impl Rng) {
        self.ping_backs.expire(now);
        let mut expired: Vec<(Instant, RequestKey)> = self
            .pending
            .iter()
            .filter(|(_, p)| p.deadline <= now)
            .map(|(k, p)| (p.deadline, *k))
            .collect();
        // In deadline order, not the map's: the same inputs give the same outputs.
        expired.sort_unstable();
        for (_, (id, to, kind)) in expired {
            let Some(p) = self.pending.remove(&(id, to, kind)) else {
                continue;
            };
            // A table entry that does not answer is dead (discv4.md, "Kademlia Table"), but
            // only a Ping to the endpoint the table holds says so: anyone can make us ping
            // a node elsewhere (a replayed Ping, a Neighbors record naming it).
            let at_entry = self
                .table
                .get(&id)
                .is_some_and(|e| udp_addr(&e.endpoint) == to);
            if kind == RequestKind::Ping && at_entry {
                if let Revalidated::Replaced(Some(e)) = self.table.revalidated(now, &id, false) {
                    let _ = self.send_ping(now, e.id, udp_addr(&e.endpoint), e.endpoint.tcp_port);
                }
            }
            if kind == RequestKind::FindNode && !p.nodes.is_empty() {
                self.events.push_back(Discv4Event::Neighbors(id, p.nodes));
            } else {
                self.events.push_back(Discv4Event::Timeout(id, to, kind));
            }
        }
        if now >= self.next_revalidation {
            self.next_revalidation = now + self.config.revalidate_interval;
            if let Some(e) = self.table.pick_revalidation(rng) {
                let _ = self.send_ping(now, e.id, udp_addr(&e.endpoint), e.endpoint.tcp_port);
            }
        }
    }

    fn send_ping(
        &mut self,
        now: Instant,
        id: NodeId,
        to: SocketAddr,
        tcp_port: u16,
    ) -> Result<(), RequestError> {
        let ping = self.ping_message(now, to);
        self.track(now, id, to, RequestKind::Ping, &ping)?;
        if let Some(p) = self.pending.get_mut(&(id, to, RequestKind::Ping)) {
            p.tcp_port = tcp_port;
        }
        Ok(())
    }

    fn ping_message(&self, now: Instant, to: SocketAddr) -> Message {
        Message::Ping(Ping {
            version: PROTOCOL_VERSION,
            from: self.local.endpoint(),
            to: endpoint_of(to, 0),
            expiration: self.expiration(now),
            enr_seq: Some(self.local.seq()),
        })
    }

    fn request(
        &mut self,
        now: Instant,
        id: NodeId,
        to: SocketAddr,
        kind: RequestKind,
        msg: Message,
    ) -> Result<(), RequestError> {
        if !self.is_bonded(now, &id, to.ip()) {
            return Err(RequestError::NotBonded);
        }
        self.track(now, id, to, kind, &msg)
    }

    /// Sends `msg` and remembers it as the outstanding request of its kind to `id` at `to`
    /// (replacing an older one to the same address: only the most recent is answered).
    fn track(
        &mut self,
        now: Instant,
        id: NodeId,
        to: SocketAddr,
        kind: RequestKind,
        msg: &Message,
    ) -> Result<(), RequestError> {
        let key = (id, to, kind);
        if self.pending.len() >= self.config.max_pending && !self.pending.contains_key(&key) {
            return Err(RequestError::TooManyPending);
        }
        // Our messages are far below 1280 bytes; Neighbors, the only large one, is not tracked.
        let Ok(enc) = packet::encode_packet(&self.key, msg) else {
            return Ok(());
        };
        self.transmits.push_back(Transmit {
            to,
            bytes: enc.bytes,
        });
        let deadline = now + self.config.request_timeout;
        self.pending.insert(
            key,
            Pending {
                deadline,
                hash: enc.hash,
                nodes: Vec::new(),
                tcp_port: 0,
            },
        );
        Ok(())
    }

    fn send(&mut self, to: SocketAddr, msg: &Message) {
        if let Ok(enc) = packet::encode_packet(&self.key, msg) {
            self.transmits.push_back(Transmit {
                to,
                bytes: enc.bytes,
            });
        }
    }

    fn bond(&mut self, now: Instant, id: NodeId, ip: IpAddr) {
        let lifetime = self.config.bond_lifetime;
        self.bonds.insert(now, id, ip, lifetime);
    }

    fn unix(&self, now: Instant) -> u64 {
        self.anchor.1 + now.saturating_duration_since(self.anchor.0).as_secs()
    }

    fn expiration(&self, now: Instant) -> u64 {
        self.unix(now) + self.config.packet_lifetime.as_secs()
    }
}

fn udp_addr(e: &Endpoint) -> SocketAddr {
    SocketAddr::new(e.ip, e.udp_port)
}

fn endpoint_of(addr: SocketAddr, tcp_port: u16) -> Endpoint {
    Endpoint {
        ip: addr.ip(),
        udp_port: addr.port(),
        tcp_port,
    }
}

#[cfg(test)]
mod tests;
