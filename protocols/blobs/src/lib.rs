//! `blobs/1`: a content-addressed blob exchange for peerwire, built on the public API only
//! (`peerwire::protocol::request` for GetBlob/Blob, a plain message for Have).
//!
//! Blobs are named by their sha256 ([`BlobHash`]) and kept in a [`Store`] ([`MemoryStore`],
//! [`DiskStore`]). On connect each side announces what it holds (Have); [`Blobs::add`] stores
//! a blob and announces it. [`Blobs::fetch_from`] fetches a blob from one peer in chunks of
//! [`CHUNK_SIZE`] (several in flight), checks the sha256 of the whole before storing it, and
//! then announces it; [`Blobs::get`] tries the local store, then each peer that announced the
//! blob. See [`wire`] for the messages.
//!
//! ```no_run
//! # async fn run(mut config: peerwire::server::ServerConfig, hash: peerwire_blobs::BlobHash)
//! # -> Result<(), Box<dyn std::error::Error>> {
//! use std::sync::Arc;
//! use peerwire_blobs::{Blobs, DiskStore};
//!
//! let blobs = Blobs::new(Arc::new(DiskStore::open("blobs")?));
//! config.protocols.push(blobs.protocol());
//! let _server = peerwire::server::Server::start(config).await?;
//! let added = blobs.add(b"hello".to_vec()).await?; // stored and announced
//! let data = blobs.get(&hash).await?; // local, or from a peer that has it, verified
//! # Ok(()) }
//! ```

#![forbid(unsafe_code)]

mod hash;
mod store;
pub mod wire;

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use peerwire::crypto::NodeId;
use peerwire::protocol::request::{self, Incoming, RequestConfig, RequestError, Requester};
use peerwire::protocol::{HandlerError, Peer, PeerRegistry, Protocol};
use peerwire::wire::Capability;
use tokio::task::JoinSet;

pub use self::hash::{BlobHash, BlobHashError};
pub use self::store::{Chunk, DiskStore, MemoryStore, Store, StoreError};
use self::wire::{BlobReply, GetBlob, BLOB, CHUNK_SIZE, GET_BLOB, HAVE, HAVE_BATCH, LENGTH};

/// Capability name.
pub const NAME: &str = "blobs";
/// Capability version.
pub const VERSION: u32 = 1;

/// Chunk requests in flight per fetch.
const WINDOW: usize = 8;

/// Limits of a [`Blobs`] instance.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// The largest blob fetched: a larger size claimed by a peer fails the fetch before any
    /// memory is reserved for it. Default 256 MiB.
    pub max_blob_size: u64,
    /// How long one chunk request may take. Default 30 s.
    pub request_timeout: Duration,
    /// How long a whole fetch may take, however promptly each chunk comes: a peer answering
    /// each chunk just inside `request_timeout` cannot hold a fetch longer. Default 5 min
    /// (a 256 MiB blob at under 1 MB/s does not make it).
    pub fetch_timeout: Duration,
    /// Most hashes remembered per peer from its Have announcements; past it the oldest are
    /// forgotten, so a peer's memory in us is bounded however much it announces (about
    /// 100 bytes a hash). Default 4096.
    pub max_have_per_peer: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_blob_size: 256 << 20,
            request_timeout: Duration::from_secs(30),
            fetch_timeout: Duration::from_secs(300),
            max_have_per_peer: 4096,
        }
    }
}

