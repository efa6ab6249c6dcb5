//! Sealing and opening frames allocates nothing per frame once buffers have grown, and a
//! session allocates nothing per message beyond the copy of a short received payload.
//!
//! Counts this thread's allocations through a wrapping global allocator.
#![expect(
    clippy::disallowed_methods,
    reason = "the test collects what it observes; the test bounds what is sent"
)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::BytesMut;
use peerwire::testdata::session_pair;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

#[expect(
    unsafe_code,
    reason = "a counting GlobalAlloc in front of the system allocator"
)]
// SAFETY: defers every call to the system allocator unchanged; only counts.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        System.alloc(layout)
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        System.dealloc(ptr, layout)
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|n| n.set(n.get() + 1));
        System.realloc(ptr, layout, new_size)
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations() -> usize {
    ALLOCATIONS.with(Cell::get)
}

fn open_allocations(frames: u64) -> usize {
    let (mut a, mut b) = session_pair(22);
    let payload = vec![3u8; 64 * 1024];
    let mut wire = BytesMut::new();
    for code in 0..frames {
        a.sealer().seal(code, &payload, &mut wire).unwrap();
    }
    let mut opened = Vec::with_capacity(frames as usize);
    let before = allocations();
    while let Some(frame) = b.opener().open(&mut wire).unwrap() {
        opened.push(frame);
    }
    let during = allocations() - before;
    assert_eq!(opened.len() as u64, frames);
    assert!(opened.iter().all(|f| f.payload[..] == payload[..]));
    during
}

#[test]
fn sealing_into_a_buffer_with_room_does_not_allocate() {
    let (mut a, _) = session_pair(21);
    let payload = vec![3u8; 64 * 1024];
    let mut out = BytesMut::with_capacity(payload.len() + 64);
    let before = allocations();
    for code in 0..200 {
        out.clear();
        a.sealer().seal(code, &payload, &mut out).unwrap();
    }
    assert_eq!(allocations() - before, 0);
}

#[test]
fn opening_allocates_the_same_for_20_or_200_frames() {
    // Payloads are views into the input buffer; only turning that buffer into shared
    // storage allocates, once.
    let few = open_allocations(20);
    let many = open_allocations(200);
    assert_eq!(few, many, "allocations grow with the number of frames");
    assert!(many <= 2, "{many} allocations");
}

mod session {
    //! The whole session path: `MsgSender::send_raw` → writer → loopback TCP → reader →
    //! handler, on a current-thread runtime, so that every allocation of both ends is counted
    //! on this thread.

    use std::sync::atomic::{AtomicU64, Ordering};
    use std::sync::Arc;

    use bytes::Bytes;
    use peerwire::crypto::NodeKey;
    use peerwire::protocol::{MsgReadWriter, Protocol};
    use peerwire::server::{Server, ServerConfig};
    use peerwire::wire::Capability;
    use tokio::sync::mpsc;

    use super::allocations;

    fn config(protocols: Vec<Protocol>, listen: bool) -> ServerConfig {
        let mut c = ServerConfig::new(NodeKey::generate(&mut rand::rngs::OsRng));
        c.listen_addr = listen.then(|| "127.0.0.1:0".parse().unwrap());
        c.protocols = protocols;
        c.max_peers = 2;
        c
    }

    /// Random bytes: what snappy sends as one literal, uncopied.
    fn noise(len: usize) -> Bytes {
        use rand::{RngCore, SeedableRng};
        let mut raw = vec![0u8; len];
        rand::rngs::StdRng::seed_from_u64(len as u64).fill_bytes(&mut raw);
        raw.into()
    }

    /// Allocations while `measured` messages of `payload` cross a session, after `warm_up`
    /// messages; the sender keeps up to `in_flight` messages ahead of the handler.
    async fn count(payload: Bytes, warm_up: u64, measured: u64, in_flight: u64) -> usize {
        let received = Arc::new(AtomicU64::new(0));
        let sink = {
            let received = received.clone();
            Protocol::new(Capability::new("sink", 1), 1, move |_peer, mut rw| {
                let received = received.clone();
                async move {
                    loop {
                        rw.read_msg().await?;
                        received.fetch_add(1, Ordering::Relaxed);
                    }
                }
            })
        };
        let (tx, mut rx) = mpsc::unbounded_channel::<MsgReadWriter>();
        let source = Protocol::new(Capability::new("sink", 1), 1, move |peer, rw| {
            let tx = tx.clone();
            async move {
                tx.send(rw).ok();
                peer.closed().await;
                Ok(())
            }
        });
        let receiver = Server::start(config(vec![sink], true)).await.unwrap();
        let sender = Server::start(config(vec![source], false)).await.unwrap();
        sender.add_peer(receiver.local_enode());
        let rw = rx.recv().await.unwrap();

        let mut sent = 0;
        let mut send_until = |target: u64| {
            let (rw, received, payload) = (&rw, &received, &payload);
            let start = sent;
            sent = target;
            async move {
                for n in start..target {
                    // Pipelined, as a real peer sends, but bounded, so queues stay warm.
                    while n - received.load(Ordering::Relaxed) >= in_flight {
                        tokio::task::yield_now().await;
                    }
                    rw.send_raw(0, payload.clone()).await.unwrap();
                }
                while received.load(Ordering::Relaxed) < target {
                    tokio::task::yield_now().await;
                }
            }
        };
        send_until(warm_up).await;
        let before = allocations();
        send_until(warm_up + measured).await;
        let during = allocations() - before;
        drop(rw);
        sender.stop().await;
        receiver.stop().await;
        during
    }

    fn run(payload: Bytes, measured: u64, in_flight: u64) -> usize {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(count(payload, 2_000, measured, in_flight))
    }

    #[test]
    fn small_messages_allocate_only_the_copy_of_their_payload() {
        // Payloads below `VIEW_MIN` are copied out of the read buffer on purpose (so that a
        // kept message does not keep the buffer alive): one allocation each, nothing else.
        let few = run(noise(100), 1_000, 64);
        let many = run(noise(100), 10_000, 64);
        assert!(
            many - few <= 9_000 + 10,
            "{few} for 1000 messages, {many} for 10000"
        );
    }

    #[test]
    fn large_messages_allocate_nothing_per_message() {
        let few = run(noise(64 * 1024), 100, 4);
        let many = run(noise(64 * 1024), 1_000, 4);
        assert!(many <= few + 10, "{few} for 100 messages, {many} for 1000");
    }
}
