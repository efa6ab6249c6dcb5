use std::net::IpAddr;

use super::writer::Pending;
use super::*;
use crate::crypto::NodeKey;

fn enode(last: u8) -> Enode {
    Enode::new(NodeKey::random().id(), ([10, 0, 0, last], 30303).into())
}

fn all_kinds(a: Enode, b: Enode) -> Vec<Change> {
    vec![
        Change::Node(NodeUpdate::seen(a, 100)),
        Change::Node(NodeUpdate::connected(b, 200)),
        Change::Node(NodeUpdate::dial_failed(b.id)),
        Change::Ban(StoredBan {
            target: BanTarget::Ip(IpAddr::from([10, 9, 9, 9])),
            until: Some(5000),
        }),
        Change::Ban(StoredBan {
            target: BanTarget::Node(a.id),
            until: None,
        }),
        Change::AddStatic(a),
        Change::AddTrusted(b.id),
        Change::Reputation(StoredReputation {
            id: a.id,
            score: -4096,
            at: 300,
        }),
    ]
}

fn sorted(mut s: Snapshot) -> Snapshot {
    s.nodes.sort_by_key(|n| *n.enode.id.as_bytes());
    s.bans.sort_by_key(|b| format!("{:?}", b.target));
    s
}

/// Every kind of change comes back from the database after a reopen, as the in-memory
/// store holds it.
#[test]
fn the_database_and_the_memory_store_agree_and_survive_a_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("peers.redb");
    let (a, b) = (enode(1), enode(2));
    let db = DbStore::open(&path, 100).unwrap();
    let mem = MemoryStore::new(100);
    db.apply(&all_kinds(a, b)).unwrap();
    mem.apply(&all_kinds(a, b)).unwrap();
    drop(db);
    let db = DbStore::open(&path, 100).unwrap();
    let loaded = sorted(db.load().unwrap());
    assert_eq!(loaded, sorted(mem.load().unwrap()));
    let b_node = loaded.nodes.iter().find(|n| n.enode == b).unwrap();
    assert_eq!((b_node.last_connected, b_node.dial_failures), (200, 1));
    assert_eq!(loaded.bans.len(), 2);
    assert_eq!(loaded.static_peers, vec![a]);
    assert_eq!(loaded.trusted_peers, vec![b.id]);
    assert_eq!(loaded.reputation[0].score, -4096);

    // Removals, and a score of 0 removes.
    db.apply(&[
        Change::Unban(BanTarget::Node(a.id)),
        Change::RemoveStatic(a.id),
        Change::RemoveTrusted(b.id),
        Change::Reputation(StoredReputation {
            id: a.id,
            score: 0,
            at: 400,
        }),
    ])
    .unwrap();
    let after = db.load().unwrap();
    assert_eq!(after.bans.len(), 1);
    assert!(after.static_peers.is_empty() && after.trusted_peers.is_empty());
    assert!(after.reputation.is_empty());
}

#[test]
fn updates_of_one_node_merge_and_a_session_resets_the_failures() {
    let a = enode(1);
    let merged = NodeUpdate::dial_failed(a.id)
        .then(NodeUpdate::dial_failed(a.id))
        .then(NodeUpdate::seen(a, 50));
    let stored = merged.apply_to(None).unwrap();
    assert_eq!((stored.dial_failures, stored.last_seen), (2, 50));
    let reset = merged.then(NodeUpdate::connected(a, 60));
    let stored = reset.apply_to(Some(stored)).unwrap();
    assert_eq!((stored.dial_failures, stored.last_connected), (0, 60));
    // No address and nothing stored: nothing to keep.
    assert_eq!(NodeUpdate::dial_failed(a.id).apply_to(None), None);
}

/// Many changes of few nodes become one small batch: what the writer hands the store.
#[test]
fn the_writer_merges_what_waits_into_one_batch_per_node() {
    let nodes: Vec<Enode> = (0..10).map(enode).collect();
    let mut pending = Pending::default();
    for i in 0..1000u64 {
        let n = nodes[(i % 10) as usize];
        pending.add(Change::Node(NodeUpdate::seen(n, i)));
        pending.add(Change::Reputation(StoredReputation {
            id: n.id,
            score: -(i as i32) - 1,
            at: i,
        }));
    }
    pending.add(Change::AddTrusted(nodes[0].id));
    assert_eq!(pending.len(), 21);
    let batch = pending.take();
    assert_eq!(batch.len(), 21);
    assert_eq!(pending.len(), 0);
    let mem = MemoryStore::new(100);
    mem.apply(&batch).unwrap();
    let snap = mem.load().unwrap();
    let last = snap.nodes.iter().map(|n| n.last_seen).max();
    assert_eq!(last, Some(999));
    assert!(
        snap.reputation.iter().all(|r| r.score <= -991),
        "the latest scores"
    );
}

