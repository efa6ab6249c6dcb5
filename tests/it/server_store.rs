//! A server with a peer store: what it remembers across restarts, how fast it starts with a
//! full store, and how few writes churn costs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peerwire::crypto::{Enode, NodeKey};
use peerwire::datadir::DataDir;
use peerwire::protocol::Protocol;
use peerwire::server::store::{
    Change, DbStore, MemoryStore, NodeUpdate, PeerStore, Snapshot, StoreError,
};
use peerwire::server::{
    DiscoveryMode, PeerEvent, RejectReason, ReputationChange, Server, ServerConfig, ServerHandle,
};
use peerwire::wire::DisconnectReason;

fn protocol() -> Protocol {
    peerwire_foobar::FooBar::new().0.protocol()
}

fn config(key: NodeKey) -> ServerConfig {
    let mut c = ServerConfig::new(key);
    c.listen_addr = Some("127.0.0.1:0".parse().unwrap());
    c.protocols = vec![protocol()];
    c
}

/// A store that counts the batches and changes it is given.
#[derive(Debug)]
struct Counting<S> {
    inner: S,
    batches: AtomicU64,
    changes: AtomicU64,
}

impl<S: PeerStore> PeerStore for Counting<S> {
    fn load(&self) -> Result<Snapshot, StoreError> {
        self.inner.load()
    }

    fn apply(&self, changes: &[Change]) -> Result<(), StoreError> {
        self.batches.fetch_add(1, Ordering::Relaxed);
        self.changes
            .fetch_add(changes.len() as u64, Ordering::Relaxed);
        self.inner.apply(changes)
    }
}

