use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::SeedableRng;

use super::*;
use crate::crypto::NodeKey;

fn endpoint(i: u16) -> Endpoint {
    Endpoint {
        ip: IpAddr::V4(Ipv4Addr::new(10, 0, (i >> 8) as u8, i as u8)),
        udp_port: 30303,
        tcp_port: 30303,
    }
}

/// A table and `n` ids that fall in its farthest bucket (log distance 256).
fn table_and_far_ids(n: usize) -> (Table, Vec<NodeId>) {
    let mut rng = StdRng::seed_from_u64(1);
    let table = Table::new(NodeKey::generate(&mut rng).id());
    let mut ids = Vec::new();
    while ids.len() < n {
        let id = NodeKey::generate(&mut rng).id();
        if table.local.log_distance(&NodeHash::of_id(&id)) == 256 {
            ids.push(id);
        }
    }
    (table, ids)
}

fn far_bucket(t: &Table) -> &Bucket {
    &t.buckets[255]
}

#[test]
fn a_bucket_holds_sixteen_then_keeps_bounded_replacements() {
    let now = Instant::now();
    let (mut t, ids) = table_and_far_ids(BUCKET_SIZE + MAX_REPLACEMENTS + 5);
    for (i, id) in ids.iter().enumerate().take(BUCKET_SIZE) {
        assert_eq!(t.insert(now, *id, endpoint(i as u16)), TableInsert::Added);
    }
    for (i, id) in ids.iter().enumerate().skip(BUCKET_SIZE) {
        assert_eq!(
            t.insert(now, *id, endpoint(i as u16)),
            TableInsert::Replacement
        );
    }
    assert_eq!(t.len(), BUCKET_SIZE);
    assert_eq!(far_bucket(&t).replacements.len(), MAX_REPLACEMENTS);
    // The most recent replacement is first; the oldest were dropped.
    assert_eq!(far_bucket(&t).replacements[0].id, *ids.last().unwrap());
    assert_eq!(t.insert(now, ids[3], endpoint(999)), TableInsert::Refreshed);
    assert_eq!(t.get(&ids[3]).unwrap().endpoint, endpoint(999));
    assert_eq!(t.insert(now, t.local_id, endpoint(0)), TableInsert::Local);
}

#[test]
fn failed_revalidation_replaces_the_head_with_the_latest_replacement() {
    let t0 = Instant::now();
    let mut rng = StdRng::seed_from_u64(7);
    let (mut t, ids) = table_and_far_ids(BUCKET_SIZE + 2);
    for (i, id) in ids.iter().enumerate() {
        t.insert(t0 + Duration::from_secs(i as u64), *id, endpoint(i as u16));
    }
    // Only one bucket is filled, so the pick is its least-recently seen entry.
    let head = t.pick_revalidation(&mut rng).unwrap();
    assert_eq!(head.id, ids[0]);

    let t1 = t0 + Duration::from_secs(100);
    assert_eq!(t.revalidated(t1, &ids[0], true), Revalidated::Alive);
    assert_eq!(far_bucket(&t).entries.last().unwrap().id, ids[0]);
    assert_eq!(t.get(&ids[0]).unwrap().last_seen, t1);
    assert_eq!(t.pick_revalidation(&mut rng).unwrap().id, ids[1]);

    let replaced = t.revalidated(t1, &ids[1], false);
    assert_eq!(
        replaced,
        Revalidated::Replaced(Some(far_bucket(&t).entries.last().copied().unwrap()))
    );
    assert!(t.get(&ids[1]).is_none());
    assert!(
        t.get(&ids[BUCKET_SIZE + 1]).is_some(),
        "latest replacement promoted"
    );
    assert_eq!(t.len(), BUCKET_SIZE);
    assert_eq!(t.revalidated(t1, &ids[1], false), Revalidated::Unknown);
}

#[test]
fn removing_without_replacements_frees_the_slot() {
    let now = Instant::now();
    let (mut t, ids) = table_and_far_ids(2);
    t.insert(now, ids[0], endpoint(0));
    assert_eq!(t.remove(&ids[0]), None);
    assert!(t.is_empty());
    assert_eq!(t.insert(now, ids[1], endpoint(1)), TableInsert::Added);
}

#[test]
fn closest_returns_the_nearest_known_nodes_in_order() {
    let now = Instant::now();
    let mut rng = StdRng::seed_from_u64(3);
    let mut t = Table::new(NodeKey::generate(&mut rng).id());
    for i in 0..300u16 {
        t.insert(now, NodeKey::generate(&mut rng).id(), endpoint(i));
    }
    let target = NodeHash::of_id(&NodeKey::generate(&mut rng).id());
    let got = t.closest(&target, BUCKET_SIZE);
    assert_eq!(got.len(), BUCKET_SIZE);
    let mut all: Vec<TableEntry> = t.buckets.iter().flat_map(|b| b.entries.clone()).collect();
    all.sort_by(|a, b| target.cmp_distance(a.hash(), b.hash()));
    assert_eq!(got, all[..BUCKET_SIZE]);
    for w in got.windows(2) {
        assert!(target.cmp_distance(w[0].hash(), w[1].hash()).is_le());
    }
}

