//! A peer that claims a huge blob and then fails costs us what it sent, not what it
//! claimed. Its own process: the allocator here records the largest single allocation.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use peerwire::protocol::pipe::run_handler;
use peerwire::protocol::request::{self, Incoming, RequestConfig};
use peerwire::rlp::{self, RlpStream};
use peerwire_blobs::wire::{BLOB, CHUNK_SIZE, GET_BLOB};
use peerwire_blobs::{BlobHash, Blobs, FetchError, Limits, MemoryStore};

/// The system allocator, noting the largest allocation it was asked for.
struct Largest;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

#[expect(
    unsafe_code,
    reason = "a GlobalAlloc that forwards to System to record sizes"
)]
// SAFETY: every call forwards to `System` with the caller's own arguments.
unsafe impl GlobalAlloc for Largest {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: the caller's layout, as `GlobalAlloc::alloc` requires.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `System.alloc` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: forwarded unchanged; `ptr` came from `System` with `layout`.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Largest = Largest;

/// `[size, bytes]` or, with no data, `[]` (the peer does not have it).
fn reply(size: u64, data: Option<&[u8]>) -> Vec<u8> {
    let mut s = RlpStream::new();
    match data {
        Some(data) => {
            s.begin_list(2).append(&size).append(&data);
        }
        None => {
            s.begin_list(0);
        }
    }
    s.out().to_vec()
}

struct RawItem(Vec<u8>);

impl rlp::Encodable for RawItem {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.append_raw(&self.0, 1);
    }
}

#[tokio::test]
async fn a_claimed_size_reserves_nothing_before_the_bytes_arrive() {
    let bob = Blobs::with_limits(Arc::new(MemoryStore::new()), Limits::default());
    let (_handler, remote) = run_handler(&bob.protocol());
    let id = bob.peer_ids()[0];
    let (requester, mut reader) =
        request::split(remote.rw, RequestConfig::new(&[(GET_BLOB, BLOB)]));
    // Claims 200 MiB (under the 256 MiB limit), sends the first 1 MiB chunk, then has
    // nothing more.
    let claimed = 200u64 << 20;
    let chunk = vec![7u8; CHUNK_SIZE];
    tokio::spawn(async move {
        let mut first = true;
        while let Ok(incoming) = reader.next().await {
            if let Incoming::Request(req) = incoming {
                let body = reply(claimed, first.then_some(&chunk[..]));
                first = false;
                let _ = requester.respond(req.id, BLOB, &RawItem(body)).await;
            }
        }
    });
    LARGEST.store(0, Ordering::Relaxed);
    let result = bob.fetch_from(&id, &BlobHash::of(b"claimed")).await;
    assert!(matches!(result, Err(FetchError::NotFound)), "{result:?}");
    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest < 16 << 20,
        "largest allocation {largest} bytes for a peer that sent 1 MiB"
    );
}
