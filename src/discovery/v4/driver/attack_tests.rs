//! One driver against hand-made packets from attackers (many keys, chosen addresses), on a
//! clock the test sets: what they can make it believe, contact or store.

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::discovery::v4::message::{Message, Neighbors, Ping, Pong, PROTOCOL_VERSION};
use crate::discovery::v4::packet::{decode_packet, encode_packet};
use crate::discovery::v4::NodeHash;

const UNIX: u64 = 1_700_000_000;
/// Our address: public, so that loopback and LAN rules apply to what others say.
const US: &str = "1.1.1.1:30303";

fn sa(s: &str) -> SocketAddr {
    s.parse().unwrap()
}

fn endpoint(addr: SocketAddr) -> Endpoint {
    Endpoint {
        ip: addr.ip(),
        udp_port: addr.port(),
        tcp_port: addr.port(),
    }
}

/// Our driver (at [`US`]) and the clock.
struct Us {
    d: Driver,
    now: Instant,
    rng: StdRng,
}

impl Us {
    fn new(config: DriverConfig) -> Self {
        let key = NodeKey::generate(&mut StdRng::seed_from_u64(1));
        let local = LocalRecord::new(key.clone(), endpoint(sa(US))).unwrap();
        let now = Instant::now();
        Self {
            d: Driver::new(key, local, config, now, UNIX),
            now,
            rng: StdRng::seed_from_u64(2),
        }
    }

    fn sent(&mut self) -> Vec<Transmit> {
        std::iter::from_fn(|| self.d.poll_transmit()).collect()
    }

    fn events(&mut self) -> Vec<DriverEvent> {
        std::iter::from_fn(|| self.d.poll_event()).collect()
    }

    fn ip(&self) -> IpAddr {
        self.d.core().local_record().endpoint().ip
    }

    /// Sends `msg` signed by `key` from `from`.
    fn receive(&mut self, key: &NodeKey, from: SocketAddr, msg: &Message) {
        let p = encode_packet(key, msg).unwrap();
        self.d.handle_packet(self.now, from, &p.bytes);
    }

    /// The Pings we sent, by destination, with their hashes.
    fn pings_sent(&mut self) -> Vec<(SocketAddr, [u8; 32])> {
        self.sent()
            .into_iter()
            .filter_map(|t| {
                let p = decode_packet(&t.bytes, UNIX).ok()?;
                matches!(p.message, Message::Ping(_)).then_some((t.to, p.hash))
            })
            .collect()
    }

    /// `key` at `from` bonds with us the way any node does: it pings us, we answer and
    /// ping back, it answers with a Pong whose `to` says it sees us at `seen_as`.
    fn bond(&mut self, key: &NodeKey, from: SocketAddr, seen_as: SocketAddr) {
        self.receive(key, from, &ping(from, sa(US)));
        let hash = self
            .pings_sent()
            .into_iter()
            .find(|(to, _)| *to == from)
            .map(|(_, h)| h)
            .expect("we ping back an unbonded node");
        let pong = Message::Pong(Pong {
            to: endpoint(seen_as),
            ping_hash: hash,
            expiration: UNIX + 60,
            enr_seq: None,
        });
        self.receive(key, from, &pong);
    }
}

fn ping(from: SocketAddr, to: SocketAddr) -> Message {
    Message::Ping(Ping {
        version: PROTOCOL_VERSION,
        from: endpoint(from),
        to: endpoint(to),
        expiration: UNIX + 60,
        enr_seq: None,
    })
}

fn keys(n: usize, seed: u64) -> Vec<NodeKey> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| NodeKey::generate(&mut rng)).collect()
}