fn at(ip: &str) -> Endpoint {
    Endpoint {
        ip: ip.parse().unwrap(),
        udp_port: 30303,
        tcp_port: 30303,
    }
}

/// `per_distance` ids at each log distance from 256 down, `n` in all.
fn ids_spread(t: &Table, n: usize, per_distance: usize) -> Vec<NodeId> {
    let mut rng = StdRng::seed_from_u64(5);
    let mut by_distance: std::collections::HashMap<u32, usize> = Default::default();
    let mut ids = Vec::new();
    while ids.len() < n {
        let id = NodeKey::generate(&mut rng).id();
        let d = t.local.log_distance(&NodeHash::of_id(&id));
        let taken = by_distance.entry(d).or_default();
        if d > 240 && *taken < per_distance {
            *taken += 1;
            ids.push(id);
        }
    }
    ids
}

#[test]
fn one_slash_24_gets_two_places_in_a_bucket() {
    let now = Instant::now();
    let (mut t, ids) = table_and_far_ids(20);
    let results: Vec<TableInsert> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| t.insert(now, *id, at(&format!("9.9.9.{i}"))))
        .collect();
    let admitted = results.iter().filter(|r| **r == TableInsert::Added).count();
    assert_eq!(admitted, 2, "{results:?}");
    assert_eq!(results[2..], [TableInsert::IpLimit; 18]);
    // One /64 is one network for IPv6.
    let (mut t, ids) = table_and_far_ids(5);
    for (i, id) in ids.iter().enumerate() {
        t.insert(now, *id, at(&format!("2a00:1:2:3::{}", i + 1)));
    }
    assert_eq!(t.len(), 2);
}

#[test]
fn one_slash_24_gets_ten_places_in_the_table() {
    let now = Instant::now();
    let mut t = table_and_far_ids(0).0;
    let ids = ids_spread(&t, 11, 2);
    for (i, id) in ids.iter().take(10).enumerate() {
        assert_eq!(
            t.insert(now, *id, at(&format!("9.9.9.{i}"))),
            TableInsert::Added
        );
    }
    assert_eq!(t.insert(now, ids[10], at("9.9.9.10")), TableInsert::IpLimit);
    assert_eq!(t.len(), 10);
    // A node leaving makes room.
    t.remove(&ids[0]);
    assert_eq!(t.insert(now, ids[10], at("9.9.9.10")), TableInsert::Added);
}

#[test]
fn replacements_count_against_the_limit_too() {
    let now = Instant::now();
    let (mut t, ids) = table_and_far_ids(BUCKET_SIZE + 5);
    for (i, id) in ids.iter().take(BUCKET_SIZE).enumerate() {
        t.insert(now, *id, at(&format!("9.9.{i}.1")));
    }
    let late: Vec<TableInsert> = ids[BUCKET_SIZE..]
        .iter()
        .enumerate()
        .map(|(i, id)| t.insert(now, *id, at(&format!("8.8.8.{i}"))))
        .collect();
    assert_eq!(
        late,
        [
            TableInsert::Replacement,
            TableInsert::Replacement,
            TableInsert::IpLimit,
            TableInsert::IpLimit,
            TableInsert::IpLimit
        ]
    );
    // An entry may not move into a full network; it keeps its endpoint.
    assert_eq!(t.insert(now, ids[0], at("8.8.8.9")), TableInsert::IpLimit);
    assert_eq!(t.get(&ids[0]).unwrap().endpoint, at("9.9.0.1"));
    // The entry's failure promotes a replacement: the counts do not change.
    let next = far_bucket(&t).replacements.front().copied();
    assert_eq!(
        t.revalidated(now, &ids[1], false),
        Revalidated::Replaced(next)
    );
    assert_eq!(
        t.insert(now, ids[BUCKET_SIZE + 4], at("8.8.8.4")),
        TableInsert::IpLimit
    );
}

#[test]
fn loopback_and_lan_nodes_are_not_limited() {
    let now = Instant::now();
    for net in ["127.0.0", "10.1.1", "192.168.1"] {
        let (mut t, ids) = table_and_far_ids(BUCKET_SIZE + 5);
        for (i, id) in ids.iter().enumerate() {
            t.insert(now, *id, at(&format!("{net}.{}", i + 1)));
        }
        assert_eq!(t.len(), BUCKET_SIZE, "{net}");
        assert_eq!(far_bucket(&t).replacements.len(), 5, "{net}");
    }
}
