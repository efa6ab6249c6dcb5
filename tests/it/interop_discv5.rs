//! Discovery v5 interoperability with an independent implementation: `@chainsafe/discv5`
//! 11.0.0, driven by `tests/interop/discv5.mjs` (JSON lines; see tests/interop/README.md).
//! Loopback only; the Node.js rules (skip off CI, fail on CI) are those of
//! `tests/it/interop.rs` (`support::node`).
//!
//! Both directions: peerwire bootstraps from a chainsafe node and finds that node's
//! neighbours (two more chainsafe nodes), and a chainsafe node bootstraps from a peerwire
//! server and finds its neighbours (two more peerwire servers); each side then reads the
//! other's record, changed, at its new `seq`. The first test prints the time from start to
//! the first node found by a discv5 lookup.

use std::collections::HashSet;
use std::net::{Ipv4Addr, SocketAddr};
use std::str::FromStr;
use std::time::{Duration, Instant};

use peerwire::discovery::enr::Record;
use peerwire::discovery::v4::ServiceConfig;
use peerwire::discovery::v5::{Discv5Config, Discv5Handle};
use serde_json::{json, Value};

use crate::discv5::{server, within};
use crate::support::node::*;
use crate::support::*;

/// The discv5 node id (keccak-256 of the public key) in hex, as chainsafe prints it.
fn v5_id(record: &Record) -> String {
    hex::encode(record.node_id().raw())
}

/// A chainsafe node on `host` starting from `bootnodes`, and its `listening` event.
async fn chainsafe(host: &str, bootnodes: &[String]) -> (JsPeer, Value) {
    let mut args = vec!["--host", host];
    for b in bootnodes {
        args.extend(["--bootnode", b.as_str()]);
    }
    let mut js = JsPeer::spawn_script("discv5.mjs", &args).await;
    let listening = js.event("listening").await;
    (js, listening)
}

/// Asks `js` for a lookup and returns the ids it found.
async fn js_lookup(js: &mut JsPeer) -> HashSet<String> {
    js.cmd(json!({"cmd": "lookup"})).await;
    let found = js.event("lookup").await;
    ids(&found["nodes"])
}

