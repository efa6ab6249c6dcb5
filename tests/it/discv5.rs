//! Node Discovery v5 between peerwire nodes on loopback: discv4 and discv5 share one UDP
//! port and one record (each version serves it over the wire, and a change from either side
//! reaches both at one `seq`), and nodes found only through discv5 lookups are dialed.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use peerwire::crypto::Enode;
use peerwire::discovery::enr::Record;
use peerwire::discovery::v4::{Discv4Handle, ServiceConfig};
use peerwire::discovery::v5::{Discv5Config, Discv5Handle};
use peerwire::server::ServerHandle;

use crate::support::*;

/// Every wait here (and in `interop_discv5.rs`) ends within this; each takes well under a
/// second on loopback.
const BOUND: Duration = Duration::from_secs(15);

fn encoded(record: &Record) -> String {
    record.to_base64()
}

pub(crate) async fn within<T>(what: &str, wait: impl std::future::Future<Output = T>) -> T {
    tokio::time::timeout(BOUND, wait)
        .await
        .unwrap_or_else(|_| panic!("{what} within {BOUND:?}"))
}

/// Polls `get` until it returns something.
async fn until<T>(what: &str, mut get: impl AsyncFnMut() -> Option<T>) -> T {
    within(what, async {
        loop {
            if let Some(t) = get().await {
                return t;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

async fn pair(ip: &str) -> (Discv5Handle, Discv4Handle) {
    init_logs();
    let bind: SocketAddr = format!("{ip}:0").parse().unwrap();
    Discv5Handle::spawn_with_v4(
        ServiceConfig::new(key(), bind, 30303),
        Discv5Config::default(),
    )
    .await
    .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_versions_serve_one_record_on_one_port_and_follow_each_others_changes() {
    let (v5, v4) = pair("127.0.0.1").await;
    assert_eq!(v5.local_addr(), v4.local_addr());
    let first = v5.local_enr();
    assert_eq!(first.seq(), 1);
    assert_eq!(encoded(&first), encoded(&v4.local_enr()), "the same bytes");
    assert_eq!(first.udp4(), Some(v5.local_addr().port()));
    assert_eq!(first.tcp4(), Some(30303));

    // discv4 moves the record (what its Pong votes do): discv5 takes it.
    let moved: SocketAddr = (Ipv4Addr::new(127, 0, 0, 1), 40404).into();
    v4.adopt_endpoint(moved, 0).await.unwrap();
    let second = until("discv5 follows discv4", async || {
        let r = v5.local_enr();
        (r.seq() == 2).then_some(r)
    })
    .await;
    assert_eq!(encoded(&second), encoded(&v4.local_enr()), "discv4's bytes");
    assert_eq!(second.udp4(), Some(40404));
    assert!(second.verify());

    // discv5 moves it back (what its own votes do): discv4 signs the same at the same seq.
    let back = v5.local_addr();
    assert!(v5.set_endpoint(back).await.unwrap());
    // discv5 then serves discv4's signature of it: the same bytes again.
    let third = until("discv4 follows discv5", async || {
        let r = v4.local_enr();
        (r.seq() == 3 && encoded(&r) == encoded(&v5.local_enr())).then_some(r)
    })
    .await;
    assert_eq!(third.udp4(), Some(back.port()));
    // Settled: no further re-signing from the echo of either change.
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(v4.local_enr().seq(), 3);
    assert_eq!(v5.local_enr().seq(), 3);

    // Over the wire, on the one port: a discv5 node and a discv4 node ask for the record.
    let (other5, other4) = pair("127.0.0.2").await;
    let over_v5 = within("a discv5 answer", other5.resolve(&third))
        .await
        .unwrap();
    assert_eq!(encoded(&over_v5), encoded(&third));
    let enode = Enode::new(peerwire::discovery::enr::node_id(&third), back);
    let over_v4 = within("a discv4 answer", other4.resolve(enode))
        .await
        .unwrap();
    assert_eq!(encoded(&over_v4), encoded(&third));
    for h in [&v5, &other5] {
        assert_eq!(h.stats().v4_frames_dropped, 0);
        h.stop();
    }
}

/// A server on 127.0.0.`i` running discv5 from `bootnodes` (and discv4 without any).
pub(crate) async fn server(i: u8, bootnodes: Vec<Record>) -> ServerHandle {
    let mut c = config(vec![idle("foo")]);
    c.listen_addr = Some(SocketAddr::new(IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)), 0));
    c.discovery.v5.enabled = true;
    c.discovery.v5.bootnodes = bootnodes;
    c.discovery.v5.lookup_interval = Duration::from_millis(200);
    start(c).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn servers_dial_nodes_found_only_through_discv5() {
    // No discv4 bootnodes anywhere: discv4 runs but learns nobody, so every peer below was
    // found by a discv5 lookup.
    let boot = server(11, vec![]).await;
    let boot_record = boot.discv5().unwrap().local_enr();
    assert_eq!(
        encoded(&boot_record),
        encoded(&boot.discovery().unwrap().local_enr())
    );
    // A discovery-only node (no TCP port in its record): found, never dialed.
    let mut lone = Discv5Config::default();
    lone.bootnodes = vec![boot_record.clone()];
    let bind: SocketAddr = (Ipv4Addr::new(127, 0, 0, 14), 0).into();
    let lone = Discv5Handle::spawn(ServiceConfig::new(key(), bind, 0), lone)
        .await
        .unwrap();
    assert_eq!(lone.local_enr().tcp4(), None);
    within("the bootnode holds the lone node", async {
        while lone.lookup_random().await.unwrap().is_empty() {}
    })
    .await;
    let a = server(12, vec![boot_record.clone()]).await;
    let b = server(13, vec![boot_record]).await;
    let (a_id, b_id) = (a.node_info().id, b.node_info().id);
    // a and b know only the bootnode; each finds the other through it and one dials.
    until("a and b connected", async || {
        (a.peer(&b_id).is_some() || b.peer(&a_id).is_some()).then_some(())
    })
    .await;
    let table: Vec<_> = a
        .discv5()
        .unwrap()
        .table()
        .iter()
        .map(peerwire::discovery::enr::node_id)
        .collect();
    assert!(table.contains(&b_id), "b in a's discv5 table");
    assert_eq!(a.discovery().unwrap().stats().await.unwrap().table_len, 0);
    // The lone node came up in lookups too, and was left out for its missing TCP port.
    let lone_id = lone.local_enr().node_id();
    until("a's lookups skip the lone node", async || {
        let stats = a.discv5().unwrap().stats();
        let known = a
            .discv5()
            .unwrap()
            .table()
            .iter()
            .any(|r| r.node_id() == lone_id);
        (known && stats.unusable_no_tcp > 0).then_some(())
    })
    .await;
    assert!(a
        .peer(&peerwire::discovery::enr::node_id(&lone.local_enr()))
        .is_none());
    lone.stop();
    for s in [&a, &b, &boot] {
        s.stop().await;
    }
}

/// A node bound to `[::]` speaks discv5 over both families (an IPv4 and an IPv6-only socket
/// on one port): it reaches an IPv4 node and an IPv6 node, and asks each for its record.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dual_stack_node_speaks_discv5_over_both_families() {
    init_logs();
    let spawn = async |bind: &str| {
        let bind: SocketAddr = bind.parse().unwrap();
        Discv5Handle::spawn(ServiceConfig::new(key(), bind, 0), Discv5Config::default())
            .await
            .unwrap()
    };
    let v4 = spawn("127.0.0.1:0").await;
    let v6 = spawn("[::1]:0").await;
    let dual = spawn("[::]:0").await;
    for other in [&v4, &v6] {
        let record = other.local_enr();
        let got = within("the record over its family", dual.resolve(&record))
            .await
            .unwrap_or_else(|e| panic!("{:?}: {e:?}", other.local_addr()));
        assert_eq!(encoded(&got), encoded(&record));
    }
    for n in [v4, v6, dual] {
        n.stop();
    }
}
