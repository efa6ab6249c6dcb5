//! The tree format against EIP-1459's example, and the sync's checks and bounds over an
//! in-memory resolver.

use std::sync::Arc;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::crypto::NodeKey;
use crate::discovery::enr::{self, Record};
use crate::discovery::v4::Endpoint;

/// EIP-1459's example tree, in zone-file order: the root, then each entry at its hash.
const EIP_EXAMPLE: [(&str, &str); 6] = [
    ("", "enrtree-root:v1 e=JWXYDBPXYWG6FX3GMDIBFA6CJ4 l=C7HRFPF3BLGF3YR4DY5KX3SMBE seq=1 sig=o908WmNp7LibOfPsr4btQwatZJ5URBr2ZAuxvK4UWHlsB9sUOTJQaGAlLPVAhM__XJesCHxLISo94z5Z2a463gA"),
    ("C7HRFPF3BLGF3YR4DY5KX3SMBE", "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@morenodes.example.org"),
    ("JWXYDBPXYWG6FX3GMDIBFA6CJ4", "enrtree-branch:2XS2367YHAXJFGLZHVAWLQD4ZY,H4FHT4B454P6UXFD7JCYQ5PWDY,MHTDO6TMUBRIA2XWG5LUDACK24"),
    ("2XS2367YHAXJFGLZHVAWLQD4ZY", "enr:-HW4QOFzoVLaFJnNhbgMoDXPnOvcdVuj7pDpqRvh6BRDO68aVi5ZcjB3vzQRZH2IcLBGHzo8uUN3snqmgTiE56CH3AMBgmlkgnY0iXNlY3AyNTZrMaECC2_24YYkYHEgdzxlSNKQEnHhuNAbNlMlWJxrJxbAFvA"),
    ("H4FHT4B454P6UXFD7JCYQ5PWDY", "enr:-HW4QAggRauloj2SDLtIHN1XBkvhFZ1vtf1raYQp9TBW2RD5EEawDzbtSmlXUfnaHcvwOizhVYLtr7e6vw7NAf6mTuoCgmlkgnY0iXNlY3AyNTZrMaECjrXI8TLNXU0f8cthpAMxEshUyQlK-AM0PW2wfrnacNI"),
    ("MHTDO6TMUBRIA2XWG5LUDACK24", "enr:-HW4QLAYqmrwllBEnzWWs7I5Ev2IAs7x_dZlbYdRdMUx5EyKHDXp7AV5CkuPGUPdvbv1_Ms1CPfhcGCvSElSosZmyoqAgmlkgnY0iXNlY3AyNTZrMaECriawHKWdDRk2xeZkrOXBQ0dfMFLHY4eENZwdufn1S1o"),
];

/// The key go-ethereum's client tests sign the EIP's example with.
const EIP_EXAMPLE_URL: &str = "enrtree://AKPYQIUQIL7PSIACI32J7FGZW56E5FKHEFCCOFHILBIMW3M6LWXS2@n";

fn example_resolver() -> MemoryResolver {
    let resolver = MemoryResolver::new();
    resolver.insert_all(EIP_EXAMPLE.iter().map(|(label, text)| {
        let name = if label.is_empty() {
            "n".to_owned()
        } else {
            format!("{label}.n")
        };
        (name, (*text).to_owned())
    }));
    resolver
}

fn keys(seed: u64, n: usize) -> Vec<NodeKey> {
    let mut rng = StdRng::seed_from_u64(seed);
    (0..n).map(|_| NodeKey::generate(&mut rng)).collect()
}

fn records(seed: u64, n: usize) -> Vec<Record> {
    keys(seed, n)
        .iter()
        .enumerate()
        .map(|(i, key)| {
            let endpoint = Endpoint {
                ip: [10, 0, (i / 256) as u8, (i % 256) as u8].into(),
                udp_port: 30303,
                tcp_port: 30303,
            };
            enr::build(key, 1, &endpoint).unwrap()
        })
        .collect()
}

fn ids(records: &[Record]) -> Vec<crate::crypto::NodeId> {
    let mut ids: Vec<_> = records.iter().map(enr::node_id).collect();
    ids.sort();
    ids
}

fn signer() -> NodeKey {
    keys(0x5151, 1).remove(0)
}

#[test]
fn every_entry_of_the_eip_example_hashes_to_its_name() {
    for (label, text) in &EIP_EXAMPLE[1..] {
        let hash: EntryHash = label.parse().unwrap();
        assert!(hash.matches(text), "{label}");
        assert_eq!(EntryHash::of(text), hash);
        assert_eq!(text.parse::<Entry>().unwrap().to_string(), *text);
    }
}

