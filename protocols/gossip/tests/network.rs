//! gossip/1 between real servers on loopback: a sparse network of 24 where a publish
//! reaches everyone with about one copy per node, and direct messages to a node two hops
//! away found through discovery.

use std::time::{Duration, Instant};

use peerwire::crypto::{NodeId, NodeKey};
use peerwire::server::{DialError, DiscoveryMode, Server, ServerConfig, ServerHandle};
use peerwire_gossip::{Config, Delivery, Gossip, GossipEvent, Route, SendToError};
use tokio::sync::mpsc;

struct Node {
    server: ServerHandle,
    gossip: Gossip,
    events: mpsc::Receiver<GossipEvent>,
}

fn config(key: &NodeKey, gossip: &Gossip) -> ServerConfig {
    let mut config = ServerConfig::new(key.clone());
    config.listen_addr = Some("127.0.0.1:0".parse().unwrap());
    config.protocols = vec![gossip.protocol()];
    config
}

async fn node(tune: impl FnOnce(&mut ServerConfig), gossip_config: Config) -> Node {
    let key = NodeKey::generate(&mut rand::rngs::OsRng);
    let (gossip, events) = Gossip::new(key.clone(), gossip_config);
    let mut config = config(&key, &gossip);
    tune(&mut config);
    let server = Server::start(config).await.unwrap();
    Node {
        server,
        gossip,
        events,
    }
}

/// Waits up to `limit` for `cond`.
async fn eventually(limit: Duration, mut cond: impl FnMut() -> bool) {
    let wait = async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(limit, wait)
        .await
        .expect("condition in time");
}

/// The next delivery, within 5 s.
async fn next(sub: &mut mpsc::Receiver<Delivery>) -> Delivery {
    tokio::time::timeout(Duration::from_secs(5), sub.recv())
        .await
        .expect("a delivery within 5 s")
        .expect("subscribed")
}

/// 24 servers, each linked to its ring neighbours and to the node a third of the way
/// round (4 peers each, 48 links, not complete; about 4 hops across). The first message
/// floods the links and prunes the tree into shape; after it, 20 messages from 10 origins
/// reach all 23 other nodes once each, with about one whole copy received per node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_publish_reaches_every_node_of_a_sparse_network_with_about_one_copy_each() {
    const N: usize = 24;
    let mut nodes = Vec::new();
    for _ in 0..N {
        nodes.push(node(|c| c.max_peers = 10, Config::default()).await);
    }
    let enodes: Vec<_> = nodes.iter().map(|n| n.server.local_enode()).collect();
    let mut links = 0;
    for (i, node) in nodes.iter().enumerate() {
        for j in [(i + 1) % N, (i + N / 3) % N] {
            node.server.add_peer(enodes[j]);
            links += 1;
        }
    }
    eventually(Duration::from_secs(20), || {
        nodes.iter().all(|n| n.gossip.tree().len() == 4)
    })
    .await;
    let mut subs: Vec<_> = nodes.iter().map(|n| n.gossip.subscribe("t")).collect();

    let copies =
        |nodes: &[Node]| -> u64 { nodes.iter().map(|n| n.gossip.stats().gossip_received).sum() };
    let publish_and_collect = |at: usize, text: String, nodes: &[Node]| {
        let id = nodes[at].gossip.publish("t", text.into_bytes()).unwrap();
        (id, at)
    };

    // The first message: flooding, then pruning.
    let t0 = Instant::now();
    let (first, _) = publish_and_collect(0, "first".into(), &nodes);
    for (i, sub) in subs.iter_mut().enumerate().skip(1) {
        let d = next(sub).await;
        assert_eq!(
            (d.id, d.origin),
            (first, nodes[0].gossip.local_id()),
            "node {i}"
        );
    }
    let first_ms = t0.elapsed().as_millis();
    // Let the last copies and prunes settle.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let flood = copies(&nodes);

    const MESSAGES: usize = 20;
    let mut latencies = Vec::new();
    let mut hops = Vec::new();
    for k in 0..MESSAGES {
        let at = (k * 7) % N;
        let t0 = Instant::now();
        let (id, _) = publish_and_collect(at, format!("message {k}"), &nodes);
        for (i, sub) in subs.iter_mut().enumerate() {
            if i == at {
                continue;
            }
            let d = next(sub).await;
            assert_eq!(d.id, id, "node {i} gets message {k} next, once");
            assert_eq!(d.data, format!("message {k}").as_bytes());
            hops.push(d.hops);
        }
        latencies.push(t0.elapsed());
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    for sub in &mut subs {
        assert!(sub.try_recv().is_err(), "no message delivered twice");
    }
    let after = copies(&nodes) - flood;
    let per_node = after as f64 / (MESSAGES * (N - 1)) as f64;
    let ihave: u64 = nodes.iter().map(|n| n.gossip.stats().ihave_sent).sum();
    latencies.sort();
    eprintln!(
        "{N} nodes, {links} links: first message {flood} copies ({:.2} per node, flooding \
         would be 2 × links − (N − 1) = {}), reached all in {first_ms} ms; then {MESSAGES} \
         messages: {per_node:.3} copies per node per message, {:.2} ids announced per node \
         per message, max hops {}, latency p50 {:?} max {:?}",
        flood as f64 / (N - 1) as f64,
        2 * links - (N - 1),
        ihave as f64 / ((MESSAGES + 1) * (N - 1)) as f64,
        hops.iter().max().unwrap(),
        latencies[MESSAGES / 2],
        latencies[MESSAGES - 1],
    );
    assert!(
        per_node <= 1.5,
        "copies per node per message: {per_node:.3}"
    );
    for n in &nodes {
        n.server.stop().await;
    }
}

