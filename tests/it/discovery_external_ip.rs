//! Learning our external IP over real sockets: a node that advertises an address nobody sees
//! it at (its fallback IP) and is pinged by nodes on several 127.0.0.x addresses. Their Pongs
//! say where they see it (127.0.0.1); once enough agree, its record moves there, with a higher
//! `seq` and a fresh signature, and nodes that ask for its record (ENRRequest) get that one.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use peerwire::crypto::Enode;
use peerwire::discovery::v4::{DiscoveryEvent, Discv4Handle, ServiceConfig};

use crate::support::*;

/// Every wait here ends within this (it takes well under a second).
const BOUND: Duration = Duration::from_secs(8);
/// Where the node claims to be at first: a documentation address (RFC 5737), unreachable.
const WRONG: IpAddr = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
/// Nodes that must agree (the default, 10, would need ten peers).
const STATEMENTS: usize = 3;

async fn node(ip: &str, bootnodes: Vec<Enode>) -> Discv4Handle {
    init_logs();
    let bind: SocketAddr = format!("{ip}:0").parse().unwrap();
    Discv4Handle::spawn(ServiceConfig {
        driver: peerwire::discovery::v4::DriverConfig {
            bootnodes,
            ..Default::default()
        },
        ..ServiceConfig::new(key(), bind, 0)
    })
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pong_statements_move_our_record_to_the_address_peers_see() {
    let mut c = ServiceConfig::new(key(), "127.0.0.1:0".parse().unwrap(), 0);
    c.fallback_ip = Some(WRONG);
    c.driver.ip_min_statements = STATEMENTS;
    let ours = Discv4Handle::spawn(c).await.unwrap();
    let before = ours.local_enr();
    assert_eq!(before.ip4().map(IpAddr::V4), Some(WRONG));
    assert_eq!(ours.local_enode().ip, WRONG);
    let mut events = ours.events();

    // They reach it at its real address, not at the one it advertises.
    let reachable = Enode::new(ours.local_enode().id, ours.local_addr());
    let mut peers = Vec::new();
    for i in 2..2 + STATEMENTS + 1 {
        peers.push(node(&format!("127.0.0.{i}"), vec![reachable]).await);
    }

    let changed = tokio::time::timeout(BOUND, async {
        loop {
            if let Ok(DiscoveryEvent::EndpointChanged(enode)) = events.recv().await {
                return enode;
            }
        }
    })
    .await
    .expect("the endpoint is learned");
    let localhost = IpAddr::V4(Ipv4Addr::LOCALHOST);
    assert_eq!(changed.ip, localhost);
    assert_eq!(changed.udp_port, ours.local_addr().port());
    assert_eq!(ours.local_enode(), changed);

    let after = ours.local_enr();
    assert_eq!(after.ip4().map(IpAddr::V4), Some(localhost));
    assert_eq!(after.udp4(), Some(ours.local_addr().port()));
    assert!(
        after.seq() > before.seq(),
        "seq {} -> {}",
        before.seq(),
        after.seq()
    );
    assert!(after.verify(), "re-signed");

    // A peer asking for the record now gets the new one. An ENRRequest it sent before the
    // change (its bond prompts one) may still be answered with the old record, so it asks
    // until the answer is the record as it is now.
    let fetched = tokio::time::timeout(BOUND, async {
        loop {
            match peers[0].resolve(reachable).await {
                Ok(record) if record.seq() == after.seq() => return record,
                _ => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    })
    .await
    .expect("the new record is served");
    assert_eq!(fetched.seq(), after.seq());
    assert_eq!(fetched.ip4().map(IpAddr::V4), Some(localhost));
    assert!(fetched.verify());
    println!(
        "record moved from {WRONG} to {localhost} (seq {} -> {}) after {STATEMENTS} agreeing Pongs",
        before.seq(),
        after.seq()
    );
}
