//! blobs/1 between two and three servers (multi-chunk blobs, relaying, a corrupting peer, a
//! missing blob), and against a hand-driven peer over the pipe (oversized and malformed
//! replies).

use std::sync::Arc;
use std::time::Duration;

use peerwire::crypto::{NodeId, NodeKey};
use peerwire::protocol::pipe::run_handler;
use peerwire::protocol::request::{self, Incoming, RequestConfig};
use peerwire::rlp::{self, RlpStream};
use peerwire::server::{Server, ServerConfig, ServerHandle};
use peerwire_blobs::wire::{BLOB, CHUNK_SIZE, GET_BLOB, HAVE};
use peerwire_blobs::{
    BlobHash, Blobs, Chunk, DiskStore, FetchError, Limits, MemoryStore, Store, StoreError,
};
use rand::RngCore;

async fn node(blobs: &Blobs) -> ServerHandle {
    let mut config = ServerConfig::new(NodeKey::generate(&mut rand::rngs::OsRng));
    config.listen_addr = Some("127.0.0.1:0".parse().unwrap());
    config.protocols = vec![blobs.protocol()];
    Server::start(config).await.unwrap()
}

fn random(len: usize) -> Vec<u8> {
    let mut data = vec![0; len];
    rand::thread_rng().fill_bytes(&mut data);
    data
}

/// Waits up to 5 s for `cond`.
async fn eventually(mut cond: impl FnMut() -> bool) {
    let wait = async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .expect("condition within 5 s");
}

/// `a` dials `b`; returns once both run blobs/1 with each other.
async fn connect(a: (&ServerHandle, &Blobs), b: (&ServerHandle, &Blobs)) {
    a.0.add_peer(b.0.local_enode());
    let (a_id, b_id) = (a.0.local_enode().id, b.0.local_enode().id);
    eventually(|| a.1.peer_ids().contains(&b_id) && b.1.peer_ids().contains(&a_id)).await;
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    std::env::temp_dir().join(format!(
        "peerwire-blobs-{name}-{}-{nanos}",
        std::process::id()
    ))
}

