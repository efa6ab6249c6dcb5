//! One connected peer's session: the layer below the protocol-facing API.
//!
//! ```text
//!            ┌────────── reader ──────────┐           ┌─ handler (protocol A) ─┐
//! socket ──▶ │ Ping → pong flag           │──inbound─▶│ Channels.inbound       │
//!            │ Disconnect → end           │           └────────────────────────┘
//!            └────────────────────────────┘                      │ Channels.outbound
//!            ┌────────── writer ──────────┐◀──outbound────────────┘
//! socket ◀── │ Pong/Ping first, then DRR  │
//!            └────────────────────────────┘
//! ```
//! Each protocol has its own bounded queue each way; the reader and writer handle the base
//! protocol themselves, so a slow handler delays neither another protocol nor a Pong. The
//! session knows protocols only as [`Slot`]s (a code range, queue sizes, a weight) and their
//! handlers only as futures that end with a [`DisconnectReason`]; the `protocol` layer above
//! turns [`Channels`] into `MsgReadWriter`s.

mod budget;
mod control;
mod metrics;
mod msg;
mod reader;
mod scheduler;
mod setup;
#[cfg(test)]
mod tests;
mod writer;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use bytes::BytesMut;
use futures_util::FutureExt;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tracing::Instrument;

pub(crate) use self::budget::{InboundBudget, OutboundLimit};
pub(crate) use self::control::SessionControl;
pub use self::control::{SessionEnd, Traffic};
use self::metrics::CapMetrics;
pub(crate) use self::metrics::MsgHook;
pub(crate) use self::msg::Inbound;
pub use self::msg::Msg;
use self::reader::{ReaderLimits, Route};
pub(crate) use self::setup::{negotiate, our_hello, send_disconnect, SetupError};
pub(crate) use self::writer::Outgoing;
use self::writer::{OutQueue, WriterTiming};
use crate::rlpx::{FrameReader, RlpxStream};
use crate::wire::{Capability, DisconnectReason, PayloadCodec};

/// Initial read buffer of a session.
const READ_BUFFER: usize = 1024;

/// Timeouts of a running session. Defaults are devp2p's (go-ethereum's).
#[derive(Clone, Copy, Debug)]
pub struct SessionTimeouts {
    /// How often we Ping. Default 15 s.
    pub ping_interval: Duration,
    /// A peer silent this long is dropped with PingTimeout. Default 30 s.
    pub read_idle: Duration,
    /// Longest the connection may take none of the bytes we have for it (a stall, not the
    /// time to write a large message to a slow peer); then the session ends. Default 20 s.
    pub write: Duration,
    /// After we send Disconnect, how long we wait for the peer to close. Default 2 s.
    pub disconnect_linger: Duration,
}

impl Default for SessionTimeouts {
    fn default() -> Self {
        Self {
            ping_interval: Duration::from_secs(15),
            read_idle: Duration::from_secs(30),
            write: Duration::from_secs(20),
            disconnect_linger: Duration::from_secs(2),
        }
    }
}

/// What the session needs to know of one shared protocol.
#[derive(Clone, Debug)]
pub(crate) struct Slot {
    /// The capability, for the metrics' labels.
    pub(crate) capability: Capability,
    /// First message code on the wire.
    pub(crate) offset: u64,
    /// Number of codes.
    pub(crate) length: u64,
    /// Write-scheduler weight.
    pub(crate) weight: u32,
    /// Queue capacities in messages.
    pub(crate) inbound_capacity: usize,
    pub(crate) outbound_capacity: usize,
    /// Bytes of encoded payloads the outbound queue may hold (one message always fits).
    pub(crate) outbound_bytes: usize,
}

/// One protocol's ends of a session.
#[derive(Debug)]
pub(crate) struct Channels {
    /// Messages received for the protocol, codes relative to `offset`.
    pub(crate) inbound: mpsc::Receiver<Inbound>,
    /// Messages to send, codes absolute, payloads already in `codec`'s encoding.
    pub(crate) outbound: mpsc::Sender<Outgoing>,
    /// The byte limit of `outbound`; senders take room in it before queueing.
    pub(crate) outbound_limit: OutboundLimit,
    pub(crate) offset: u64,
    pub(crate) length: u64,
    pub(crate) codec: PayloadCodec,
    pub(crate) control: Arc<SessionControl>,
}

