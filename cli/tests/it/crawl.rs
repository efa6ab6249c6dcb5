//! `peerwire crawl` against a plain DHT: it walks until its timeout and reports.

use std::time::{Duration, Instant};

use peerwire::crypto::NodeKey;
use peerwire::discovery::v4::{Discv4Handle, ServiceConfig};
use peerwire::discovery::v5::{Discv5Config, Discv5Handle};

use crate::command;

/// Forty discovery nodes on 127.0.0.1 that know the first one, running on their own runtime.
fn dht(nodes: usize) -> (tokio::runtime::Runtime, Vec<Discv4Handle>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let handles = runtime.block_on(async {
        let mut handles: Vec<Discv4Handle> = Vec::new();
        for _ in 0..nodes {
            let mut config =
                ServiceConfig::new(NodeKey::random(), "127.0.0.1:0".parse().unwrap(), 0);
            if let Some(boot) = handles.first() {
                config.driver.bootnodes = vec![boot.local_enode()];
            }
            handles.push(Discv4Handle::spawn(config).await.unwrap());
        }
        handles
    });
    (runtime, handles)
}

#[test]
fn crawl_runs_until_its_timeout_and_prints_its_summary() {
    let (_runtime, nodes) = dht(40);
    let boot = nodes[0].local_enode().to_string();
    let started = Instant::now();
    let out = command()
        .args(["crawl", "--bootnodes", &boot, "--timeout", "6", "--json"])
        .output()
        .unwrap();
    let elapsed = started.elapsed();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "crawl failed after {elapsed:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        elapsed >= Duration::from_secs(6),
        "stopped early: {elapsed:?}"
    );
    let last = stdout.lines().last().expect("output");
    let done = crate::json(last);
    assert_eq!(done["event"], "done", "{last}");
    let found = stdout.lines().filter(|l| l.contains("\"node\"")).count();
    eprintln!("crawl found {found} of 40 nodes in {elapsed:?}");
    assert!(found >= 20, "found {found} of 40 nodes");
}

/// Eight discv5 nodes (each with discv4 on its port) on 127.0.0.1 that know the first one.
fn dht_v5(nodes: usize) -> (tokio::runtime::Runtime, Vec<Discv5Handle>) {
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let handles = runtime.block_on(async {
        let mut handles: Vec<Discv5Handle> = Vec::new();
        for _ in 0..nodes {
            let config = ServiceConfig::new(NodeKey::random(), "127.0.0.1:0".parse().unwrap(), 0);
            let mut v5 = Discv5Config::default();
            v5.bootnodes = handles
                .first()
                .map(Discv5Handle::local_enr)
                .into_iter()
                .collect();
            let (handle, _v4) = Discv5Handle::spawn_with_v4(config, v5).await.unwrap();
            // Each asks the first once, so that the first knows them all.
            let _ = handle.lookup_random().await;
            handles.push(handle);
        }
        handles
    });
    (runtime, handles)
}

#[test]
fn crawl_and_discover_speak_v5() {
    let (_runtime, nodes) = dht_v5(8);
    let boot = nodes[0].local_enr().to_base64();
    let out = command()
        .args(["discover", "--v5", &boot, "--timeout", "5", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let node = crate::json(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(node["enr"], boot.as_str());
    assert_eq!(node["seq"], 1);

    let out = command()
        .args([
            "crawl",
            "--v5",
            "--bootnodes",
            &boot,
            "--timeout",
            "8",
            "--json",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ids: std::collections::HashSet<String> = stdout
        .lines()
        .map(crate::json)
        .filter(|l| l["event"] == "node")
        .map(|l| l["id"].as_str().unwrap().to_string())
        .collect();
    let want: std::collections::HashSet<String> = nodes
        .iter()
        .map(|n| peerwire::discovery::enr::node_id(&n.local_enr()).to_string())
        .collect();
    assert_eq!(ids, want, "every node, each once");

    // An enode URL carries no record: discv5 cannot use it.
    let enode = peerwire::discovery::enr::to_enode(&nodes[0].local_enr()).unwrap();
    let out = command()
        .args(["discover", "--v5", &enode.to_string()])
        .output()
        .unwrap();
    crate::assert_clean_failure(&out, "needs an enr: record");
}

#[test]
fn crawl_counts_nodes_found_on_a_terminal_only() {
    let (_runtime, nodes) = dht(10);
    let boot = nodes[0].local_enode().to_string();
    let screen = crate::run_on_terminal(&["crawl", "--bootnodes", &boot, "--timeout", "2"]);
    assert!(screen.contains("nodes found"), "{screen:?}");
    let out = command()
        .args(["crawl", "--bootnodes", &boot, "--timeout", "1"])
        .output()
        .unwrap();
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "",
        "no counter when piped"
    );
}
