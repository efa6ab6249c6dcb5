//! Simulated UDP: a datagram reaches the socket bound at its destination after its pair's
//! latency, unless it is lost, its link is cut, either host is down, or the socket's queue
//! is full.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::future::Future;
use std::io::Result;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Poll, Waker};

use bytes::Bytes;
use peerwire::net::{BoxFuture, Datagrams};
use tokio::time::Instant;

use super::SimNet;

/// Datagrams a socket queues; more are dropped, as a full receive buffer does.
const QUEUE: usize = 4096;

/// Datagrams on their way to one socket, by arrival.
#[derive(Default)]
pub(super) struct Inbox {
    inner: Mutex<InboxInner>,
}

#[derive(Default)]
struct InboxInner {
    /// (arrival, sequence, sender, payload); the sequence keeps equal arrivals in send order.
    queue: BinaryHeap<Reverse<(Instant, u64, SocketAddr, Bytes)>>,
    sequence: u64,
    reader: Option<Waker>,
}

impl Inbox {
    fn lock(&self) -> MutexGuard<'_, InboxInner> {
        // Nothing panics under the lock.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn push(&self, at: Instant, from: SocketAddr, payload: Bytes) {
        let mut inbox = self.lock();
        if inbox.queue.len() >= QUEUE {
            return;
        }
        inbox.sequence += 1;
        let sequence = inbox.sequence;
        inbox.queue.push(Reverse((at, sequence, from, payload)));
        if let Some(w) = inbox.reader.take() {
            w.wake();
        }
    }
}

/// A simulated UDP socket.
pub(super) struct SimSocket {
    net: SimNet,
    local: SocketAddr,
    inbox: Arc<Inbox>,
}

impl SimSocket {
    pub(super) fn new(net: SimNet, local: SocketAddr, inbox: Arc<Inbox>) -> Self {
        Self { net, local, inbox }
    }
}

impl std::fmt::Debug for SimSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SimSocket").field(&self.local).finish()
    }
}

impl Datagrams for SimSocket {
    fn send_to<'a>(&'a self, buf: &'a [u8], to: SocketAddr) -> BoxFuture<'a, Result<usize>> {
        let destination = {
            let mut w = self.net.lock();
            let (from, dest) = (self.local.ip(), to.ip());
            if !w.open(from, dest) || w.lost(from, dest) {
                None
            } else {
                let latency = w.latency(from, dest);
                w.hosts
                    .get(&dest)
                    .and_then(|h| h.sockets.get(&to.port()).cloned())
                    .map(|inbox| (inbox, latency))
            }
        };
        if let Some((inbox, latency)) = destination {
            inbox.push(
                Instant::now() + latency,
                self.local,
                Bytes::copy_from_slice(buf),
            );
        }
        // Lost or not, the sender cannot tell.
        Box::pin(std::future::ready(Ok(buf.len())))
    }

    fn recv_from<'a>(&'a self, buf: &'a mut [u8]) -> BoxFuture<'a, Result<(usize, SocketAddr)>> {
        let mut delay: Option<Pin<Box<tokio::time::Sleep>>> = None;
        Box::pin(std::future::poll_fn(move |cx| loop {
            let mut inbox = self.inbox.lock();
            let next = match inbox.queue.peek() {
                None => {
                    inbox.reader = Some(cx.waker().clone());
                    return Poll::Pending;
                }
                Some(Reverse((at, ..))) => *at,
            };
            if next <= Instant::now() {
                // Just peeked: the queue is not empty.
                let Some(Reverse((_, _, from, payload))) = inbox.queue.pop() else {
                    continue;
                };
                let n = buf.len().min(payload.len());
                buf[..n].copy_from_slice(&payload[..n]);
                return Poll::Ready(Ok((n, from)));
            }
            // A later datagram may be pushed with an earlier arrival: wake for it too.
            inbox.reader = Some(cx.waker().clone());
            drop(inbox);
            let sleep = delay.get_or_insert_with(|| Box::pin(tokio::time::sleep_until(next)));
            if sleep.deadline() != next {
                sleep.as_mut().reset(next);
            }
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }))
    }

    fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.local)
    }
}

impl Drop for SimSocket {
    fn drop(&mut self) {
        if let Some(h) = self.net.lock().hosts.get_mut(&self.local.ip()) {
            h.sockets.remove(&self.local.port());
        }
    }
}