#[test]
fn the_eip_example_root_verifies_with_its_key_and_not_another() {
    let root: Root = EIP_EXAMPLE[0].1.parse().unwrap();
    assert_eq!(root.to_string(), EIP_EXAMPLE[0].1);
    assert_eq!(root.seq, 1);
    let url: Link = EIP_EXAMPLE_URL.parse().unwrap();
    assert_eq!(url.to_string(), EIP_EXAMPLE_URL);
    assert!(root.verify(&url.key));
    assert_eq!(root.signer(), Some(url.key));
    let other = signer();
    assert!(!root.verify(&other.id().public_key()));
}

#[tokio::test]
async fn the_eip_example_syncs_and_its_unreachable_link_is_listed() {
    let mut client = DnsClient::new(example_resolver(), DnsConfig::default());
    let report = client
        .sync(&EIP_EXAMPLE_URL.parse().unwrap())
        .await
        .unwrap();
    assert_eq!(report.records.len(), 3);
    for record in &report.records {
        assert!(record.verify());
    }
    assert_eq!(report.trees.len(), 1);
    assert_eq!(report.trees[0].entries, 5);
    let [(link, err)] = &report.refused[..] else {
        panic!("{:?}", report.refused)
    };
    assert_eq!(link.domain, "morenodes.example.org");
    assert!(matches!(err, SyncError::Resolve(ResolveError::NotFound)));
}

#[tokio::test]
async fn a_signed_tree_round_trips_through_txt_records() {
    let nodes = records(1, 200);
    let link_target = url_for(keys(9, 1)[0].secret(), "other.example").unwrap();
    let tree = Tree::sign(
        7,
        &nodes,
        std::slice::from_ref(&link_target),
        signer().secret(),
    );
    let txt = tree.to_txt("nodes.example");
    // The root; 200 leaves under 16 branches of at most 13, 2 branches over those and 1 on
    // top; the link leaf, which is its subtree's top.
    assert_eq!(txt.len(), 1 + 200 + 16 + 2 + 1 + 1);
    for (name, text) in &txt {
        assert!(text.len() <= MAX_ENTRY_LEN);
        if let Some(label) = name.strip_suffix(".nodes.example") {
            assert!(label.parse::<EntryHash>().unwrap().matches(text));
        }
    }
    let resolver = MemoryResolver::new();
    resolver.insert_all(txt);
    let mut client = DnsClient::new(resolver, DnsConfig::default());
    let report = client
        .sync(&tree.url("nodes.example").unwrap())
        .await
        .unwrap();
    assert_eq!(ids(&report.records), ids(&nodes));
    assert_eq!(report.trees[0].seq, 7);
    assert_eq!(report.refused.len(), 1);
    assert_eq!(report.refused[0].0, link_target);
}

#[tokio::test]
async fn a_node_listed_twice_keeps_its_newest_record_and_an_empty_tree_syncs() {
    let key = keys(15, 1).remove(0);
    let at = |seq: u64| {
        let endpoint = Endpoint {
            ip: [10, 0, 0, seq as u8].into(),
            udp_port: 1,
            tcp_port: 1,
        };
        enr::build(&key, seq, &endpoint).unwrap()
    };
    let tree = Tree::sign(1, &[at(2), at(5), at(3)], &[], signer().secret());
    let empty = Tree::sign(1, &[], &[], signer().secret());
    assert_eq!(empty.root().enr_root, empty.root().link_root);
    let resolver = Arc::new(MemoryResolver::new());
    resolver.insert_all(tree.to_txt("one.example"));
    resolver.insert_all(empty.to_txt("empty.example"));
    let mut client = DnsClient::new(Arc::clone(&resolver), DnsConfig::default());
    let report = client
        .sync(&tree.url("one.example").unwrap())
        .await
        .unwrap();
    let [record] = &report.records[..] else {
        panic!("{:?}", report.records)
    };
    assert_eq!(record.seq(), 5);
    let report = client
        .sync(&empty.url("empty.example").unwrap())
        .await
        .unwrap();
    assert!(report.records.is_empty());
    assert_eq!(report.trees[0].entries, 1);
}

