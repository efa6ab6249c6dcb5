//! A loopback network found through one bootnode: 1 bootnode and 15 nodes on distinct
//! 127.0.0.x addresses, each given only the bootnode. Within 30 s every node must have at
//! least 10 others in its discovery table and 3 connected peers. Prints the time that took
//! and the UDP packets spent.

use std::time::{Duration, Instant};

use peerwire::server::{DiscoveryMode, ServerHandle};

use crate::support::*;

const NODES: usize = 15;

async fn node(i: usize, bootnodes: Vec<peerwire::crypto::Enode>) -> ServerHandle {
    let mut c = config(vec![idle("foo")]);
    c.listen_addr = Some(format!("127.0.0.{}:0", i + 1).parse().unwrap());
    // 4 dialed slots, 8 inbound: enough to connect to 3, few enough to stop dialing.
    c.max_peers = 12;
    c.discovery.bootnodes = bootnodes;
    c.discovery.mode = DiscoveryMode::Always;
    start(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sixteen_nodes_find_each_other_and_connect_through_one_bootnode() {
    let boot = node(0, vec![]).await;
    let boot_enode = boot.local_enode();
    let mut nodes = vec![boot];
    for i in 1..=NODES {
        nodes.push(node(i, vec![boot_enode]).await);
    }
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs(30);
    let (mut tables, mut peers);
    loop {
        tables = Vec::new();
        for n in &nodes {
            tables.push(n.discovery().unwrap().stats().await.unwrap().table_len);
        }
        peers = nodes.iter().map(|n| n.peer_count()).collect::<Vec<_>>();
        let done = tables.iter().all(|t| *t >= 10) && peers.iter().all(|p| *p >= 3);
        if done || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let elapsed = t0.elapsed();
    let (mut packets, mut lookups, mut depth, mut max_depth) = (0, 0, 0, 0);
    for n in &nodes {
        let s = n.discovery().unwrap().stats().await.unwrap();
        packets += s.packets_in + s.packets_out;
        lookups += s.lookups.lookups;
        depth += s.lookups.depth_sum;
        max_depth = max_depth.max(s.lookups.max_depth);
        assert_eq!(s.oversized, 0);
    }
    let secs = elapsed.as_secs_f64().max(0.001);
    println!(
        "discovery network: {} nodes, tables {tables:?}, peers {peers:?} after {:.2} s; \
         {packets} UDP packets ({:.0}/s, {:.0}/s per node); {lookups} lookups, mean depth \
         {:.2}, max {max_depth}",
        nodes.len(),
        secs,
        packets as f64 / secs,
        packets as f64 / secs / nodes.len() as f64,
        depth as f64 / lookups.max(1) as f64,
    );
    assert!(
        tables.iter().all(|t| *t >= 10),
        "tables after {elapsed:?}: {tables:?}"
    );
    assert!(
        peers.iter().all(|p| *p >= 3),
        "peers after {elapsed:?}: {peers:?}"
    );
    // Steady state: what the filled network spends per second.
    let before = packets;
    tokio::time::sleep(Duration::from_secs(5)).await;
    let mut after = 0;
    for n in &nodes {
        let s = n.discovery().unwrap().stats().await.unwrap();
        after += s.packets_in + s.packets_out;
    }
    println!(
        "steady state: {:.0} UDP packets/s ({:.1}/s per node)",
        (after - before) as f64 / 5.0,
        (after - before) as f64 / 5.0 / nodes.len() as f64
    );
    // The ENR of a node advertises its real address, and node_info agrees.
    let n = &nodes[3];
    let enr = n.discovery().unwrap().local_enr();
    let enode = n.node_info().enode;
    assert_eq!(enr.ip4().map(std::net::IpAddr::V4), Some(enode.ip));
    assert_eq!(enr.tcp4(), Some(enode.tcp_port));
    for n in &nodes {
        n.stop().await;
    }
}
