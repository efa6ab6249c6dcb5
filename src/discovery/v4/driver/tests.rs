//! Many drivers exchanging datagrams in memory, on a clock the test advances.

use std::collections::{BTreeMap, VecDeque};

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::discovery::v4::lookup::K;
use crate::discovery::v4::NodeHash;

const UNIX: u64 = 1_700_000_000;

struct Net {
    nodes: BTreeMap<SocketAddr, Driver>,
    keys: BTreeMap<SocketAddr, NodeKey>,
    /// How the network rewrites a sender's address (a NAT), by real address.
    nat: BTreeMap<SocketAddr, SocketAddr>,
    now: Instant,
    rng: StdRng,
    packets: usize,
    events: Vec<(SocketAddr, DriverEvent)>,
}

fn addr(i: usize) -> SocketAddr {
    format!("10.0.{}.{}:30303", i / 250, i % 250 + 1)
        .parse()
        .unwrap()
}

impl Net {
    fn new() -> Self {
        Self {
            nodes: BTreeMap::new(),
            keys: BTreeMap::new(),
            nat: BTreeMap::new(),
            now: Instant::now(),
            rng: StdRng::seed_from_u64(99),
            packets: 0,
            events: Vec::new(),
        }
    }

    fn add(&mut self, i: usize, config: DriverConfig) -> Enode {
        let key = NodeKey::generate(&mut StdRng::seed_from_u64(1000 + i as u64));
        let a = addr(i);
        let endpoint = Endpoint {
            ip: a.ip(),
            udp_port: a.port(),
            tcp_port: a.port(),
        };
        let local = LocalRecord::new(key.clone(), endpoint).unwrap();
        let d = Driver::new(key.clone(), local, config, self.now, UNIX);
        self.nodes.insert(a, d);
        self.keys.insert(a, key.clone());
        Enode::new(key.id(), a)
    }

    /// Sends `sent` (datagrams the driver at `src` produced) and whatever `src` has queued,
    /// then delivers every datagram, and what its receiver sends in turn, until quiet.
    fn deliver(&mut self, src: SocketAddr, sent: Vec<Transmit>) {
        let mut queue = VecDeque::new();
        self.enqueue(src, sent, &mut queue);
        self.drain(src, &mut queue);
        while let Some((from, t)) = queue.pop_front() {
            self.packets += 1;
            let seen_as = self.nat.get(&from).copied().unwrap_or(from);
            if let Some(d) = self.nodes.get_mut(&t.to) {
                d.handle_packet(self.now, seen_as, &t.bytes);
                self.drain(t.to, &mut queue);
            }
        }
    }

    /// [`Net::deliver`] with nothing taken from `src` beforehand.
    fn deliver_from(&mut self, src: SocketAddr) {
        self.deliver(src, Vec::new());
    }

    /// Takes the events and datagrams of the driver at `at`, as the calling contract asks
    /// after every input.
    fn drain(&mut self, at: SocketAddr, queue: &mut VecDeque<(SocketAddr, Transmit)>) {
        let Some(d) = self.nodes.get_mut(&at) else {
            return;
        };
        while let Some(e) = d.poll_event() {
            self.events.push((at, e));
        }
        let sent = sent_by(d);
        self.enqueue(at, sent, queue);
    }

    fn enqueue(
        &self,
        src: SocketAddr,
        sent: Vec<Transmit>,
        queue: &mut VecDeque<(SocketAddr, Transmit)>,
    ) {
        for mut t in sent {
            if let Some((real, _)) = self.nat.iter().find(|(_, seen)| **seen == t.to) {
                t.to = *real;
            }
            queue.push_back((src, t));
        }
    }

    /// Runs timers and packets until `until`.
    fn run_until(&mut self, until: Instant) {
        loop {
            let (a, at) = self
                .nodes
                .iter()
                .map(|(a, d)| (*a, d.poll_timeout()))
                .min_by_key(|(_, t)| *t)
                .unwrap();
            if at > until {
                self.now = until;
                return;
            }
            self.now = self.now.max(at);
            let now = self.now;
            self.nodes
                .get_mut(&a)
                .unwrap()
                .handle_timeout(now, &mut self.rng);
            self.deliver_from(a);
        }
    }
}

/// The datagrams `d` has queued.
fn sent_by(d: &mut Driver) -> Vec<Transmit> {
    std::iter::from_fn(|| d.poll_transmit()).collect()
}

