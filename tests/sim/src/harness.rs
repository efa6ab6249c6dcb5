//! The simulation a scenario drives: nodes on the simulated network, their census, time,
//! and samples of who is connected to whom. Everything runs in one current-thread tokio
//! runtime on its paused clock ([`simulate`]).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use peerwire::crypto::{Enode, NodeId, NodeKey};
use peerwire::discovery::v4::{NodeHash, Target};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::Serialize;

use tokio::sync::Notify;
use tokio::time::Instant;

use crate::node::{self, Census, NodeSpec};
use crate::simnet::SimNet;
use crate::topology::Topology;

/// Runs `future` (a scenario) in a fresh single-threaded runtime whose clock is paused: it
/// moves only when every task waits, straight to the next timer.
pub fn simulate<F: std::future::Future>(future: F) -> F::Output {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_time()
        .start_paused(true)
        .build();
    match runtime {
        Ok(runtime) => runtime.block_on(future),
        // Building a current-thread runtime without I/O only fails if the OS refuses a
        // thread-local or a timer; nothing to simulate on.
        Err(e) => panic!("cannot build the simulation runtime: {e}"),
    }
}

/// How the simulation runs.
#[derive(Clone, Debug)]
pub struct Settings {
    /// The run's seed: keys, latencies, losses and every node's random choices follow.
    pub seed: u64,
    /// Regions, latencies and loss.
    pub topology: Topology,
    /// How often `run_until` checks its condition (and the resolution of the times it
    /// reports).
    pub tick: Duration,
    /// `max_peers` of every node.
    pub max_peers: usize,
    /// Whether nodes run gossip/1, and whether it floods instead of building its tree.
    pub gossip: Option<GossipMode>,
}

/// How gossip/1 spreads messages in a simulation.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GossipMode {
    /// Its broadcast tree (the default protocol).
    Tree,
    /// Flooding (`Config::flood`): the baseline the tree is measured against.
    Flood,
}

/// Peers per node at one instant.
#[derive(Clone, Debug, Serialize)]
pub struct Sample {
    /// Simulated seconds since the start.
    pub t: f64,
    /// Peers of each node, `None` while it is not running.
    pub peers: Vec<Option<usize>>,
}

/// A running simulation.
pub struct Harness {
    net: SimNet,
    settings: Settings,
    census: Census,
    specs: Vec<NodeSpec>,
    stops: Vec<Arc<Notify>>,
    rng: StdRng,
    samples: Vec<Sample>,
    next_sample: Duration,
    start: Instant,
}

impl std::fmt::Debug for Harness {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Harness")
            .field("settings", &self.settings)
            .field("nodes", &self.specs.len())
            .field("elapsed", &self.elapsed())
            .finish()
    }
}

/// How often peers per node are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(1);

impl Harness {
    /// An empty simulation; call inside [`simulate`].
    pub fn new(settings: Settings) -> Self {
        Self {
            net: SimNet::new(Arc::new(settings.topology.clone()), settings.seed),
            rng: StdRng::seed_from_u64(settings.seed),
            settings,
            census: Census::new(),
            specs: Vec::new(),
            stops: Vec::new(),
            samples: Vec::new(),
            next_sample: Duration::ZERO,
            start: Instant::now(),
        }
    }

    /// Adds and starts a node in `region` with `bootnodes` and static peers (census
    /// numbers); returns its census number.
    pub fn add_node(&mut self, region: usize, bootnodes: &[usize], statics: &[usize]) -> usize {
        let index = self.specs.len();
        let enodes = |nodes: &[usize]| -> Vec<Enode> {
            nodes.iter().map(|&i| self.specs[i].enode()).collect()
        };
        let spec = NodeSpec {
            index,
            key: NodeKey::generate(&mut self.rng),
            ip: Topology::address(region, index),
            bootnodes: enodes(bootnodes),
            static_peers: enodes(statics),
            seed: self.rng.gen(),
            max_peers: self.settings.max_peers,
            gossip: self.settings.gossip,
        };
        self.census.register(&spec);
        let stop = Arc::new(Notify::new());
        let host = self.net.host(spec.ip);
        tokio::spawn(node::run(
            spec.clone(),
            self.census.clone(),
            host,
            stop.clone(),
        ));
        self.specs.push(spec);
        self.stops.push(stop);
        index
    }

    /// Crashes node `i`: it goes silent at once; its peers find out by their timeouts.
    pub fn crash(&mut self, i: usize) {
        self.net.crash(self.specs[i].ip);
        self.stops[i].notify_one();
        self.census.stopped(i);
    }

