//! peerwire servers on turmoil's simulated hosts, through the same `Transport` the
//! scenarios use on simnet: a small network forms, and a seed replays it.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peerwire::crypto::{Enode, NodeKey};
use peerwire::net::Network;
use peerwire::protocol::Protocol;
use peerwire::server::{DiscoveryMode, PeerEvent, Server, ServerConfig};
use peerwire::wire::Capability;
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
    let boot = Enode::new(keys[0].id(), SocketAddr::new(ips[0], 30303));
    let peers = Arc::new(Mutex::new(vec![0usize; NODES]));
    let log = Arc::new(Mutex::new(Vec::new()));
    for i in 0..NODES {
        let (key, ip, seed) = (keys[i].clone(), ips[i], rng.gen::<u64>());
        let (peers, log, loss) = (peers.clone(), log.clone(), loss.clone());
        sim.host(ip, move || {
            let mut config = ServerConfig::new(key.clone());
            config.listen_addr = Some(SocketAddr::new(Ipv4Addr::UNSPECIFIED.into(), 30303));
            config.discovery.mode = DiscoveryMode::Always;
            config.discovery.external_ip = Some(ip);
            if i > 0 {
                config.discovery.bootnodes = vec![boot];
            }
            config.protocols = vec![Protocol::new(
                Capability::new("sim", 1),
                1,
                |_, mut rw| async move {
                    while rw.read_msg().await.is_ok() {}
                    Ok(())
                },
            )];
            config.network = Network::custom(SimNetwork::new(ip, loss.clone(), seed));
            config.rng_seed = Some(seed);
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