#[test]
fn nodes_find_each_other_through_one_bootnode() {
    let mut net = Net::new();
    let boot = net.add(0, DriverConfig::default());
    let n = 30;
    for i in 1..=n {
        let config = DriverConfig {
            bootnodes: vec![boot],
            ..DriverConfig::default()
        };
        net.add(i, config);
    }
    let t0 = net.now;
    net.run_until(t0 + Duration::from_secs(20));
    for (a, d) in &net.nodes {
        assert!(
            d.core().table().len() >= 20,
            "{a} has {} nodes",
            d.core().table().len()
        );
    }
    let stats = net.nodes[&addr(5)].lookup_stats();
    assert!(stats.lookups >= 2, "{stats:?}");
    assert!(stats.max_depth >= 1, "{stats:?}");
    assert!(net
        .events
        .iter()
        .any(|(_, e)| matches!(e, DriverEvent::NodeAdded(_))));
    // Table entries know the TCP port (from the enode or the Neighbors records).
    let boot_entry = net.nodes[&addr(7)].core().table().get(&boot.id).copied();
    if let Some(e) = boot_entry {
        assert_eq!(e.endpoint.tcp_port, 30303);
    }
}

#[test]
fn a_lookup_converges_on_the_closest_nodes() {
    let mut net = warm_net(40);
    let target = [0x42u8; 64];
    let me = addr(3);
    let now = net.now;
    let id = net
        .nodes
        .get_mut(&me)
        .unwrap()
        .start_lookup(now, target)
        .unwrap();
    net.deliver_from(me);
    net.run_until(now + Duration::from_secs(3));
    let result = net
        .events
        .iter()
        .find_map(|(a, e)| match e {
            DriverEvent::LookupDone(r) if *a == me && r.id == id => Some(r.clone()),
            _ => None,
        })
        .expect("lookup finished");
    // The true 16 closest among all nodes but the one looking.
    let hash = NodeHash::of_target(&target);
    let mut all: Vec<NodeId> = net
        .keys
        .iter()
        .filter(|(a, _)| **a != me)
        .map(|(_, k)| k.id())
        .collect();
    all.sort_by(|a, b| hash.cmp_distance(&NodeHash::of_id(a), &NodeHash::of_id(b)));
    let got: Vec<NodeId> = result.nodes.iter().map(|n| n.id).collect();
    assert_eq!(got, all[..K].to_vec());
    assert!(result.depth >= 1 && result.queries >= K, "{result:?}");
}

/// A bootnode and 6 nodes that know it and move their address after 3 statements.
fn learning_net() -> Net {
    let mut net = Net::new();
    let boot = net.add(0, DriverConfig::default());
    for i in 1..=6 {
        let config = DriverConfig {
            bootnodes: vec![boot],
            ip_min_statements: 3,
            ..DriverConfig::default()
        };
        net.add(i, config);
    }
    net
}

#[test]
fn our_ip_is_learned_from_pong_statements() {
    let mut net = learning_net();
    // Node 1 sits behind a NAT: others see it as 192.0.2.1.
    let public: SocketAddr = "192.0.2.1:30303".parse().unwrap();
    net.nat.insert(addr(1), public);
    let t0 = net.now;
    net.run_until(t0 + Duration::from_secs(20));
    let d = &net.nodes[&addr(1)];
    let local = d.core().local_record();
    assert_eq!(local.endpoint().ip, public.ip());
    assert!(local.seq() >= 2);
    assert!(net.events.iter().any(|(a, e)| *a == addr(1)
        && matches!(e, DriverEvent::EndpointChanged(ep) if ep.ip == public.ip())));
    // Others fetched its newer record after seeing the higher enr-seq.
    let fetched = net
        .nodes
        .iter()
        .filter(|(a, _)| **a != addr(1))
        .any(|(_, d)| {
            d.record(&net.keys[&addr(1)].id())
                .is_some_and(|r| r.seq() >= 2)
        });
    assert!(fetched);
}

