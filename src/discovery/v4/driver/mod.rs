//! A discv4 node with lookups ([`Driver`]); running lookups is in `lookups.rs`.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use ipnet::IpNet;
use rand::Rng;

use super::core::{Discv4, Discv4Config, Discv4Event, RequestKind, Transmit};
use super::ip_votes::IpVotes;
use super::message::{Endpoint, NodeRecord, Target};
use super::table::BUCKET_SIZE;
use crate::crypto::{Enode, NodeId, NodeKey, NODE_ID_LEN};
use crate::discovery::enr::{LocalRecord, Record};
use crate::util::ExpiringMap;

/// Settings of a [`Driver`].
#[derive(Clone, Debug)]
pub struct DriverConfig {
    /// The packet-level state machine's timers and limits.
    pub core: Discv4Config,
    /// Where lookups start while the table is empty.
    pub bootnodes: Vec<Enode>,
    /// Random-target lookups this often once the table holds [`BUCKET_SIZE`] nodes.
    /// Default 30 s.
    pub refresh_interval: Duration,
    /// ... and this often while it holds fewer. Default 5 s.
    pub fast_refresh_interval: Duration,
    /// How long a lookup query waits for the remote's Ping after our bond (see the
    /// [`Driver`] docs). Default 500 ms (the request timeout).
    pub bond_wait: Duration,
    /// Learn our IP from the `to` endpoint of Pongs (off when the IP is configured).
    pub learn_ip: bool,
    /// Statements about our IP count this long. Default 5 min (go-ethereum).
    pub ip_window: Duration,
    /// Sources that must have spoken before our IP changes, the most of them agreeing; a
    /// source is one IPv4 address or one IPv6 /64, however many node ids speak from it.
    /// Default 10 (go-ethereum).
    pub ip_min_statements: usize,
    /// Whether our socket takes both IP families (bound to `[::]`): statements in the
    /// family of our record's main endpoint move it as above, and those in the other
    /// family, once that endpoint is learned or configured, set our record's endpoint in
    /// that family beside it (EIP-778's `ip6`/`udp6`/`tcp6` next to `ip`/`udp`/`tcp`, or the
    /// reverse). The service sets it from its socket. Default false.
    pub dual_stack: bool,
    /// Lookups waiting to run; more are refused. Default 16.
    pub max_queued_lookups: usize,
    /// Lookups running at once (at least 1). Default 3.
    pub max_active_lookups: usize,
    /// Only nodes in these networks are contacted or stored: packets from elsewhere are
    /// dropped unread, Neighbors records elsewhere ignored, bootnodes and
    /// [`Driver::resolve`] targets elsewhere not pinged (go-ethereum's `NetRestrict`; the
    /// server passes its `GatingConfig::net_restrict`). `None`: any network. Default `None`.
    pub net_restrict: Option<Vec<IpNet>>,
}

impl Default for DriverConfig {
    fn default() -> Self {
        Self {
            core: Discv4Config::default(),
            bootnodes: Vec::new(),
            refresh_interval: Duration::from_secs(30),
            fast_refresh_interval: Duration::from_secs(5),
            bond_wait: Duration::from_millis(500),
            learn_ip: true,
            ip_window: Duration::from_secs(300),
            ip_min_statements: 10,
            dual_stack: false,
            max_queued_lookups: 16,
            max_active_lookups: 3,
            net_restrict: None,
        }
    }
}

/// Identifies a lookup started with [`Driver::start_lookup`] (unique per driver).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LookupId(u64);

/// A finished lookup.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LookupResult {
    /// Which one.
    pub id: LookupId,
    /// Its target.
    pub target: Target,
    /// The closest nodes that answered, closest first (at most `k`).
    pub nodes: Vec<NodeRecord>,
    /// FindNode queries it sent.
    pub queries: usize,
    /// Sequential round trips it took: the longest chain of replies that led to a node in
    /// the result, plus one for the query to that node.
    pub depth: u32,
}

/// What the driver reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DriverEvent {
    /// A node entered the table.
    NodeAdded(NodeRecord),
    /// A lookup finished.
    LookupDone(LookupResult),
    /// Our record changed (re-signed with a higher `seq`); this is its main endpoint, which
    /// is unchanged when what changed is a dual-stack node's endpoint in the other family.
    EndpointChanged(Endpoint),
    /// A node's record arrived (asked for with [`Driver::resolve`] or because its `enr-seq`
    /// grew).
    Record(NodeId, Box<Record>),
    /// [`Driver::resolve`] got no record.
    ResolveFailed(NodeId),
}

