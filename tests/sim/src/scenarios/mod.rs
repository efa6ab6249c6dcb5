//! The scenarios: each builds a network, does something to it, checks what must hold, and
//! returns its figures. A failed check is an error naming the seed that replays it.

use std::time::Duration;

use serde_json::{json, Map, Value};

use crate::harness::{simulate, GossipMode, Harness, Sample, Settings};

mod gossip;
use crate::topology::Topology;

/// What every scenario is given.
#[derive(Clone, Debug)]
pub struct Params {
    /// The seed.
    pub seed: u64,
    /// Nodes at the start (bootnodes included).
    pub nodes: usize,
    /// Regions.
    pub regions: usize,
    /// Datagram loss everywhere.
    pub loss: f64,
    /// Simulated time per step.
    pub tick: Duration,
    /// `max_peers` of every node.
    pub max_peers: usize,
    /// A region with its own datagram loss.
    pub lossy_region: Option<(usize, f64)>,
    /// How long the convergence scenario keeps the network running before its lookups.
    pub duration: Duration,
    /// Whether nodes run gossip/1, and how.
    pub gossip: Option<GossipMode>,
}

impl Params {
    /// `nodes` nodes in 5 regions, 1 % loss, conditions checked every 10 ms, 25 peers each.
    pub fn new(seed: u64, nodes: usize) -> Self {
        Self {
            seed,
            nodes,
            regions: 5,
            loss: 0.01,
            tick: Duration::from_millis(10),
            max_peers: 25,
            lossy_region: None,
            duration: Duration::from_secs(300),
            gossip: None,
        }
    }

    /// The command-line options that give these parameters, the seed and scenario aside.
    fn options(&self) -> String {
        format!(
            "--nodes {} --regions {} --loss {} --tick-ms {} --max-peers {} --duration {}",
            self.nodes,
            self.regions,
            self.loss,
            self.tick.as_millis(),
            self.max_peers,
            self.duration.as_secs()
        )
    }

    fn settings(&self) -> Settings {
        let mut topology = Topology::internet(self.regions, self.loss);
        if let Some((region, loss)) = self.lossy_region {
            if let Some(r) = topology.regions.get_mut(region) {
                r.loss = loss;
            }
        }
        Settings {
            seed: self.seed,
            topology,
            tick: self.tick,
            max_peers: self.max_peers,
            gossip: self.gossip,
        }
    }
}

/// What a scenario found.
#[derive(Debug)]
pub struct Outcome {
    /// Its name.
    pub scenario: &'static str,
    /// Named figures.
    pub figures: Map<String, Value>,
    /// Peers per node over time.
    pub samples: Vec<Sample>,
    /// The digest of the event log.
    pub digest: String,
    /// Lines in the event log.
    pub events: usize,
    /// The event log.
    pub log: Vec<String>,
}

/// A check that did not hold.
#[derive(Debug)]
pub struct Failure {
    /// The scenario.
    pub scenario: &'static str,
    /// The seed that replays it.
    pub seed: u64,
    /// The command's options besides the seed that replay it.
    pub options: String,
    /// What did not hold.
    pub what: String,
    /// The figures measured until then.
    pub figures: Map<String, Value>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} failed with seed {}: {}\nreplay: cargo run -p peerwire-sim --release -- {} --seed {} {}",
            self.scenario, self.seed, self.what, self.scenario, self.seed, self.options
        )
    }
}

impl std::error::Error for Failure {}

/// The scenarios by name.
pub const ALL: [&str; 6] = [
    "convergence",
    "churn",
    "partition",
    "bootnode-loss",
    "lossy",
    "gossip",
];

/// Runs scenario `name`.
pub fn run(name: &str, params: &Params) -> Result<Outcome, Failure> {
    match name {
        "convergence" => simulate(convergence(params)),
        "churn" => simulate(churn(params)),
        "partition" => simulate(partition(params)),
        "bootnode-loss" => simulate(bootnode_loss(params)),
        "lossy" => simulate(lossy(params)),
        "gossip" => simulate(gossip::gossip(params)),
        other => Err(Failure {
            scenario: "unknown",
            seed: params.seed,
            options: String::new(),
            what: format!("no scenario {other:?}; there are {ALL:?}"),
            figures: Map::new(),
        }),
    }
}