#[tokio::test]
async fn a_forged_root_signature_is_refused() {
    let tree = Tree::sign(1, &records(2, 5), &[], signer().secret());
    let resolver = MemoryResolver::new();
    resolver.insert_all(tree.to_txt("n"));
    // The URL names another key than the one that signed.
    let url = url_for(keys(3, 1)[0].secret(), "n").unwrap();
    let mut client = DnsClient::new(resolver, DnsConfig::default());
    assert!(matches!(
        client.sync(&url).await,
        Err(SyncError::BadSignature)
    ));
}

#[tokio::test]
async fn an_entry_that_does_not_match_its_hash_is_refused() {
    let nodes = records(4, 5);
    let tree = Tree::sign(1, &nodes, &[], signer().secret());
    let mut txt = tree.to_txt("n");
    // Put another (valid, signed) record where one leaf should be.
    let leaf = txt
        .iter()
        .find(|(_, t)| t.starts_with("enr:"))
        .map(|(n, _)| n.clone())
        .unwrap();
    txt.insert(leaf, records(5, 1)[0].to_base64());
    let resolver = MemoryResolver::new();
    resolver.insert_all(txt);
    let mut client = DnsClient::new(resolver, DnsConfig::default());
    let result = client.sync(&tree.url("n").unwrap()).await;
    assert!(matches!(result, Err(SyncError::HashMismatch)), "{result:?}");
}

#[tokio::test]
async fn a_loop_of_links_is_refused_and_both_trees_are_kept() {
    let (a_key, b_key) = (signer(), keys(6, 1).remove(0));
    let a_url = url_for(a_key.secret(), "a.example").unwrap();
    let b_url = url_for(b_key.secret(), "b.example").unwrap();
    let (a_nodes, b_nodes) = (records(7, 3), records(8, 4));
    let a = Tree::sign(1, &a_nodes, std::slice::from_ref(&b_url), a_key.secret());
    let b = Tree::sign(1, &b_nodes, std::slice::from_ref(&a_url), b_key.secret());
    let resolver = MemoryResolver::new();
    resolver.insert_all(a.to_txt("a.example"));
    resolver.insert_all(b.to_txt("b.example"));
    let mut client = DnsClient::new(resolver, DnsConfig::default());
    let report = client.sync(&a_url).await.unwrap();
    let mut both = a_nodes.clone();
    both.extend(b_nodes);
    assert_eq!(ids(&report.records), ids(&both));
    let [(link, SyncError::LinkLoop)] = &report.refused[..] else {
        panic!("{:?}", report.refused)
    };
    assert_eq!(*link, a_url);
}

#[tokio::test]
async fn more_linked_trees_than_the_bound_are_refused() {
    let resolver = MemoryResolver::new();
    let mut links = Vec::new();
    for (i, key) in keys(10, 3).iter().enumerate() {
        let domain = format!("t{i}.example");
        let tree = Tree::sign(1, &records(20 + i as u64, 1), &[], key.secret());
        resolver.insert_all(tree.to_txt(&domain));
        links.push(tree.url(&domain).unwrap());
    }
    let top = Tree::sign(1, &records(30, 1), &links, signer().secret());
    resolver.insert_all(top.to_txt("top.example"));
    let config = DnsConfig {
        max_links: 2,
        ..DnsConfig::default()
    };
    let mut client = DnsClient::new(resolver, config);
    let report = client.sync(&top.url("top.example").unwrap()).await.unwrap();
    assert_eq!(report.trees.len(), 3);
    assert_eq!(report.records.len(), 3);
    assert!(matches!(
        report.refused[..],
        [(_, SyncError::TooManyLinks(2))]
    ));
}

