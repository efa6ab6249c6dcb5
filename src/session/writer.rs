//! The write half of a session: control messages first, then the protocols' queues by
//! deficit round-robin, batched into few large writes.

use std::sync::Arc;
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncWrite, AsyncWriteExt};
use tokio::sync::mpsc;

use super::budget::OutboundRoom;
use super::control::{SessionControl, SessionEnd};
use super::metrics::CapMetrics;
use super::scheduler::{Drr, Queues};
use crate::metrics::MsgDirection;
use crate::rlpx::Sealer;
use crate::wire::{code, PayloadCodec, WirePayload};

/// A message on its way to the write scheduler: absolute code, payload as it goes on the wire,
/// and the room it holds in its queue's byte limit until the writer takes it off the queue.
#[derive(Debug)]
pub(crate) struct Outgoing {
    pub(crate) code: u64,
    pub(crate) payload: WirePayload,
    /// Held for its `Drop`, which frees the room.
    pub(crate) _room: OutboundRoom,
}

/// Write out once this much is sealed, even if more is queued.
const FLUSH_AT: usize = 64 * 1024;
/// A write buffer grown beyond this by a large message is released after use.
const KEEP_CAPACITY: usize = 2 * FLUSH_AT;

/// One protocol's outbound queue and scheduler weight.
#[derive(Debug)]
pub(crate) struct OutQueue {
    pub(crate) queue: mpsc::Receiver<Outgoing>,
    pub(crate) weight: u32,
    pub(crate) metrics: Arc<CapMetrics>,
}

struct Protocols<'a>(&'a mut [OutQueue]);

impl Queues for Protocols<'_> {
    type Item = Outgoing;

    fn count(&self) -> usize {
        self.0.len()
    }

    fn is_empty(&self, index: usize) -> bool {
        self.0[index].queue.is_empty()
    }

    fn pop(&mut self, index: usize) -> Option<(Outgoing, usize)> {
        let out = self.0[index].queue.try_recv().ok()?;
        let size = out.payload.len();
        self.0[index]
            .metrics
            .record(MsgDirection::Egress, out.code, size);
        Some((out, size))
    }
}

/// Timing of the write half.
#[derive(Clone, Copy, Debug)]
pub(crate) struct WriterTiming {
    pub(crate) ping_interval: Duration,
    pub(crate) write_timeout: Duration,
}

struct Writer<W> {
    io: W,
    /// Boxed: kilobytes of cipher and MAC state, which the write loop's future would
    /// otherwise hold twice (as its argument and in this struct) in every connected peer.
    sealer: Box<Sealer>,
    buf: BytesMut,
    write_timeout: Duration,
    codec: PayloadCodec,
    /// Ping/Pong payload as it goes on the wire.
    empty: Bytes,
}

impl<W: AsyncWrite + Unpin> Writer<W> {
    fn seal(&mut self, code: u64, payload: &[u8]) -> Result<(), SessionEnd> {
        // Senders checked sizes against the frame limit, so sealing cannot fail here.
        self.sealer
            .seal(code, payload, &mut self.buf)
            .map_err(|_| SessionEnd::Closed)
    }

    /// Seals a queued message; its payload is not copied on the way, only into the frame.
    fn seal_out(&mut self, out: &Outgoing) -> Result<(), SessionEnd> {
        let payload = &out.payload;
        self.sealer
            .seal_parts(out.code, payload.head(), payload.body(), &mut self.buf)
            .map_err(|_| SessionEnd::Closed)
    }

    /// Seals Ping or Pong, whose payload is the empty list.
    fn seal_empty(&mut self, code: u64) -> Result<(), SessionEnd> {
        self.sealer
            .seal(code, &self.empty, &mut self.buf)
            .map_err(|_| SessionEnd::Closed)
    }

