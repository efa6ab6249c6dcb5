//! A node behind a home router, for real: network namespaces (wan, router, lan), nftables
//! masquerade and Debian's miniupnpd (UPnP IGD and NAT-PMP) in the router, `peerwire node`
//! processes in the lan and wan namespaces.
//!
//! Real processes rather than in-process servers: a thread cannot move a tokio runtime's
//! other threads into a namespace, and a process is what users run. Each test builds its own
//! namespaces (named with the test's pid), so they run in parallel.
//!
//! Needs root, `ip`, `nft` and `miniupnpd` (Debian: `nftables miniupnpd-nftables`).
//! Without them a test prints one line saying so and passes, unless `CI` is set (to
//! anything but empty, `0` or `false`): then it fails.

mod netns;
mod router;

use std::time::{Duration, Instant};

use peerwire::testdata::tools;
use router::{Testbed, LAN_HOST, ROUTER_WAN};

use super::{json, Node, BIN};

/// The testbed, or `None` (after one line on stderr) when this machine cannot build it
/// and `CI` is unset.
fn testbed(wan_hosts: usize) -> Option<Testbed> {
    let root = std::process::Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| String::from_utf8_lossy(&o.stdout).trim() == "0");
    let missing: Vec<&str> = ["ip", "nft", "miniupnpd"]
        .into_iter()
        .filter(|tool| !on_path(tool))
        .collect();
    let lacks = format!(
        "the NAT testbed needs root and ip, nft, miniupnpd (apt-get install iproute2 nftables \
         miniupnpd-nftables); root: {root}, missing: {missing:?}"
    );
    if tools::skip((!root || !missing.is_empty()).then_some(lacks.as_str())) {
        return None;
    }
    Some(Testbed::new(wan_hosts))
}

fn on_path(tool: &str) -> bool {
    let path = std::env::var("PATH").unwrap_or_default();
    let found = path
        .split(':')
        .chain(["/usr/sbin", "/sbin"])
        .any(|dir| std::path::Path::new(dir).join(tool).is_file());
    found
}

/// Starts `peerwire node args` in the lan namespace.
fn lan_node(bed: &Testbed, args: &[&str]) -> Node {
    let mut all = vec!["node", "--json", "--listen", "0.0.0.0:30303"];
    all.extend_from_slice(args);
    Node::spawn(bed.lan.command(BIN, &all))
}

/// Starts `peerwire node args` in the wan namespace, listening on `ip`.
fn wan_node(bed: &Testbed, ip: &str, args: &[&str]) -> Node {
    let listen = format!("{ip}:30303");
    let mut all = vec!["node", "--json", "--listen", &listen];
    all.extend_from_slice(args);
    Node::spawn(bed.wan.command(BIN, &all))
}

/// Reads `node`'s JSON events until one named `name`, within `limit`.
fn event_within(node: &Node, name: &str, limit: Duration) -> serde_json::Value {
    let needle = format!("\"event\":\"{name}\"");
    json(&node.until_within(&needle, limit))
}

