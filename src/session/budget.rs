//! Byte budgets: what received messages may hold across all peers of a server, and what one
//! protocol's outbound queue for one peer may hold.
//!
//! Both are fair (FIFO) semaphores of bytes: a waiter asking for a large message is not
//! overtaken forever by later waiters asking for small ones. A message larger than the whole
//! budget asks for the whole budget, so it goes through alone, once nothing else is held:
//! what is held never exceeds the budget by more than one message.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use metrics::Gauge;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, TryAcquireError};

/// The permits a message of `bytes` takes from a budget of `limit` permits.
fn permits(bytes: usize, limit: usize) -> u32 {
    // `limit` is at most `u32::MAX` (see `effective_limit`).
    u32::try_from(bytes.min(limit)).unwrap_or(u32::MAX)
}

/// A budget as a semaphore can hold it: at least 1, at most `u32::MAX` bytes.
fn effective_limit(limit: usize) -> usize {
    limit
        .clamp(1, u32::MAX as usize)
        .min(Semaphore::MAX_PERMITS)
}

/// Bytes of received messages that every session of a server together may hold for their
/// handlers (queued or parked), on top of each session's own budget.
///
/// A session's reader charges a message here before it decompresses it, and the charge is
/// released when a handler reads the message or it is dropped unread.
#[derive(Debug)]
pub(crate) struct InboundBudget {
    permits: Arc<Semaphore>,
    limit: usize,
    /// Bytes charged and not yet released (can exceed `limit` by one message).
    used: AtomicUsize,
    /// `used`, as the servers of the process together report it.
    used_gauge: Gauge,
}

impl InboundBudget {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        let limit = effective_limit(limit);
        Arc::new(Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            used: AtomicUsize::new(0),
            used_gauge: metrics::gauge!(crate::metrics::INBOUND_BUDGET),
        })
    }

    /// Bytes of received messages currently held, across all sessions.
    pub(crate) fn used(&self) -> usize {
        self.used.load(Ordering::Acquire)
    }

    /// Waits, in FIFO order with the other sessions, until `bytes` fit, and charges them.
    /// Cancel-safe: a dropped call charges nothing (and gives up its place in the line).
    pub(crate) async fn charge(&self, bytes: usize) {
        let n = permits(bytes, self.limit);
        match self.permits.acquire_many(n).await {
            Ok(permit) => permit.forget(),
            // The semaphore is never closed.
            Err(_) => return,
        }
        self.used.fetch_add(bytes, Ordering::AcqRel);
        self.used_gauge.increment(bytes as f64);
    }

    /// Returns what [`Self::charge`] took for `bytes`.
    pub(crate) fn release(&self, bytes: usize) {
        self.used.fetch_sub(bytes, Ordering::AcqRel);
        self.used_gauge.decrement(bytes as f64);
        self.permits
            .add_permits(permits(bytes, self.limit) as usize);
    }
}

/// How many bytes of encoded payloads one outbound queue may hold. A message's room is held
/// by the message itself ([`OutboundRoom`]) and freed when the writer takes it off the queue.
#[derive(Clone, Debug)]
pub(crate) struct OutboundLimit {
    permits: Arc<Semaphore>,
    limit: usize,
    /// Counts the messages holding room (see `counted`).
    queued: Gauge,
}

/// Room for one queued message in an outbound byte limit; freed on drop.
#[derive(Debug)]
pub(crate) struct OutboundRoom {
    _permit: OwnedSemaphorePermit,
    queued: Gauge,
}

impl OutboundRoom {
    fn new(permit: OwnedSemaphorePermit, queued: &Gauge) -> Self {
        queued.increment(1.0);
        Self {
            _permit: permit,
            queued: queued.clone(),
        }
    }
}

impl Drop for OutboundRoom {
    fn drop(&mut self) {
        self.queued.decrement(1.0);
    }
}

impl OutboundLimit {
    pub(crate) fn new(limit: usize) -> Self {
        let limit = effective_limit(limit);
        Self {
            permits: Arc::new(Semaphore::new(limit)),
            limit,
            queued: Gauge::noop(),
        }
    }

    /// Counts the messages holding room in `gauge`: the queue's depth.
    pub(crate) fn counted(mut self, gauge: Gauge) -> Self {
        self.queued = gauge;
        self
    }

    /// Waits, in FIFO order with other senders on the queue, until `bytes` fit.
    /// Cancel-safe: a dropped call takes no room.
    pub(crate) async fn reserve(&self, bytes: usize) -> OutboundRoom {
        let n = permits(bytes, self.limit);
        match self.permits.clone().acquire_many_owned(n).await {
            Ok(permit) => OutboundRoom::new(permit, &self.queued),
            // The semaphore is never closed.
            Err(_) => unreachable!("outbound limit semaphore closed"),
        }
    }

    /// Room for `bytes` now, or `None` if they do not fit.
    pub(crate) fn try_reserve(&self, bytes: usize) -> Option<OutboundRoom> {
        let n = permits(bytes, self.limit);
        match self.permits.clone().try_acquire_many_owned(n) {
            Ok(permit) => Some(OutboundRoom::new(permit, &self.queued)),
            Err(TryAcquireError::NoPermits | TryAcquireError::Closed) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use futures_util::FutureExt;

    use super::*;

    #[tokio::test]
    async fn a_message_larger_than_the_budget_goes_through_alone() {
        let budget = InboundBudget::new(100);
        budget.charge(250).await;
        assert_eq!(budget.used(), 250);
        let mut small = Box::pin(budget.charge(1));
        assert!((&mut small).now_or_never().is_none());
        budget.release(250);
        small.await;
        assert_eq!(budget.used(), 1);
    }

    #[tokio::test]
    async fn waiters_are_served_in_order() {
        let budget = InboundBudget::new(100);
        budget.charge(60).await;
        // 50 waits first; 10 would fit now but must not overtake it.
        let mut large = Box::pin(budget.charge(50));
        assert!((&mut large).now_or_never().is_none());
        let mut small = Box::pin(budget.charge(10));
        assert!((&mut small).now_or_never().is_none());
        budget.release(60);
        large.await;
        small.await;
        assert_eq!(budget.used(), 60);
    }

    #[test]
    fn outbound_room_is_freed_on_drop_and_an_empty_queue_takes_any_size() {
        let limit = OutboundLimit::new(10);
        let big = limit.try_reserve(1000).expect("empty: any size fits");
        assert!(
            limit.try_reserve(0).is_some(),
            "nothing is free, but 0 bytes fit"
        );
        assert!(limit.try_reserve(1).is_none());
        drop(big);
        let a = limit.try_reserve(6).unwrap();
        assert!(limit.try_reserve(5).is_none());
        assert!(limit.try_reserve(4).is_some());
        drop(a);
    }
}