/// Lookup counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LookupStats {
    /// Lookups finished.
    pub lookups: u64,
    /// FindNode queries they sent.
    pub queries: u64,
    /// Sum of their depths (divide by `lookups` for the mean number of hops).
    pub depth_sum: u64,
    /// The deepest one.
    pub max_depth: u32,
}

/// Records of other nodes remembered at once.
const MAX_RECORDS: usize = 4096;
/// Nodes whose Ping we remember at once (a full map forgets the oldest first).
const MAX_PINGED_US: usize = 8192;

#[derive(Clone, Copy, Debug, Default)]
struct Bonding {
    endpoint: Option<Endpoint>,
    /// When our Ping was answered.
    bonded_at: Option<Instant>,
    /// Then send the FindNode queries waiting in `finds`.
    find: bool,
    /// Then send ENRRequest.
    enr: bool,
}

/// A discv4 node with what it does besides answering packets, still sans-IO: iterative
/// lookups (bond first, then FindNode), periodic refresh, asking for newer records, and
/// learning our external IP from Pongs. The UDP shell ([`Discv4Handle`](super::Discv4Handle))
/// only moves datagrams and timers through a `Driver`.
///
/// Up to `max_active_lookups` lookups run at once (refresh, the dial scheduler's random
/// walk, a user's lookup), each with its own `α` bound on queries in flight. Neighbors does
/// not say which target it answers, so one FindNode per node is in flight at a time: a
/// lookup that wants a node another lookup is asking waits for that reply, then sends its own.
///
/// Bonding before FindNode: discv4.md requires the *recipient* of FindNode to hold an
/// endpoint proof of the sender, i.e. to have received our Pong to its Ping. So a lookup
/// query to a node goes out once we hold its proof (it answered our Ping) **and** it pinged us
/// (we answered); a node that already had our proof from earlier does not ping again, so
/// after `bond_wait` the query goes out anyway (go-ethereum's `ensureBond` sleeps as long).
///
/// # Calling contract
///
/// The same as the core's ([`Discv4`]): inputs go in through [`Driver::handle_packet`],
/// [`Driver::handle_timeout`] and the commands ([`Driver::start_lookup`],
/// [`Driver::resolve`]); after every input, drain [`Driver::poll_transmit`] and
/// [`Driver::poll_event`] until they return `None`, then sleep until
/// [`Driver::poll_timeout`]. The driver takes its core's events itself, inside every input
/// (they become [`DriverEvent`]s or further requests); the datagrams it sends are the
/// core's, so `poll_transmit` hands out the core's queue.
///
/// The event queue is not capped; it is drained by construction (the tokio shell drains it
/// after every input), and one input adds a bounded number: one per core event it handles
/// plus one per lookup it finishes (at most `max_active_lookups`).
#[derive(Debug)]
pub struct Driver {
    disc: Discv4,
    config: DriverConfig,
    local: NodeId,
    active: Vec<Active>,
    queue: VecDeque<(LookupId, Target)>,
    finds: HashMap<NodeId, Finds>,
    next_id: LookupId,
    /// Refresh lookups are started by the driver itself; `None` until the first one.
    refresh: Option<LookupId>,
    next_refresh: Instant,
    /// Bonding in progress before a query, by node.
    bonding: HashMap<NodeId, Bonding>,
    /// When each node last pinged us (so it holds our endpoint proof).
    pinged_us: ExpiringMap<NodeId, ()>,
    /// Highest `enr-seq` seen (or asked for) per node.
    seqs: HashMap<NodeId, u64>,
    records: HashMap<NodeId, Record>,
    votes: IpVotes,
    /// Whether a port-mapping gateway gives our endpoint (`set_external_endpoint`): while it
    /// does, Pong statements do not move it.
    mapped: bool,
    stats: LookupStats,
    /// Events produced and not yet taken by [`Driver::poll_event`].
    events: VecDeque<DriverEvent>,
}

