//! Two or more nodes exchanging datagrams in memory, on a clock the test advances.

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::discovery::v4::packet::MAX_PACKET_SIZE;
use crate::discovery::v4::table::BUCKET_SIZE;

const UNIX: u64 = 1_700_000_000;

struct Node {
    d: Discv4,
    addr: SocketAddr,
    key: NodeKey,
}

fn node(seed: u64, t0: Instant) -> Node {
    let mut rng = StdRng::seed_from_u64(seed);
    let key = NodeKey::generate(&mut rng);
    let addr: SocketAddr = format!("10.0.0.{seed}:30303").parse().unwrap();
    let local = LocalRecord::new(key.clone(), endpoint_of(addr, 30303)).unwrap();
    Node {
        d: Discv4::new(key.clone(), local, Discv4Config::default(), t0, UNIX),
        addr,
        key,
    }
}

/// What a node's queues held, in order.
#[derive(Debug, Default, PartialEq, Eq)]
struct Out {
    transmits: Vec<Transmit>,
    events: Vec<Discv4Event>,
}

impl Node {
    /// Drains both queues, as the calling contract asks after every input.
    fn out(&mut self) -> Out {
        let mut out = Out::default();
        while let Some(t) = self.d.poll_transmit() {
            out.transmits.push(t);
        }
        while let Some(e) = self.d.poll_event() {
            out.events.push(e);
        }
        out
    }

    /// Handles one datagram; returns what it produced.
    fn handle(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) -> Out {
        self.d.handle_packet(now, from, bytes);
        self.out()
    }

    /// Runs the timers; returns what they produced.
    fn timeout(&mut self, now: Instant, rng: &mut StdRng) -> Out {
        self.d.handle_timeout(now, rng);
        self.out()
    }
}

/// Delivers every transmit of `out` addressed to `to`; returns what `to` produced.
fn deliver(now: Instant, from: SocketAddr, out: &Out, to: &mut Node) -> Out {
    for t in out.transmits.iter().filter(|t| t.to == to.addr) {
        to.d.handle_packet(now, from, &t.bytes);
    }
    to.out()
}

/// A pings B and both sides answer until quiet; returns both nodes bonded.
fn bond(a: &mut Node, b: &mut Node, now: Instant) {
    a.d.ping(now, b.key.id(), b.addr).unwrap();
    let mut out = a.out();
    let mut a_turn = false;
    while !out.transmits.is_empty() {
        out = if a_turn {
            deliver(now, b.addr, &out, a)
        } else {
            deliver(now, a.addr, &out, b)
        };
        a_turn = !a_turn;
    }
}

fn raw(key: &NodeKey, msg: Message) -> Vec<u8> {
    packet::encode_packet(key, &msg).unwrap().bytes
}

#[test]
fn ping_pong_bonds_both_sides_and_fills_tables() {
    let t0 = Instant::now();
    let (mut a, mut b) = (node(1, t0), node(2, t0));
    a.d.ping(t0, b.key.id(), b.addr).unwrap();
    let ping = a.out();
    let reply = deliver(t0, a.addr, &ping, &mut b);
    // B has no proof for A yet: Pong, plus its own Ping (discv4.md, Ping).
    assert_eq!(reply.transmits.len(), 2);
    let back = deliver(t0, b.addr, &reply, &mut a);
    assert!(back
        .events
        .contains(&Discv4Event::Bonded(b.key.id(), b.addr)));
    assert!(a.d.is_bonded(t0, &b.key.id(), b.addr.ip()));
    assert_eq!(
        back.transmits.len(),
        1,
        "A is bonded already: only the Pong"
    );
    let done = deliver(t0, a.addr, &back, &mut b);
    assert!(done
        .events
        .contains(&Discv4Event::Bonded(a.key.id(), a.addr)));
    assert!(a.d.table().get(&b.key.id()).is_some());
    assert!(b.d.table().get(&a.key.id()).is_some());
}

#[test]
fn endpoint_proofs_expire_after_12_hours() {
    let t0 = Instant::now();
    let (mut a, mut b) = (node(1, t0), node(2, t0));
    bond(&mut a, &mut b, t0);
    let almost = t0 + Duration::from_secs(12 * 3600 - 1);
    assert!(a.d.is_bonded(almost, &b.key.id(), b.addr.ip()));
    let later = t0 + Duration::from_secs(12 * 3600);
    assert!(!a.d.is_bonded(later, &b.key.id(), b.addr.ip()));
    assert_eq!(
        a.d.find_node(later, b.key.id(), b.addr, [0; 64]),
        Err(RequestError::NotBonded)
    );
    // B's FindNode at that time finds A without a proof for B: nothing is sent back.
    let find = raw(
        &b.key,
        Message::FindNode(FindNode {
            target: [1; 64],
            // 12 hours after UNIX, plus the usual 20 s (further ahead is refused).
            expiration: UNIX + 12 * 3600 + 20,
        }),
    );
    let out = a.handle(later, b.addr, &find);
    assert!(out.transmits.is_empty());
    assert_eq!(a.d.stats().unbonded_queries, 1);
    // A proof is per IP: the same id from another address is not bonded.
    let elsewhere: SocketAddr = "10.9.9.9:30303".parse().unwrap();
    assert!(!a.d.is_bonded(t0, &b.key.id(), elsewhere.ip()));
}