/// A peer penalised past the threshold is banned, and after a restart on the same store it
/// is still banned (refused with Disconnect `Requested`) and its score is still low; a static
/// peer added at run time is dialed again.
#[tokio::test]
async fn reputation_bans_and_runtime_peers_survive_a_restart() {
    let store: Arc<MemoryStore> = Arc::new(MemoryStore::new(1000));
    let key = NodeKey::random();
    let mut c = config(key.clone());
    c.store.backend = Some(store.clone());
    let a = Server::start(c).await.unwrap();
    let bad = Server::start(config(NodeKey::random())).await.unwrap();
    let friend = Server::start(config(NodeKey::random())).await.unwrap();
    let mut events = a.events();
    let bad_enode = bad.local_enode();
    a.dial(bad_enode).await.unwrap();
    // A handler's report, through the peer handle.
    a.peer(&bad_enode.id)
        .unwrap()
        .report(ReputationChange::BadMessage);
    a.report(bad_enode.id, ReputationChange::BadProtocol);
    let banned = loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Ok(PeerEvent::Banned { id, score, .. })) => break (id, score),
            Ok(Ok(_)) => {}
            other => panic!("no ban: {other:?}"),
        }
    };
    assert_eq!(banned.0, bad_enode.id);
    assert!(
        banned.1 <= -80 * peerwire::server::REPUTATION_UNIT + 1,
        "{}",
        banned.1
    );
    // Decay since the ban is a few units at most.
    assert!(a.reputation(&bad_enode.id) <= banned.1 / 2 * 2 + 16);
    tokio::time::timeout(Duration::from_secs(5), async {
        while a.peer(&bad_enode.id).is_some() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the banned peer is disconnected");
    a.add_peer(friend.local_enode());
    a.stop().await;
    assert!(store.batches() >= 1);

    let mut c = config(key);
    c.store.backend = Some(store.clone());
    let a2 = Server::start(c).await.unwrap();
    assert!(
        a2.reputation(&bad_enode.id) <= banned.1 / 2,
        "decayed little, not reset"
    );
    let mut events = a2.events();
    // The dialer may see the Hello before the refusal; the banned side is where it shows.
    let _ = bad.dial(a2.local_enode()).await;
    let refused = loop {
        match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
            Ok(Ok(PeerEvent::Refused {
                id: Some(id),
                reason,
                ..
            })) if id == bad_enode.id => break reason,
            Ok(Ok(PeerEvent::Added(info))) => {
                assert_ne!(info.id, bad_enode.id, "the banned peer was admitted")
            }
            Ok(Ok(_)) => {}
            other => panic!("no refusal: {other:?}"),
        }
    };
    assert_eq!(refused, RejectReason::BannedNode);
    tokio::time::timeout(Duration::from_secs(5), async {
        while a2.peer(&friend.local_enode().id).is_none() {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .expect("the runtime static peer is dialed after the restart");
    for s in [a2, bad, friend] {
        s.stop().await;
    }
}

/// 10,000 stored nodes: the data directory opens (key, lock, store checked) and the server
/// starts in under a second; the file size per 1,000 nodes is reported.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_with_ten_thousand_stored_nodes_starts_within_a_second() {
    let tmp = tempfile::tempdir().unwrap();
    {
        let dir = DataDir::open(tmp.path()).unwrap();
        let opened = dir.open_store(10_000).unwrap();
        let changes: Vec<Change> = (0..10_000u32)
            .map(|i| {
                let ip = [10, (i >> 16) as u8, (i >> 8) as u8, i as u8];
                let enode = Enode::new(NodeKey::random().id(), (ip, 30303).into());
                Change::Node(NodeUpdate::seen(enode, 1_700_000_000 + u64::from(i)))
            })
            .collect();
        let written = Instant::now();
        opened.store.apply(&changes).unwrap();
        let elapsed = written.elapsed();
        eprintln!(
            "one batch of 10,000 node updates: {elapsed:?} ({:.0} changes/s)",
            10_000.0 / elapsed.as_secs_f64()
        );
    }
    let size = std::fs::metadata(tmp.path().join("peers.redb"))
        .unwrap()
        .len();
    eprintln!(
        "store file: {size} bytes for 10,000 nodes, {} bytes per 1,000",
        size / 10
    );
    assert!(size < 10 * 1024 * 1024, "{size}");

    let started = Instant::now();
    let dir = DataDir::open(tmp.path()).unwrap();
    let key = dir.node_key().unwrap();
    let opened = dir.open_store(10_000).unwrap();
    assert!(opened.moved_aside.is_none());
    let mut c = config(key);
    c.store.backend = Some(opened.backend());
    c.discovery.mode = DiscoveryMode::Always;
    let server = Server::start(c).await.unwrap();
    let elapsed = started.elapsed();
    eprintln!("start with 10,000 stored nodes: {elapsed:?}");
    assert!(elapsed < Duration::from_secs(1), "{elapsed:?}");
    server.stop().await;
}

/// Peers connect and drop for 4 s; the store gets about one batch a second however many
/// events there are.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_reaches_the_store_in_about_one_batch_a_second() {
    let tmp = tempfile::tempdir().unwrap();
    let store = Arc::new(Counting {
        inner: DbStore::open(&tmp.path().join("peers.redb"), 10_000).unwrap(),
        batches: AtomicU64::new(0),
        changes: AtomicU64::new(0),
    });
    let mut c = config(NodeKey::random());
    c.store.backend = Some(store.clone());
    c.gating.inbound_throttle = Duration::ZERO;
    let hub = Server::start(c).await.unwrap();
    let hub_enode = hub.local_enode();
    let mut clients: Vec<ServerHandle> = Vec::new();
    for _ in 0..8 {
        clients.push(Server::start(config(NodeKey::random())).await.unwrap());
    }
    let mut sessions = 0u64;
    let started = Instant::now();
    while started.elapsed() < Duration::from_secs(4) {
        for client in &clients {
            if client.dial(hub_enode).await.is_ok() {
                sessions += 1;
            }
            for peer in client.peers() {
                peer.disconnect(DisconnectReason::Requested);
            }
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    hub.stop().await;
    let secs = started.elapsed().as_secs_f64();
    let batches = store.batches.load(Ordering::Relaxed);
    let changes = store.changes.load(Ordering::Relaxed);
    eprintln!(
        "churn: {sessions} sessions in {secs:.1} s; store writes {:.2}/s, {batches} batches \
         carrying {changes} changes",
        batches as f64 / secs
    );
    assert!(sessions >= 40, "{sessions}");
    assert!(changes >= 8, "the peers were recorded: {changes}");
    assert!(
        batches <= secs.ceil() as u64 + 2,
        "{batches} batches in {secs} s"
    );
    for c in clients {
        c.stop().await;
    }
}
