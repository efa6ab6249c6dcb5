//! The router without IO: networks of routers wired together in memory, on a virtual clock.

use std::collections::{HashMap, HashSet, VecDeque};
use std::time::{Duration, Instant};

use bytes::Bytes;
use peerwire::crypto::{NodeId, NodeKey};

use super::*;
use crate::config::Config;
use crate::wire::{encode_gossip, encode_graft, encode_ihave};

const UNIX_NOW: Duration = Duration::from_secs(1_700_000_000);

fn accept_all(_: &Message) -> Verdict {
    Verdict::Accept
}

/// Routers and the links between them; messages cross a link in order, one at a time.
struct Net {
    routers: Vec<Router>,
    ids: Vec<NodeId>,
    index: HashMap<NodeId, usize>,
    in_flight: VecDeque<(usize, usize, u64, Bytes)>,
    /// Links (from, to) whose queue is full: transmits are handed back as skipped.
    full: HashSet<(usize, usize)>,
    now: Instant,
    delivered: Vec<Vec<Delivery>>,
    penalties: Vec<(usize, NodeId, PenaltyReason)>,
    validators: Vec<fn(&Message) -> Verdict>,
}

impl Net {
    fn new(n: usize, config: &Config) -> Self {
        let now = Instant::now();
        let keys: Vec<NodeKey> = (0..n).map(|_| NodeKey::random()).collect();
        let ids: Vec<NodeId> = keys.iter().map(NodeKey::id).collect();
        Self {
            routers: keys
                .into_iter()
                .map(|k| Router::new(k, config.clone(), now, UNIX_NOW))
                .collect(),
            index: ids.iter().enumerate().map(|(i, id)| (*id, i)).collect(),
            ids,
            in_flight: VecDeque::new(),
            full: HashSet::new(),
            now,
            delivered: vec![Vec::new(); n],
            penalties: Vec::new(),
            validators: vec![accept_all; n],
        }
    }

    fn link(&mut self, a: usize, b: usize) {
        let (ida, idb) = (self.ids[a], self.ids[b]);
        self.routers[a].handle_peer_up(idb, self.now);
        self.routers[b].handle_peer_up(ida, self.now);
    }

    fn unlink(&mut self, a: usize, b: usize) {
        let (ida, idb) = (self.ids[a], self.ids[b]);
        self.routers[a].handle_peer_down(&idb);
        self.routers[b].handle_peer_down(&ida);
        self.in_flight
            .retain(|(f, t, ..)| !((*f, *t) == (a, b) || (*f, *t) == (b, a)));
    }

    /// A ring with a chord from every node to the one `n / 3` further on: degree 4, not
    /// complete, diameter well above 1.
    fn ring_with_chords(n: usize, config: &Config) -> Self {
        let mut net = Self::new(n, config);
        for i in 0..n {
            net.link(i, (i + 1) % n);
            net.link(i, (i + n / 3) % n);
        }
        net
    }

    fn publish(&mut self, at: usize, data: &'static [u8]) -> MessageId {
        let id = self.routers[at]
            .publish("t", Bytes::from_static(data), self.now)
            .unwrap();
        self.pump(at);
        id
    }

    /// Takes node `i`'s outputs.
    fn pump(&mut self, i: usize) {
        while let Some(t) = self.routers[i].poll_transmit() {
            let to = self.index[&t.to];
            if self.full.contains(&(i, to)) {
                self.routers[i].handle_skipped(t, self.now);
            } else {
                self.in_flight.push_back((i, to, t.code, t.payload));
            }
        }
        while let Some(e) = self.routers[i].poll_event() {
            match e {
                RouterEvent::Deliver(d) => self.delivered[i].push(d),
                RouterEvent::Penalty { peer, reason, .. } => self.penalties.push((i, peer, reason)),
            }
        }
    }