    /// Cuts every link between the nodes of `a` and those of `b`.
    pub fn partition(&mut self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.net.cut(self.specs[x].ip, self.specs[y].ip);
            }
        }
    }

    /// Repairs every link between the nodes of `a` and those of `b`.
    pub fn repair(&mut self, a: &[usize], b: &[usize]) {
        for &x in a {
            for &y in b {
                self.net.repair(self.specs[x].ip, self.specs[y].ip);
            }
        }
    }

    /// TCP bytes every node wrote so far.
    pub fn tcp_bytes(&self) -> u64 {
        self.net.tcp_bytes()
    }

    /// Simulated time since the start.
    pub fn elapsed(&self) -> Duration {
        self.start.elapsed()
    }

    /// Runs for `duration` of simulated time.
    pub async fn run_for(&mut self, duration: Duration) {
        let until = self.elapsed() + duration;
        self.run_until(until, |_| false).await;
    }

    /// Runs until `done` holds (checked every `tick`) or simulated time `deadline`;
    /// returns when `done` first held, if it did.
    pub async fn run_until(
        &mut self,
        deadline: Duration,
        mut done: impl FnMut(&Self) -> bool,
    ) -> Option<Duration> {
        loop {
            if self.elapsed() >= self.next_sample {
                self.sample();
                self.next_sample += SAMPLE_EVERY;
            }
            if done(self) {
                return Some(self.elapsed());
            }
            if self.elapsed() >= deadline {
                return None;
            }
            let step = self.settings.tick.min(deadline - self.elapsed());
            tokio::time::sleep(step).await;
        }
    }

    fn sample(&mut self) {
        let r = self.census.lock();
        let peers = r
            .nodes
            .iter()
            .map(|n| n.running.then_some(n.peers.len()))
            .collect();
        drop(r);
        self.samples.push(Sample {
            t: self.elapsed().as_secs_f64(),
            peers,
        });
    }

    /// Peers of each running node, by census number.
    pub fn peer_counts(&self) -> Vec<(usize, usize)> {
        let r = self.census.lock();
        r.nodes
            .iter()
            .enumerate()
            .filter(|(_, n)| n.running)
            .map(|(i, n)| (i, n.peers.len()))
            .collect()
    }

    /// Whether every node in `nodes` runs and has at least `min` peers.
    pub fn all_have(&self, nodes: &[usize], min: usize) -> bool {
        let r = self.census.lock();
        nodes.iter().all(|&i| {
            r.nodes
                .get(i)
                .is_some_and(|n| n.running && n.peers.len() >= min)
        })
    }

    /// Whether some node of `a` has a peer in `b`.
    pub fn connected_across(&self, a: &[usize], b: &[usize]) -> bool {
        let r = self.census.lock();
        a.iter()
            .any(|&i| b.iter().any(|j| r.nodes[i].peers.contains(j)))
    }

    /// Runs a lookup for a random target from `node` and waits (at most `within`) for the
    /// answer: the nodes found and the true closest of the running nodes, as many as found.
    pub async fn lookup(
        &mut self,
        node: usize,
        within: Duration,
    ) -> Option<(Vec<NodeId>, Vec<NodeId>)> {
        let mut target: Target = [0; 64];
        self.rng.fill(&mut target[..]);
        self.census.request_lookup(node, target);
        let deadline = self.elapsed() + within;
        self.run_until(deadline, |h| h.census.lock().nodes[node].found.is_some())
            .await?;
        let r = self.census.lock();
        let found = r.nodes[node].found.clone().unwrap_or_default();
        let hash = NodeHash::of_target(&target);
        let mut running: Vec<NodeId> = r
            .ids
            .iter()
            .filter(|(_, &i)| i != node && r.nodes[i].running)
            .map(|(id, _)| *id)
            .collect();
        running.sort_by(|a, b| hash.cmp_distance(&NodeHash::of_id(a), &NodeHash::of_id(b)));
        running.truncate(found.len().max(16));
        Some((found, running))
    }

    /// Asks node `i` to publish `text` network-wide (see [`Census::lock`] for what was
    /// delivered).
    pub fn publish(&self, i: usize, text: String) {
        self.census.request_publish(i, text);
    }

    /// The samples so far.
    pub fn samples(&self) -> &[Sample] {
        &self.samples
    }

    /// The census.
    pub fn census(&self) -> &Census {
        &self.census
    }

    /// The address of node `i`.
    pub fn ip(&self, i: usize) -> IpAddr {
        self.specs[i].ip
    }

    /// Nodes added so far.
    pub fn len(&self) -> usize {
        self.specs.len()
    }

    /// Whether no node was added.
    pub fn is_empty(&self) -> bool {
        self.specs.is_empty()
    }

    /// The settings.
    pub fn settings(&self) -> &Settings {
        &self.settings
    }
}