/// Why a blob could not be had.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FetchError {
    /// No connected `blobs/1` peer with that id.
    #[error("no blobs/1 peer {}", .0.short())]
    UnknownPeer(NodeId),
    /// The peer does not hold the blob.
    #[error("the peer does not have the blob")]
    NotFound,
    /// Nobody we are connected to announced the blob (or every one of them failed).
    #[error("no connected peer has the blob")]
    NoProvider,
    /// A chunk request failed (timeout, disconnect, queue).
    #[error("request failed: {0}")]
    Request(#[from] RequestError),
    /// The whole fetch took longer than [`Limits::fetch_timeout`].
    #[error("the fetch took longer than its deadline")]
    Timeout,
    /// Peer misbehaviour: a Blob reply that does not fit the request (size changed, chunk of
    /// the wrong length, undecodable).
    #[error("malformed blob reply")]
    Malformed,
    /// The peer claims a blob larger than [`Limits::max_blob_size`].
    #[error("blob of {0} bytes exceeds the size limit")]
    TooLarge(u64),
    /// Peer misbehaviour: the bytes received do not hash to the name asked for; nothing was
    /// stored.
    #[error("received blob does not match its hash")]
    HashMismatch,
    /// The local store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The protocol's state: the store, and each connected peer's requester and announcements.
#[derive(Clone)]
pub struct Blobs {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Blobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Blobs")
            .field("peers", &self.shared.peers.len())
            .finish_non_exhaustive()
    }
}

struct Shared {
    store: Arc<dyn Store>,
    limits: Limits,
    peers: PeerRegistry<PeerEntry>,
}

struct PeerEntry {
    requester: Requester,
    /// The hashes it announced, the latest [`Limits::max_have_per_peer`] of them.
    has: Announced,
}

impl Blobs {
    /// Serves and fetches blobs kept in `store`, with the default [`Limits`].
    pub fn new(store: Arc<dyn Store>) -> Self {
        Self::with_limits(store, Limits::default())
    }

    /// With the given limits.
    pub fn with_limits(store: Arc<dyn Store>, limits: Limits) -> Self {
        Self {
            shared: Arc::new(Shared {
                store,
                limits,
                peers: PeerRegistry::new(),
            }),
        }
    }

