//! DNS discovery (EIP-1459) over real DNS: a `hickory-server` on 127.0.0.1 (UDP and TCP, an
//! ephemeral port) serves signed trees, and the client reads them through
//! `hickory-resolver`. The same refusals as the unit tests (forged signature, hash mismatch,
//! link loop) over the wire; records over 255 bytes travel as several character-strings;
//! a tree's nodes become dial candidates; and `@ethereumjs/devp2p`'s DNS client, resolving
//! the same tree from the same server, finds the same nodes as ours (skipped without Node.js
//! off CI, like the other interop tests).

use std::collections::BTreeSet;

use hickory_resolver::config::{NameServerConfig, ResolverConfig};
use hickory_resolver::name_server::TokioConnectionProvider;
use hickory_resolver::proto::xfer::Protocol as DnsProtocol;
use peerwire::crypto::NodeKey;
use peerwire::discovery::dns::{
    node_source, url_for, DnsClient, DnsConfig, SyncError, TestDnsServer, Tree,
};
use peerwire::discovery::enr::{self, Record};
use peerwire::discovery::v4::Endpoint;
use peerwire::server::PeerEvent;

use crate::support::node::*;
use crate::support::*;

/// `n` records at distinct (never dialed) addresses, each padded with an extra key so its
/// text form is over 255 bytes.
fn padded_records(n: usize) -> Vec<Record> {
    (0..n)
        .map(|i| {
            let key = NodeKey::generate(&mut rand::rngs::OsRng);
            let mut builder = Record::builder();
            builder
                .ip4([10, 1, (i / 250) as u8, (i % 250 + 1) as u8].into())
                .tcp4(30303)
                .udp4(30301);
            builder.add_value("pad", &vec![7u8; 100]);
            builder.build(key.secret()).unwrap()
        })
        .collect()
}

fn ids(records: &[Record]) -> BTreeSet<String> {
    records
        .iter()
        .map(|r| enr::node_id(r).to_string())
        .collect()
}

#[tokio::test]
async fn a_tree_syncs_over_real_dns_and_long_records_arrive_in_pieces() {
    let server = TestDnsServer::start("nodes.test").await.unwrap();
    let nodes = padded_records(40);
    let signer = NodeKey::random();
    let tree = Tree::sign(3, &nodes, &[], signer.secret());
    let txt = tree.to_txt("nodes.test");
    server.publish(&txt).await.unwrap();

    let (leaf_name, leaf) = txt.iter().find(|(_, t)| t.starts_with("enr:")).unwrap();
    assert!(leaf.len() > 255, "{}", leaf.len());
    // On the wire: more than one character-string, joined back to the text.
    let mut config = ResolverConfig::new();
    config.add_name_server(NameServerConfig::new(server.addr(), DnsProtocol::Udp));
    let raw = hickory_resolver::TokioResolver::builder_with_config(
        config,
        TokioConnectionProvider::default(),
    )
    .build();
    let answer = raw.txt_lookup(format!("{leaf_name}.")).await.unwrap();
    let txt_record = answer.iter().next().unwrap();
    assert_eq!(txt_record.txt_data().len(), leaf.len().div_ceil(255));
    assert_eq!(txt_record.to_string(), *leaf);

    let mut client = DnsClient::new(server.resolver(), DnsConfig::default());
    let report = client.sync(&tree.url("nodes.test").unwrap()).await.unwrap();
    assert_eq!(ids(&report.records), ids(&nodes));
    assert_eq!(report.trees[0].seq, 3);

    // A new sequence number with one node changed fetches only its path.
    let mut changed = nodes.clone();
    changed[0] = padded_records(1).remove(0);
    let second = Tree::sign(4, &changed, &[], signer.secret());
    server.publish(&second.to_txt("nodes.test")).await.unwrap();
    let report = client.sync(&tree.url("nodes.test").unwrap()).await.unwrap();
    assert_eq!(ids(&report.records), ids(&changed));
    assert!(report.trees[0].fetched <= 5, "{:?}", report.trees[0]);
}

