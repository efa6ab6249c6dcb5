//! Sealing and opening frames allocates nothing per frame once buffers have grown.
//!
//! Counts this thread's allocations through a wrapping global allocator.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use bytes::BytesMut;
use peerwire::testdata::session_pair;

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

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
