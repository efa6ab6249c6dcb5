//! Discovery v4 interoperability with an independent implementation: the DPT of
//! `@ethereumjs/devp2p` 10.0.0, driven by `tests/interop/dpt.mjs` (JSON lines; see
//! tests/interop/README.md). Loopback only; the Node.js rules (skip off CI, fail on CI) are
//! those of `tests/it/interop.rs` (`support::node`).
//!
//! Each test prints how long the finding took.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use peerwire::crypto::{Enode, NodeId};
use peerwire::discovery::v4::{Discv4Handle, QueryError, ServiceConfig};
use peerwire::protocol::Direction;
use peerwire::server::{DiscoveryMode, PeerEvent};
use serde_json::{json, Value};

use crate::support::node::*;
use crate::support::*;

/// Every wait of these tests ends within this; they take well under a second when healthy.
const BOUND: Duration = Duration::from_secs(8);

/// DPT's FindNode to every table entry, once per this many ms (its default is 60 s).
const DPT_REFRESH_MS: &str = "300";

/// A running DPT node and the enode it listens on.
struct Dpt {
    js: JsPeer,
    enode: Enode,
}

impl Dpt {
    /// A DPT node on 127.0.0.1 bootstrapping from `bootnodes`, with `extra` arguments.
    async fn spawn(bootnodes: &[Enode], extra: &[&str]) -> Self {
        let urls: Vec<String> = bootnodes.iter().map(Enode::to_string).collect();
        let mut args = vec!["--refresh", DPT_REFRESH_MS];
        for url in &urls {
            args.extend(["--bootnode", url.as_str()]);
        }
        args.extend(extra);
        let mut js = JsPeer::spawn_script("dpt.mjs", &args).await;
        let l = js.event("listening").await;
        let enode: Enode = format!(
            "enode://{}@{}:{}?discport={}",
            l["id"].as_str().unwrap(),
            l["address"].as_str().unwrap(),
            l["tcp_port"],
            l["udp_port"]
        )
        .parse()
        .unwrap();
        assert_eq!(enode.id, js.id());
        Self { js, enode }
    }

    /// Waits (within [`BOUND`]) until DPT has reported `peer_added` for each of `ids`;
    /// returns those events by id.
    async fn added(&mut self, ids: &[NodeId]) -> Vec<Value> {
        let mut want: HashSet<String> = ids.iter().map(|id| hex::encode(id.as_bytes())).collect();
        let mut seen = Vec::new();
        let wait = async {
            while !want.is_empty() {
                let e = self.js.event("peer_added").await;
                if let Some(id) = e["id"].as_str() {
                    if want.remove(id) {
                        seen.push(e);
                    }
                }
            }
        };
        tokio::time::timeout(BOUND, wait)
            .await
            .unwrap_or_else(|_| panic!("DPT did not add {want:?} within {BOUND:?}"));
        seen
    }

    /// DPT's table now.
    async fn table(&mut self) -> Vec<Value> {
        self.js.cmd(json!({"cmd": "peers"})).await;
        let e = self.js.event("peers").await;
        e["peers"].as_array().unwrap().clone()
    }
}

/// A peerwire discovery node on `ip` (port chosen by the OS) with `bootnodes`.
async fn peerwire_node(ip: &str, bootnodes: Vec<Enode>) -> Discv4Handle {
    init_logs();
    let bind: SocketAddr = format!("{ip}:0").parse().unwrap();
    let mut c = ServiceConfig::new(key(), bind, 0);
    c.driver.bootnodes = bootnodes;
    Discv4Handle::spawn(c).await.expect("discovery starts")
}

/// A peerwire node that looks up only once, at start (its refresh is an hour away): it
/// bonds with its bootnode and then contacts no one new by itself.
async fn quiet_node(ip: &str, bootnode: Enode) -> Discv4Handle {
    init_logs();
    let bind: SocketAddr = format!("{ip}:0").parse().unwrap();
    let mut c = ServiceConfig::new(key(), bind, 0);
    c.driver.bootnodes = vec![bootnode];
    c.driver.refresh_interval = Duration::from_secs(3600);
    c.driver.fast_refresh_interval = Duration::from_secs(3600);
    Discv4Handle::spawn(c).await.expect("discovery starts")
}