    /// Runs until nothing is in flight and no timer is due within `for_`.
    fn run(&mut self, for_: Duration) {
        let end = self.now + for_;
        loop {
            while let Some((from, to, code, payload)) = self.in_flight.pop_front() {
                let validator = self.validators[to];
                self.routers[to]
                    .handle_message(self.ids[from], code, &payload, self.now, &validator)
                    .unwrap();
                self.pump(to);
            }
            let next = self.routers.iter().filter_map(Router::poll_timeout).min();
            match next {
                Some(t) if t <= end => {
                    self.now = self.now.max(t);
                    for i in 0..self.routers.len() {
                        self.routers[i].handle_timeout(self.now);
                        self.pump(i);
                    }
                }
                _ => break,
            }
        }
        self.now = self.now.max(end);
    }

    fn received(&self, id: MessageId) -> usize {
        self.delivered
            .iter()
            .filter(|d| d.iter().any(|d| d.id == id))
            .count()
    }

    fn gossip_received(&self) -> u64 {
        self.routers.iter().map(|r| r.stats().gossip_received).sum()
    }
}

#[test]
fn a_publish_reaches_every_node_once_and_then_about_one_copy_per_node() {
    let n = 30;
    let mut net = Net::ring_with_chords(n, &Config::default());
    let first = net.publish(0, b"first");
    net.run(Duration::from_secs(1));
    assert_eq!(net.received(first), n - 1, "everyone but the origin");
    for d in &net.delivered {
        assert!(
            d.iter().filter(|d| d.id == first).count() <= 1,
            "delivered once"
        );
    }
    // The first message floods: every link carries it at least one way.
    let flood = net.gossip_received();
    assert!(flood as usize >= 2 * n - 1, "flooded: {flood}");

    // Later messages, from several origins, follow the tree.
    let before = net.gossip_received();
    let mut ids = Vec::new();
    for (k, origin) in [3, 17, 9, 26, 0, 12, 21, 5, 14, 29].into_iter().enumerate() {
        ids.push(net.publish(origin, if k % 2 == 0 { b"even" } else { b"odd" }));
        net.run(Duration::from_secs(1));
    }
    for id in &ids {
        assert_eq!(net.received(*id), n - 1);
    }
    let copies = (net.gossip_received() - before) as f64 / (ids.len() * (n - 1)) as f64;
    assert!(
        copies <= 1.1,
        "copies per node per message once the tree formed: {copies:.2} (flooding: 2)"
    );
}

#[test]
fn flooding_prunes_nothing_and_costs_about_the_degree_in_copies() {
    let n = 30;
    let config = Config {
        flood: true,
        ..Config::default()
    };
    let mut net = Net::ring_with_chords(n, &config);
    net.publish(0, b"first");
    net.run(Duration::from_secs(1));
    let before = net.gossip_received();
    let mut ids = Vec::new();
    for origin in [3, 17, 9, 26, 0] {
        ids.push(net.publish(origin, b"again"));
        net.run(Duration::from_secs(1));
    }
    for id in &ids {
        assert_eq!(net.received(*id), n - 1);
    }
    let copies = (net.gossip_received() - before) as f64 / (ids.len() * (n - 1)) as f64;
    // Each node hears a message from every peer but the one it sent it on to first.
    assert!(
        copies >= 1.8,
        "copies per node per message when flooding: {copies:.2}"
    );
}

#[test]
fn hops_count_the_links_crossed() {
    // A line: 0 - 1 - 2 - 3.
    let mut net = Net::new(4, &Config::default());
    for i in 0..3 {
        net.link(i, i + 1);
    }
    let id = net.publish(0, b"x");
    net.run(Duration::from_secs(1));
    let hops: Vec<u8> = (1..4).map(|i| net.delivered[i][0].hops).collect();
    assert_eq!(hops, [1, 2, 3]);
    assert_eq!(net.delivered[3][0].id, id);
    assert_eq!(net.delivered[3][0].origin, net.ids[0]);
    assert_eq!(net.delivered[3][0].from, net.ids[2]);
}