#[tokio::test]
async fn a_multi_chunk_blob_moves_from_memory_to_disk_and_is_announced_back() {
    // Five and a half chunks: the last one is short.
    let data = random(5 * CHUNK_SIZE + CHUNK_SIZE / 2);
    let memory = Arc::new(MemoryStore::new());
    let hash = memory.put(&data).unwrap();
    let alice = Blobs::new(memory);
    let dir = temp_dir("two");
    let bob = Blobs::new(Arc::new(DiskStore::open(&dir).unwrap()));
    let (a, b) = (node(&alice).await, node(&bob).await);
    connect((&b, &bob), (&a, &alice)).await;
    let (a_id, b_id) = (a.local_enode().id, b.local_enode().id);

    // Alice announced what she holds on connect.
    eventually(|| bob.providers(&hash) == vec![a_id]).await;
    let got = bob.get(&hash).await.unwrap();
    assert_eq!(got, data);
    // On Bob's disk under its hash, and announced to Alice.
    assert_eq!(std::fs::read(dir.join(hash.to_string())).unwrap(), data);
    eventually(|| alice.providers(&hash) == vec![b_id]).await;
    // A second get is served locally.
    assert_eq!(bob.get(&hash).await.unwrap(), data);

    b.stop().await;
    a.stop().await;
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn a_blob_added_later_travels_across_three_nodes() {
    let (alice, bob, carol) = (
        Blobs::new(Arc::new(MemoryStore::new())),
        Blobs::new(Arc::new(MemoryStore::new())),
        Blobs::new(Arc::new(MemoryStore::new())),
    );
    let (a, b, c) = (node(&alice).await, node(&bob).await, node(&carol).await);
    // A line: alice - bob - carol. Carol never talks to alice.
    connect((&b, &bob), (&a, &alice)).await;
    connect((&c, &carol), (&b, &bob)).await;
    let (a_id, b_id) = (a.local_enode().id, b.local_enode().id);

    let data = random(2 * CHUNK_SIZE + 17);
    let hash = alice.add(data.clone()).await.unwrap();
    eventually(|| bob.providers(&hash) == vec![a_id]).await;
    assert!(carol.providers(&hash).is_empty());
    assert!(matches!(
        carol.get(&hash).await,
        Err(FetchError::NoProvider)
    ));

    assert_eq!(bob.get(&hash).await.unwrap(), data);
    // Bob announces it on: carol fetches from bob.
    eventually(|| carol.providers(&hash) == vec![b_id]).await;
    assert_eq!(carol.get(&hash).await.unwrap(), data);
    assert_eq!(carol.store().get(&hash).unwrap().unwrap(), data);

    c.stop().await;
    b.stop().await;
    a.stop().await;
}

/// A store that serves blob bytes with one bit flipped.
struct Corrupting(MemoryStore);

impl Store for Corrupting {
    fn put(&self, data: &[u8]) -> Result<BlobHash, StoreError> {
        self.0.put(data)
    }

    fn read(&self, hash: &BlobHash, offset: u64, max: usize) -> Result<Option<Chunk>, StoreError> {
        Ok(self.0.read(hash, offset, max)?.map(|mut chunk| {
            let mut data = chunk.data.to_vec();
            if let Some(byte) = data.first_mut() {
                *byte ^= 1;
            }
            chunk.data = data.into();
            chunk
        }))
    }

    fn hashes(&self) -> Result<Vec<BlobHash>, StoreError> {
        self.0.hashes()
    }
}

#[tokio::test]
async fn a_corrupted_blob_is_rejected_and_not_stored_and_a_missing_one_is_not_found() {
    let liar = Corrupting(MemoryStore::new());
    let data = random(CHUNK_SIZE + 1);
    let hash = liar.put(&data).unwrap();
    let mallory = Blobs::new(Arc::new(liar));
    let bob = Blobs::new(Arc::new(MemoryStore::new()));
    let (m, b) = (node(&mallory).await, node(&bob).await);
    connect((&b, &bob), (&m, &mallory)).await;
    let m_id = m.local_enode().id;

    let fetched = bob.fetch_from(&m_id, &hash).await;
    assert!(
        matches!(fetched, Err(FetchError::HashMismatch)),
        "{fetched:?}"
    );
    assert_eq!(bob.store().get(&hash).unwrap(), None, "nothing stored");

    // Asking for what the peer does not have.
    let unknown = BlobHash::of(b"nobody has this");
    let fetched = bob.fetch_from(&m_id, &unknown).await;
    assert!(matches!(fetched, Err(FetchError::NotFound)), "{fetched:?}");
    let stranger = NodeKey::generate(&mut rand::rngs::OsRng).id();
    let fetched = bob.fetch_from(&stranger, &unknown).await;
    assert!(matches!(fetched, Err(FetchError::UnknownPeer(id)) if id == stranger));
    // Neither is a reason to drop the peer.
    assert_eq!(bob.peer_ids(), vec![m_id]);

    b.stop().await;
    m.stop().await;
}

/// `[size, bytes]`, a Blob body written by hand.
fn blob_body(size: u64, data: &[u8]) -> Vec<u8> {
    let mut s = RlpStream::new_list(2);
    s.append(&size).append(&data);
    s.out().to_vec()
}

/// Starts bob's handler on a pipe; the test plays the remote peer. Returns bob, the remote's
/// id as bob knows it, and the remote's request endpoints.
fn bob_and_a_hand_driven_peer(
    limits: Limits,
) -> (Blobs, NodeId, request::Requester, request::RequestReader) {
    let bob = Blobs::with_limits(Arc::new(MemoryStore::new()), limits);
    let (_handler, remote) = run_handler(&bob.protocol());
    let id = bob.peer_ids()[0];
    let (requester, reader) = request::split(remote.rw, RequestConfig::new(&[(GET_BLOB, BLOB)]));
    (bob, id, requester, reader)
}

/// Answers the next GetBlob with `body` (raw RLP).
async fn answer(
    requester: &request::Requester,
    reader: &mut request::RequestReader,
    body: Vec<u8>,
) {
    loop {
        if let Incoming::Request(req) = reader.next().await.unwrap() {
            let raw = rlp::Rlp::new(&body);
            requester
                .respond(req.id, BLOB, &RawItem(raw.as_raw().to_vec()))
                .await
                .unwrap();
            return;
        }
    }
}

/// An already-encoded RLP item.
struct RawItem(Vec<u8>);

impl rlp::Encodable for RawItem {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.append_raw(&self.0, 1);
    }
}