    /// The [`Protocol`] to register with a server.
    pub fn protocol(&self) -> Protocol {
        let blobs = self.clone();
        Protocol::new(Capability::new(NAME, VERSION), LENGTH, move |peer, rw| {
            let config = RequestConfig::new(&[(GET_BLOB, BLOB)])
                .with_timeout(blobs.shared.limits.request_timeout)
                .with_max_outstanding(WINDOW);
            let (requester, reader) = request::split(rw, config);
            // Registered before the handler runs, so a fetch can use it once the peer is up.
            let registered = blobs.shared.peers.register(
                peer.id(),
                PeerEntry {
                    requester: requester.clone(),
                    has: Announced::default(),
                },
            );
            let blobs = blobs.clone();
            async move {
                let _registered = registered;
                blobs.run(peer, requester, reader).await
            }
        })
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn Store> {
        &self.shared.store
    }

    /// The connected `blobs/1` peers.
    pub fn peer_ids(&self) -> Vec<NodeId> {
        self.shared.peers.ids()
    }

    /// The connected peers that announced `hash`.
    pub fn providers(&self, hash: &BlobHash) -> Vec<NodeId> {
        let mut providers = Vec::new();
        self.shared.peers.for_each(|id, entry| {
            if entry.has.contains(hash) {
                providers.push(*id);
            }
        });
        providers
    }

    /// Stores `data` and announces it to every peer (a peer whose queue is full misses the
    /// announcement). Returns its hash.
    pub async fn add(&self, data: Vec<u8>) -> Result<BlobHash, StoreError> {
        let store = self.shared.store.clone();
        let hash = blocking(move || store.put(&data)).await?;
        self.announce(hash);
        Ok(hash)
    }

    /// `hash` from the local store, or else fetched from the peers that announced it, one
    /// after the other until one delivers it (and it is stored).
    pub async fn get(&self, hash: &BlobHash) -> Result<Bytes, FetchError> {
        let store = self.shared.store.clone();
        let wanted = *hash;
        if let Some(data) = blocking(move || store.get(&wanted)).await? {
            return Ok(data);
        }
        for peer in self.providers(hash) {
            match self.fetch_from(&peer, hash).await {
                Ok(data) => return Ok(data),
                Err(e) => {
                    tracing::debug!(peer = %peer.short(), %hash, error = %e, "blob fetch failed")
                }
            }
        }
        Err(FetchError::NoProvider)
    }

    /// Fetches `hash` from `peer`, checks it, stores it and announces it. Up to 8 chunks are
    /// requested at once; the whole fetch ends with [`FetchError::Timeout`] after
    /// [`Limits::fetch_timeout`].
    ///
    /// Cancel-safe: dropping the future abandons the requests in flight and stores nothing.
    pub async fn fetch_from(&self, peer: &NodeId, hash: &BlobHash) -> Result<Bytes, FetchError> {
        self.fetch_from_with_progress(peer, hash, |_, _| {}).await
    }

    /// [`fetch_from`](Self::fetch_from), calling `progress(received, size)` as the blob
    /// arrives: once after the first chunk (when the size is known), then after each window
    /// of chunks. `size` is what the peer claims, checked only against the hash at the end.
    ///
    /// Cancel-safe, as `fetch_from`.
    pub async fn fetch_from_with_progress(
        &self,
        peer: &NodeId,
        hash: &BlobHash,
        progress: impl FnMut(u64, u64) + Send,
    ) -> Result<Bytes, FetchError> {
        let requester = self
            .shared
            .peers
            .with(peer, |entry| entry.requester.clone())
            .ok_or(FetchError::UnknownPeer(*peer))?;
        let limits = self.shared.limits;
        let download = download(&requester, *hash, limits.max_blob_size, progress);
        let data = tokio::time::timeout(limits.fetch_timeout, download)
            .await
            .map_err(|_| FetchError::Timeout)??;
        if BlobHash::of(&data) != *hash {
            return Err(FetchError::HashMismatch);
        }
        let store = self.shared.store.clone();
        let stored = data.clone();
        blocking(move || store.put(&stored)).await?;
        self.announce(*hash);
        Ok(data)
    }

    /// Tells every peer we hold `hash`, without waiting for any.
    fn announce(&self, hash: BlobHash) {
        let payload = wire::have(&[hash]);
        self.shared.peers.for_each(|id, entry| {
            if let Err(e) = entry.requester.sender().try_send_raw(HAVE, payload.clone()) {
                tracing::debug!(peer = %id.short(), error = %e, "blobs: Have not sent");
            }
        });
    }

    /// One peer's handler: announce what we hold, then serve GetBlob and record Have.
    async fn run(
        &self,
        peer: Peer,
        requester: Requester,
        mut reader: request::RequestReader,
    ) -> Result<(), HandlerError> {
        let store = self.shared.store.clone();
        let held = blocking(move || store.hashes()).await?;
        for batch in held.chunks(HAVE_BATCH) {
            requester.sender().send_raw(HAVE, wire::have(batch)).await?;
        }
        loop {
            match reader.next().await? {
                Incoming::Request(req) if req.msg.code == GET_BLOB => {
                    let get: GetBlob = req.decode()?;
                    let reply = self.serve(get).await;
                    requester.respond(req.id, BLOB, &reply).await?;
                }
                Incoming::Message(msg) if msg.code == HAVE => {
                    let hashes: Vec<BlobHash> = msg.decode_list()?;
                    self.shared.peers.with(&peer.id(), |entry| {
                        entry
                            .has
                            .extend(hashes, self.shared.limits.max_have_per_peer);
                    });
                }
                // Codes below LENGTH only reach us; none other is defined.
                _ => {}
            }
        }
    }

    /// The reply to a GetBlob: a store failure is logged and answered as not held.
    async fn serve(&self, get: GetBlob) -> BlobReply {
        let store = self.shared.store.clone();
        match blocking(move || store.read(&get.hash, get.offset, CHUNK_SIZE)).await {
            Ok(Some(chunk)) => BlobReply::Chunk {
                size: chunk.size,
                data: chunk.data,
            },
            Ok(None) => BlobReply::Missing,
            Err(e) => {
                tracing::warn!(hash = %get.hash, error = %e, "blobs: store read failed");
                BlobReply::Missing
            }
        }
    }
}

/// The blob `hash` from `requester`'s peer, unchecked; up to [`WINDOW`] chunks are asked
/// for at once. Dropping the future abandons the requests in flight.
async fn download(
    requester: &Requester,
    hash: BlobHash,
    max: u64,
    mut progress: impl FnMut(u64, u64),
) -> Result<Bytes, FetchError> {
    let first = chunk(requester, hash, 0, Size::AtMost(max)).await?;
    let size = first.blob_size;
    progress(first.data.len() as u64, size);
    // Grown as chunks arrive, never reserved for the size the peer claims: one that claims
    // a large blob and then stalls or fails costs us only what it sent.
    let mut data = BytesMut::from(&first.data[..]);
    let offsets: Vec<u64> = (CHUNK_SIZE as u64..size).step_by(CHUNK_SIZE).collect();
    for window in offsets.chunks(WINDOW) {
        let mut calls = JoinSet::new();
        for (i, &offset) in window.iter().enumerate() {
            let requester = requester.clone();
            let part = async move { chunk(&requester, hash, offset, Size::Exactly(size)).await };
            calls.spawn(async move { (i, part.await) });
        }
        let mut parts: Vec<Option<Bytes>> = vec![None; window.len()];
        while let Some(done) = calls.join_next().await {
            // The tasks do not panic; a join error would mean the runtime is shutting down.
            let (i, part) = done.map_err(|_| RequestError::Disconnected)?;
            parts[i] = Some(part?.data);
        }
        for part in parts.into_iter().flatten() {
            data.extend_from_slice(&part);
        }
        progress(data.len() as u64, size);
    }
    Ok(data.freeze())
}

/// The hashes one peer announced, oldest first, at most a limit of them.
#[derive(Default)]
struct Announced {
    order: VecDeque<BlobHash>,
    set: HashSet<BlobHash>,
}

impl Announced {
    /// Adds `hashes`, then forgets the oldest until at most `max` remain.
    fn extend(&mut self, hashes: Vec<BlobHash>, max: usize) {
        for hash in hashes {
            if self.set.insert(hash) {
                self.order.push_back(hash);
            }
        }
        while self.order.len() > max {
            if let Some(old) = self.order.pop_front() {
                self.set.remove(&old);
            }
        }
    }