#[tokio::test]
async fn a_new_seq_refetches_only_the_changed_subtrees() {
    let mut nodes = records(11, 300);
    let key = signer();
    let resolver = Arc::new(MemoryResolver::new());
    let first = Tree::sign(1, &nodes, &[], key.secret());
    resolver.insert_all(first.to_txt("n"));
    let url = first.url("n").unwrap();
    let mut client = DnsClient::new(Arc::clone(&resolver), DnsConfig::default());
    let report = client.sync(&url).await.unwrap();
    let total = report.trees[0].entries;
    assert_eq!(report.trees[0].fetched, total);

    // Same root: one lookup (the root), nothing walked.
    let before = resolver.lookups();
    let report = client.sync(&url).await.unwrap();
    assert_eq!(
        (report.trees[0].fetched, resolver.lookups() - before),
        (0, 1)
    );
    assert_eq!(report.records.len(), 300);

    // One node moves: its leaf, the branches above it and the root change.
    let moved = Endpoint {
        ip: [192, 0, 2, 1].into(),
        udp_port: 1,
        tcp_port: 1,
    };
    let moved_key = keys(11, 1).remove(0);
    nodes[0] = enr::build(&moved_key, 2, &moved).unwrap();
    let second = Tree::sign(2, &nodes, &[], key.secret());
    resolver.clear();
    resolver.insert_all(second.to_txt("n"));
    let before = resolver.lookups();
    let report = client.sync(&url).await.unwrap();
    // 300 leaves: 24 branches of at most 13, 2 above, 1 on top. A changed leaf changes the
    // three branches over it: 4 entries fetched.
    assert_eq!(report.trees[0].fetched, 4);
    assert_eq!(resolver.lookups() - before, 5);
    assert_eq!(report.trees[0].seq, 2);
    let got = report
        .records
        .iter()
        .find(|r| enr::node_id(r) == moved_key.id())
        .unwrap();
    assert_eq!(enr::to_enode(got).unwrap().tcp_port, 1);

    // An older root is refused afterwards.
    resolver.insert_all(first.to_txt("n"));
    let result = client.sync(&url).await;
    assert!(
        matches!(result, Err(SyncError::SeqRegressed { seen: 2, got: 1 })),
        "{result:?}"
    );
}

#[tokio::test]
async fn the_entry_bound_covers_linked_trees_too() {
    let resolver = MemoryResolver::new();
    let linked_key = keys(40, 1).remove(0);
    let linked = Tree::sign(1, &records(41, 60), &[], linked_key.secret());
    resolver.insert_all(linked.to_txt("linked.example"));
    let linked_url = linked.url("linked.example").unwrap();
    let top = Tree::sign(
        1,
        &records(42, 60),
        std::slice::from_ref(&linked_url),
        signer().secret(),
    );
    resolver.insert_all(top.to_txt("top.example"));
    // Each tree fits alone (about 65 entries), not both together.
    let config = DnsConfig {
        max_entries: 100,
        ..DnsConfig::default()
    };
    let mut client = DnsClient::new(resolver, config);
    let report = client.sync(&top.url("top.example").unwrap()).await.unwrap();
    assert_eq!(report.trees.len(), 1);
    assert_eq!(report.records.len(), 60);
    let [(link, SyncError::TooManyEntries(left))] = &report.refused[..] else {
        panic!("{:?}", report.refused)
    };
    assert_eq!(*link, linked_url);
    assert_eq!(*left, 100 - report.trees[0].entries);
}

#[tokio::test]
async fn entries_and_depth_are_bounded() {
    let tree = Tree::sign(1, &records(12, 200), &[], signer().secret());
    let url = tree.url("n").unwrap();
    let resolver = Arc::new(MemoryResolver::new());
    resolver.insert_all(tree.to_txt("n"));
    let small = DnsConfig {
        max_entries: 100,
        ..DnsConfig::default()
    };
    let mut client = DnsClient::new(Arc::clone(&resolver), small);
    let result = client.sync(&url).await;
    assert!(
        matches!(result, Err(SyncError::TooManyEntries(100))),
        "{result:?}"
    );
    // 200 leaves hang three branches deep.
    let shallow = DnsConfig {
        max_depth: 2,
        ..DnsConfig::default()
    };
    let mut client = DnsClient::new(resolver, shallow);
    let result = client.sync(&url).await;
    assert!(matches!(result, Err(SyncError::TooDeep(2))), "{result:?}");
}

#[tokio::test]
async fn leaves_in_the_wrong_subtree_are_refused() {
    let key = signer();
    let node = records(13, 1).remove(0).to_base64();
    let link = url_for(keys(14, 1)[0].secret(), "x.example")
        .unwrap()
        .to_string();
    let resolver = Arc::new(MemoryResolver::new());
    let url = url_for(key.secret(), "n").unwrap();
    let empty = "enrtree-branch:".to_owned();
    for (enr_top, link_top, want) in [
        (&link, &empty, "LinkInEnrTree"),
        (&empty, &node, "EnrInLinkTree"),
    ] {
        let root = Root::sign(
            EntryHash::of(enr_top),
            EntryHash::of(link_top),
            1,
            key.secret(),
        );
        resolver.clear();
        resolver.set("n", vec![root.to_string()]);
        for text in [enr_top, link_top] {
            resolver.set(&format!("{}.n", EntryHash::of(text)), vec![text.clone()]);
        }
        let mut client = DnsClient::new(Arc::clone(&resolver), DnsConfig::default());
        let err = client.sync(&url).await.unwrap_err();
        assert_eq!(format!("{err:?}"), want);
    }
}