impl Driver {
    /// A node with identity `key` advertising `local`; `unix_now` is the UNIX time at `now`.
    /// The first refresh (a lookup of our own id, seeded from the bootnodes) is due at once.
    pub fn new(
        key: NodeKey,
        local: LocalRecord,
        config: DriverConfig,
        now: Instant,
        unix_now: u64,
    ) -> Self {
        let votes = IpVotes::new(config.ip_window, config.ip_min_statements);
        Self {
            local: key.id(),
            disc: Discv4::new(key, local, config.core.clone(), now, unix_now),
            config,
            active: Vec::new(),
            queue: VecDeque::new(),
            finds: HashMap::new(),
            next_id: LookupId(0),
            refresh: None,
            next_refresh: now,
            bonding: HashMap::new(),
            pinged_us: ExpiringMap::new(MAX_PINGED_US),
            seqs: HashMap::new(),
            records: HashMap::new(),
            votes,
            mapped: false,
            stats: LookupStats::default(),
            events: VecDeque::new(),
        }
    }

    /// The packet-level state machine (table, bonds, drop counters).
    pub fn core(&self) -> &Discv4 {
        &self.disc
    }

    /// Lookup counters.
    pub fn lookup_stats(&self) -> LookupStats {
        self.stats
    }

    /// The last record received from `id`.
    pub fn record(&self, id: &NodeId) -> Option<&Record> {
        self.records.get(id)
    }

    /// Whether a lookup is running.
    pub fn is_looking_up(&self) -> bool {
        !self.active.is_empty()
    }

    /// Lookups running now (at most `max_active_lookups`).
    pub fn active_lookups(&self) -> usize {
        self.active.len()
    }