/// Maps with `mode`, then: a wan node dials the advertised enode and a session comes up;
/// a discovery ping and ENR request from the wan reach the node, whose record carries the
/// router's address; after the node stops, the router holds no mapping.
fn mapped_node_is_reachable_from_the_wan(mode: &str) {
    let Some(bed) = testbed(0) else { return };
    let started = Instant::now();
    let lan = lan_node(&bed, &["--nat", mode]);
    lan.event("listening");
    let mapped = event_within(&lan, "nat_mapped", Duration::from_secs(20));
    let took = started.elapsed();
    let enode = mapped["enode"].as_str().unwrap().to_string();
    eprintln!("{mode}: from start to a dialable enode {took:?}: {enode}");
    assert!(enode.ends_with(&format!("@{ROUTER_WAN}:30303")), "{enode}");
    assert!(
        bed.redirects()
            .iter()
            .any(|r| r.contains(&format!("dnat ip to {LAN_HOST}:30303"))),
        "{:?}",
        bed.redirects()
    );

    let wan = wan_node(&bed, "11.0.0.2", &["--nodiscover", "--peer", &enode]);
    let added = event_within(&wan, "peer_added", Duration::from_secs(10));
    assert_eq!(added["direction"], "outbound");
    assert!(enode.contains(added["id"].as_str().unwrap()));
    let inbound = event_within(&lan, "peer_added", Duration::from_secs(10));
    assert_eq!(inbound["direction"], "inbound");
    drop(wan);

    // Discovery: a Ping and an ENR request to the router's UDP port reach the node, whose
    // record (re-signed, seq bumped from 1) carries the router's address.
    let out = bed
        .wan
        .command(BIN, &["discover", &enode, "--json", "--timeout", "5"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let record = json(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(record["ip"], ROUTER_WAN);
    assert_eq!(
        (record["tcp"].as_u64(), record["udp"].as_u64()),
        (Some(30303), Some(30303))
    );
    assert!(record["seq"].as_u64() >= Some(2), "{record}");

    stop_and_check_unmapped(&bed, lan);
}

/// Stops the lan node and checks the router holds no mapping for it.
fn stop_and_check_unmapped(bed: &Testbed, mut lan: Node) {
    assert!(lan.terminate_within(Duration::from_secs(10)).success());
    let left = bed.redirects();
    assert!(left.is_empty(), "mappings left after stop: {left:?}");
}

/// With `PATH` leading nowhere `id` is not found, so the machine counts as not root: a
/// testbed test skips with one line and passes, unless `CI` is set, when it fails.
#[test]
fn without_root_and_the_tools_a_testbed_test_skips_or_fails_on_ci() {
    tools::assert_skips_off_ci_and_fails_on_ci(
        "nat::upnp_maps_the_ports_and_the_wan_dials_in",
        "apt-get install iproute2 nftables miniupnpd-nftables",
    );
}

#[test]
fn upnp_maps_the_ports_and_the_wan_dials_in() {
    mapped_node_is_reachable_from_the_wan("upnp");
}

#[test]
fn nat_pmp_maps_the_ports_and_the_wan_dials_in() {
    mapped_node_is_reachable_from_the_wan("pmp");
}

#[test]
fn any_finds_the_routers_gateway_and_the_wan_dials_in() {
    mapped_node_is_reachable_from_the_wan("any");
}

/// No router needed: `extip:IP` only sets the advertised address.
#[test]
fn extip_advertises_the_given_address_and_bad_values_fail_with_one_line() {
    let node = Node::start(&[
        "--listen",
        "127.0.0.1:0",
        "--json",
        "--nat",
        "extip:198.51.100.4",
    ]);
    let enode = node.event("listening")["enode"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(enode.contains("@198.51.100.4:"), "{enode}");
    super::assert_clean_failure(
        &super::run(&["node", "--listen", "127.0.0.1:0", "--nat", "stun"]),
        "expected any, upnp, pmp, extip:IP or none",
    );
    super::assert_clean_failure(
        &super::run(&["node", "--listen", "127.0.0.1:0", "--nat", "extip:here"]),
        "extip: needs an IP address",
    );
}

#[test]
fn a_restarted_router_is_noticed_at_renewal_and_mapped_again() {
    let Some(mut bed) = testbed(0) else { return };
    // A 4 s lease: renewed every 2 s.
    let lan = lan_node(&bed, &["--nat", "upnp", "--nat-lease", "4"]);
    event_within(&lan, "nat_mapped", Duration::from_secs(20));
    bed.restart_daemon();
    assert!(
        bed.redirects().is_empty(),
        "the restart forgot the mappings"
    );
    let lost = event_within(&lan, "nat_lost", Duration::from_secs(15));
    eprintln!("after the router restarted: {lost}");
    let again = event_within(&lan, "nat_mapped", Duration::from_secs(15));
    assert!(again["enode"]
        .as_str()
        .unwrap()
        .ends_with(&format!("@{ROUTER_WAN}:30303")));
    let held = bed.redirects();
    assert!(
        held.iter()
            .any(|r| r.contains(&format!("dnat ip to {LAN_HOST}:30303"))),
        "{held:?}\n{}",
        bed.daemon_log()
    );
    stop_and_check_unmapped(&bed, lan);
}

/// How many wan nodes tell the lan node what address they see: discovery changes our IP
/// once 10 sources agree (go-ethereum's rule, `DriverConfig::ip_min_statements`).
const WAN_VOTERS: usize = 10;

#[test]
fn without_mapping_the_wan_cannot_dial_in_and_votes_find_the_router() {
    let Some(bed) = testbed(WAN_VOTERS) else {
        return;
    };
    let voters: Vec<Node> = (0..WAN_VOTERS)
        .map(|i| wan_node(&bed, &format!("11.0.0.{}", 10 + i), &[]))
        .collect();
    let enodes: Vec<String> = voters
        .iter()
        .map(|v| v.event("listening")["enode"].as_str().unwrap().to_string())
        .collect();
    let bootnodes = enodes.join(",");
    let lan = lan_node(
        &bed,
        &[
            "--nat",
            "none",
            "--bootnodes",
            &bootnodes,
            "--peer",
            &enodes[0],
        ],
    );
    // Outbound works: the lan node's dial reaches a wan node through the masquerade.
    let added = event_within(&voters[0], "peer_added", Duration::from_secs(10));
    assert_eq!(added["direction"], "inbound");
    // The Pongs of the wan nodes agree on the router's address.
    let learned = event_within(&lan, "endpoint_changed", Duration::from_secs(30));
    let enode = learned["enode"].as_str().unwrap().to_string();
    assert!(enode.contains(&format!("@{ROUTER_WAN}:")), "{enode}");
    assert!(bed.redirects().is_empty());
    // Inbound fails: nothing forwards the router's port to the lan node.
    let out = bed
        .wan
        .command(BIN, &["ping", &enode, "--timeout", "3"])
        .output()
        .unwrap();
    assert!(
        !out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}
