//! One simulated node: a peerwire [`Server`], unchanged but for its network, reporting what happens to it to the [`Census`].

use std::collections::{BTreeMap, BTreeSet};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use peerwire::crypto::{Enode, NodeId, NodeKey};
use peerwire::discovery::v4::Target;
use peerwire::net::{Network, Transport};
use peerwire::protocol::Protocol;
use peerwire::server::{DiscoveryMode, PeerEvent, Server, ServerConfig};
use peerwire::wire::Capability;
use peerwire_gossip::{Config as GossipConfig, Gossip, Message, Stats, Verdict};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::harness::GossipMode;
use crate::log::EventLog;
use crate::simnet::HostNet;

/// The TCP and UDP port of every node.
pub const PORT: u16 = 30303;

/// What a node is started with.
#[derive(Clone, Debug)]
pub struct NodeSpec {
    /// Its number in the census.
    pub index: usize,
    /// Its identity.
    pub key: NodeKey,
    /// Its host's address.
    pub ip: IpAddr,
    /// Discovery bootnodes.
    pub bootnodes: Vec<Enode>,
    /// Static peers.
    pub static_peers: Vec<Enode>,
    /// Seed of the server's random choices and of its datagram loss.
    pub seed: u64,
    /// `ServerConfig::max_peers`.
    pub max_peers: usize,
    /// Whether it runs gossip/1 (network-wide messages) on topic [`TOPIC`], and how.
    pub gossip: Option<GossipMode>,
}

/// The gossip topic of the simulation.
pub const TOPIC: &str = "sim";

impl NodeSpec {
    /// Its enode URL.
    pub fn enode(&self) -> Enode {
        Enode::new(self.key.id(), SocketAddr::new(self.ip, PORT))
    }

    /// Its server's configuration on `network`: listening on [`PORT`] for every address,
    /// advertising `ip`, discovery always on, seeded, running a protocol that only reads.
    pub fn config(&self, network: Network) -> ServerConfig {
        let mut config = ServerConfig::new(self.key.clone());
        config.listen_addr = Some(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), PORT));
        config.max_peers = self.max_peers;
        config.static_peers = self.static_peers.clone();
        config.discovery.mode = DiscoveryMode::Always;
        config.discovery.bootnodes = self.bootnodes.clone();
        config.discovery.external_ip = Some(self.ip);
        config.network = network;
        config.rng_seed = Some(self.seed);
        config.protocols = vec![idle_protocol()];
        config
    }
}

/// A protocol every node runs, so that peers share a capability: it reads until the
/// session ends.
fn idle_protocol() -> Protocol {
    Protocol::new(Capability::new("sim", 1), 1, |_peer, mut rw| async move {
        while rw.read_msg().await.is_ok() {}
        Ok(())
    })
}

/// What the harness knows of one node.
#[derive(Debug, Default)]
pub struct NodeState {
    /// Whether its software runs.
    pub running: bool,
    /// Its peers, by census number.
    pub peers: BTreeSet<usize>,
    /// A lookup the harness asked for and not yet started.
    pub lookup: Option<Target>,
    /// The answer of the last lookup: the ids found, closest first.
    pub found: Option<Vec<NodeId>>,
    /// A message the harness asked it to publish, not yet published.
    pub publish: Option<String>,
    /// Its gossip counters, as of its last delivery or publish.
    pub gossip: Option<Stats>,
    wake: Arc<Notify>,
}

/// The shared record of every node, written by the nodes as they run and read by the
/// harness between simulation steps.
#[derive(Clone, Debug)]
pub struct Census {
    inner: Arc<Mutex<Record>>,
    start: Instant,
}

/// What the census holds.
#[derive(Debug, Default)]
pub struct Record {
    /// Every node ever added, by census number.
    pub nodes: Vec<NodeState>,
    /// Census numbers by node id.
    pub ids: BTreeMap<NodeId, usize>,
    /// The run's event log.
    pub log: EventLog,
    /// Gossip messages published: by text, the origin and the simulated millisecond.
    pub published: BTreeMap<String, (usize, u128)>,
    /// Gossip messages delivered: text, node, simulated millisecond, hops.
    pub delivered: Vec<(String, usize, u128, u8)>,
}

impl Default for Census {
    fn default() -> Self {
        Self::new()
    }
}

impl Census {
    /// An empty census; its clock starts now.
    pub fn new() -> Self {
        Self {
            inner: Arc::default(),
            start: Instant::now(),
        }
    }

    fn now_ms(&self) -> u128 {
        self.start.elapsed().as_millis()
    }

    /// Locks the record.
    pub fn lock(&self) -> MutexGuard<'_, Record> {
        // Nothing panics while holding the lock; if it ever does, the record is still whole.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Registers node `spec` (not running yet).
    pub fn register(&self, spec: &NodeSpec) {
        let mut r = self.lock();
        r.ids.insert(spec.key.id(), spec.index);
        if r.nodes.len() <= spec.index {
            r.nodes.resize_with(spec.index + 1, NodeState::default);
        }
    }