#[test]
fn resolve_bonds_then_fetches_the_record() {
    let mut net = Net::new();
    net.add(0, DriverConfig::default());
    net.add(1, DriverConfig::default());
    let target = net.keys[&addr(1)].id();
    let now = net.now;
    let endpoint = Endpoint {
        ip: addr(1).ip(),
        udp_port: 30303,
        tcp_port: 30303,
    };
    net.nodes
        .get_mut(&addr(0))
        .unwrap()
        .resolve(now, target, endpoint);
    net.deliver_from(addr(0));
    net.run_until(now + Duration::from_secs(2));
    assert!(net
        .events
        .iter()
        .any(|(a, e)| *a == addr(0) && matches!(e, DriverEvent::Record(id, _) if *id == target)));

    // An address nobody answers on fails.
    let ghost = NodeKey::generate(&mut StdRng::seed_from_u64(5)).id();
    let endpoint = Endpoint {
        ip: "10.9.9.9".parse().unwrap(),
        ..endpoint
    };
    let now = net.now;
    net.nodes
        .get_mut(&addr(0))
        .unwrap()
        .resolve(now, ghost, endpoint);
    net.deliver_from(addr(0));
    net.run_until(now + Duration::from_secs(2));
    assert!(net
        .events
        .iter()
        .any(|(_, e)| matches!(e, DriverEvent::ResolveFailed(id) if *id == ghost)));
}

/// `others` + 1 nodes, node 0 everyone's bootnode, after 30 s of refreshes.
fn warm_net(others: usize) -> Net {
    let mut net = Net::new();
    let boot = net.add(0, DriverConfig::default());
    for i in 1..=others {
        let config = DriverConfig {
            bootnodes: vec![boot],
            ..DriverConfig::default()
        };
        net.add(i, config);
    }
    let t0 = net.now;
    net.run_until(t0 + Duration::from_secs(30));
    net
}

/// The `K` closest to `target` of the nodes still in `net`, `me` excepted.
fn live_closest(net: &Net, me: SocketAddr, target: &Target) -> Vec<NodeId> {
    let hash = NodeHash::of_target(target);
    let mut ids: Vec<NodeId> = net
        .keys
        .iter()
        .filter(|(a, _)| **a != me && net.nodes.contains_key(a))
        .map(|(_, k)| k.id())
        .collect();
    ids.sort_by(|a, b| hash.cmp_distance(&NodeHash::of_id(a), &NodeHash::of_id(b)));
    ids.truncate(K);
    ids
}

fn done(net: &Net, me: SocketAddr, id: LookupId) -> Option<Vec<NodeId>> {
    net.events.iter().find_map(|(a, e)| match e {
        DriverEvent::LookupDone(r) if *a == me && r.id == id => {
            Some(r.nodes.iter().map(|n| n.id).collect())
        }
        _ => None,
    })
}

#[test]
fn two_lookups_run_at_once_and_each_gets_its_own_result() {
    let mut net = warm_net(30);
    let me = addr(3);
    let (ta, tb) = ([0x42u8; 64], [0xbdu8; 64]);
    let now = net.now;
    let d = net.nodes.get_mut(&me).unwrap();
    let a = d.start_lookup(now, ta).unwrap();
    let mut sent = sent_by(d);
    let sent_by_a = sent.len();
    assert!(sent_by_a > 0);
    let b = d.start_lookup(now, tb).unwrap();
    sent.extend(sent_by(d));
    assert!(
        sent.len() > sent_by_a,
        "the second lookup queries at once, before the first has any reply"
    );
    assert!(d.active_lookups() >= 2);
    net.deliver(me, sent);
    net.run_until(now + Duration::from_secs(3));
    assert_eq!(done(&net, me, a), Some(live_closest(&net, me, &ta)));
    assert_eq!(done(&net, me, b), Some(live_closest(&net, me, &tb)));
}

