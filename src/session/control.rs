//! State shared by one session's tasks and handles: how it ends, and when to wake the writer.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use metrics::Gauge;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::budget::InboundBudget;
use crate::wire::DisconnectReason;

/// How a session ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// We ended it, and tell the peer this reason in a Disconnect.
    Local(DisconnectReason),
    /// The peer sent a Disconnect with this reason.
    Remote(DisconnectReason),
    /// The connection failed or closed without a Disconnect.
    Closed,
}

impl SessionEnd {
    /// The reason to report: ours, the peer's, or `TcpError` for a dead connection.
    pub fn reason(self) -> DisconnectReason {
        match self {
            Self::Local(r) | Self::Remote(r) => r,
            Self::Closed => DisconnectReason::TcpError,
        }
    }
}

#[derive(Debug, Default)]
pub(crate) struct SessionControl {
    end: Mutex<Option<SessionEnd>>,
    ending: CancellationToken,
    /// Whether `ending` is cancelled, readable without the token's lock (read per message).
    ended: AtomicBool,
    pong_pending: AtomicBool,
    writer_wake: Notify,
    /// Bytes of received messages not yet read by a handler (queued or parked).
    inbound_bytes: AtomicUsize,
    inbound_released: Notify,
    /// The budget shared with the server's other sessions, if any.
    server_budget: Option<Arc<InboundBudget>>,
    /// Bytes of whole frames read from the connection (headers and MACs included).
    ingress: AtomicU64,
    /// Bytes of frames the connection took from us.
    egress: AtomicU64,
}

/// Bytes one session moved so far, counted as they cross the socket (RLPx frames whole:
/// header, padding and MACs included). Read with [`Peer::traffic`](crate::protocol::Peer::traffic).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct Traffic {
    /// Bytes received.
    pub ingress: u64,
    /// Bytes sent.
    pub egress: u64,
}

/// The bytes of one received message, charged to the peer's (and the server's) inbound
/// budget until it is read or dropped unread: the charge travels with the message, so a
/// message lost anywhere (parked, queued, an aborted task) cannot leak budget.
#[derive(Debug)]
pub(crate) struct InboundCharge {
    control: Arc<SessionControl>,
    bytes: usize,
    /// The queue-depth gauge the message counts in until it is read (see `queued_in`).
    queued: Gauge,
}

impl Drop for InboundCharge {
    fn drop(&mut self) {
        self.queued.decrement(1.0);
        self.control.release_inbound(self.bytes);
    }
}

impl InboundCharge {
    /// Counts the message in `gauge` until it is read or dropped.
    pub(crate) fn queued_in(mut self, gauge: &Gauge) -> Self {
        gauge.increment(1.0);
        self.queued = gauge.clone();
        self
    }
}

impl SessionControl {
    /// The control of a session whose received messages also count against `server`.
    pub(crate) fn with_budget(server: Arc<InboundBudget>) -> Self {
        Self {
            server_budget: Some(server),
            ..Self::default()
        }
    }

    /// Records how the session ends; the first call wins. Wakes every task waiting on it.
    pub(crate) fn end(&self, end: SessionEnd) {
        {
            let mut slot = self.end.lock().unwrap_or_else(|e| e.into_inner());
            if slot.is_none() {
                *slot = Some(end);
            }
        }
        self.ended.store(true, Ordering::Release);
        self.ending.cancel();
        self.writer_wake.notify_one();
    }

    pub(crate) fn outcome(&self) -> Option<SessionEnd> {
        *self.end.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Resolves once [`Self::end`] was called. Cancel-safe.
    pub(crate) async fn ending(&self) {
        self.ending.cancelled().await
    }

    pub(crate) fn is_ending(&self) -> bool {
        self.ended.load(Ordering::Acquire)
    }

    /// Counts `bytes` read from the connection.
    pub(crate) fn count_ingress(&self, bytes: usize) {
        self.ingress.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// Counts `bytes` the connection took.
    pub(crate) fn count_egress(&self, bytes: usize) {
        self.egress.fetch_add(bytes as u64, Ordering::Relaxed);
    }

    /// The bytes counted so far.
    pub(crate) fn traffic(&self) -> Traffic {
        Traffic {
            ingress: self.ingress.load(Ordering::Relaxed),
            egress: self.egress.load(Ordering::Relaxed),
        }
    }

    pub(crate) fn request_pong(&self) {
        self.pong_pending.store(true, Ordering::Release);
        self.writer_wake.notify_one();
    }

    pub(crate) fn take_pong(&self) -> bool {
        self.pong_pending.swap(false, Ordering::AcqRel)
    }

    /// Charges a received message of `bytes`: waits until the server-wide budget (if any)
    /// has room, in line with the server's other sessions, then counts the bytes against the
    /// peer's budget too (which the reader checked before). Both are released when the
    /// returned charge drops. Cancel-safe: a dropped call charges nothing.
    pub(crate) async fn charge_inbound(self: Arc<Self>, bytes: usize) -> InboundCharge {
        if let Some(budget) = &self.server_budget {
            budget.charge(bytes).await;
        }
        self.inbound_bytes.fetch_add(bytes, Ordering::AcqRel);
        InboundCharge {
            control: self,
            bytes,
            queued: Gauge::noop(),
        }
    }

    /// A message of `bytes` was read by a handler or dropped unread.
    fn release_inbound(&self, bytes: usize) {
        let _ = self
            .inbound_bytes
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |used| {
                Some(used.saturating_sub(bytes))
            });
        if let Some(budget) = &self.server_budget {
            budget.release(bytes);
        }
        self.inbound_released.notify_one();
    }

    pub(crate) fn inbound_bytes(&self) -> usize {
        self.inbound_bytes.load(Ordering::Acquire)
    }

    /// Resolves after a [`Self::release_inbound`] (one stored if none was awaited). Cancel-safe.
    pub(crate) async fn inbound_released(&self) {
        self.inbound_released.notified().await
    }

    pub(crate) fn wake_writer(&self) {
        self.writer_wake.notify_one();
    }

    /// Resolves when a sender queued something or the session is ending. Cancel-safe.
    pub(crate) async fn writer_woken(&self) {
        self.writer_wake.notified().await
    }
}