fn ids(nodes: &Value) -> HashSet<String> {
    nodes
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peerwire_bootstraps_from_chainsafe_and_finds_its_neighbours() {
    if skip_without_node() {
        return;
    }
    init_logs();
    let (mut boot, boot_info) = chainsafe("127.0.0.1", &[]).await;
    let boot_enr = boot_info["enr"].as_str().unwrap().to_string();
    // Two neighbours that know only the bootnode; their lookups put them in its table.
    let mut neighbours = Vec::new();
    for host in ["127.0.0.2", "127.0.0.3"] {
        let (mut js, info) = chainsafe(host, std::slice::from_ref(&boot_enr)).await;
        js_lookup(&mut js).await;
        neighbours.push((js, info["id"].as_str().unwrap().to_string()));
    }
    let mut want: HashSet<String> = neighbours.iter().map(|(_, id)| id.clone()).collect();
    within("the bootnode's table holds both neighbours", async {
        loop {
            boot.cmd(json!({"cmd": "table"})).await;
            if want.is_subset(&ids(&boot.event("table").await["nodes"])) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    want.insert(boot_info["id"].as_str().unwrap().to_string());

    let boot_record = Record::from_str(&boot_enr).unwrap();
    let start = Instant::now();
    let mut config = Discv5Config::default();
    config.bootnodes = vec![boot_record.clone()];
    let bind: SocketAddr = (Ipv4Addr::new(127, 0, 0, 4), 0).into();
    let ours = Discv5Handle::spawn(ServiceConfig::new(key(), bind, 0), config)
        .await
        .unwrap();
    let (mut first, mut seen) = (None, HashSet::new());
    within("peerwire finds the bootnode and its neighbours", async {
        while !want.is_subset(&seen) {
            let found = ours.lookup_random().await.unwrap();
            if first.is_none() && !found.is_empty() {
                first = Some(start.elapsed());
            }
            seen.extend(found.iter().map(v5_id));
        }
    })
    .await;
    let all = start.elapsed();
    println!(
        "discv5 interop: peerwire's first neighbour from a chainsafe bootnode after {:.1} ms, \
         all 3 after {:.1} ms",
        first.unwrap_or_default().as_secs_f64() * 1e3,
        all.as_secs_f64() * 1e3
    );

    // The bootnode's record over the wire, before and after it changes.
    let record = within("its record", ours.resolve(&boot_record))
        .await
        .unwrap();
    assert_eq!(v5_id(&record), boot_info["id"].as_str().unwrap());
    assert_eq!(record.ip4(), Some(Ipv4Addr::LOCALHOST));
    assert_eq!(
        record.udp4().map(u64::from),
        boot_info["udp"].as_u64(),
        "udp"
    );
    assert_eq!(Some(record.seq()), boot_info["seq"].as_u64());
    boot.cmd(json!({"cmd": "set_tcp", "tcp": 4000})).await;
    let changed = boot.event("local").await;
    assert_eq!(changed["seq"].as_u64(), Some(record.seq() + 1));
    let after = within("its changed record", ours.resolve(&boot_record))
        .await
        .unwrap();
    assert_eq!(after.seq(), record.seq() + 1);
    assert_eq!(after.tcp4(), Some(4000));
    assert!(after.verify());

    ours.stop();
    boot.exit().await;
    for (js, _) in neighbours {
        js.exit().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn chainsafe_bootstraps_from_peerwire_and_finds_its_neighbours() {
    if skip_without_node() {
        return;
    }
    let boot = server(11, vec![]).await;
    let boot_v5 = boot.discv5().unwrap().clone();
    let boot_record = boot_v5.local_enr();
    let a = server(12, vec![boot_record.clone()]).await;
    let b = server(13, vec![boot_record.clone()]).await;
    let mut want: HashSet<String> = [&a, &b]
        .iter()
        .map(|s| v5_id(&s.discv5().unwrap().local_enr()))
        .collect();
    within("the bootnode's table holds both neighbours", async {
        loop {
            let table: HashSet<String> = boot_v5.table().iter().map(v5_id).collect();
            if want.is_subset(&table) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    })
    .await;
    want.insert(v5_id(&boot_record));

    let (mut js, js_info) = chainsafe("127.0.0.14", &[boot_record.to_base64()]).await;
    let mut seen = HashSet::new();
    within("chainsafe finds the bootnode and its neighbours", async {
        while !want.is_subset(&seen) {
            seen.extend(js_lookup(&mut js).await);
        }
    })
    .await;

    // Our record as chainsafe reads it, before and after a change.
    js.cmd(json!({"cmd": "request_enr", "enr": boot_record.to_base64()}))
        .await;
    let got = js.event("enr").await;
    let node = &got["nodes"][0];
    let udp = boot_v5.local_addr().port();
    assert_eq!(node["id"].as_str(), Some(v5_id(&boot_record).as_str()));
    assert_eq!(node["ip"].as_str(), Some("127.0.0.11"));
    assert_eq!(node["udp"].as_u64(), Some(u64::from(udp)));
    let tcp = boot.listen_addr().unwrap().port();
    assert_eq!(node["tcp"].as_u64(), Some(u64::from(tcp)));
    assert_eq!(node["seq"].as_u64(), Some(boot_record.seq()));
    // discv4 re-signs the record at a higher seq (what adopting discv5's change does);
    // discv5 serves it.
    let discv4 = boot.discovery().unwrap();
    let next = boot_record.seq() + 1;
    discv4
        .adopt_endpoint(boot_v5.local_addr(), next)
        .await
        .unwrap();
    within("discv5 serves the new record", async {
        while boot_v5.local_enr().seq() != next {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    js.cmd(json!({"cmd": "request_enr", "enr": boot_record.to_base64()}))
        .await;
    let got = js.event("enr").await;
    assert_eq!(got["nodes"][0]["seq"].as_u64(), Some(next));
    assert_eq!(
        got["nodes"][0]["enr"].as_str(),
        Some(discv4.local_enr().to_base64().as_str()),
        "the bytes discv4 signed"
    );

    // And the bootnode holds chainsafe's record, as chainsafe signed it.
    let js_id = js_info["id"].as_str().unwrap();
    let theirs = boot_v5
        .table()
        .into_iter()
        .find(|r| v5_id(r) == js_id)
        .expect("chainsafe in the bootnode's table");
    assert_eq!(theirs.ip4(), Some(Ipv4Addr::new(127, 0, 0, 14)));
    assert_eq!(theirs.udp4().map(u64::from), js_info["udp"].as_u64());
    assert_eq!(Some(theirs.seq()), js_info["seq"].as_u64());

    js.exit().await;
    for s in [&a, &b, &boot] {
        s.stop().await;
    }
}
