//! Attacks on the table and the pending requests, on a clock the test advances: replayed
//! Pings, wrong endpoints, floods of unbonded Pings, far-future expirations, replays.

use super::*;

/// Past every reply deadline of a request sent at `t`.
fn after_timeout(t: Instant) -> Instant {
    t + Duration::from_secs(1)
}

/// A Ping `from` signs for `to` (what anyone it pings gets, and may replay elsewhere).
fn ping_of(from: &mut Node, now: Instant, to: &Node) -> Vec<u8> {
    from.d.ping(now, to.key.id(), to.addr).unwrap();
    let out = from.out();
    out.transmits[0].bytes.clone()
}

fn endpoint_in(n: &Node, id: &NodeId) -> Option<Endpoint> {
    n.d.table().get(id).map(|e| e.endpoint)
}

#[test]
fn a_replayed_ping_from_another_ip_does_not_evict_the_node() {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(0);
    let (mut a, mut h, mut m) = (node(1, t0), node(2, t0), node(66, t0));
    bond(&mut a, &mut h, t0);
    let at = endpoint_in(&a, &h.key.id()).unwrap();
    // H pings the attacker M, who replays that Ping to A from its own address.
    let replay = ping_of(&mut h, t0, &m);
    let out = a.handle(t0, m.addr, &replay);
    assert!(
        out.transmits.iter().all(|t| t.to == m.addr),
        "A answers where the packet came from"
    );
    let _ = m.out();
    // Nobody at M's address answers as H.
    a.timeout(after_timeout(t0), &mut rng);
    assert_eq!(
        endpoint_in(&a, &h.key.id()),
        Some(at),
        "H was evicted or moved by a Ping replayed from {}",
        m.addr
    );
}

#[test]
fn a_ping_to_another_endpoint_does_not_replace_the_one_in_flight() {
    let t0 = Instant::now();
    let (mut a, mut h) = (node(1, t0), node(2, t0));
    let elsewhere: SocketAddr = "10.0.0.99:30303".parse().unwrap();
    a.d.ping(t0, h.key.id(), h.addr).unwrap();
    let first = a.out();
    // A lookup learns of H at another endpoint and pings it there too.
    a.d.ping(t0, h.key.id(), elsewhere).unwrap();
    let _ = a.out();
    let reply = deliver(t0, a.addr, &first, &mut h);
    let got = deliver(t0, h.addr, &reply, &mut a);
    assert!(
        got.events
            .contains(&Discv4Event::Bonded(h.key.id(), h.addr)),
        "the Pong to the first Ping was not matched: {:?}, stats {:?}",
        got.events,
        a.d.stats()
    );
    assert_eq!(a.d.stats().unsolicited, 0);
}

#[test]
fn a_ping_from_the_nodes_ip_and_another_port_does_not_move_it() {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(0);
    let (mut a, mut h, m) = (node(1, t0), node(2, t0), node(66, t0));
    bond(&mut a, &mut h, t0);
    let at = endpoint_in(&a, &h.key.id()).unwrap();
    let replay = ping_of(&mut h, t0, &m);
    let other_port = SocketAddr::new(h.addr.ip(), 40000);
    a.handle(t0, other_port, &replay);
    assert_eq!(
        endpoint_in(&a, &h.key.id()),
        Some(at),
        "a Ping from {other_port} rewrote H's endpoint"
    );
    a.timeout(after_timeout(t0), &mut rng);
    assert_eq!(endpoint_in(&a, &h.key.id()), Some(at));
}

#[test]
fn an_endpoint_moves_once_a_pong_from_the_new_one_proves_it() {
    let t0 = Instant::now();
    let (mut a, mut h) = (node(1, t0), node(2, t0));
    bond(&mut a, &mut h, t0);
    // H restarts behind another port and pings A from there.
    let moved = SocketAddr::new(h.addr.ip(), 40000);
    let t1 = t0 + Duration::from_secs(2);
    let ping = ping_of(&mut h, t1, &a);
    let out = a.handle(t1, moved, &ping);
    assert_eq!(endpoint_in(&a, &h.key.id()).unwrap().udp_port, 30303);
    // A pings the new endpoint; H answers from there.
    let to_h: Vec<&Transmit> = out.transmits.iter().filter(|t| t.to == moved).collect();
    assert_eq!(to_h.len(), 2, "Pong and a Ping to prove {moved}");
    for t in to_h {
        h.d.handle_packet(t1, a.addr, &t.bytes);
    }
    let reply = h.out();
    for t in reply.transmits.iter().filter(|t| t.to == a.addr) {
        a.d.handle_packet(t1, moved, &t.bytes);
    }
    let _ = a.out();
    assert_eq!(endpoint_in(&a, &h.key.id()).unwrap().udp_port, 40000);
}