#[tokio::test]
async fn forged_mismatched_and_looping_trees_are_refused_over_real_dns() {
    let server = TestDnsServer::start("test").await.unwrap();
    let resolver = server.resolver();
    let (a_key, b_key) = (NodeKey::random(), NodeKey::random());
    let a_url = url_for(a_key.secret(), "a.test").unwrap();
    let b_url = url_for(b_key.secret(), "b.test").unwrap();
    let (a_nodes, b_nodes) = (padded_records(3), padded_records(2));
    let a = Tree::sign(1, &a_nodes, std::slice::from_ref(&b_url), a_key.secret());
    let b = Tree::sign(1, &b_nodes, std::slice::from_ref(&a_url), b_key.secret());
    let mut records = a.to_txt("a.test");
    records.extend(b.to_txt("b.test"));
    // c.test: a root signed by another key than its URL's.
    let c_url = url_for(NodeKey::random().secret(), "c.test").unwrap();
    records.extend(Tree::sign(1, &padded_records(1), &[], a_key.secret()).to_txt("c.test"));
    // d.test: a leaf replaced by another record.
    let d = Tree::sign(1, &padded_records(2), &[], a_key.secret());
    let mut d_txt = d.to_txt("d.test");
    let leaf = d_txt
        .keys()
        .find(|n| d_txt[*n].starts_with("enr:"))
        .unwrap()
        .clone();
    d_txt.insert(leaf, padded_records(1)[0].to_base64());
    records.extend(d_txt);
    server.publish(&records).await.unwrap();

    let mut client = DnsClient::new(resolver.clone(), DnsConfig::default());
    let report = client.sync(&a_url).await.unwrap();
    let mut both = a_nodes;
    both.extend(b_nodes);
    assert_eq!(ids(&report.records), ids(&both));
    assert!(
        matches!(&report.refused[..], [(link, SyncError::LinkLoop)] if *link == a_url),
        "{:?}",
        report.refused
    );

    let mut client = DnsClient::new(resolver.clone(), DnsConfig::default());
    let forged = client.sync(&c_url).await;
    assert!(matches!(forged, Err(SyncError::BadSignature)), "{forged:?}");
    let mismatch = client.sync(&d.url("d.test").unwrap()).await;
    assert!(
        matches!(mismatch, Err(SyncError::HashMismatch)),
        "{mismatch:?}"
    );
}

#[tokio::test]
async fn the_nodes_of_a_dns_list_are_dialed() {
    let server = TestDnsServer::start("nodes.test").await.unwrap();
    let listener_config = config(vec![idle("x")]);
    let listener_key = listener_config.key.clone();
    let listener = start(listener_config).await;
    let dialer = start(config(vec![idle("x")])).await;
    let mut events = dialer.events();
    let addr = listener.listen_addr().unwrap();
    let endpoint = Endpoint {
        ip: addr.ip(),
        udp_port: addr.port(),
        tcp_port: addr.port(),
    };
    let record = enr::build(&listener_key, 1, &endpoint).unwrap();
    let signer = NodeKey::random();
    let tree = Tree::sign(1, &[record], &[], signer.secret());
    server.publish(&tree.to_txt("nodes.test")).await.unwrap();
    let source = node_source(
        server.resolver(),
        tree.url("nodes.test").unwrap(),
        DnsConfig::default(),
    );
    assert!(dialer.add_node_source(source));
    let want = listener_key.id();
    next_event(&mut events, |e| match e {
        PeerEvent::Added(info) if info.id == want => Some(()),
        _ => None,
    })
    .await;
    dialer.stop().await;
    listener.stop().await;
}

#[tokio::test]
async fn ethereumjs_finds_the_same_nodes_in_the_same_tree() {
    if skip_without_node() {
        return;
    }
    let server = TestDnsServer::start("nodes.test").await.unwrap();
    let nodes = padded_records(30);
    let tree = Tree::sign(1, &nodes, &[], NodeKey::random().secret());
    server.publish(&tree.to_txt("nodes.test")).await.unwrap();
    let url = tree.url("nodes.test").unwrap().to_string();

    let mut client = DnsClient::new(server.resolver(), DnsConfig::default());
    let ours: BTreeSet<String> = client
        .sync(&url.parse().unwrap())
        .await
        .unwrap()
        .records
        .iter()
        .map(|r| enr::to_enode(r).unwrap().udp_addr().ip().to_string())
        .collect();

    let addr = server.addr().to_string();
    let want = nodes.len().to_string();
    let mut js = JsPeer::spawn_script(
        "dns.mjs",
        &["--server", &addr, "--url", &url, "--want", &want],
    )
    .await;
    let found = js.event("peers").await;
    let theirs: BTreeSet<String> = found["peers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(
                (p["tcpPort"].as_u64(), p["udpPort"].as_u64()),
                (Some(30303), Some(30301))
            );
            p["address"].as_str().unwrap().to_owned()
        })
        .collect();
    println!(
        "ethereumjs found {} of {} nodes in {} searches",
        theirs.len(),
        nodes.len(),
        found["searches"]
    );
    assert_eq!(ours.len(), nodes.len());
    assert_eq!(theirs, ours);
}