#[test]
fn a_peer_whose_queue_is_full_is_skipped_and_grafts_the_message_later() {
    // A triangle 0-1-2 plus a tail 2-3: node 3 hangs off 2 alone.
    let mut net = Net::new(4, &Config::default());
    net.link(0, 1);
    net.link(1, 2);
    net.link(0, 2);
    net.link(2, 3);
    // Let the tree form.
    net.publish(0, b"warm-up");
    net.run(Duration::from_secs(1));
    // 2's queue to 3 is full: the eager push is skipped, not waited for.
    net.full.insert((2, 3));
    let id = net.publish(0, b"while 3 is slow");
    net.run(Duration::from_millis(10));
    assert!(net.delivered[3].iter().all(|d| d.id != id));
    assert!(net.routers[2].stats().skipped >= 1);
    // Its queue drains; the skipped message was announced and is grafted.
    net.full.clear();
    net.run(Duration::from_secs(2));
    assert_eq!(net.received(id), 3);
    assert!(net.routers[3].stats().grafts_sent >= 1);
    assert_eq!(
        net.routers[2].stats().grafts_answered,
        net.routers[3].stats().grafts_sent
    );
}

#[test]
fn the_tree_heals_around_a_departed_node() {
    let n = 20;
    let mut net = Net::ring_with_chords(n, &Config::default());
    net.publish(0, b"warm-up");
    net.run(Duration::from_secs(1));
    // Take away the node of 0's eager peers with the most eager links of its own: the
    // nodes below it in the tree hear of the next message only by announcements.
    let gone = net.routers[0]
        .peers()
        .into_iter()
        .filter(|(_, eager)| *eager)
        .map(|(id, _)| net.index[&id])
        .max_by_key(|&i| net.routers[i].peers().iter().filter(|(_, e)| *e).count())
        .unwrap();
    let orphans = net.routers[gone].peers().iter().filter(|(_, e)| *e).count() - 1;
    assert!(orphans >= 1, "it had nodes below it");
    for other in 0..n {
        net.unlink(gone, other);
    }
    let grafts_before: u64 = net.routers.iter().map(|r| r.stats().grafts_sent).sum();
    let id = net.publish(0, b"after");
    net.run(Duration::from_secs(3));
    assert_eq!(
        net.received(id),
        n - 2,
        "every node but the origin and the departed"
    );
    let grafts: u64 = net.routers.iter().map(|r| r.stats().grafts_sent).sum();
    assert!(grafts > grafts_before, "repaired by grafts");
}

#[test]
fn a_rejected_message_is_not_relayed_and_penalises_the_sender_an_ignored_one_does_not() {
    // A line 0 - 1 - 2; node 1 rejects topic "bad", ignores topic "meh".
    let mut net = Net::new(3, &Config::default());
    net.link(0, 1);
    net.link(1, 2);
    net.validators[1] = |m| match m.topic.as_str() {
        "bad" => Verdict::Reject,
        "meh" => Verdict::Ignore,
        _ => Verdict::Accept,
    };
    for topic in ["bad", "meh", "ok"] {
        net.routers[0]
            .publish(topic, Bytes::from_static(b"x"), net.now)
            .unwrap();
        net.pump(0);
        net.run(Duration::from_secs(1));
    }
    let topics =
        |i: usize| -> Vec<String> { net.delivered[i].iter().map(|d| d.topic.clone()).collect() };
    assert_eq!(topics(1), ["ok"]);
    assert_eq!(topics(2), ["ok"], "neither bad nor meh relayed");
    assert_eq!(net.penalties.len(), 1);
    let (at, peer, reason) = &net.penalties[0];
    assert_eq!((*at, *peer), (1, net.ids[0]));
    assert!(matches!(reason, PenaltyReason::Rejected(_)));
    let stats = net.routers[1].stats();
    assert_eq!((stats.rejected, stats.ignored), (1, 1));
}

/// Node 1 hears from peers 0 and 2; both relay a message of origin `origin`.
fn pair() -> (Router, NodeId, NodeId, Instant) {
    let now = Instant::now();
    let mut r = Router::new(NodeKey::random(), Config::default(), now, UNIX_NOW);
    let (a, b) = (NodeKey::random().id(), NodeKey::random().id());
    r.handle_peer_up(a, now);
    r.handle_peer_up(b, now);
    (r, a, b, now)
}