#[test]
fn a_pong_relayed_from_another_address_does_not_move_the_node() {
    let t0 = Instant::now();
    let (mut a, mut h) = (node(1, t0), node(2, t0));
    bond(&mut a, &mut h, t0);
    let at = endpoint_in(&a, &h.key.id()).unwrap();
    // The attacker makes A ping "H" at its own address (a replayed Ping or a Neighbors
    // record does that), then passes A's Ping on to H and H's Pong back to A.
    let relay = SocketAddr::from(([10, 0, 0, 66], 30303));
    let t1 = t0 + Duration::from_secs(2);
    a.d.ping_node(t1, h.key.id(), endpoint_of_addr(relay))
        .unwrap();
    let out = a.out();
    for t in out.transmits.iter().filter(|t| t.to == relay) {
        h.d.handle_packet(t1, relay, &t.bytes);
    }
    let reply = h.out();
    let pongs: Vec<&Transmit> = reply.transmits.iter().filter(|t| t.to == relay).collect();
    assert!(!pongs.is_empty(), "H answered the relayed Ping");
    for t in pongs {
        a.d.handle_packet(t1, relay, &t.bytes);
    }
    let _ = a.out();
    assert_eq!(
        endpoint_in(&a, &h.key.id()),
        Some(at),
        "a Pong relayed through {relay} moved H"
    );
    assert_eq!(a.d.stats().relayed_pongs, 1);
}

fn endpoint_of_addr(addr: SocketAddr) -> Endpoint {
    Endpoint {
        ip: addr.ip(),
        udp_port: addr.port(),
        tcp_port: addr.port(),
    }
}

#[test]
fn neighbors_naming_a_known_node_at_a_wrong_endpoint_do_not_evict_it() {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(0);
    let (mut a, mut h) = (node(1, t0), node(2, t0));
    bond(&mut a, &mut h, t0);
    let at = endpoint_in(&a, &h.key.id()).unwrap();
    // What a lookup does with a Neighbors record naming H at the attacker's endpoint.
    let wrong = Endpoint {
        ip: "10.0.0.66".parse().unwrap(),
        udp_port: 30303,
        tcp_port: 30303,
    };
    a.d.ping_node(t0, h.key.id(), wrong).unwrap();
    let _ = a.out();
    a.timeout(after_timeout(t0), &mut rng);
    assert_eq!(
        endpoint_in(&a, &h.key.id()),
        Some(at),
        "H was evicted after a failed Ping to {wrong:?}"
    );
}

/// A Ping from a fresh key, signed for `to`, expiring at `expiration`.
fn stranger_ping(seed: u64, to: &Node, expiration: u64) -> Vec<u8> {
    let key = NodeKey::generate(&mut StdRng::seed_from_u64(seed));
    raw(
        &key,
        Message::Ping(Ping {
            version: PROTOCOL_VERSION,
            from: endpoint_of("10.9.9.9:30303".parse().unwrap(), 0),
            to: endpoint_of(to.addr, 0),
            expiration,
            enr_seq: None,
        }),
    )
}

/// 300 throwaway keys ping A (each answered with Pong and a Ping nobody answers), from
/// `sources` distinct IPs.
fn flood(a: &mut Node, now: Instant, sources: u32) {
    for i in 0..300u32 {
        let ip = std::net::Ipv4Addr::from(0x0a01_0000 + i % sources);
        let from = SocketAddr::new(ip.into(), 30303);
        a.handle(now, from, &stranger_ping(1000 + u64::from(i), a, UNIX + 20));
    }
}

fn flood_leaves_room_for_our_requests_and_new_bonds(sources: u32) {
    let t0 = Instant::now();
    let (mut a, mut b, mut n) = (node(1, t0), node(2, t0), node(3, t0));
    bond(&mut a, &mut b, t0);
    flood(&mut a, t0, sources);
    // Our own lookup still goes out ...
    assert_eq!(
        a.d.find_node(t0, b.key.id(), b.addr, [5; 64]),
        Ok(()),
        "stats {:?}",
        a.d.stats()
    );
    let _ = a.out();
    // ... and a new node that pings us gets pinged back and bonds.
    n.d.ping(t0, a.key.id(), a.addr).unwrap();
    let mut out = n.out();
    let mut a_turn = true;
    while !out.transmits.is_empty() {
        out = if a_turn {
            deliver(t0, n.addr, &out, &mut a)
        } else {
            deliver(t0, a.addr, &out, &mut n)
        };
        a_turn = !a_turn;
    }
    assert!(
        a.d.is_bonded(t0, &n.key.id(), n.addr.ip()),
        "A never pinged the new node back"
    );
    assert!(a.d.table().get(&n.key.id()).is_some());
}