    fn contains(&self, hash: &BlobHash) -> bool {
        self.set.contains(hash)
    }
}

/// A checked chunk: its bytes, and the size of the whole blob.
struct Part {
    blob_size: u64,
    data: Bytes,
}

/// What the blob's size must be.
#[derive(Clone, Copy)]
enum Size {
    /// The first chunk: the size is learnt, up to a limit.
    AtMost(u64),
    /// Later chunks: the size the first one gave.
    Exactly(u64),
}

/// The chunk of `hash` at `offset`, checked against `size`; the chunk must be exactly
/// `min(CHUNK_SIZE, size - offset)` bytes.
async fn chunk(
    requester: &Requester,
    hash: BlobHash,
    offset: u64,
    size: Size,
) -> Result<Part, FetchError> {
    let reply = requester
        .request(GET_BLOB, &GetBlob { hash, offset })
        .await?;
    let (claimed, data) = match reply.decode::<BlobReply>() {
        Ok(BlobReply::Chunk { size, data }) => (size, data),
        Ok(BlobReply::Missing) => return Err(FetchError::NotFound),
        Err(_) => return Err(FetchError::Malformed),
    };
    match size {
        Size::AtMost(max) if claimed > max => return Err(FetchError::TooLarge(claimed)),
        Size::Exactly(size) if claimed != size => return Err(FetchError::Malformed),
        _ => {}
    }
    let expected = claimed.saturating_sub(offset).min(CHUNK_SIZE as u64);
    if data.len() as u64 != expected {
        return Err(FetchError::Malformed);
    }
    Ok(Part {
        blob_size: claimed,
        data,
    })
}

/// Runs a store call on tokio's blocking pool.
async fn blocking<T: Send + 'static>(
    f: impl FnOnce() -> Result<T, StoreError> + Send + 'static,
) -> Result<T, StoreError> {
    tokio::task::spawn_blocking(f)
        .await
        .unwrap_or(Err(StoreError::Aborted))
}