/// A protocol handler running on a session; it resolves with the reason to end the session.
pub(crate) type Handler = Pin<Box<dyn Future<Output = DisconnectReason> + Send>>;

/// A session ready to run: Hello exchanged, not yet started.
#[derive(Debug)]
pub(crate) struct Session<S> {
    stream: RlpxStream<S>,
    codec: PayloadCodec,
    control: Arc<SessionControl>,
    /// Bytes of received messages the peer may have waiting for our handlers.
    inbound_budget: usize,
    timeouts: SessionTimeouts,
    /// Called for every message, if message events are on.
    msg_hook: Option<MsgHook>,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Session<S> {
    /// A session whose peer may have `inbound_budget` bytes of received messages waiting for
    /// its handlers, and all sessions sharing `server_budget` together that budget's bytes.
    pub(crate) fn new(
        stream: RlpxStream<S>,
        codec: PayloadCodec,
        inbound_budget: usize,
        server_budget: Arc<InboundBudget>,
        timeouts: SessionTimeouts,
    ) -> Self {
        Self {
            stream,
            codec,
            control: Arc::new(SessionControl::with_budget(server_budget)),
            inbound_budget,
            timeouts,
            msg_hook: None,
        }
    }

    /// Calls `hook` for every protocol message received or sent, if `Some`.
    pub(crate) fn with_msg_events(mut self, hook: Option<MsgHook>) -> Self {
        self.msg_hook = hook;
        self
    }

    /// The state that handles (a `Peer`) use to watch and end the session.
    pub(crate) fn control(&self) -> &Arc<SessionControl> {
        &self.control
    }

    /// Sends Disconnect with `reason` instead of running the session.
    pub(crate) async fn refuse(mut self, reason: DisconnectReason) {
        send_disconnect(&mut self.stream, reason, self.codec).await;
    }

    /// The future that runs the session until it ends; it returns only after every task it
    /// started has finished. Nothing starts before it is first polled: then the reader, the
    /// writer and, from `attach`, one handler per slot (in `span`).
    pub(crate) fn run<F>(
        self,
        span: tracing::Span,
        slots: Vec<Slot>,
        attach: F,
    ) -> impl Future<Output = SessionEnd> + Send
    where
        F: FnOnce(Vec<Channels>) -> Vec<Handler> + Send + 'static,
    {
        // Boxed until started: a future keeps room for what it captured for as long as it
        // lives, and the stream with its cipher states would otherwise stay reserved in every
        // running session next to the copies the reader and writer own.
        let session = Box::new(self);
        async move {
            let timeouts = session.timeouts;
            let control = session.control.clone();
            // Unboxed in a block of its own, so the box is freed here: one only moved out of
            // keeps its allocation (5 KiB) until its scope, this whole future, ends.
            let tasks = {
                let boxed = session;
                start_tasks(*boxed, &slots, attach)
            };
            supervise(tasks, control, timeouts).await
        }
        .instrument(span)
    }
}

/// The tasks of a running session.
struct Tasks {
    reader: tokio::task::JoinHandle<()>,
    writer: tokio::task::JoinHandle<()>,
    handlers: JoinSet<DisconnectReason>,
}

/// The read buffer a session starts with: the bytes received behind Hello, in `READ_BUFFER`
/// bytes of room unless more than that arrived. Small, so idle peers stay cheap (the opener
/// reserves what a frame needs); the handshake's larger buffer is not kept by every peer.
fn read_buffer(buffered: BytesMut) -> BytesMut {
    if buffered.len() > READ_BUFFER || buffered.capacity() == READ_BUFFER {
        return buffered;
    }
    let mut buf = BytesMut::with_capacity(READ_BUFFER);
    buf.extend_from_slice(&buffered);
    buf
}

/// Splits the connection and spawns the reader, the writer and the handlers.
fn start_tasks<S, F>(session: Session<S>, slots: &[Slot], attach: F) -> Tasks
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    F: FnOnce(Vec<Channels>) -> Vec<Handler>,
{
    let Session {
        stream,
        codec,
        control,
        inbound_budget,
        timeouts,
        msg_hook,
    } = session;
    let parts = stream.into_parts();
    let (read_half, write_half) = tokio::io::split(parts.io);
    // Frames that arrived together with Hello are opened before the socket is read again.
    let frames = FrameReader::new(read_half, parts.opener, read_buffer(parts.read_buf));

    let mut routes = Vec::with_capacity(slots.len());
    let mut out_queues = Vec::with_capacity(slots.len());
    let mut channels = Vec::with_capacity(slots.len());
    for slot in slots {
        let (in_tx, in_rx) = mpsc::channel(slot.inbound_capacity.max(1));
        let (out_tx, out_rx) = mpsc::channel(slot.outbound_capacity.max(1));
        let metrics = Arc::new(CapMetrics::new(
            &slot.capability,
            slot.offset,
            slot.length,
            msg_hook.clone(),
        ));
        let outbound_limit =
            OutboundLimit::new(slot.outbound_bytes).counted(metrics.outbound_queue.clone());
        routes.push(Route::new(slot.offset, slot.length, in_tx, metrics.clone()));
        out_queues.push(OutQueue {
            queue: out_rx,
            weight: slot.weight,
            metrics,
        });
        channels.push(Channels {
            inbound: in_rx,
            outbound: out_tx,
            outbound_limit,
            offset: slot.offset,
            length: slot.length,
            codec,
            control: control.clone(),
        });
    }
    let mut handlers = JoinSet::new();
    for handler in attach(channels) {
        handlers.spawn(handler.in_current_span());
    }

    let limits = ReaderLimits {
        idle_timeout: timeouts.read_idle,
        inbound_budget,
    };
    let read = reader::read_loop(frames, routes, codec, limits, control.clone());
    let reader = tokio::spawn(ending_session(read, control.clone()).in_current_span());
    let timing = WriterTiming {
        ping_interval: timeouts.ping_interval,
        write_timeout: timeouts.write,
    };
    let write = writer::write_loop(
        write_half,
        Box::new(parts.sealer),
        out_queues,
        codec,
        timing,
        control.clone(),
    );
    let writer = tokio::spawn(ending_session(write, control).in_current_span());
    Tasks {
        reader,
        writer,
        handlers,
    }
}

/// Waits for the session to end, then winds its tasks down in order.
async fn supervise(
    tasks: Tasks,
    control: Arc<SessionControl>,
    timeouts: SessionTimeouts,
) -> SessionEnd {
    let Tasks {
        reader,
        writer,
        mut handlers,
    } = tasks;
    // The first handler to finish, or any other end, ends the session.
    loop {
        tokio::select! {
            _ = control.ending() => break,
            Some(result) = handlers.join_next() => {
                // Handlers catch their own panics; a join error means the task was cancelled.
                let reason = result.unwrap_or(DisconnectReason::SubprotocolError);
                control.end(SessionEnd::Local(reason));
            }
        }
    }
    let end = control.outcome().unwrap_or(SessionEnd::Closed);
    tracing::debug!(?end, "session ending");

    // The writer sends what is queued and the Disconnect; then the peer should close.
    let linger = timeouts.disconnect_linger;
    finish_task(writer, timeouts.write + linger).await;
    finish_task(reader, linger).await;
    // Handlers see `Disconnected` once they drained their queues; give them the linger time.
    let drain = async { while handlers.join_next().await.is_some() {} };
    if tokio::time::timeout(linger, drain).await.is_err() {
        handlers.shutdown().await;
    }
    end
}

/// `task`, ending the session when it stops for any reason, a panic or an abort included;
/// the normal paths have recorded a more precise end already, and the first end recorded
/// wins.
///
/// A combinator rather than an `async` block: a block would hold `task`'s arguments (the
/// cipher states among them) once more beside the running future, in every connected peer.
fn ending_session(
    task: impl Future<Output = ()>,
    control: Arc<SessionControl>,
) -> impl Future<Output = ()> {
    let guard = EndOnDrop(control);
    task.map(move |()| drop(guard))
}

/// Ends the session when dropped.
struct EndOnDrop(Arc<SessionControl>);

impl Drop for EndOnDrop {
    fn drop(&mut self) {
        self.0.end(SessionEnd::Closed);
    }
}

/// Waits up to `limit` for a task, then aborts it; returns once it is gone either way.
async fn finish_task(mut task: tokio::task::JoinHandle<()>, limit: Duration) {
    if tokio::time::timeout(limit, &mut task).await.is_err() {
        task.abort();
        let _ = task.await;
    }
}