#[test]
fn unbonded_pings_from_one_ip_do_not_starve_our_requests() {
    flood_leaves_room_for_our_requests_and_new_bonds(1);
}

#[test]
fn unbonded_pings_from_many_ips_do_not_starve_our_requests() {
    flood_leaves_room_for_our_requests_and_new_bonds(300);
}
#[test]
fn a_ping_expiring_far_in_the_future_is_dropped() {
    let t0 = Instant::now();
    let mut a = node(1, t0);
    let c: SocketAddr = "10.0.0.3:30303".parse().unwrap();
    let out = a.handle(t0, c, &stranger_ping(7, &a, 1 << 63));
    assert!(
        out.transmits.is_empty(),
        "answered with {} datagrams",
        out.transmits.len()
    );
    assert_eq!(a.d.stats().invalid, 1);
    // A little too far: two minutes and a second.
    let out = a.handle(t0, c, &stranger_ping(9, &a, UNIX + 121));
    assert!(out.transmits.is_empty());
    assert_eq!(a.d.stats().far_future, 2);
    // What senders put there (now + 20 s: go-ethereum and us; now + 60 s: ethereumjs) is
    // fine, even from a clock a minute ahead.
    for (seed, expiration) in [(8, UNIX + 20), (10, UNIX + 60), (11, UNIX + 120)] {
        let out = a.handle(t0, c, &stranger_ping(seed, &a, expiration));
        assert!(!out.transmits.is_empty(), "{} s ahead", expiration - UNIX);
    }
}

#[test]
fn the_same_packet_twice_is_dropped_before_the_signature_check() {
    let t0 = Instant::now();
    let mut a = node(1, t0);
    let c: SocketAddr = "10.0.0.3:30303".parse().unwrap();
    let ping = stranger_ping(7, &a, UNIX + 20);
    assert_eq!(a.handle(t0, c, &ping).transmits.len(), 2);
    assert_eq!(a.d.stats().signatures_checked, 1);
    let t1 = t0 + Duration::from_millis(100);
    for i in 4..10 {
        let elsewhere = SocketAddr::new([10, 0, 0, i].into(), 30303);
        let out = a.handle(t1, elsewhere, &ping);
        assert!(
            out.transmits.is_empty(),
            "a replay from {elsewhere} was answered"
        );
    }
    // From where it came first, it may be a retransmission: the Pong goes out again
    // (the Ping back is in flight already), with no second signature check.
    assert_eq!(a.handle(t1, c, &ping).transmits.len(), 1);
    let stats = a.d.stats();
    assert_eq!((stats.replayed, stats.signatures_checked), (6, 1));
    // Once it expired, it is refused as expired, still without a signature check.
    a.handle(t0 + Duration::from_secs(30), c, &ping);
    assert_eq!(a.d.stats().signatures_checked, 1);
}

#[test]
fn an_enr_response_nobody_asked_for_is_dropped_before_its_signature_check() {
    let t0 = Instant::now();
    let (mut a, mut b) = (node(1, t0), node(2, t0));
    bond(&mut a, &mut b, t0);
    let checked = a.d.stats().signatures_checked;
    let response = |hash| {
        raw(
            &b.key,
            Message::EnrResponse(EnrResponse {
                request_hash: hash,
                record: b.d.local_record().record().clone(),
            }),
        )
    };
    let out = a.handle(t0, b.addr, &response([9; 32]));
    assert_eq!(out, Out::default());
    assert_eq!(a.d.stats().unsolicited, 1);
    assert_eq!(a.d.stats().signatures_checked, checked);
    // The one asked for is checked and taken.
    a.d.request_enr(t0, b.key.id(), b.addr).unwrap();
    let req = a.out();
    let hash = packet::decode_packet(&req.transmits[0].bytes, UNIX)
        .unwrap()
        .hash;
    // From another address it is not the answer either.
    let elsewhere: SocketAddr = "10.0.0.9:30303".parse().unwrap();
    a.handle(t0, elsewhere, &response(hash));
    assert_eq!(a.d.stats().signatures_checked, checked);
    let got = a.handle(t0, b.addr, &response(hash));
    assert!(matches!(&got.events[..], [Discv4Event::Record(id, _)] if *id == b.key.id()));
    assert_eq!(a.d.stats().signatures_checked, checked + 1);
}