#[test]
fn unbonded_senders_get_no_answer_larger_than_their_request() {
    let t0 = Instant::now();
    let mut a = node(1, t0);
    let c = node(3, t0);
    // Give A something to tell.
    for s in 10..40 {
        let k = NodeKey::generate(&mut StdRng::seed_from_u64(s));
        a.d.table.insert(t0, k.id(), endpoint_of(c.addr, 1));
    }
    let find = raw(
        &c.key,
        Message::FindNode(FindNode {
            target: [7; 64],
            expiration: UNIX + 60,
        }),
    );
    assert!(a.handle(t0, c.addr, &find).transmits.is_empty());
    let enr = raw(
        &c.key,
        Message::EnrRequest(EnrRequest {
            expiration: UNIX + 60,
        }),
    );
    assert!(a.handle(t0, c.addr, &enr).transmits.is_empty());
    assert_eq!(a.d.stats().unbonded_queries, 2);

    // A Ping is answered with Pong (+ one Ping to start the proof), and a repeated Ping while
    // that proof is pending gets the Pong alone.
    let ping = raw(
        &c.key,
        Message::Ping(Ping {
            version: PROTOCOL_VERSION,
            from: endpoint_of(c.addr, 0),
            to: endpoint_of(a.addr, 0),
            expiration: UNIX + 60,
            enr_seq: None,
        }),
    );
    assert_eq!(a.handle(t0, c.addr, &ping).transmits.len(), 2);
    assert_eq!(a.handle(t0, c.addr, &ping).transmits.len(), 1);
}

#[test]
fn bonded_find_node_gets_16_neighbors_in_two_packets() {
    let t0 = Instant::now();
    let (mut a, mut b) = (node(1, t0), node(2, t0));
    bond(&mut a, &mut b, t0);
    for s in 10..40 {
        let k = NodeKey::generate(&mut StdRng::seed_from_u64(s));
        // Full-length IPv6 addresses (the largest records), one /64 each: the table keeps
        // at most two nodes of one /64 in a bucket.
        let addr = format!("[2001:db8:{s:x}::1]:30303").parse().unwrap();
        b.d.table.insert(t0, k.id(), endpoint_of(addr, 30303));
    }
    a.d.find_node(t0, b.key.id(), b.addr, [9; 64]).unwrap();
    let find = a.out();
    let reply = deliver(t0, a.addr, &find, &mut b);
    assert_eq!(reply.transmits.len(), 2);
    assert!(reply
        .transmits
        .iter()
        .all(|t| t.bytes.len() <= MAX_PACKET_SIZE));
    let got = deliver(t0, b.addr, &reply, &mut a);
    let [Discv4Event::Neighbors(from, nodes)] = &got.events[..] else {
        panic!("{:?}", got.events)
    };
    assert_eq!((*from, nodes.len()), (b.key.id(), BUCKET_SIZE));
    // A second copy is no longer expected.
    deliver(t0, b.addr, &reply, &mut a);
    assert_eq!(a.d.stats().unsolicited, 2);
}

#[test]
fn a_public_requester_is_not_told_of_loopback_or_lan_nodes() {
    let t0 = Instant::now();
    let (mut a, mut b) = (node(1, t0), node(2, t0));
    // A asks from a public address; B holds nodes on loopback, on its LAN and public ones.
    a.addr = "1.2.3.4:30303".parse().unwrap();
    bond(&mut a, &mut b, t0);
    let hidden = ["127.0.0.5:30303", "192.168.1.5:30303", "10.1.2.3:30303"];
    let public = ["5.6.7.8:30303", "9.9.9.9:30303"];
    for (s, addr) in (50u64..).zip(hidden.iter().chain(&public)) {
        let k = NodeKey::generate(&mut StdRng::seed_from_u64(s));
        let addr: SocketAddr = addr.parse().unwrap();
        b.d.table.insert(t0, k.id(), endpoint_of(addr, 30303));
    }
    a.d.find_node(t0, b.key.id(), b.addr, [9; 64]).unwrap();
    let find = a.out();
    let reply = deliver(t0, a.addr, &find, &mut b);
    let ips: Vec<IpAddr> = reply
        .transmits
        .iter()
        .filter_map(
            |t| match packet::decode_packet(&t.bytes, UNIX).ok()?.message {
                Message::Neighbors(n) => Some(n.nodes),
                _ => None,
            },
        )
        .flatten()
        .map(|r| r.endpoint.ip)
        .collect();
    for addr in public {
        let ip = addr.parse::<SocketAddr>().unwrap().ip();
        assert!(ips.contains(&ip), "{ip} missing from {ips:?}");
    }
    assert!(
        ips.iter()
            .all(|ip| !ip.is_loopback() && !crate::util::ip::is_lan(*ip)),
        "a public requester was told of {ips:?}"
    );
}