/// Ten throwaway keys on one host, each bonding with a Pong that says 6.6.6.6, are one
/// voice: our record keeps its address. Ten hosts saying so move it.
#[test]
fn ten_keys_on_one_host_do_not_set_our_address() {
    let claim = sa("6.6.6.6:30303");
    let mut us = Us::new(DriverConfig::default());
    for (i, key) in keys(10, 7).iter().enumerate() {
        us.bond(key, sa(&format!("7.7.7.7:{}", 40000 + i)), claim);
    }
    assert_eq!(us.ip(), sa(US).ip(), "one host set our address");
    assert!(!us
        .events()
        .iter()
        .any(|e| matches!(e, DriverEvent::EndpointChanged(_))));

    let mut us = Us::new(DriverConfig::default());
    for (i, key) in keys(10, 8).iter().enumerate() {
        us.bond(key, sa(&format!("7.7.{i}.7:30303")), claim);
    }
    assert_eq!(us.ip(), claim.ip(), "ten hosts agree");
}

/// A node on a public address cannot make us advertise a loopback address.
#[test]
fn loopback_statements_from_public_nodes_are_ignored() {
    let mut us = Us::new(DriverConfig::default());
    for (i, key) in keys(10, 9).iter().enumerate() {
        us.bond(key, sa(&format!("7.7.{i}.7:30303")), sa("127.0.0.1:30303"));
    }
    assert_eq!(us.ip(), sa(US).ip());
}

/// Nodes in `subnet` (an IPv4 /24 as "a.b.c") in our table, in all and in the fullest bucket.
fn table_share(us: &Us, subnet: &str) -> (usize, usize) {
    let table = us.d.core().table();
    let local = NodeHash::of_id(&us.d.local);
    let mut per_bucket: HashMap<u32, usize> = HashMap::new();
    for e in table.iter() {
        if e.endpoint.ip.to_string().starts_with(&format!("{subnet}.")) {
            *per_bucket.entry(local.log_distance(e.hash())).or_default() += 1;
        }
    }
    (
        per_bucket.values().sum(),
        per_bucket.values().copied().max().unwrap_or(0),
    )
}

/// Forty keys on one /24, each bonding with us, get at most 10 places in our table and at
/// most 2 in any bucket; forty on loopback all get theirs.
#[test]
fn one_host_fills_at_most_ten_places_in_our_table() {
    let mut us = Us::new(DriverConfig::default());
    for (i, key) in keys(40, 10).iter().enumerate() {
        us.bond(key, sa(&format!("9.9.9.{}:30303", i + 1)), sa(US));
    }
    let (all, fullest) = table_share(&us, "9.9.9");
    assert!(
        all <= 10 && fullest <= 2,
        "{all} in the table, {fullest} in one bucket"
    );
    assert!(all >= 5, "distinct buckets still take some: {all}");
}

/// Every datagram we send from now on for `secs` seconds of timers, decoded.
fn run(us: &mut Us, secs: u64) -> Vec<(SocketAddr, Message)> {
    let mut sent = Vec::new();
    let end = us.now + Duration::from_secs(secs);
    while us.now < end {
        us.now += Duration::from_millis(100);
        let now = us.now;
        us.d.handle_timeout(now, &mut us.rng);
        for t in us.sent() {
            if let Ok(p) = decode_packet(&t.bytes, UNIX) {
                sent.push((t.to, p.message));
            }
        }
    }
    sent
}

fn record(addr: &str, seed: u64) -> NodeRecord {
    NodeRecord {
        endpoint: endpoint(sa(addr)),
        id: NodeKey::generate(&mut StdRng::seed_from_u64(seed)).id(),
    }
}