/// A resolver that never answers.
struct Silent;

impl TxtResolver for Silent {
    fn lookup_txt(
        &self,
        _name: &str,
    ) -> impl std::future::Future<Output = Result<Vec<String>, ResolveError>> + Send {
        std::future::pending()
    }
}

#[tokio::test(start_paused = true)]
async fn a_sync_that_never_ends_times_out() {
    let config = DnsConfig {
        sync_timeout: Duration::from_secs(5),
        ..DnsConfig::default()
    };
    let mut client = DnsClient::new(Silent, config);
    let url = url_for(signer().secret(), "n").unwrap();
    assert!(matches!(client.sync(&url).await, Err(SyncError::Timeout)));
}

#[test]
fn malformed_entries_have_their_errors() {
    let root = EIP_EXAMPLE[0].1;
    let cases: Vec<(String, EntryError)> = vec![
        ("x".repeat(MAX_ENTRY_LEN + 1), EntryError::TooLong),
        ("enrtree-leaf:".into(), EntryError::UnknownType),
        ("enrtree-branch:AAAA".into(), EntryError::Hash),
        (
            "enrtree-branch:AAAAAAAAAAAAAAAAAAAAAAAAAA,".into(),
            EntryError::Hash,
        ),
        ("enr:-HW4QLAYqmrwll".into(), EntryError::Enr),
        (
            "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2".into(),
            EntryError::Domain,
        ),
        (
            "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT2@a..b".into(),
            EntryError::Domain,
        ),
        (
            "enrtree://AM5FCQLWIZX2QFPNJAP7VUERCCRNGRHWZG3YYHIUV7BVDQ5FDPRT3@a".into(),
            EntryError::Key,
        ),
        ("enrtree://AAAA@a".into(), EntryError::Key),
    ];
    for (text, want) in cases {
        assert_eq!(text.parse::<Entry>(), Err(want), "{text}");
    }
    let root_cases: Vec<(String, EntryError)> = vec![
        (root.replace("seq=1", "seq=01"), EntryError::Seq),
        (root.replace("seq=1", "seq=x"), EntryError::Seq),
        (root.replace(" l=", "  l="), EntryError::RootSyntax),
        (
            root.replace("enrtree-root:v1", "enrtree-root:v2"),
            EntryError::RootSyntax,
        ),
        (format!("{root} x=1"), EntryError::RootSyntax),
        (
            root.replace("e=JWXYDBPXYWG6FX3GMDIBFA6CJ4", "e=JWXY"),
            EntryError::Hash,
        ),
        (root.replace("sig=o908", "sig=o9"), EntryError::Signature),
    ];
    for (text, want) in root_cases {
        assert_eq!(text.parse::<Root>(), Err(want), "{text}");
    }
}

#[test]
fn long_records_are_cut_into_character_strings_and_joined_back() {
    let text = EIP_EXAMPLE[0].1.repeat(3);
    let pieces: Vec<&str> = character_strings(&text).collect();
    assert_eq!(
        pieces.iter().map(|p| p.len()).collect::<Vec<_>>(),
        [255, 255, text.len() - 510]
    );
    assert_eq!(pieces.concat(), text);
    assert_eq!(character_strings("").count(), 0);
}

#[tokio::test(start_paused = true)]
async fn the_node_source_yields_only_records_with_a_tcp_port() {
    use futures_util::StreamExt;

    let keys = keys(17, 2);
    let at = |last: u8, tcp_port: u16| Endpoint {
        ip: [10, 0, 0, last].into(),
        udp_port: 30303,
        tcp_port,
    };
    let with_tcp = enr::build(&keys[0], 1, &at(1, 30303)).unwrap();
    // A discovery-only node (a consensus client's record, say): `udp` and no `tcp`.
    let without_tcp = enr::build(&keys[1], 1, &at(2, 0)).unwrap();
    assert_eq!(without_tcp.tcp4(), None);
    let tree = Tree::sign(1, &[with_tcp.clone(), without_tcp], &[], signer().secret());
    let resolver = MemoryResolver::new();
    resolver.insert_all(tree.to_txt("n"));
    let mut source = node_source(resolver, tree.url("n").unwrap(), DnsConfig::default());

    let first = source.next().await.unwrap();
    assert_eq!(Some(first), enr::dialable(&with_tcp));
    // Nothing else until the recheck, half an hour later.
    let next = tokio::time::timeout(Duration::from_secs(60), source.next()).await;
    assert!(next.is_err(), "{next:?}");
}