#[test]
fn a_store_keeps_the_most_recently_live_nodes_up_to_its_bound() {
    let dir = tempfile::tempdir().unwrap();
    let db = DbStore::open(&dir.path().join("p.redb"), 100).unwrap();
    let mem = MemoryStore::new(100);
    let changes: Vec<Change> = (0..300u64)
        .map(|i| Change::Node(NodeUpdate::seen(enode(1), 1000 + i)))
        .collect();
    for chunk in changes.chunks(50) {
        db.apply(chunk).unwrap();
        mem.apply(chunk).unwrap();
    }
    let kept = db.load().unwrap().nodes;
    assert!(kept.len() <= 100 + 100 / 8, "{}", kept.len());
    assert!(kept.iter().all(|n| n.last_seen >= 1000 + 300 - 113));
    let kept = mem.load().unwrap().nodes;
    assert_eq!(kept.len(), 100);
    assert!(kept.iter().all(|n| n.last_seen >= 1200));
}

#[test]
fn seeds_and_redials_are_recent_first_and_skip_the_stale_and_the_failing() {
    let (a, b, c, d) = (enode(1), enode(2), enode(3), enode(4));
    let mem = MemoryStore::new(100);
    mem.apply(&[
        Change::Node(NodeUpdate::seen(a, 500)),
        Change::Node(NodeUpdate::connected(b, 900)),
        Change::Node(NodeUpdate::seen(c, 10)),
        Change::Node(NodeUpdate::connected(d, 800)),
        Change::Node(NodeUpdate::dial_failed(d.id)),
        Change::Node(NodeUpdate::dial_failed(d.id)),
        Change::Node(NodeUpdate::dial_failed(d.id)),
    ])
    .unwrap();
    let snap = mem.load().unwrap();
    assert_eq!(snap.recently_live(100, 10), vec![b, d, a]);
    assert_eq!(snap.recently_live(100, 1), vec![b]);
    assert_eq!(snap.recently_connected(100, 3, 10), vec![b]);
    assert_eq!(snap.recently_connected(100, 4, 10), vec![b, d]);
}

#[test]
fn a_store_of_a_newer_layout_is_refused_and_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.redb");
    {
        let db = redb::Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(redb::TableDefinition::<&str, u32>::new("meta"))
            .unwrap()
            .insert("schema", SCHEMA_VERSION + 1)
            .unwrap();
        tx.commit().unwrap();
    }
    let before = std::fs::read(&path).unwrap();
    let err = DbStore::open(&path, 10).unwrap_err();
    assert!(
        matches!(err, StoreError::SchemaTooNew { found, .. } if found == SCHEMA_VERSION + 1),
        "{err}"
    );
    assert!(!err.is_damaged_file());
    assert_eq!(std::fs::read(&path).unwrap(), before);
}

/// Values of the wrong size and ids that are not curve points are errors, not panics.
#[test]
fn malformed_entries_are_errors_and_are_overwritten_by_updates() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.redb");
    let a = enode(1);
    {
        let db = DbStore::open(&path, 10).unwrap();
        drop(db);
        let db = redb::Database::create(&path).unwrap();
        let tx = db.begin_write().unwrap();
        tx.open_table(redb::TableDefinition::<&[u8], &[u8]>::new("nodes"))
            .unwrap()
            .insert(a.id.as_bytes().as_slice(), [1u8, 2, 3].as_slice())
            .unwrap();
        tx.commit().unwrap();
    }
    let db = DbStore::open(&path, 10).unwrap();
    assert!(matches!(db.load(), Err(StoreError::Malformed("node"))));
    db.apply(&[Change::Node(NodeUpdate::seen(a, 7))]).unwrap();
    assert_eq!(db.load().unwrap().nodes[0].last_seen, 7);
    for bad in [&[][..], &[9u8; 3][..], &[0u8; 64][..]] {
        assert!(codec::decode_node(bad, &[0; codec::NODE_LEN]).is_err());
        assert!(codec::decode_ban_key(bad).is_err());
    }
}