/// A bonded node at `at` answers our lookup's FindNode with `records` (at most 16); returns
/// every datagram we send while the lookup runs.
fn lookup_answered_with(
    config: DriverConfig,
    at: SocketAddr,
    records: Vec<NodeRecord>,
) -> Vec<(SocketAddr, Message)> {
    let mut us = Us::new(config);
    let key = keys(1, 11).remove(0);
    us.bond(&key, at, sa(US));
    us.d.start_lookup(us.now, [3; 64]).unwrap();
    let find = us.sent().into_iter().find(|t| t.to == at);
    assert!(find.is_some(), "the lookup asks the bonded node");
    let neighbors = Message::Neighbors(Neighbors {
        nodes: records,
        expiration: UNIX + 60,
    });
    us.receive(&key, at, &neighbors);
    let mut sent: Vec<(SocketAddr, Message)> = us
        .sent()
        .into_iter()
        .filter_map(|t| Some((t.to, decode_packet(&t.bytes, UNIX).ok()?.message)))
        .collect();
    sent.extend(run(&mut us, 10));
    sent
}

fn pinged(sent: &[(SocketAddr, Message)]) -> Vec<SocketAddr> {
    sent.iter()
        .filter(|(_, m)| matches!(m, Message::Ping(_)))
        .map(|(to, _)| *to)
        .collect()
}

/// Records a public node relays that point at no node, at our host or network, or at a low
/// port are never pinged; the usable ones are.
#[test]
fn neighbors_cannot_aim_our_pings_anywhere() {
    let bad = [
        "8.8.1.8:0",
        "8.8.2.8:1000",
        "8.8.3.8:1024",
        "0.0.0.0:30303",
        "224.0.0.1:30303",
        "255.255.255.255:30303",
        "127.0.0.7:30303",
        "127.0.0.7:1000",
        "10.0.0.7:30303",
        "192.168.1.7:30303",
    ];
    let good = ["8.8.4.8:30303", "8.8.5.8:1025", "8.8.6.8:30303"];
    let records = bad
        .iter()
        .chain(&good)
        .enumerate()
        .map(|(i, a)| record(a, 100 + i as u64))
        .collect();
    let sent = lookup_answered_with(DriverConfig::default(), sa("5.5.5.5:30303"), records);
    let pinged = pinged(&sent);
    for b in bad {
        assert!(!pinged.contains(&sa(b)), "pinged {b}: {pinged:?}");
    }
    for g in good {
        assert!(pinged.contains(&sa(g)), "did not ping {g}: {pinged:?}");
    }
}

/// From a node on loopback, loopback records are fine (a test network on one host).
#[test]
fn loopback_nodes_may_relay_loopback_records() {
    let records = vec![
        record("127.0.0.7:30303", 200),
        record("10.0.0.7:30303", 201),
    ];
    let sent = lookup_answered_with(DriverConfig::default(), sa("127.0.0.2:30303"), records);
    let pinged = pinged(&sent);
    assert!(pinged.contains(&sa("127.0.0.7:30303")), "{pinged:?}");
    assert!(pinged.contains(&sa("10.0.0.7:30303")), "{pinged:?}");
}

/// With `net_restrict`, records elsewhere are not pinged and packets from elsewhere are not
/// answered.
#[test]
fn net_restrict_bounds_whom_discovery_contacts() {
    let config = || DriverConfig {
        net_restrict: Some(vec!["5.0.0.0/8".parse().unwrap()]),
        ..DriverConfig::default()
    };
    let records = vec![record("8.8.4.8:30303", 300), record("5.6.7.8:30303", 301)];
    let sent = lookup_answered_with(config(), sa("5.5.5.5:30303"), records);
    let pinged = pinged(&sent);
    assert!(!pinged.contains(&sa("8.8.4.8:30303")), "{pinged:?}");
    assert!(pinged.contains(&sa("5.6.7.8:30303")), "{pinged:?}");

    let mut us = Us::new(config());
    let key = keys(1, 12).remove(0);
    let outside = sa("9.9.9.9:30303");
    us.receive(&key, outside, &ping(outside, sa(US)));
    assert_eq!(
        us.sent(),
        vec![],
        "no Pong, no ping-back outside net_restrict"
    );
    us.d.resolve(us.now, key.id(), endpoint(outside));
    assert_eq!(us.sent(), vec![]);
    assert_eq!(us.events(), vec![DriverEvent::ResolveFailed(key.id())]);
}