/// Within how long every node must have 3 peers after the last one started.
const JOIN_LIMIT: Duration = Duration::from_secs(60);
/// Peers every node must reach.
const MIN_PEERS: usize = 3;

struct Run {
    h: Harness,
    name: &'static str,
    options: String,
    figures: Map<String, Value>,
}

impl Run {
    fn new(name: &'static str, params: &Params) -> Self {
        Self {
            h: Harness::new(params.settings()),
            name,
            options: params.options(),
            figures: Map::new(),
        }
    }

    fn fail(&self, what: String) -> Failure {
        Failure {
            scenario: self.name,
            seed: self.h.settings().seed,
            options: self.options.clone(),
            what,
            figures: self.figures.clone(),
        }
    }

    /// Starts `n` nodes spread over the regions, the first `bootnodes` of the census their
    /// bootnodes, one every `every`.
    async fn start(
        &mut self,
        n: usize,
        bootnodes: &[usize],
        every: Duration,
    ) -> Result<Vec<usize>, Failure> {
        let regions = self.h.settings().topology.regions.len();
        let mut started = Vec::with_capacity(n);
        for k in 0..n {
            let region = (self.h.len()) % regions;
            started.push(self.h.add_node(region, bootnodes, &[]));
            if k + 1 < n {
                self.h.run_for(every).await;
            }
        }
        Ok(started)
    }

    /// A bootnode in region 0 and `n - 1` nodes that know it, started over the first
    /// 10 s, run until each has `MIN_PEERS` peers (the time in `figure`): the bootnode and
    /// every node, the bootnode first.
    async fn form(&mut self, n: usize, figure: &str) -> Result<Vec<usize>, Failure> {
        let boot = self.h.add_node(0, &[], &[]);
        let nodes = self.start(n.saturating_sub(1), &[boot], spacing(n)).await?;
        let all: Vec<usize> = std::iter::once(boot).chain(nodes).collect();
        self.converge(&all, JOIN_LIMIT, figure).await?;
        Ok(all)
    }

    /// Runs until every node of `nodes` has `MIN_PEERS` peers, at most `limit`; the time it
    /// took, or a failure naming the nodes short of peers.
    async fn converge(
        &mut self,
        nodes: &[usize],
        limit: Duration,
        figure: &str,
    ) -> Result<f64, Failure> {
        let start = self.h.elapsed();
        let done = self
            .h
            .run_until(start + limit, |h| h.all_have(nodes, MIN_PEERS));
        match done.await {
            Some(at) => {
                let secs = (at - start).as_secs_f64();
                self.figures.insert(figure.into(), json!(round(secs)));
                Ok(secs)
            }
            None => {
                let short: Vec<_> = self
                    .h
                    .peer_counts()
                    .into_iter()
                    .filter(|(i, n)| nodes.contains(i) && *n < MIN_PEERS)
                    .collect();
                Err(self.fail(format!(
                    "after {limit:?}, {} nodes have fewer than {MIN_PEERS} peers (node, peers): {:?}",
                    short.len(),
                    &short[..short.len().min(20)]
                )))
            }
        }
    }

    fn degree_figures(&mut self) {
        let mut counts: Vec<usize> = self.h.peer_counts().into_iter().map(|(_, n)| n).collect();
        counts.sort_unstable();
        if let (Some(min), Some(max)) = (counts.first(), counts.last()) {
            let mean = counts.iter().sum::<usize>() as f64 / counts.len() as f64;
            self.figures.insert("peers_min".into(), json!(min));
            self.figures
                .insert("peers_median".into(), json!(counts[counts.len() / 2]));
            self.figures.insert("peers_mean".into(), json!(round(mean)));
            self.figures.insert("peers_max".into(), json!(max));
        }
    }

    fn finish(mut self) -> Outcome {
        self.degree_figures();
        self.figures.insert(
            "simulated_seconds".into(),
            json!(round(self.h.elapsed().as_secs_f64())),
        );
        self.figures
            .insert("nodes_running".into(), json!(self.h.peer_counts().len()));
        let (digest, log) = {
            let r = self.h.census().lock();
            (r.log.digest(), r.log.lines().to_vec())
        };
        Outcome {
            scenario: self.name,
            figures: self.figures,
            samples: self.h.samples().to_vec(),
            digest,
            events: log.len(),
            log,
        }
    }
}