fn signed_by(key: &NodeKey, origin: NodeId, time_ms: u64, data: &'static [u8]) -> Signed {
    let message = Message {
        origin,
        time_ms,
        topic: "t".into(),
        data: Bytes::from_static(data),
    };
    Signed::sign(message, key)
}

const NOW_MS: u64 = 1_700_000_000_000;

#[test]
fn a_forged_copy_is_penalised_and_does_not_shadow_the_genuine_one() {
    let (mut r, a, b, now) = pair();
    let origin = NodeKey::random();
    let forger = NodeKey::random();
    let forged = signed_by(&forger, origin.id(), NOW_MS, b"x");
    r.handle_message(a, GOSSIP, &encode_gossip(&forged, 2), now, &accept_all)
        .unwrap();
    assert!(matches!(
        r.poll_event(),
        Some(RouterEvent::Penalty { peer, reason: PenaltyReason::BadSignature, count: 1 }) if peer == a
    ));
    assert_eq!(r.poll_transmit().map(|t| t.to), None, "not relayed");
    // The same content, genuinely signed, from the other peer: delivered.
    let genuine = signed_by(&origin, origin.id(), NOW_MS, b"x");
    assert_eq!(genuine.id, forged.id);
    r.handle_message(b, GOSSIP, &encode_gossip(&genuine, 2), now, &accept_all)
        .unwrap();
    assert!(matches!(r.poll_event(), Some(RouterEvent::Deliver(d)) if d.origin == origin.id()));
    assert_eq!(r.stats().bad_signatures, 1);
}

#[test]
fn a_second_copy_prunes_its_link_and_a_graft_restores_it() {
    let (mut r, a, b, now) = pair();
    let origin = NodeKey::random();
    let m = signed_by(&origin, origin.id(), NOW_MS, b"x");
    r.handle_message(a, GOSSIP, &encode_gossip(&m, 1), now, &accept_all)
        .unwrap();
    // Relayed to b, eagerly.
    let t = r.poll_transmit().unwrap();
    assert_eq!((t.to, t.code), (b, GOSSIP));
    // b sends it too: a copy, so b's link is pruned.
    r.handle_message(b, GOSSIP, &encode_gossip(&m, 1), now, &accept_all)
        .unwrap();
    let t = r.poll_transmit().unwrap();
    assert_eq!((t.to, t.code), (b, PRUNE));
    assert_eq!(r.stats().duplicates, 1);
    assert!(r.peers().contains(&(b, false)));
    // b grafts it: answered, and eager again.
    r.handle_message(b, GRAFT, &encode_graft(&[m.id]), now, &accept_all)
        .unwrap();
    let t = r.poll_transmit().unwrap();
    assert_eq!((t.to, t.code), (b, GOSSIP));
    assert!(r.peers().contains(&(b, true)));
}

#[test]
fn stale_future_and_over_the_hop_limit_messages_are_ignored() {
    let (mut r, a, _, now) = pair();
    let origin = NodeKey::random();
    let skew = Config::default().limits.max_clock_skew.as_millis() as u64;
    for (time, hops) in [
        (NOW_MS - skew - 1, 1),
        (NOW_MS + skew + 1, 1),
        (NOW_MS, Config::default().limits.max_hops + 1),
    ] {
        let m = signed_by(&origin, origin.id(), time, b"x");
        r.handle_message(a, GOSSIP, &encode_gossip(&m, hops), now, &accept_all)
            .unwrap();
    }
    assert_eq!(r.poll_event(), None);
    assert!(r.poll_transmit().is_none());
    assert_eq!(r.stats().ignored, 3);
    // Within the skew it is fine.
    let m = signed_by(&origin, origin.id(), NOW_MS + skew - 1, b"x");
    r.handle_message(a, GOSSIP, &encode_gossip(&m, 1), now, &accept_all)
        .unwrap();
    assert!(matches!(r.poll_event(), Some(RouterEvent::Deliver(_))));
}

