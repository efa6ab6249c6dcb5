//! A counting allocator: live heap bytes, and live allocations by size class, so the idle
//! bench can tell the heap a peer holds from what the allocator keeps around it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

/// Size classes: allocations of up to 2^i bytes (from 16) fall in class i.
const CLASSES: usize = 28;

pub(crate) struct Counting;

/// Whether allocations are counted; a read-only flag once cleared, so it costs no contention.
static COUNTING: AtomicBool = AtomicBool::new(true);
static LIVE_BYTES: AtomicIsize = AtomicIsize::new(0);
static LIVE_BY_CLASS: [AtomicIsize; CLASSES] = [const { AtomicIsize::new(0) }; CLASSES];

fn class(size: usize) -> usize {
    (size.max(16).next_power_of_two().trailing_zeros() as usize).min(CLASSES - 1)
}

fn count(size: usize, sign: isize) {
    if !COUNTING.load(Ordering::Relaxed) {
        return;
    }
    LIVE_BYTES.fetch_add(sign * size as isize, Ordering::Relaxed);
    LIVE_BY_CLASS[class(size)].fetch_add(sign, Ordering::Relaxed);
}

#[expect(
    unsafe_code,
    reason = "a counting GlobalAlloc in front of the system allocator"
)]
// SAFETY: every call is passed to `System` unchanged; the counters only observe sizes.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 1);
        System.alloc(layout)
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size(), 1);
        System.alloc_zeroed(layout)
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        count(layout.size(), -1);
        System.dealloc(ptr, layout)
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(layout.size(), -1);
        count(new_size, 1);
        System.realloc(ptr, layout, new_size)
    }
}

/// Stops counting for good: the figures are wrong from then on, and nothing reads them.
pub(crate) fn stop_counting() {
    COUNTING.store(false, Ordering::Relaxed);
}

/// Live heap now: total bytes and allocations per size class.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Snapshot {
    pub bytes: isize,
    classes: [isize; CLASSES],
}

pub(crate) fn snapshot() -> Snapshot {
    Snapshot {
        bytes: LIVE_BYTES.load(Ordering::Relaxed),
        classes: std::array::from_fn(|i| LIVE_BY_CLASS[i].load(Ordering::Relaxed)),
    }
}

impl Snapshot {
    /// Allocations per `per` that appeared since `before`, by size class, as text.
    pub(crate) fn growth_since(&self, before: &Self, per: usize) -> String {
        let mut out = String::new();
        for i in 0..CLASSES {
            let n = self.classes[i] - before.classes[i];
            if n.unsigned_abs() >= per / 10 {
                out += &format!(" <={}B:{:.1}", 1u64 << i, n as f64 / per as f64);
            }
        }
        out
    }
}