/// The nodes closest to one target stop answering: that lookup waits for their timeouts,
/// while a lookup for a target they are not near finishes with no time passing.
#[test]
fn a_slow_lookup_does_not_hold_up_another() {
    let mut net = warm_net(30);
    let me = addr(3);
    let ta = [0x42u8; 64];
    let table = net.nodes[&me].core().table();
    let dead: Vec<NodeId> = table
        .closest(&NodeHash::of_target(&ta), 3)
        .iter()
        .map(|e| e.id)
        .collect();
    // A target none of the dead nodes is among the seeds of (they are all in our table, so
    // none can ever enter that lookup's closest `K`).
    let tb = (0..=255u8)
        .map(|i| [i; 64])
        .find(|t| {
            table
                .closest(&NodeHash::of_target(t), K)
                .iter()
                .all(|e| !dead.contains(&e.id))
        })
        .expect("a target away from the dead nodes");
    let dead_addrs: Vec<SocketAddr> = net
        .keys
        .iter()
        .filter(|(_, k)| dead.contains(&k.id()))
        .map(|(a, _)| *a)
        .collect();
    for a in &dead_addrs {
        net.nodes.remove(a);
    }

    let now = net.now;
    let d = net.nodes.get_mut(&me).unwrap();
    let a = d.start_lookup(now, ta).unwrap();
    let b = d.start_lookup(now, tb).unwrap();
    net.deliver_from(me);
    assert_eq!(net.now, now, "no time has passed");
    assert_eq!(done(&net, me, b), Some(live_closest(&net, me, &tb)));
    assert_eq!(done(&net, me, a), None, "still waiting for the dead nodes");

    net.run_until(now + Duration::from_secs(5));
    let got = done(&net, me, a).expect("the slow lookup finishes too");
    // Every answer still lists the dead nodes among its `K`, so the farthest live ones may
    // never be heard of: the result is the closest live nodes, perhaps fewer than `K`.
    let want = live_closest(&net, me, &ta);
    assert!(got.len() >= K - dead.len(), "{got:?}");
    assert_eq!(got, want[..got.len()]);
}

#[test]
fn at_most_max_active_lookups_run_and_the_rest_wait_their_turn() {
    let mut net = warm_net(30);
    let me = addr(3);
    let now = net.now;
    let d = net.nodes.get_mut(&me).unwrap();
    let already = d.active_lookups();
    let max = DriverConfig::default().max_active_lookups;
    let ids: Vec<LookupId> = (0..5u8)
        .map(|i| d.start_lookup(now, [i * 40 + 1; 64]).unwrap())
        .collect();
    assert_eq!(d.active_lookups(), max.max(already));
    net.deliver_from(me);
    net.run_until(now + Duration::from_secs(5));
    for (i, id) in ids.iter().enumerate() {
        let target = [i as u8 * 40 + 1; 64];
        assert_eq!(done(&net, me, *id), Some(live_closest(&net, me, &target)));
    }
}

/// Neighbors does not name its target, so two lookups never have a FindNode in flight to the
/// same node: the second one's queries wait for the first one's replies.
#[test]
fn lookups_asking_the_same_nodes_take_turns() {
    let mut net = warm_net(30);
    let me = addr(3);
    let target = [0x42u8; 64];
    let now = net.now;
    let d = net.nodes.get_mut(&me).unwrap();
    let a = d.start_lookup(now, target).unwrap();
    let mut sent = sent_by(d);
    let sent_by_a = sent.len();
    let b = d.start_lookup(now, target).unwrap();
    sent.extend(sent_by(d));
    assert_eq!(
        sent.len(),
        sent_by_a,
        "the same three closest nodes are being asked already"
    );
    net.deliver(me, sent);
    net.run_until(now + Duration::from_secs(3));
    let want = Some(live_closest(&net, me, &target));
    assert_eq!(done(&net, me, a), want);
    assert_eq!(done(&net, me, b), want);
}

/// A Pong carries `enr-seq` before its sender holds our proof; asking for the record right
/// then would be dropped as an unbonded query and never asked again.
#[test]
fn records_are_asked_for_once_both_sides_are_bonded() {
    let mut net = Net::new();
    let boot = net.add(0, DriverConfig::default());
    let config = DriverConfig {
        bootnodes: vec![boot],
        ..DriverConfig::default()
    };
    let node = net.add(1, config);
    let t0 = net.now;
    net.run_until(t0 + Duration::from_secs(2));
    for (a, d) in &net.nodes {
        assert_eq!(d.core().stats().unbonded_queries, 0, "{a} dropped a query");
    }
    let seq = |e: &Enode| net.nodes[&e.udp_addr()].core().local_record().seq();
    let fetched =
        |by: &Enode, of: &Enode| net.nodes[&by.udp_addr()].record(&of.id).map(|r| r.seq());
    assert_eq!(fetched(&node, &boot), Some(seq(&boot)));
    assert_eq!(fetched(&boot, &node), Some(seq(&node)));
}