    /// The next datagram to send, oldest first; `None` when there is none.
    ///
    /// Call after every input (packet, timeout, command) until it returns `None`: only
    /// inputs add datagrams. An extra call is harmless.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.disc.poll_transmit()
    }

    /// The next event, oldest first; `None` when there is none.
    ///
    /// Call after every input until it returns `None`: only inputs add events. An extra call
    /// is harmless.
    pub fn poll_event(&mut self) -> Option<DriverEvent> {
        self.events.pop_front()
    }

    /// When [`handle_timeout`](Self::handle_timeout) next has work to do: the core's next
    /// deadline ([`Discv4::poll_timeout`]), the next refresh, or the end of a `bond_wait`.
    /// There always is a next refresh, so this is an `Instant`, not an `Option`.
    ///
    /// Call after every input and sleep until then: requests sent and lookups started move
    /// it earlier, replies and timeouts handled move it later. It may lie in the past (call
    /// `handle_timeout` at once). It changes nothing, so an extra call is harmless.
    pub fn poll_timeout(&self) -> Instant {
        let wait = self.config.bond_wait;
        self.bonding
            .values()
            .filter_map(|b| b.bonded_at.map(|t| t + wait))
            .fold(
                self.disc.poll_timeout().min(self.next_refresh),
                Instant::min,
            )
    }

    /// Queues a lookup for `target`; `None` (and nothing queued) if `max_queued_lookups` are
    /// waiting already. It starts at once if fewer than `max_active_lookups` run, so its
    /// first queries may be waiting in [`poll_transmit`](Self::poll_transmit); the result
    /// comes as [`DriverEvent::LookupDone`] with the id returned here.
    pub fn start_lookup(&mut self, now: Instant, target: Target) -> Option<LookupId> {
        if self.queue.len() >= self.config.max_queued_lookups {
            return None;
        }
        let id = self.next_id;
        self.next_id = LookupId(id.0 + 1);
        self.queue.push_back((id, target));
        self.advance(now);
        Some(id)
    }

    /// Pings `endpoint` (unless both endpoint proofs are there) and asks for its record; the
    /// answer comes as [`DriverEvent::Record`] or [`DriverEvent::ResolveFailed`].
    pub fn resolve(&mut self, now: Instant, id: NodeId, endpoint: Endpoint) {
        if !self.allowed(endpoint.ip) {
            self.events.push_back(DriverEvent::ResolveFailed(id));
            return;
        }
        let b = self.bonding.entry(id).or_default();
        b.enr = true;
        b.endpoint = Some(endpoint);
        self.bond_then_query(now, id, endpoint);
        // Lookup queries waiting on `id` may have gone out (or failed) with it.
        self.advance(now);
    }

    /// Handles one datagram received from `from` (the source address the socket reports),
    /// then drain the queues. See [`Discv4::handle_packet`]; a datagram from outside
    /// `net_restrict` is dropped unread (no Pong, no ping-back, no table entry).
    pub fn handle_packet(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        if !self.allowed(from.ip()) {
            return;
        }
        self.disc.handle_packet(now, from, bytes);
        self.absorb(now);
    }

    /// Runs the core's timers, queries that waited `bond_wait`, and refresh. Call once the
    /// [`poll_timeout`](Self::poll_timeout) instant has passed, then drain the queues; an
    /// early or extra call does nothing that is not due yet.
    pub fn handle_timeout(&mut self, now: Instant, rng: &mut impl Rng) {
        self.disc.handle_timeout(now, rng);
        self.absorb(now);
        // Bonded nodes that did not ping us within `bond_wait`: query them anyway.
        let wait = self.config.bond_wait;
        let mut due: Vec<(Instant, NodeId)> = self
            .bonding
            .iter()
            .filter_map(|(id, b)| b.bonded_at.filter(|t| *t + wait <= now).map(|t| (t, *id)))
            .collect();
        // In bonding order, not the map's: the same inputs give the same outputs.
        due.sort_unstable();
        for (_, id) in due {
            self.query(now, id);
        }
        self.advance(now);
        if now >= self.next_refresh {
            let interval = if self.disc.table().len() < BUCKET_SIZE {
                self.config.fast_refresh_interval
            } else {
                self.config.refresh_interval
            };
            self.next_refresh = now + interval;
            let refreshing = self.refresh.is_some_and(|r| {
                self.queue.iter().any(|(id, _)| *id == r) || self.active.iter().any(|a| a.id == r)
            });
            if !refreshing {
                // The first refresh looks up our own id (it finds our neighbours), later
                // ones a random target.
                let mut target = [0u8; NODE_ID_LEN];
                if self.refresh.is_none() {
                    target = *self.local.as_bytes();
                } else {
                    rng.fill(&mut target[..]);
                }
                if let Some(id) = self.start_lookup(now, target) {
                    self.refresh = Some(id);
                }
            }
        }
    }

    /// Sends the queries waiting on `id` now if both proofs are there, else pings it.
    fn bond_then_query(&mut self, now: Instant, id: NodeId, e: Endpoint) {
        let addr = SocketAddr::new(e.ip, e.udp_port);
        let bonded = self.disc.is_bonded(now, &id, addr.ip());
        if bonded && self.they_hold_our_proof(now, &id) {
            self.query(now, id);
            return;
        }
        if bonded {
            if let Some(b) = self.bonding.get_mut(&id) {
                b.bonded_at.get_or_insert(now);
            }
        }
        // Pinging also makes a node without our proof ping us back.
        match self.disc.ping_node(now, id, e) {
            Ok(()) => {}
            Err(_) if bonded => {}
            Err(_) => self.fail(id),
        }
    }

    /// Whether `ip` is inside `net_restrict` (always, without one).
    fn allowed(&self, ip: IpAddr) -> bool {
        let ip = ip.to_canonical();
        self.config
            .net_restrict
            .as_ref()
            .is_none_or(|nets| nets.iter().any(|n| n.contains(&ip)))
    }

    fn they_hold_our_proof(&self, now: Instant, id: &NodeId) -> bool {
        self.pinged_us.contains(now, id)
    }

    /// Sends what waits on `id` (the caller then lets the lookups [`advance`](Self::advance)).
    fn query(&mut self, now: Instant, id: NodeId) {
        let Some(b) = self.bonding.remove(&id) else {
            return;
        };
        let Some(e) = b.endpoint else {
            return;
        };
        let addr = SocketAddr::new(e.ip, e.udp_port);
        if b.find {
            self.send_find(now, id);
        }
        if b.enr {
            match self.disc.request_enr(now, id, addr) {
                Ok(()) => {}
                Err(_) => self.events.push_back(DriverEvent::ResolveFailed(id)),
            }
        }
    }

    fn fail(&mut self, id: NodeId) {
        let Some(b) = self.bonding.remove(&id) else {
            return;
        };
        if b.find {
            self.finds_failed(&id);
        }
        if b.enr {
            self.events.push_back(DriverEvent::ResolveFailed(id));
        }
    }

    /// Takes the core's events (after a packet or a timeout: commands produce none).
    fn absorb(&mut self, now: Instant) {
        while let Some(event) = self.disc.poll_event() {
            match event {
                Discv4Event::Bonded(id, _) => {
                    if let Some(b) = self.bonding.get_mut(&id) {
                        b.bonded_at.get_or_insert(now);
                        if self.they_hold_our_proof(now, &id) {
                            self.query(now, id);
                        }
                    }
                }
                Discv4Event::Pinged(id, _) => {
                    let lifetime = self.config.core.bond_lifetime;
                    self.pinged_us.insert(now, id, (), lifetime);
                    if self.bonding.get(&id).is_some_and(|b| b.bonded_at.is_some()) {
                        self.query(now, id);
                    }
                }
                Discv4Event::Timeout(id, to, RequestKind::Ping) => {
                    // Only the Ping this bonding sent: a node may be pinged at several
                    // addresses at once (the table's, one a Neighbors record named).
                    let ours = self.bonding.get(&id).and_then(|b| b.endpoint);
                    if ours.is_some_and(|e| SocketAddr::new(e.ip, e.udp_port) == to) {
                        self.fail(id);
                    }
                }
                Discv4Event::Timeout(id, _, RequestKind::FindNode) => {
                    // Perhaps it forgot our proof: bond again next time. The queries waiting
                    // behind this one would most likely time out too.
                    self.pinged_us.remove(&id);
                    self.finds_failed(&id);
                }
                Discv4Event::Timeout(id, _, RequestKind::EnrRequest) => {
                    self.events.push_back(DriverEvent::ResolveFailed(id));
                }
                Discv4Event::Neighbors(id, nodes) => self.on_neighbors(now, id, &nodes),
                Discv4Event::Record(id, record) => {
                    if self.records.len() >= MAX_RECORDS && !self.records.contains_key(&id) {
                        let table = self.disc.table();
                        self.records.retain(|id, _| table.get(id).is_some());
                        if self.records.len() >= MAX_RECORDS {
                            self.records.clear();
                        }
                    }
                    self.records.insert(id, (*record).clone());
                    self.events.push_back(DriverEvent::Record(id, record));
                }
                Discv4Event::Added(id, endpoint) => {
                    self.events
                        .push_back(DriverEvent::NodeAdded(NodeRecord { endpoint, id }));
                }
                Discv4Event::Statement(_, from, to) => self.on_statement(now, from, to.ip),
                Discv4Event::EnrSeq(id, from, seq) => self.on_enr_seq(now, id, from, seq),
            }
        }
        // Replies and failures above may let lookups move on (or finish).
        self.advance(now);
    }

    /// EIP-868: *"the ENR sequence number of the sender ... allows the recipient to check
    /// whether it has the latest record"*; a higher one than we know makes us ask.
    fn on_enr_seq(&mut self, now: Instant, id: NodeId, from: SocketAddr, seq: u64) {
        if self.disc.table().get(&id).is_none() || self.seqs.get(&id).is_some_and(|s| *s >= seq) {
            return;
        }
        if self.seqs.len() >= MAX_RECORDS && !self.seqs.contains_key(&id) {
            let table = self.disc.table();
            self.seqs.retain(|id, _| table.get(id).is_some());
            if self.seqs.len() >= MAX_RECORDS {
                return;
            }
        }
        self.seqs.insert(id, seq);
        // We hold its proof (EnrSeq is only reported for bonded nodes), but EIP-868 wants
        // the sender of ENRRequest bonded too, "just like for FindNode": a Pong's `enr-seq`
        // arrives before the node has our Pong, and a request sent now would be dropped (and,
        // with `seq` noted, never repeated). So unless it pinged us, the request waits like a
        // lookup query: for its Ping, or `bond_wait`.
        if self.they_hold_our_proof(now, &id) {
            // Refused only while `max_pending` requests are outstanding; the record then waits
            // for a higher `enr-seq`.
            let _ = self.disc.request_enr(now, id, from);
            return;
        }
        let tcp_port = self
            .disc
            .table()
            .get(&id)
            .map_or(0, |e| e.endpoint.tcp_port);
        let b = self.bonding.entry(id).or_default();
        b.enr = true;
        b.endpoint.get_or_insert(Endpoint {
            ip: from.ip(),
            udp_port: from.port(),
            tcp_port,
        });
        b.bonded_at.get_or_insert(now);
    }
}

mod endpoint;
mod lookups;
use lookups::{Active, Finds};

#[cfg(test)]
mod attack_tests;
#[cfg(test)]
mod tests;
