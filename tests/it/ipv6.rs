//! IPv6 end to end over real sockets: sessions and discovery on `::1`, and a dual-stack node
//! (listening on `[::]`) reached over IPv4 and IPv6 at once.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use peerwire::crypto::Enode;
use peerwire::server::{DiscoveryMode, ServerHandle};

use crate::support::*;

async fn node(listen: &str, bootnodes: Vec<Enode>) -> ServerHandle {
    let mut c = config(vec![idle("foo")]);
    c.listen_addr = Some(listen.parse().unwrap());
    c.discovery.bootnodes = bootnodes;
    c.discovery.mode = DiscoveryMode::Always;
    start(c).await
}

/// Waits up to 10 s for `cond` over every node's discovery table size and peer count.
async fn until(
    nodes: &[&ServerHandle],
    cond: impl Fn(usize, usize) -> bool,
) -> Vec<(usize, usize)> {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    loop {
        let mut seen = Vec::new();
        for n in nodes {
            let table = n.discovery().unwrap().stats().await.unwrap().table_len;
            seen.push((table, n.peer_count()));
        }
        if seen.iter().all(|(t, p)| cond(*t, *p)) || tokio::time::Instant::now() > deadline {
            return seen;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sessions_and_discovery_run_over_ipv6_loopback() {
    let boot = node("[::1]:0", vec![]).await;
    let boot_enode = boot.local_enode();
    assert_eq!(boot_enode.ip, IpAddr::V6(Ipv6Addr::LOCALHOST));
    let a = node("[::1]:0", vec![boot_enode]).await;
    let b = node("[::1]:0", vec![boot_enode]).await;
    let seen = until(&[&boot, &a, &b], |t, p| t >= 2 && p >= 2).await;
    assert!(
        seen.iter().all(|(t, p)| *t >= 2 && *p >= 2),
        "tables and peers: {seen:?}"
    );
    // a and b learned of each other through the bootnode, over IPv6 only.
    for p in a.peers() {
        assert!(p.remote_addr().is_ipv6(), "{}", p.remote_addr());
    }
    let enr = a.discovery().unwrap().local_enr();
    assert_eq!(enr.ip6(), Some(Ipv6Addr::LOCALHOST));
    assert_eq!(enr.ip4(), None);
    assert_eq!(enr.tcp6(), Some(a.listen_addr().unwrap().port()));
    assert!(enr.udp6().is_some());
    for n in [a, b, boot] {
        n.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dual_stack_node_is_reached_over_ipv4_and_ipv6() {
    let dual = node("[::]:0", vec![]).await;
    let port = dual.listen_addr().unwrap().port();
    let id = dual.local_enode().id;
    let over_v4 = Enode::new(id, SocketAddr::from((Ipv4Addr::LOCALHOST, port)));
    let over_v6 = Enode::new(id, SocketAddr::from((Ipv6Addr::LOCALHOST, port)));
    let v4 = node("127.0.0.1:0", vec![over_v4]).await;
    let v6 = node("[::1]:0", vec![over_v6]).await;
    let seen = until(&[&dual, &v4, &v6], |t, p| t >= 1 && p >= 1).await;
    let dual_peers = dual.peers();
    let addrs: Vec<SocketAddr> = dual_peers.iter().map(|p| p.remote_addr()).collect();
    assert!(
        addrs
            .iter()
            .any(|a| a.ip() == IpAddr::V4(Ipv4Addr::LOCALHOST))
            && addrs
                .iter()
                .any(|a| a.ip() == IpAddr::V6(Ipv6Addr::LOCALHOST)),
        "the dual-stack node's peers {addrs:?} (tables and peers {seen:?})"
    );
    // Discovery too: the dual-stack node bonded with both, each over its own family, and
    // stores the IPv4 one as IPv4 (not as an IPv4-mapped IPv6 address).
    let table = dual.discovery().unwrap().table().await.unwrap();
    let v4_id = v4.local_enode().id;
    let v6_id = v6.local_enode().id;
    let find = |id| table.iter().find(|e| e.id == id).map(|e| e.ip);
    assert_eq!(
        find(v4_id),
        Some(IpAddr::V4(Ipv4Addr::LOCALHOST)),
        "{table:?}"
    );
    assert_eq!(
        find(v6_id),
        Some(IpAddr::V6(Ipv6Addr::LOCALHOST)),
        "{table:?}"
    );
    for n in [v4, v6, dual] {
        n.stop().await;
    }
}

/// With discv5 on the shared socket of a `[::]` bind, discv4 still serves both families.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dual_stack_node_with_discv5_serves_discv4_over_both_families() {
    let mut c = config(vec![idle("foo")]);
    c.listen_addr = Some("[::]:0".parse().unwrap());
    c.discovery.mode = DiscoveryMode::Always;
    c.discovery.v5.enabled = true;
    let dual = start(c).await;
    assert!(dual.discv5().is_some());
    let port = dual.listen_addr().unwrap().port();
    let id = dual.local_enode().id;
    let v4 = node(
        "127.0.0.1:0",
        vec![Enode::new(
            id,
            SocketAddr::from((Ipv4Addr::LOCALHOST, port)),
        )],
    )
    .await;
    let v6 = node(
        "[::1]:0",
        vec![Enode::new(
            id,
            SocketAddr::from((Ipv6Addr::LOCALHOST, port)),
        )],
    )
    .await;
    let seen = until(&[&dual, &v4, &v6], |t, p| t >= 1 && p >= 1).await;
    let table = dual.discovery().unwrap().table().await.unwrap();
    let ips: Vec<IpAddr> = table.iter().map(|e| e.ip).collect();
    assert!(
        ips.contains(&IpAddr::V4(Ipv4Addr::LOCALHOST))
            && ips.contains(&IpAddr::V6(Ipv6Addr::LOCALHOST)),
        "the dual-stack node's table {table:?} (tables and peers {seen:?})"
    );
    for n in [v4, v6, dual] {
        n.stop().await;
    }
}
