//! peerwire servers on turmoil's simulated hosts, through the same `Transport` the
//! scenarios use on simnet: a small network forms, and a seed replays it.

use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peerwire::crypto::{Enode, NodeKey};
use peerwire::net::Network;
use peerwire::server::{PeerEvent, Server};
use peerwire_sim::node::{NodeSpec, PORT};
use peerwire_sim::topology::Topology;
use peerwire_sim::turmoil_net::SimNetwork;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

const NODES: usize = 10;

/// Runs `NODES` servers through one bootnode for 30 simulated seconds; returns each
/// node's peers at the end and the log of peer events.
fn run(seed: u64) -> (Vec<usize>, Vec<String>) {
    let mut sim = turmoil::Builder::new()
        .rng_seed(seed)
        .simulation_duration(Duration::from_secs(60))
        .min_message_latency(Duration::from_millis(10))
        .max_message_latency(Duration::from_millis(40))
        .build();
    let loss: Arc<Topology> = Arc::new(Topology::internet(1, 0.01));
    let mut rng = StdRng::seed_from_u64(seed);
    let keys: Vec<NodeKey> = (0..NODES).map(|_| NodeKey::generate(&mut rng)).collect();
    let ips: Vec<IpAddr> = (0..NODES).map(|i| Topology::address(0, i)).collect();
    let boot = Enode::new(keys[0].id(), SocketAddr::new(ips[0], PORT));
    let peers = Arc::new(Mutex::new(vec![0usize; NODES]));
    let log = Arc::new(Mutex::new(Vec::new()));
    for i in 0..NODES {
        let spec = NodeSpec {
            index: i,
            key: keys[i].clone(),
            ip: ips[i],
            bootnodes: if i > 0 { vec![boot] } else { vec![] },
            static_peers: vec![],
            seed: rng.gen(),
            // `ServerConfig`'s default.
            max_peers: 50,
            gossip: None,
        };
        let (peers, log, loss) = (peers.clone(), log.clone(), loss.clone());
        sim.host(spec.ip, move || {
            let network = SimNetwork::new(spec.ip, loss.clone(), spec.seed);
            let config = spec.config(Network::custom(network));
            let (peers, log) = (peers.clone(), log.clone());
            async move {
                let server = Server::start(config).await?;
                let mut events = server.events();
                while let Ok(event) = events.recv().await {
                    let line = match event {
                        PeerEvent::Added(info) => format!("{i} up {}", info.id.short()),
                        PeerEvent::Dropped { id, .. } => format!("{i} down {}", id.short()),
                        _ => continue,
                    };
                    let t = turmoil::elapsed().as_millis();
                    log.lock().unwrap().push(format!("{t} {line}"));
                    peers.lock().unwrap()[i] = server.peer_count();
                }
                Ok(())
            }
        });
    }
    for _ in 0..30_000 {
        sim.step().unwrap();
    }
    let peers = peers.lock().unwrap().clone();
    let log = log.lock().unwrap().clone();
    (peers, log)
}

#[test]
fn servers_on_turmoil_form_a_network_and_a_seed_replays_it() {
    let (peers, log) = run(1);
    assert!(
        peers.iter().all(|&n| n >= 3),
        "peers per node on turmoil: {peers:?}"
    );
    let (_, again) = run(1);
    assert_eq!(log, again, "two turmoil runs of seed 1 differ");
}