fn round(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

/// Start spacing: every node within the first 10 simulated seconds.
fn spacing(n: usize) -> Duration {
    Duration::from_secs(10) / u32::try_from(n.max(1)).unwrap_or(u32::MAX)
}

/// All nodes join through one bootnode; every node reaches 3 peers, and lookups find the
/// true closest nodes.
async fn convergence(p: &Params) -> Result<Outcome, Failure> {
    let mut run = Run::new("convergence", p);
    let all = run
        .form(p.nodes, "seconds_to_3_peers_after_last_start")
        .await?;
    // Tables fill by refresh and the dial scheduler's lookups; look up once the network ran
    // for `duration`.
    let rest = p.duration.saturating_sub(run.h.elapsed());
    run.h.run_for(rest.max(Duration::from_secs(30))).await;
    lookups(&mut run, &all).await?;
    Ok(run.finish())
}

/// Lookups from up to 10 nodes for random targets must find the true closest 16 (as many
/// as they return); the figure is the share found.
async fn lookups(run: &mut Run, from: &[usize]) -> Result<(), Failure> {
    let step = (from.len() / 10).max(1);
    let (mut hits, mut wanted, mut worst) = (0usize, 0usize, 1.0f64);
    for &node in from.iter().step_by(step).take(10) {
        let answer = run.h.lookup(node, Duration::from_secs(30)).await;
        let Some((found, closest)) = answer else {
            return Err(run.fail(format!("node {node}'s lookup got no answer in 30 s")));
        };
        let closest: Vec<_> = closest.into_iter().take(16).collect();
        let hit = closest.iter().filter(|id| found.contains(id)).count();
        worst = worst.min(hit as f64 / closest.len().max(1) as f64);
        hits += hit;
        wanted += closest.len();
    }
    let share = hits as f64 / wanted.max(1) as f64;
    run.figures
        .insert("lookup_true_closest_found".into(), json!(round(share)));
    run.figures
        .insert("lookup_worst".into(), json!(round(worst)));
    if share < 0.9 {
        return Err(run.fail(format!("lookups found {share:.3} of the true closest 16")));
    }
    Ok(())
}

/// 30 % of the nodes replaced over a minute; survivors and newcomers back to 3 peers.
async fn churn(p: &Params) -> Result<Outcome, Failure> {
    let mut run = Run::new("churn", p);
    let mut all = run.form(p.nodes, "seconds_to_3_peers_initially").await?;
    let (boot, first) = (all[0], all[1..].to_vec());
    let replaced = first.len() * 3 / 10;
    let every = Duration::from_secs(60) / u32::try_from(replaced.max(1)).unwrap_or(u32::MAX);
    let regions = p.regions.max(1);
    for (k, &old) in first.iter().enumerate().take(replaced) {
        run.h.crash(old);
        all.retain(|&i| i != old);
        let new = run.h.add_node(k % regions, &[boot], &[]);
        all.push(new);
        run.h.run_for(every).await;
    }
    run.figures.insert("replaced".into(), json!(replaced));
    run.converge(&all, JOIN_LIMIT, "seconds_to_3_peers_after_churn")
        .await?;
    Ok(run.finish())
}

/// Two halves cut apart for two minutes, then repaired; they connect again. One node in
/// ten of the second half keeps a static peer in the first, as operators pin peers.
async fn partition(p: &Params) -> Result<Outcome, Failure> {
    let mut run = Run::new("partition", p);
    let boot = run.h.add_node(0, &[], &[]);
    let mut all = vec![boot];
    let half = p.nodes / 2;
    let regions = p.regions.max(1);
    for k in 1..p.nodes {
        let statics: Vec<usize> = if k >= half && k % 10 == 0 {
            vec![k - half]
        } else {
            vec![]
        };
        all.push(run.h.add_node(k % regions, &[boot], &statics));
        run.h.run_for(spacing(p.nodes)).await;
    }
    run.figures.insert(
        "static_links_across".into(),
        json!(all.iter().filter(|&&k| k >= half && k % 10 == 0).count()),
    );
    run.converge(&all, JOIN_LIMIT, "seconds_to_3_peers_initially")
        .await?;
    let (a, b) = all.split_at(all.len() / 2);
    let (a, b) = (a.to_vec(), b.to_vec());
    run.h.partition(&a, &b);
    run.h.run_for(Duration::from_secs(120)).await;
    if run.h.connected_across(&a, &b) {
        return Err(run.fail("the halves are still connected after two minutes apart".into()));
    }
    run.figures.insert(
        "halves_each_kept_3_peers".into(),
        json!(run.h.all_have(&all, MIN_PEERS)),
    );
    run.h.repair(&a, &b);
    let start = run.h.elapsed();
    let rejoined = run
        .h
        .run_until(start + Duration::from_secs(300), |h| {
            h.connected_across(&a, &b)
        })
        .await;
    match rejoined {
        Some(at) => {
            run.figures.insert(
                "seconds_to_reconnect_halves".into(),
                json!(round((at - start).as_secs_f64())),
            );
        }
        None => {
            return Err(run.fail("the halves did not connect within 300 s of the repair".into()))
        }
    }
    run.converge(&all, JOIN_LIMIT, "seconds_to_3_peers_after_repair")
        .await?;
    Ok(run.finish())
}

/// The first bootnode leaves once the network formed; new nodes that also know a second
/// bootnode still join.
async fn bootnode_loss(p: &Params) -> Result<Outcome, Failure> {
    let mut run = Run::new("bootnode-loss", p);
    let first = run.h.add_node(0, &[], &[]);
    let second = run.h.add_node(1, &[first], &[]);
    let nodes = run
        .start(p.nodes.saturating_sub(2), &[first], spacing(p.nodes))
        .await?;
    let mut all: Vec<usize> = [first, second].into_iter().chain(nodes).collect();
    run.converge(&all, JOIN_LIMIT, "seconds_to_3_peers_initially")
        .await?;
    run.h.crash(first);
    all.retain(|&i| i != first);
    let newcomers = run
        .start(
            (p.nodes / 10).max(3),
            &[first, second],
            Duration::from_millis(500),
        )
        .await?;
    run.figures
        .insert("newcomers".into(), json!(newcomers.len()));
    run.converge(&newcomers, JOIN_LIMIT, "seconds_to_3_peers_for_newcomers")
        .await?;
    all.extend(newcomers);
    run.converge(&all, JOIN_LIMIT, "seconds_to_3_peers_for_all")
        .await?;
    Ok(run.finish())
}

/// One region loses 10 % of datagrams: its nodes still join and stay connected.
async fn lossy(p: &Params) -> Result<Outcome, Failure> {
    let mut params = p.clone();
    params.regions = p.regions.max(2);
    let lossy_region = params.regions - 1;
    params.lossy_region = Some((lossy_region, 0.1));
    let mut run = Run::new("lossy", &params);
    let all = run
        .form(p.nodes, "seconds_to_3_peers_after_last_start")
        .await?;
    run.h.run_for(Duration::from_secs(120)).await;
    let in_lossy: Vec<usize> = all
        .iter()
        .copied()
        .filter(|&i| Topology::region_of(run.h.ip(i)) == lossy_region)
        .collect();
    run.figures
        .insert("lossy_region_nodes".into(), json!(in_lossy.len()));
    if !run.h.all_have(&all, MIN_PEERS) {
        let short: Vec<_> = run
            .h
            .peer_counts()
            .into_iter()
            .filter(|(_, n)| *n < MIN_PEERS)
            .collect();
        return Err(run.fail(format!("two minutes on, nodes short of peers: {short:?}")));
    }
    let drops = drops_by_reason(&run, &in_lossy);
    run.figures.insert("drops_in_lossy_region".into(), drops);
    Ok(run.finish())
}

/// Session ends of `nodes` by reason, from the event log.
fn drops_by_reason(run: &Run, nodes: &[usize]) -> Value {
    let r = run.h.census().lock();
    let mut by_reason = Map::new();
    for line in r.log.lines() {
        let mut parts = line.splitn(4, ' ');
        let (_, node, what, rest) = (parts.next(), parts.next(), parts.next(), parts.next());
        let node: Option<usize> = node.and_then(|n| n.parse().ok());
        if what == Some("down") && node.is_some_and(|n| nodes.contains(&n)) {
            let reason = rest.and_then(|r| r.split_once(' ')).map_or("", |(_, r)| r);
            let entry = by_reason.entry(reason.to_string()).or_insert(json!(0));
            *entry = json!(entry.as_u64().unwrap_or(0) + 1);
        }
    }
    Value::Object(by_reason)
}