#[test]
fn unsolicited_replies_are_dropped_and_counted() {
    let t0 = Instant::now();
    let mut a = node(1, t0);
    let c = node(3, t0);
    let pong = raw(
        &c.key,
        Message::Pong(Pong {
            to: endpoint_of(a.addr, 0),
            ping_hash: [0; 32],
            expiration: UNIX + 60,
            enr_seq: None,
        }),
    );
    let neighbors = raw(
        &c.key,
        Message::Neighbors(Neighbors {
            nodes: vec![],
            expiration: UNIX + 60,
        }),
    );
    for bytes in [&pong, &neighbors] {
        let out = a.handle(t0, c.addr, bytes);
        assert_eq!(out, Out::default());
    }
    // A Pong quoting an older ping than the most recent one is unsolicited too.
    a.d.ping(t0, c.key.id(), c.addr).unwrap();
    let first = a.out();
    // One second later, so the second ping (and its hash) differs.
    a.d.ping(t0 + Duration::from_secs(1), c.key.id(), c.addr)
        .unwrap();
    let _second = a.out();
    let decoded = packet::decode_packet(&first.transmits[0].bytes, UNIX).unwrap();
    let stale = raw(
        &c.key,
        Message::Pong(Pong {
            to: endpoint_of(a.addr, 0),
            ping_hash: decoded.hash,
            expiration: UNIX + 60,
            enr_seq: None,
        }),
    );
    assert!(a.handle(t0, c.addr, &stale).events.is_empty());
    assert_eq!(a.d.stats().unsolicited, 3);
    assert!(!a.d.is_bonded(t0, &c.key.id(), c.addr.ip()));
}

#[test]
fn expired_packets_are_dropped() {
    let t0 = Instant::now();
    let (mut a, mut b) = (node(1, t0), node(2, t0));
    a.d.ping(t0, b.key.id(), b.addr).unwrap();
    let ping = a.out();
    let late = t0 + Duration::from_secs(21);
    assert!(deliver(late, a.addr, &ping, &mut b).transmits.is_empty());
    assert_eq!(b.d.stats().invalid, 1);
}

#[test]
fn requests_time_out_and_dead_entries_are_revalidated_away() {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(0);
    let (mut a, mut b) = (node(1, t0), node(2, t0));
    bond(&mut a, &mut b, t0);
    assert_eq!(a.d.poll_timeout(), t0 + Duration::from_secs(10));

    // Revalidation pings B, which no longer answers.
    let t1 = a.d.poll_timeout();
    let out = a.timeout(t1, &mut rng);
    assert_eq!(out.transmits.len(), 1);
    assert_eq!(out.transmits[0].to, b.addr);
    let t2 = a.d.poll_timeout();
    assert_eq!(t2, t1 + Duration::from_millis(500));
    let out = a.timeout(t2, &mut rng);
    assert_eq!(
        out.events,
        vec![Discv4Event::Timeout(b.key.id(), b.addr, RequestKind::Ping)]
    );
    assert!(a.d.table().get(&b.key.id()).is_none());
}

#[test]
fn enr_request_returns_the_senders_current_record() {
    let t0 = Instant::now();
    let (mut a, mut b) = (node(1, t0), node(2, t0));
    bond(&mut a, &mut b, t0);
    a.d.request_enr(t0, b.key.id(), b.addr).unwrap();
    let req = a.out();
    let resp = deliver(t0, a.addr, &req, &mut b);
    let got = deliver(t0, b.addr, &resp, &mut a);
    let [Discv4Event::Record(id, record)] = &got.events[..] else {
        panic!("{:?}", got.events)
    };
    assert_eq!(*id, b.key.id());
    assert_eq!(record.as_ref(), b.d.local.record());
}

mod hostile;