/// Node `a` and node `c` share only the bootnode `b`; each has one dialed slot, taken by
/// `b`, so neither dials the other. `a` finds `c` by id through discovery and dials it once,
/// in a one-shot slot; `c` gets the message from `a`; the session stays out of both trees
/// and closes when idle. A node with no inbound slot refuses; an unknown id is not found.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_to_reaches_a_node_two_hops_away_through_discovery() {
    let mut gossip_config = Config::default();
    gossip_config.direct.idle = Duration::from_millis(500);
    gossip_config.direct.lookup_timeout = Duration::from_secs(3);
    let b = node(
        |c| c.discovery.mode = DiscoveryMode::Always,
        gossip_config.clone(),
    )
    .await;
    let boot = b.server.local_enode();
    let leaf = |max_peers: usize| {
        move |c: &mut ServerConfig| {
            c.max_peers = max_peers;
            c.static_peers = vec![boot];
            c.discovery.bootnodes = vec![boot];
        }
    };
    let mut a = node(leaf(2), gossip_config.clone()).await;
    let mut c = node(leaf(2), gossip_config.clone()).await;
    // One slot only, the dialed one b holds: no room for anyone dialing in.
    let d = node(leaf(1), gossip_config.clone()).await;
    let (a_id, c_id, d_id) = (
        a.gossip.local_id(),
        c.gossip.local_id(),
        d.gossip.local_id(),
    );
    eventually(Duration::from_secs(10), || {
        [&a, &c, &d]
            .iter()
            .all(|n| n.gossip.peers() == vec![boot.id])
    })
    .await;
    // b's discovery table knows them all before a looks.
    let b_disc = b.server.discovery().unwrap().clone();
    tokio::time::timeout(Duration::from_secs(10), async {
        loop {
            let table = b_disc.table().await.unwrap();
            if [c_id, d_id]
                .iter()
                .all(|id| table.iter().any(|e| e.id == *id))
            {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await
    .expect("b's table fills");
    assert!(a.server.peer(&c_id).is_none(), "not connected");

    let route = a
        .gossip
        .send_to(&a.server, c_id, &b"psst"[..])
        .await
        .unwrap();
    assert_eq!(route, Route::Dialed);
    match tokio::time::timeout(Duration::from_secs(5), c.events.recv()).await {
        Ok(Some(GossipEvent::Direct { from, data })) => {
            assert_eq!((from, &data[..]), (a_id, &b"psst"[..]));
        }
        other => panic!("{other:?}"),
    }
    assert!(
        a.gossip.tree().iter().all(|(id, _)| *id != c_id),
        "not in a's tree"
    );
    assert!(
        c.gossip.tree().iter().all(|(id, _)| *id != a_id),
        "not in c's tree"
    );
    // Over the open session, a second message goes at once; c answers the same way.
    assert_eq!(
        a.gossip
            .send_to(&a.server, c_id, &b"again"[..])
            .await
            .unwrap(),
        Route::Connected
    );
    assert_eq!(
        c.gossip
            .send_to(&c.server, a_id, &b"hi a"[..])
            .await
            .unwrap(),
        Route::Connected
    );
    assert!(matches!(
        tokio::time::timeout(Duration::from_secs(5), a.events.recv()).await,
        Ok(Some(GossipEvent::Direct { from, .. })) if from == c_id
    ));
    // Idle: the session closes, and the one-shot slot with it.
    eventually(Duration::from_secs(5), || a.server.peer(&c_id).is_none()).await;
    assert_eq!(a.server.peer_count(), 1, "only b");

    // d has no inbound slot: it refuses a. The refusal reaches a as a Disconnect after
    // the Hello exchange, or, when d closes before a reads it, as a failed handshake (the
    // server then has no reason to report); either way a says the dial did not get in.
    match a.gossip.send_to(&a.server, d_id, &b"x"[..]).await {
        Err(SendToError::Refused {
            id,
            source: DialError::Rejected(_),
        })
        | Err(SendToError::Unreachable {
            id,
            source: DialError::Handshake,
        }) => assert_eq!(id, d_id),
        other => panic!(
            "want Refused, got {other:?}; d's peers {:?}; a sees d as {:?}",
            d.server
                .peers()
                .iter()
                .map(|p| (p.id().short(), p.info().direction))
                .collect::<Vec<_>>(),
            a.server.peer(&d_id).map(|p| p.info().direction)
        ),
    }
    assert!(d.server.peer(&a_id).is_none());
    // Nobody has this id.
    let nobody: NodeId = NodeKey::random().id();
    assert!(matches!(
        a.gossip.send_to(&a.server, nobody, &b"x"[..]).await,
        Err(SendToError::NotFound(id)) if id == nobody
    ));
    // Connected already: no lookup.
    assert_eq!(
        a.gossip
            .send_to(&a.server, boot.id, &b"hi b"[..])
            .await
            .unwrap(),
        Route::Connected
    );
    for n in [&a, &b, &c, &d] {
        n.server.stop().await;
    }
}
