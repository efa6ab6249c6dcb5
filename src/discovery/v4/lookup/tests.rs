//! Lookups over a synthetic network of 1,000 nodes, each answering from its own table.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use super::*;
use crate::crypto::NodeKey;
use crate::discovery::v4::message::Endpoint;
use crate::discovery::v4::table::Table;

struct Network {
    ids: Vec<NodeId>,
    tables: Vec<Table>,
    index: HashMap<NodeId, usize>,
}

fn record(id: NodeId, i: usize) -> NodeRecord {
    NodeRecord {
        endpoint: Endpoint {
            ip: IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i as u32)),
            udp_port: 30303,
            tcp_port: 30303,
        },
        id,
    }
}

impl Network {
    /// `n` nodes; every node has offered every other to its table (so its view is what
    /// Kademlia keeps: all close nodes, at most 16 per farther bucket).
    fn new(n: usize, rng: &mut StdRng) -> Self {
        let now = Instant::now();
        let ids: Vec<NodeId> = (0..n).map(|_| NodeKey::generate(rng).id()).collect();
        let tables = ids
            .iter()
            .map(|local| {
                let mut t = Table::new(*local);
                for (j, id) in ids.iter().enumerate() {
                    t.insert(now, *id, record(*id, j).endpoint);
                }
                t
            })
            .collect();
        let index = ids.iter().enumerate().map(|(i, id)| (*id, i)).collect();
        Self { ids, tables, index }
    }

    /// What `node` answers to FindNode(target): the closest 16 of its own table.
    fn neighbors_of(&self, node: &NodeId, target: &Target) -> Vec<NodeRecord> {
        let t = &self.tables[self.index[node]];
        t.closest(&NodeHash::of_target(target), K)
            .into_iter()
            .map(|e| e.record())
            .collect()
    }

    /// The true `k` closest to `target` among `alive` nodes, other than `local`.
    fn truth(&self, local: usize, target: &Target, alive: &[bool]) -> Vec<NodeId> {
        let h = NodeHash::of_target(target);
        let mut all: Vec<NodeId> = (0..self.ids.len())
            .filter(|&i| i != local && alive[i])
            .map(|i| self.ids[i])
            .collect();
        all.sort_by(|a, b| h.cmp_distance(&NodeHash::of_id(a), &NodeHash::of_id(b)));
        all.truncate(K);
        all
    }
}

/// Runs a lookup in rounds: up to α queries are sent, then all are answered (or time out).
/// Returns (result, queries, rounds, depth).
fn run(
    net: &Network,
    local: usize,
    target: Target,
    alive: &[bool],
) -> (Vec<NodeId>, usize, usize, u32) {
    let seeds = net.neighbors_of(&net.ids[local], &target);
    let mut lookup = Lookup::new(net.ids[local], target, seeds);
    let mut rounds = 0;
    while !lookup.is_done() {
        let asked: Vec<NodeRecord> = std::iter::from_fn(|| lookup.next_query()).collect();
        assert!(
            !asked.is_empty(),
            "a lookup that is not done has a query to make"
        );
        rounds += 1;
        for node in asked {
            if alive[net.index[&node.id]] {
                lookup.on_response(&node.id, &net.neighbors_of(&node.id, &target));
            } else {
                lookup.on_failure(&node.id);
            }
        }
        assert!(rounds < 200, "lookup does not terminate");
    }
    let result = lookup.result().iter().map(|n| n.id).collect();
    (result, lookup.queries(), rounds, lookup.depth())
}

fn lookups_converge(dead_fraction: f64, seed: u64) {
    let mut rng = StdRng::seed_from_u64(seed);
    let net = Network::new(1000, &mut rng);
    let alive: Vec<bool> = (0..1000)
        .map(|i| i == 0 || !rng.gen_bool(dead_fraction))
        .collect();
    let (mut queries, mut rounds, mut depth) = (Vec::new(), Vec::new(), Vec::new());
    let mut overlap = Vec::new();
    for _ in 0..20 {
        let target: Target = std::array::from_fn(|_| rng.gen());
        let (result, q, r, d) = run(&net, 0, target, &alive);
        let truth = net.truth(0, &target, &alive);
        assert!(
            result.iter().all(|id| alive[net.index[id]]),
            "only nodes that answered"
        );
        let found = result.iter().filter(|id| truth.contains(id)).count();
        if dead_fraction == 0.0 {
            assert_eq!(result, truth, "converges on the true closest 16, in order");
        } else {
            // Dead entries that nobody revalidated hold table slots, hiding some live nodes
            // in replacement lists: the network, not the lookup, loses a few of them.
            assert!(found >= K - 3, "found {found} of the closest {K}");
        }
        overlap.push(found);
        queries.push(q);
        rounds.push(r);
        depth.push(d);
    }
    let avg = |v: &[usize]| v.iter().sum::<usize>() as f64 / v.len() as f64;
    println!(
        "1000 nodes, {:.0}% dead, 20 lookups: queries avg {:.1} max {}, rounds avg {:.1} max {}, \
         depth max {}, true closest 16 found avg {:.1}",
        dead_fraction * 100.0,
        avg(&queries),
        queries.iter().max().unwrap(),
        avg(&rounds),
        rounds.iter().max().unwrap(),
        depth.iter().max().unwrap(),
        avg(&overlap)
    );
}

#[test]
fn lookup_finds_the_true_closest_16_of_1000_nodes() {
    lookups_converge(0.0, 10);
}

#[test]
fn lookup_routes_around_unresponsive_nodes() {
    lookups_converge(0.2, 11);
}

#[test]
fn replies_from_unasked_nodes_are_ignored_and_late_replies_count() {
    let mut rng = StdRng::seed_from_u64(5);
    let ids: Vec<NodeId> = (0..5).map(|_| NodeKey::generate(&mut rng).id()).collect();
    let target = *ids[4].as_bytes();
    let mut l = Lookup::new(ids[0], target, [record(ids[1], 1), record(ids[2], 2)]);
    assert_eq!(l.next_query().map(|n| n.id).into_iter().count(), 1);
    let second = l.next_query().unwrap();
    assert!(l.next_query().is_none(), "only two candidates");
    l.on_response(&ids[3], &[record(ids[4], 4)]);
    assert!(
        l.next_query().is_none(),
        "an unasked node's reply adds nothing"
    );
    l.on_failure(&second.id);
    assert!(l.result().is_empty());
    l.on_response(&second.id, &[record(ids[0], 0)]);
    assert_eq!(
        l.result(),
        vec![second],
        "a late reply counts; our own id is not added"
    );
}
