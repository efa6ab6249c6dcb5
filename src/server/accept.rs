//! The accept loop: every accepted connection is gated (`gating.rs`) before it gets a
//! pending-handshake slot; accept errors such as running out of file descriptors are waited
//! out with backoff.

use std::io;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::connection::serve_connection;
use super::gating::Pending;
use super::state::Shared;
use super::PeerEvent;
use crate::net::TcpListener;
use crate::protocol::Direction;

pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let mut backoff = AcceptBackoff::default();
    let options = shared.config.connection.socket_options();
    loop {
        // No slot for anyone: leave new connections in the backlog until one is freed.
        loop {
            if shared.state().gate.has_room() {
                break;
            }
            tokio::select! {
                _ = shared.slot_freed.notified() => {}
                _ = shared.shutdown.cancelled() => return,
            }
        }
        let accepted = tokio::select! {
            accepted = listener.accept(options) => accepted,
            _ = shared.shutdown.cancelled() => return,
        };
        let (io, addr) = match accepted {
            Ok(accepted) => {
                backoff.succeeded();
                accepted
            }
            // The connection died in the backlog: nothing wrong with us.
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                let (delay, log) = backoff.failed(shared.now());
                if let Some(suppressed) = log {
                    tracing::warn!(error = %e, ?delay, suppressed, "accept failed, backing off");
                }
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = shared.shutdown.cancelled() => return,
                }
                continue;
            }
        };
        let opened = shared.state().gate.open_inbound(addr.ip(), shared.now());
        match opened {
            Ok(slot) => {
                let slot = InboundSlot {
                    shared: shared.clone(),
                    slot: Some(slot),
                };
                shared
                    .tasks
                    .spawn(serve_connection(shared.clone(), io, addr, None, slot));
            }
            Err(reason) => {
                drop(io);
                tracing::debug!(remote_addr = %addr, %reason, "inbound connection refused");
                shared.emit(PeerEvent::Refused {
                    remote_addr: addr,
                    direction: Direction::Inbound,
                    id: None,
                    reason,
                });
            }
        }
    }
}

/// Errors of one connection that died before we accepted it; the next accept may succeed.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
            | io::ErrorKind::Interrupted
    )
}

/// The pending slot of an accepted connection, given back (waking the accept loop) when the
/// handshake ends, whichever way.
struct InboundSlot {
    shared: Arc<Shared>,
    slot: Option<Pending>,
}

impl Drop for InboundSlot {
    fn drop(&mut self) {
        if let Some(slot) = self.slot.take() {
            self.shared.state().gate.close(slot);
            self.shared.slot_freed.notify_one();
        }
    }
}

/// First and longest pause after an accept error (EMFILE, ENFILE, ENOBUFS ...).
const BACKOFF_MIN: Duration = Duration::from_millis(10);
const BACKOFF_MAX: Duration = Duration::from_secs(1);
/// At most one warning per this long while accepts keep failing.
const LOG_INTERVAL: Duration = Duration::from_secs(1);

/// Backoff and log rate for failing accepts, sans-IO: exponential from 10 ms to 1 s, reset by
/// a successful accept; a warning at most once a second, saying how many were not logged.
#[derive(Debug, Default)]
struct AcceptBackoff {
    next: Option<Duration>,
    last_log: Option<Instant>,
    suppressed: u64,
}

impl AcceptBackoff {
    /// After a failure at `now`: how long to pause, and `Some(failures not logged since the
    /// last warning)` if this one is to be logged.
    fn failed(&mut self, now: Instant) -> (Duration, Option<u64>) {
        let delay = self.next.unwrap_or(BACKOFF_MIN);
        self.next = Some(delay.saturating_mul(2).min(BACKOFF_MAX));
        let due = self
            .last_log
            .is_none_or(|last| now.saturating_duration_since(last) >= LOG_INTERVAL);
        if due {
            self.last_log = Some(now);
            (delay, Some(std::mem::take(&mut self.suppressed)))
        } else {
            self.suppressed += 1;
            (delay, None)
        }
    }

    fn succeeded(&mut self) {
        self.next = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn backoff_doubles_from_10_ms_to_1_s_and_resets_on_success() {
        let mut b = AcceptBackoff::default();
        let now = Instant::now();
        let delays: Vec<_> = (0..9).map(|_| b.failed(now).0.as_millis()).collect();
        assert_eq!(delays, [10, 20, 40, 80, 160, 320, 640, 1000, 1000]);
        b.succeeded();
        assert_eq!(b.failed(now).0, BACKOFF_MIN);
    }

    #[test]
    fn failures_are_logged_at_most_once_a_second_with_a_count_of_the_rest() {
        let mut b = AcceptBackoff::default();
        let t0 = Instant::now();
        assert_eq!(b.failed(t0).1, Some(0));
        for ms in [10, 30, 70, 999] {
            assert_eq!(b.failed(t0 + Duration::from_millis(ms)).1, None);
        }
        assert_eq!(b.failed(t0 + Duration::from_millis(1000)).1, Some(4));
        assert_eq!(b.failed(t0 + Duration::from_millis(1500)).1, None);
        // A success resets the delay, not the log rate.
        b.succeeded();
        assert_eq!(b.failed(t0 + Duration::from_millis(1600)).1, None);
        assert_eq!(b.failed(t0 + Duration::from_millis(2000)).1, Some(2));
    }
}
