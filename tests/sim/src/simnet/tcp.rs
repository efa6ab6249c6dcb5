//! Simulated TCP: a connection is two one-way pipes of chunks, each chunk readable from the
//! instant its pair's latency after it was written, in the order written.

use std::collections::VecDeque;
use std::future::Future;
use std::io::{Error, ErrorKind, Result};
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};

use bytes::{Buf, Bytes};
use peerwire::net::{BoxFuture, Listener, Stream};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::SimNet;

/// Bytes written and not yet read a writer may have on a connection before it waits: the
/// simulated send and receive buffers together.
const WINDOW: usize = 1 << 20;
/// Connections a listener holds that were not accepted yet; more are dropped (their SYN
/// lost), as a full backlog does.
const BACKLOG: usize = 1024;

#[derive(Default)]
struct Pipe {
    chunks: VecDeque<(Instant, Bytes)>,
    buffered: usize,
    /// When the writer's FIN arrives: EOF once the chunks before it are read.
    fin: Option<Instant>,
    /// The reader is gone: writes fail.
    reset: bool,
    reader: Option<Waker>,
    writer: Option<Waker>,
}

#[derive(Clone, Default)]
struct SharedPipe(Arc<Mutex<Pipe>>);

impl SharedPipe {
    fn lock(&self) -> MutexGuard<'_, Pipe> {
        // Nothing panics under the lock.
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One end of a simulated connection.
pub(super) struct SimStream {
    net: SimNet,
    local: SocketAddr,
    peer: SocketAddr,
    incoming: SharedPipe,
    outgoing: SharedPipe,
    /// The timer of a chunk (or FIN) not readable yet.
    delay: Option<Pin<Box<Sleep>>>,
}

impl std::fmt::Debug for SimStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimStream")
            .field("local", &self.local)
            .field("peer", &self.peer)
            .finish()
    }
}

impl SimStream {
    /// Polls the timer until `at`: ready once it passed.
    fn wait_until(&mut self, at: Instant, cx: &mut Context<'_>) -> Poll<()> {
        let sleep = self
            .delay
            .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
        if sleep.deadline() != at {
            sleep.as_mut().reset(at);
        }
        sleep.as_mut().poll(cx)
    }
}

impl Stream for SimStream {
    fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.local)
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<Result<()>> {
        let this = self.get_mut();
        loop {
            let open = this.net.open(this.peer.ip(), this.local.ip());
            let mut pipe = this.incoming.lock();
            let now = Instant::now();
            let next = match pipe.chunks.front_mut() {
                Some(_) if !open => {
                    // A cut link (or a crashed peer): the bytes wait for the repair.
                    drop(pipe);
                    this.net.wait_for_repair(cx.waker());
                    return Poll::Pending;
                }
                Some((at, chunk)) if *at <= now => {
                    let n = buf.remaining().min(chunk.len());
                    buf.put_slice(&chunk[..n]);
                    chunk.advance(n);
                    if chunk.is_empty() {
                        pipe.chunks.pop_front();
                    }
                    pipe.buffered -= n;
                    if let Some(w) = pipe.writer.take() {
                        w.wake();
                    }
                    return Poll::Ready(Ok(()));
                }
                Some((at, _)) => *at,
                None => match pipe.fin {
                    Some(at) if at <= now => return Poll::Ready(Ok(())),
                    Some(at) => at,
                    None => {
                        pipe.reader = Some(cx.waker().clone());
                        return Poll::Pending;
                    }
                },
            };
            drop(pipe);
            if this.wait_until(next, cx).is_pending() {
                return Poll::Pending;
            }
        }
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize>> {
        let this = self.get_mut();
        let arrival = Instant::now() + this.net.latency(this.local.ip(), this.peer.ip());
        let mut pipe = this.outgoing.lock();
        if pipe.reset || pipe.fin.is_some() {
            return Poll::Ready(Err(Error::from(ErrorKind::BrokenPipe)));
        }
        if pipe.buffered >= WINDOW {
            pipe.writer = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.len().min(WINDOW - pipe.buffered);
        // In order: never before the chunk ahead of it.
        let at = pipe
            .chunks
            .back()
            .map_or(arrival, |(last, _)| arrival.max(*last));
        pipe.chunks
            .push_back((at, Bytes::copy_from_slice(&buf[..n])));
        pipe.buffered += n;
        if let Some(w) = pipe.reader.take() {
            w.wake();
        }
        drop(pipe);
        this.net.count_tcp(n);
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<Result<()>> {
        let this = self.get_mut();
        this.finish();
        Poll::Ready(Ok(()))
    }
}

impl SimStream {
    /// Sends our FIN: the peer reads EOF after the bytes before it.
    fn finish(&self) {
        let arrival = Instant::now() + self.net.latency(self.local.ip(), self.peer.ip());
        let mut pipe = self.outgoing.lock();
        if pipe.fin.is_none() {
            let at = pipe
                .chunks
                .back()
                .map_or(arrival, |(last, _)| arrival.max(*last));
            pipe.fin = Some(at);
            if let Some(w) = pipe.reader.take() {
                w.wake();
            }
        }
    }
}

impl Drop for SimStream {
    fn drop(&mut self) {
        // A crashed host's connections end in silence: its peers find out by timeouts.
        if !self
            .net
            .lock()
            .hosts
            .get(&self.local.ip())
            .is_some_and(|h| h.alive)
        {
            return;
        }
        self.finish();
        let mut pipe = self.incoming.lock();
        pipe.reset = true;
        if let Some(w) = pipe.writer.take() {
            w.wake();
        }
    }
}

/// Connections waiting for a listener's accept.
#[derive(Default)]
pub(super) struct Backlog {
    inner: Mutex<BacklogInner>,
}

#[derive(Default)]
struct BacklogInner {
    queue: VecDeque<(SimStream, SocketAddr)>,
    acceptor: Option<Waker>,
}

impl Backlog {
    fn lock(&self) -> MutexGuard<'_, BacklogInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Queues a connection; false if the backlog is full.
    fn push(&self, stream: SimStream, from: SocketAddr) -> bool {
        let mut b = self.lock();
        if b.queue.len() >= BACKLOG {
            return false;
        }
        b.queue.push_back((stream, from));
        if let Some(w) = b.acceptor.take() {
            w.wake();
        }
        true
    }
}

/// A simulated listener.
pub(super) struct SimListener {
    net: SimNet,
    local: SocketAddr,
    backlog: Arc<Backlog>,
}

impl SimListener {
    pub(super) fn new(net: SimNet, local: SocketAddr, backlog: Arc<Backlog>) -> Self {
        Self {
            net,
            local,
            backlog,
        }
    }
}

impl std::fmt::Debug for SimListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SimListener").field(&self.local).finish()
    }
}