#[test]
fn caches_announcements_and_graft_answers_stay_within_their_bounds() {
    let mut config = Config::default();
    config.caches.seen_max = 50;
    config.caches.store_max = 20;
    config.caches.max_missing = 30;
    config.caches.max_lazy_queue = 10;
    config.peer.graft_bytes_burst = 1000;
    config.peer.graft_bytes_per_sec = 1;
    let now = Instant::now();
    let mut r = Router::new(NodeKey::random(), config, now, UNIX_NOW);
    let (a, b) = (NodeKey::random().id(), NodeKey::random().id());
    r.handle_peer_up(a, now);
    r.handle_peer_up(b, now);
    // b is lazy: it gets announcements, queued at most 10.
    r.handle_message(b, PRUNE, &wire::encode_prune(), now, &accept_all)
        .unwrap();
    let mut ids = Vec::new();
    for i in 0..100u32 {
        ids.push(
            r.publish("t", Bytes::from(i.to_be_bytes().to_vec()), now)
                .unwrap(),
        );
    }
    let (seen, stored, _) = r.cache_sizes();
    assert_eq!((seen, stored), (50, 20));
    while r.poll_transmit().is_some() {}
    r.handle_timeout(now + Duration::from_secs(1));
    let announced: usize = std::iter::from_fn(|| r.poll_transmit())
        .filter(|t| t.to == b && t.code == IHAVE)
        .map(|t| wire::decode_ihave(&t.payload).unwrap().len())
        .sum();
    assert_eq!(announced, 10, "the lazy queue holds 10");
    // a announces 256 × 2 unknown ids: at most 30 are waited for, and so grafted.
    for batch in 0..2u8 {
        let entries: Vec<(MessageId, u8)> = (0..=255u8)
            .map(|i| (MessageId([batch ^ i; 32].map(|x| x.wrapping_add(batch))), 1))
            .collect();
        r.handle_message(a, IHAVE, &encode_ihave(&entries), now, &accept_all)
            .unwrap();
    }
    r.handle_timeout(now + Duration::from_secs(2));
    let grafted: usize = std::iter::from_fn(|| r.poll_transmit())
        .filter(|t| t.code == GRAFT)
        .map(|t| wire::decode_graft(&t.payload).unwrap().len())
        .sum();
    assert_eq!(grafted, 30);
    // a grafts the 20 stored messages: the 1000-byte budget answers only some.
    let kept: Vec<MessageId> = ids[80..].to_vec();
    r.handle_message(a, GRAFT, &encode_graft(&kept), now, &accept_all)
        .unwrap();
    let answered = std::iter::from_fn(|| r.poll_transmit())
        .filter(|t| t.code == GOSSIP)
        .count();
    let size = 64 + 8 + 1 + 4 + 65 + 32;
    assert_eq!(answered, 1000 / size);
    assert_eq!(r.stats().grafts_refused, (20 - answered) as u64);
}

#[test]
fn publish_checks_its_limits_and_times_are_strictly_increasing() {
    let (mut r, _, _, now) = pair();
    let max = Config::default().limits.max_data;
    assert_eq!(
        r.publish("t", Bytes::from(vec![0; max + 1]), now),
        Err(PublishError::TooLarge(max + 1))
    );
    assert_eq!(
        r.publish(&"x".repeat(65), Bytes::new(), now),
        Err(PublishError::TopicTooLong(65))
    );
    // The same words twice in the same millisecond: two messages.
    let a = r.publish("t", Bytes::from_static(b"same"), now).unwrap();
    let b = r.publish("t", Bytes::from_static(b"same"), now).unwrap();
    assert_ne!(a, b);
}

#[test]
fn malformed_input_is_an_error_not_a_panic() {
    let (mut r, a, _, now) = pair();
    for code in [GOSSIP, IHAVE, GRAFT, PRUNE] {
        assert!(r
            .handle_message(a, code, &[0xc3, 0x01], now, &accept_all)
            .is_err());
    }
    // An unknown peer's messages are ignored.
    let stranger = NodeKey::random().id();
    r.handle_message(stranger, GRAFT, &encode_graft(&[]), now, &accept_all)
        .unwrap();
    assert!(r.poll_transmit().is_none());
}