    /// Asks `node` to look up `target`; its answer lands in [`NodeState::found`].
    pub fn request_lookup(&self, node: usize, target: Target) {
        let mut r = self.lock();
        if let Some(n) = r.nodes.get_mut(node) {
            n.lookup = Some(target);
            n.found = None;
            n.wake.notify_one();
        }
    }

    /// Asks `node` to publish `text` on [`TOPIC`].
    pub fn request_publish(&self, node: usize, text: String) {
        let mut r = self.lock();
        if let Some(n) = r.nodes.get_mut(node) {
            n.publish = Some(text);
            n.wake.notify_one();
        }
    }

    /// Simulated milliseconds since the census began.
    pub fn millis(&self) -> u128 {
        self.now_ms()
    }

    /// Marks `node` stopped (crashed): it has no peers any more.
    pub fn stopped(&self, node: usize) {
        let mut r = self.lock();
        if let Some(n) = r.nodes.get_mut(node) {
            n.running = false;
            n.peers.clear();
        }
        r.log.push(format!("{} {node} crashed", self.now_ms()));
    }

    fn event(&self, node: usize, what: impl FnOnce(&mut Record) -> Option<String>) {
        let mut r = self.lock();
        if let Some(line) = what(&mut r) {
            r.log.push(format!("{} {node} {line}", self.now_ms()));
        }
    }
}

/// A node's life: starts its server on `network` and reports its peer events until `stop`
/// is notified (its host crashed), then stops the server.
pub async fn run(spec: NodeSpec, census: Census, network: HostNet, stop: Arc<Notify>) {
    let index = spec.index;
    let unix = network.unix_time();
    let mut config = spec.config(Network::custom(network));
    let gossip = spec.gossip.map(|mode| {
        let accept: peerwire_gossip::Validator = Arc::new(|_: &Message| Verdict::Accept);
        let mut gossip_config = GossipConfig::default();
        gossip_config.flood = mode == GossipMode::Flood;
        let (gossip, _events) = Gossip::with_clock(spec.key.clone(), gossip_config, accept, unix);
        config.protocols.push(gossip.protocol());
        gossip
    });
    let mut deliveries = match &gossip {
        Some(g) => g.subscribe(TOPIC),
        // No gossip: a subscription that never delivers.
        None => tokio::sync::mpsc::channel(1).1,
    };
    let server = match Server::start(config).await {
        Ok(server) => server,
        Err(e) => {
            census.event(index, |_| Some(format!("failed to start: {e}")));
            return;
        }
    };
    let mut events = server.events();
    let wake = {
        let mut r = census.lock();
        let node = &mut r.nodes[index];
        node.running = true;
        node.peers.clear();
        node.wake.clone()
    };
    census.event(index, |_| Some("started".into()));
    let mut stats_every = tokio::time::interval(std::time::Duration::from_secs(1));
    loop {
        tokio::select! {
            _ = stats_every.tick(), if gossip.is_some() => {
                census.lock().nodes[index].gossip = gossip.as_ref().map(Gossip::stats);
            }
            event = events.recv() => match event {
                Ok(PeerEvent::Added(info)) => census.event(index, |r| {
                    let peer = r.ids.get(&info.id).copied()?;
                    r.nodes[index].peers.insert(peer);
                    Some(format!("up {peer} {:?}", info.direction))
                }),
                Ok(PeerEvent::Dropped { id, end }) => census.event(index, |r| {
                    let peer = r.ids.get(&id).copied()?;
                    r.nodes[index].peers.remove(&peer);
                    Some(format!("down {peer} {}", end.reason()))
                }),
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => census.event(index, |r| {
                    let peers = server
                        .peers()
                        .iter()
                        .filter_map(|p| r.ids.get(&p.id()).copied())
                        .collect();
                    r.nodes[index].peers = peers;
                    Some(format!("lagged {missed}"))
                }),
                Err(RecvError::Closed) => return,
            },
            () = stop.notified() => {
                server.stop().await;
                return;
            }
            Some(m) = deliveries.recv() => census.event(index, |r| {
                let text = String::from_utf8_lossy(&m.data).into_owned();
                r.delivered.push((text.clone(), index, census.now_ms(), m.hops));
                r.nodes[index].gossip = gossip.as_ref().map(Gossip::stats);
                Some(format!("gossip {text} {}", m.hops))
            }),
            () = wake.notified() => {
                let text = census.lock().nodes[index].publish.take();
                if let (Some(text), Some(g)) = (text, &gossip) {
                    let published = g.publish(TOPIC, text.clone().into_bytes());
                    census.event(index, |r| {
                        r.nodes[index].gossip = Some(g.stats());
                        match published {
                            Ok(_) => {
                                r.published.insert(text.clone(), (index, census.now_ms()));
                                Some(format!("published {text}"))
                            }
                            Err(e) => Some(format!("publish failed {text}: {e}")),
                        }
                    });
                }
                let target = census.lock().nodes[index].lookup.take();
                if let (Some(target), Some(discovery)) = (target, server.discovery()) {
                    let found = discovery.lookup(target).await.unwrap_or_default();
                    let ids = found.iter().map(|n| n.id).collect();
                    census.event(index, |r| {
                        r.nodes[index].found = Some(ids);
                        Some(format!("lookup {}", found.len()))
                    });
                }
            }
        }
    }
}