/// Waits (within [`BOUND`]) until `node`'s table holds every id of `ids`.
async fn table_holds(node: &Discv4Handle, ids: &[NodeId]) {
    let wait = async {
        loop {
            let table: HashSet<NodeId> = node.table().await.unwrap().iter().map(|e| e.id).collect();
            if ids.iter().all(|id| table.contains(id)) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    tokio::time::timeout(BOUND, wait)
        .await
        .unwrap_or_else(|_| panic!("table of {} lacks some of {ids:?}", node.local_enode()));
}

/// (a) DPT is given only our node as its bootnode. It bonds with us (each side pings, each
/// answers), and through our Neighbors answer learns the three other peerwire nodes we know,
/// which it then pings and adds. Those three look up only once, before DPT starts, so they
/// never ping DPT themselves: our answer is the only way DPT can hear of them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethereumjs_dpt_bootstraps_from_peerwire_and_learns_its_neighbours() {
    if skip_without_node() {
        return;
    }
    let ours = peerwire_node("127.0.0.1", vec![]).await;
    let mut others = Vec::new();
    for i in 2..=4 {
        others.push(quiet_node(&format!("127.0.0.{i}"), ours.local_enode()).await);
    }
    let other_ids: Vec<NodeId> = others.iter().map(|n| n.local_enode().id).collect();
    table_holds(&ours, &other_ids).await;
    // Their one lookup is over before DPT exists.
    let lookups_done = async {
        for node in &others {
            while node.stats().await.unwrap().lookups.lookups == 0 {
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    };
    tokio::time::timeout(BOUND, lookups_done)
        .await
        .expect("the start-up lookups end");

    let unbonded_before = ours.stats().await.unwrap().dropped.unbonded_queries;
    let t0 = Instant::now();
    let mut dpt = Dpt::spawn(&[ours.local_enode()], &[]).await;
    let first = dpt.added(&[ours.local_enode().id]).await;
    let bonded = t0.elapsed();
    assert_eq!(first[0]["address"], "127.0.0.1");
    assert_eq!(first[0]["udp_port"], ours.local_addr().port());
    // Our side of the bond: we pinged DPT back and it answered, so it is in our table.
    table_holds(&ours, &[dpt.enode.id]).await;

    let found = dpt.added(&other_ids).await;
    let learned = t0.elapsed();
    for node in &others {
        assert_eq!(
            node.stats().await.unwrap().lookups.lookups,
            1,
            "no lookup but the one at start"
        );
    }
    for (e, node) in found.iter().map(|e| {
        let id = e["id"].as_str().unwrap();
        let node = others
            .iter()
            .find(|n| hex::encode(n.local_enode().id.as_bytes()) == id)
            .unwrap();
        (e, node)
    }) {
        let addr = node.local_addr();
        assert_eq!(e["address"], addr.ip().to_string(), "{e}");
        assert_eq!(e["udp_port"], addr.port(), "{e}");
    }
    let stats = ours.stats().await.unwrap();
    assert_eq!(
        stats.dropped.invalid, 0,
        "every DPT packet decoded: {stats:?}"
    );
    println!(
        "DPT bonded with peerwire after {bonded:?}, knew its 3 neighbours after {learned:?} \
         ({} FindNode dropped for want of an endpoint proof, see README D4)",
        stats.dropped.unbonded_queries - unbonded_before
    );
    dpt.js.exit().await;
}

/// (b) Our node is given only a DPT node that knows two other DPT nodes: our lookups find
/// both (DPT returns them in Neighbors), bonding with each. The two never refresh, so they
/// do not learn of us and cannot reach us first. DPT does not implement EIP-868:
/// an ENRRequest to it goes unanswered (DPT reports an undecodable packet), which we report
/// as `NoAnswer` and otherwise carry on.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peerwire_bootstraps_from_ethereumjs_dpt_and_finds_its_neighbours() {
    if skip_without_node() {
        return;
    }
    let mut boot = Dpt::spawn(&[], &[]).await;
    // No refresh: B and C ask the bootnode once, before we exist, so they cannot hear of us
    // and ping us first; we can only find them through the bootnode's Neighbors.
    let mut b = Dpt::spawn(&[boot.enode], &["--refresh", "3600000"]).await;
    let mut c = Dpt::spawn(&[boot.enode], &["--refresh", "3600000"]).await;
    boot.added(&[b.enode.id, c.enode.id]).await;

    let t0 = Instant::now();
    let ours = peerwire_node("127.0.0.1", vec![boot.enode]).await;
    table_holds(&ours, &[boot.enode.id, b.enode.id, c.enode.id]).await;
    let found = t0.elapsed();
    // They bonded with us in turn (they ping whoever pings them).
    for dpt in [&mut b, &mut c] {
        dpt.added(&[ours.local_enode().id]).await;
    }
    let table: Vec<Enode> = ours.table().await.unwrap();
    for dpt in [&boot, &b, &c] {
        let e = table.iter().find(|e| e.id == dpt.enode.id).unwrap();
        assert_eq!(e.udp_addr(), dpt.enode.udp_addr());
        assert_eq!(
            e.tcp_port, dpt.enode.tcp_port,
            "TCP port from the Ping/Neighbors"
        );
    }
    println!("peerwire found the DPT bootnode and its 2 neighbours after {found:?}");

    // EIP-868 is not in DPT: no answer, and the node stays usable.
    let resolve = tokio::time::timeout(BOUND, ours.resolve(boot.enode)).await;
    assert_eq!(resolve.expect("resolve ends"), Err(QueryError::NoAnswer));
    let err = boot.js.event("dpt_error").await;
    assert!(
        err["message"].as_str().unwrap().contains("Invalid type: 5"),
        "DPT rejects ENRRequest (type 5) as unknown: {err}"
    );
    let nodes = tokio::time::timeout(BOUND, ours.lookup(*b.enode.id.as_bytes()))
        .await
        .expect("lookup ends")
        .unwrap();
    assert!(
        nodes.iter().any(|n| n.id == b.enode.id),
        "a lookup after the failed ENRRequest still reaches DPT: {nodes:?}"
    );
    let ours_hex = hex::encode(ours.local_enode().id.as_bytes());
    assert!(
        boot.table()
            .await
            .iter()
            .any(|p| p["id"] == ours_hex.as_str()),
        "the DPT bootnode keeps us in its table"
    );
    for dpt in [boot, b, c] {
        dpt.js.exit().await;
    }
}

/// (c) A JS node running DPT and an ethereumjs RLPx listener (which dials nothing itself)
/// with `foo/1` is our only bootnode: our dial scheduler finds it through discovery and an
/// RLPx session comes up, without its enode being a static peer.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peerwire_finds_an_ethereumjs_node_by_discovery_and_dials_it() {
    if skip_without_node() {
        return;
    }
    let mut js = Dpt::spawn(&[], &["--rlpx", "foo/1"]).await;
    assert_ne!(js.enode.tcp_port, js.enode.udp_port);
    let t0 = Instant::now();
    let mut c = config(vec![idle("foo")]);
    c.discovery.bootnodes = vec![js.enode];
    c.discovery.mode = DiscoveryMode::Always;
    let server = start(c).await;
    let mut events = server.events();
    let wait = async {
        loop {
            if let Ok(PeerEvent::Added(info)) = events.recv().await {
                return info;
            }
        }
    };
    let info = tokio::time::timeout(BOUND, wait)
        .await
        .expect("a session with the discovered node");
    let up = t0.elapsed();
    assert_eq!(info.id, js.enode.id);
    assert_eq!(
        server.peer(&info.id).unwrap().direction(),
        Direction::Outbound
    );
    let added = js.js.event("rlpx_peer_added").await;
    assert_eq!(added["id"], hex::encode(server.local_enode().id.as_bytes()));
    assert_eq!(added["caps"], json!(["foo/1"]));
    println!("peerwire discovered and connected to ethereumjs after {up:?}");
    server.stop().await;
    js.js.exit().await;
}