impl Listener for SimListener {
    fn accept(&self) -> BoxFuture<'_, Result<(Box<dyn Stream>, SocketAddr)>> {
        Box::pin(std::future::poll_fn(move |cx| {
            let mut b = self.backlog.lock();
            match b.queue.pop_front() {
                Some((stream, from)) => {
                    Poll::Ready(Ok((Box::new(stream) as Box<dyn Stream>, from)))
                }
                None => {
                    b.acceptor = Some(cx.waker().clone());
                    Poll::Pending
                }
            }
        }))
    }

    fn local_addr(&self) -> Result<SocketAddr> {
        Ok(self.local)
    }
}

impl Drop for SimListener {
    fn drop(&mut self) {
        if let Some(h) = self.net.lock().hosts.get_mut(&self.local.ip()) {
            h.listeners.remove(&self.local.port());
        }
    }
}

/// Opens a connection from `from` to `to`: a round trip, or a refusal after one if nothing
/// listens there; no answer at all (until the caller's timeout) if the link is cut or the
/// host is down, as a lost SYN.
pub(super) async fn connect(net: &SimNet, from: IpAddr, to: SocketAddr) -> Result<SimStream> {
    let latency = net.latency(from, to.ip());
    let backlog = {
        let w = net.lock();
        if !w.open(from, to.ip()) {
            None
        } else {
            Some(
                w.hosts
                    .get(&to.ip())
                    .and_then(|h| h.listeners.get(&to.port()).cloned()),
            )
        }
    };
    let Some(backlog) = backlog else {
        return std::future::pending().await;
    };
    tokio::time::sleep(latency).await;
    let Some(backlog) = backlog else {
        tokio::time::sleep(latency).await;
        return Err(Error::from(ErrorKind::ConnectionRefused));
    };
    let local = SocketAddr::new(from, net.ephemeral_port(from));
    let (there, back) = (SharedPipe::default(), SharedPipe::default());
    let ours = SimStream {
        net: net.clone(),
        local,
        peer: to,
        incoming: back.clone(),
        outgoing: there.clone(),
        delay: None,
    };
    let theirs = SimStream {
        net: net.clone(),
        local: to,
        peer: local,
        incoming: there,
        outgoing: back,
        delay: None,
    };
    if !net.open(from, to.ip()) || !backlog.push(theirs, local) {
        return std::future::pending().await;
    }
    tokio::time::sleep(latency).await;
    Ok(ours)
}