    /// Writes the sealed frames out. The write timeout is a stall timeout: it runs from the
    /// last write the socket took, so a slow peer that keeps reading is not dropped for the
    /// size of a batch (the kernel holds only `unsent_limit` bytes of it ahead of the peer).
    async fn flush(&mut self, control: &SessionControl) -> Result<(), SessionEnd> {
        if self.buf.is_empty() {
            return Ok(());
        }
        let stalled = tokio::time::sleep(self.write_timeout);
        tokio::pin!(stalled);
        let mut written = 0;
        while written < self.buf.len() {
            let n = tokio::select! {
                biased;
                n = self.io.write(&self.buf[written..]) => n,
                () = &mut stalled => return Err(write_failed("write timed out")),
            };
            match n {
                Ok(0) => return Err(write_failed("connection took no bytes")),
                Ok(n) => {
                    written += n;
                    control.count_egress(n);
                }
                Err(e) => {
                    tracing::debug!(error = %e, "write failed");
                    return Err(SessionEnd::Closed);
                }
            }
            if written < self.buf.len() {
                stalled
                    .as_mut()
                    .reset(tokio::time::Instant::now() + self.write_timeout);
            }
        }
        tokio::select! {
            biased;
            flushed = self.io.flush() => flushed.map_err(|e| {
                tracing::debug!(error = %e, "flush failed");
                SessionEnd::Closed
            })?,
            () = &mut stalled => return Err(write_failed("flush timed out")),
        }
        self.buf.clear();
        if self.buf.capacity() > KEEP_CAPACITY {
            self.buf = BytesMut::new();
        }
        Ok(())
    }
}

fn write_failed(why: &'static str) -> SessionEnd {
    tracing::debug!("{why}");
    SessionEnd::Closed
}

/// Writes until the session ends. On a local end, queued messages are written first, then
/// Disconnect with the reason.
///
/// The sealer comes boxed: the cipher and MAC states are kilobytes, and an argument taken by
/// value would be stored in the task's future for the whole session beside the boxed copy.
pub(crate) async fn write_loop<W: AsyncWrite + Unpin>(
    io: W,
    sealer: Box<Sealer>,
    mut queues: Vec<OutQueue>,
    codec: PayloadCodec,
    timing: WriterTiming,
    control: Arc<SessionControl>,
) {
    let control = &*control;
    let mut writer = Writer {
        io,
        sealer,
        buf: BytesMut::new(),
        write_timeout: timing.write_timeout,
        codec,
        empty: codec.empty_list(),
    };
    let mut drr = Drr::new(queues.iter().map(|q| q.weight).collect());
    if let Err(end) = run(&mut writer, &mut drr, &mut queues, timing, control).await {
        control.end(end);
    }
    let _ = writer.io.shutdown().await;
}

async fn run<W: AsyncWrite + Unpin>(
    w: &mut Writer<W>,
    drr: &mut Drr,
    queues: &mut [OutQueue],
    timing: WriterTiming,
    control: &SessionControl,
) -> Result<(), SessionEnd> {
    let start = tokio::time::Instant::now() + timing.ping_interval;
    let mut ping = tokio::time::interval_at(start, timing.ping_interval);
    ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if control.is_ending() {
            return finish(w, drr, queues, control).await;
        }
        if control.take_pong() {
            w.seal_empty(code::PONG)?;
        }
        while w.buf.len() < FLUSH_AT {
            match drr.next(&mut Protocols(queues)) {
                Some(out) => w.seal_out(&out)?,
                None => break,
            }
        }
        if !w.buf.is_empty() {
            w.flush(control).await?;
            // A write the socket took at once did not yield: let the worker run other tasks
            // (handlers, other sessions) between batches instead of after tokio's budget of
            // I/O operations, which at 64 KiB per write is tens of milliseconds of sealing.
            tokio::task::yield_now().await;
            continue;
        }
        tokio::select! {
            biased;
            _ = control.writer_woken() => {}
            _ = ping.tick() => w.seal_empty(code::PING)?,
        }
    }
}

/// Writes what is still queued, then Disconnect, if we are the side ending the session.
async fn finish<W: AsyncWrite + Unpin>(
    w: &mut Writer<W>,
    drr: &mut Drr,
    queues: &mut [OutQueue],
    control: &SessionControl,
) -> Result<(), SessionEnd> {
    let Some(SessionEnd::Local(reason)) = control.outcome() else {
        return Ok(());
    };
    // Messages accepted before the end are not dropped: the queues are bounded, so this ends.
    for queue in queues.iter_mut() {
        queue.queue.close();
    }
    while let Some(out) = drr.next(&mut Protocols(queues)) {
        w.seal_out(&out)?;
        if w.buf.len() >= FLUSH_AT {
            w.flush(control).await?;
        }
    }
    let bye = reason.encode_message(w.codec);
    w.seal(code::DISCONNECT, &bye)?;
    w.flush(control).await
}