#[tokio::test]
async fn oversized_and_malformed_replies_fail_the_fetch() {
    let limits = Limits {
        max_blob_size: 4 * CHUNK_SIZE as u64,
        ..Limits::default()
    };
    let (bob, id, requester, mut reader) = bob_and_a_hand_driven_peer(limits);
    let hash = BlobHash::of(b"wanted");

    // A size over the limit is refused before anything is reserved for it.
    let fetch = tokio::spawn({
        let bob = bob.clone();
        async move { bob.fetch_from(&id, &hash).await }
    });
    let huge = 1u64 << 40;
    answer(&requester, &mut reader, blob_body(huge, &[0; 16])).await;
    let result = fetch.await.unwrap();
    assert!(
        matches!(result, Err(FetchError::TooLarge(s)) if s == huge),
        "{result:?}"
    );

    // A first chunk shorter than min(size, CHUNK_SIZE) is malformed.
    let fetch = tokio::spawn({
        let bob = bob.clone();
        async move { bob.fetch_from(&id, &hash).await }
    });
    answer(&requester, &mut reader, blob_body(100, &[0; 10])).await;
    let result = fetch.await.unwrap();
    assert!(matches!(result, Err(FetchError::Malformed)), "{result:?}");
}

#[tokio::test]
async fn a_100_mib_blob() {
    let data = random(100 << 20);
    let memory = Arc::new(MemoryStore::new());
    let hash = memory.put(&data).unwrap();
    let alice = Blobs::new(memory);
    let bob = Blobs::new(Arc::new(MemoryStore::new()));
    let (a, b) = (node(&alice).await, node(&bob).await);
    connect((&b, &bob), (&a, &alice)).await;
    let started = std::time::Instant::now();
    let got = bob.fetch_from(&a.local_enode().id, &hash).await.unwrap();
    eprintln!("100 MiB in {:?}", started.elapsed());
    assert!(got == data, "the 100 MiB differ"); // not assert_eq: no 100 MiB diff
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn a_peer_announcing_more_than_the_limit_keeps_only_its_latest_hashes() {
    let limits = Limits {
        max_have_per_peer: 64,
        ..Limits::default()
    };
    let (bob, id, requester, _reader) = bob_and_a_hand_driven_peer(limits);
    let hashes: Vec<BlobHash> = (0..1000u32)
        .map(|i| BlobHash::of(&i.to_be_bytes()))
        .collect();
    for batch in hashes.chunks(100) {
        requester
            .sender()
            .send_raw(HAVE, rlp::encode_list(batch).freeze())
            .await
            .unwrap();
    }
    let last = hashes[999];
    eventually(|| bob.providers(&last) == vec![id]).await;
    let remembered = hashes.iter().filter(|h| !bob.providers(h).is_empty());
    assert_eq!(remembered.count(), 64);
    assert!(
        bob.providers(&hashes[0]).is_empty(),
        "the oldest are forgotten"
    );
    assert_eq!(bob.providers(&hashes[1000 - 64]), vec![id]);
}

#[tokio::test(start_paused = true)]
async fn a_peer_answering_each_chunk_just_in_time_cannot_hold_a_fetch_past_its_deadline() {
    let limits = Limits {
        request_timeout: Duration::from_secs(30),
        fetch_timeout: Duration::from_secs(60),
        ..Limits::default()
    };
    let (bob, id, requester, mut reader) = bob_and_a_hand_driven_peer(limits);
    // 25 chunks: the first, then three windows of eight, each answered after 29 s.
    let size = 25 * CHUNK_SIZE as u64;
    tokio::spawn(async move {
        while let Ok(incoming) = reader.next().await {
            let Incoming::Request(req) = incoming else {
                continue;
            };
            // GetBlob is [hash, offset].
            let offset: u64 = rlp::Rlp::new(&req.msg.payload).val_at(1).unwrap();
            let requester = requester.clone();
            tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(29)).await;
                let len = (size - offset).min(CHUNK_SIZE as u64) as usize;
                let body = RawItem(blob_body(size, &vec![0; len]));
                let _ = requester.respond(req.id, BLOB, &body).await;
            });
        }
    });
    let started = tokio::time::Instant::now();
    let result = bob.fetch_from(&id, &BlobHash::of(b"slow")).await;
    assert!(matches!(result, Err(FetchError::Timeout)), "{result:?}");
    assert_eq!(started.elapsed(), Duration::from_secs(60));
}