/// A dual-stack node learns its address in each family from that family's statements and
/// advertises both; a single-stack node with a known address takes none from the other.
#[test]
fn a_dual_stack_node_advertises_what_each_family_says() {
    let main = Endpoint {
        ip: "192.0.2.1".parse().unwrap(),
        udp_port: 30303,
        tcp_port: 30304,
    };
    let seen_as: IpAddr = "2a00:1450::7".parse().unwrap();
    for dual_stack in [true, false] {
        let key = NodeKey::generate(&mut StdRng::seed_from_u64(7));
        let local = LocalRecord::new(key.clone(), main).unwrap();
        let config = DriverConfig {
            ip_min_statements: 3,
            dual_stack,
            ..DriverConfig::default()
        };
        let now = Instant::now();
        let mut d = Driver::new(key, local, config, now, UNIX);
        for i in 0..3 {
            // Three sources: three IPv6 /64s.
            let from = SocketAddr::new(format!("2a00:1450:0:{i}::1").parse().unwrap(), 30303);
            d.on_statement(now, from, seen_as);
        }
        let local = d.core().local_record();
        assert_eq!(local.endpoint(), main, "dual_stack {dual_stack}");
        let record = local.record();
        assert_eq!(record.ip4(), Some("192.0.2.1".parse().unwrap()));
        if dual_stack {
            assert_eq!(record.ip6().map(IpAddr::V6), Some(seen_as));
            assert_eq!((record.udp6(), record.tcp6()), (Some(30303), Some(30304)));
            assert_eq!(record.seq(), 2);
            assert!(
                matches!(d.poll_event(), Some(DriverEvent::EndpointChanged(e)) if e == main),
                "the service hears of the new record"
            );
            // What discv5 learned in the other family goes beside the main endpoint too,
            // at discv5's seq.
            let moved: SocketAddr = "[2a00:1450::8]:30305".parse().unwrap();
            d.adopt_endpoint(moved, 5);
            let local = d.core().local_record();
            assert_eq!((local.endpoint(), local.seq()), (main, 5));
            assert_eq!(local.record().ip6(), Some("2a00:1450::8".parse().unwrap()));
            assert_eq!(local.record().udp6(), Some(30305));
        } else {
            assert_eq!(record.ip6(), None);
            assert_eq!(record.seq(), 1);
        }
    }
}

#[test]
fn a_mapped_endpoint_is_advertised_and_pongs_no_longer_move_it() {
    let mut net = learning_net();
    // The router maps node 1's ports at 198.51.100.7, other port numbers.
    let mapped = Endpoint {
        ip: "198.51.100.7".parse().unwrap(),
        udp_port: 40001,
        tcp_port: 40002,
    };
    let d = net.nodes.get_mut(&addr(1)).unwrap();
    d.set_external_endpoint(mapped);
    d.set_external_endpoint(mapped);
    let changes: Vec<_> = std::iter::from_fn(|| d.poll_event())
        .filter(|e| matches!(e, DriverEvent::EndpointChanged(_)))
        .collect();
    assert_eq!(changes, [DriverEvent::EndpointChanged(mapped)], "once");
    assert_eq!(d.core().local_record().seq(), 2);
    assert!(d.core().local_record().record().verify());
    // Others see it at yet another address; enough of them say so to move a learning node.
    net.nat.insert(addr(1), "192.0.2.1:30303".parse().unwrap());
    let t0 = net.now;
    net.run_until(t0 + Duration::from_secs(20));
    let local = net.nodes[&addr(1)].core().local_record();
    assert_eq!(local.endpoint(), mapped);
    assert_eq!(local.seq(), 2);
    // What discv5 learns does not move it either: the record is re-signed at discv5's seq,
    // so that discv5 takes it back.
    let d = net.nodes.get_mut(&addr(1)).unwrap();
    d.adopt_endpoint("192.0.2.1:30303".parse().unwrap(), 3);
    let local = d.core().local_record();
    assert_eq!((local.endpoint(), local.seq()), (mapped, 3));

    // The gateway loses the mapping: the Pongs may move the record again.
    d.release_external_endpoint();
    let t1 = net.now;
    // Only revalidation Pongs come now (one every 10 s), so this takes a few minutes.
    net.run_until(t1 + Duration::from_secs(300));
    let local = net.nodes[&addr(1)].core().local_record();
    assert_eq!(local.endpoint().ip, "192.0.2.1".parse::<IpAddr>().unwrap());
    assert!(local.seq() > 3);
}
