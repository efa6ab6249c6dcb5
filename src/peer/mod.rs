//! One connected peer: the session task that owns the connection.
//!
//! ```text
//!            ┌────────── reader ──────────┐         ┌─ handler (protocol A) ─┐
//! socket ──▶ │ Ping → pong flag           │──queue─▶│ MsgReadWriter::read_msg│
//!            │ Disconnect → end           │         └────────────────────────┘
//!            └────────────────────────────┘                    │ send / try_send
//!            ┌────────── writer ──────────┐◀──queue─────────────┘
//! socket ◀── │ Pong/Ping first, then DRR  │
//!            └────────────────────────────┘
//! ```
//! Each protocol has its own bounded queue each way; the reader and writer handle the base
//! protocol themselves, so a slow handler delays neither another protocol nor a Pong.

pub(crate) mod control;
mod reader;
pub(crate) mod scheduler;
pub(crate) mod setup;
mod writer;

use std::sync::Arc;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::codec::FramedRead;
use tracing::Instrument;

use self::control::SessionControl;
pub use self::control::SessionEnd;
use self::reader::{ReaderLimits, Route};
use self::writer::{OutQueue, WriterTiming};
use crate::protocol::{MsgReadWriter, Peer, PeerInfo, Protocol};
use crate::rlpx::RlpxStream;
use crate::wire::DisconnectReason;

/// Initial read buffer of a session.
const READ_BUFFER: usize = 1024;

/// Timeouts of a running session. Defaults are devp2p's (go-ethereum's).
#[derive(Clone, Copy, Debug)]
pub struct SessionTimeouts {
    /// How often we Ping. Default 15 s.
    pub ping_interval: Duration,
    /// A peer silent this long is dropped with PingTimeout. Default 30 s.
    pub read_idle: Duration,
    /// Longest a write may block. Default 20 s.
    pub write: Duration,
    /// After we send Disconnect, how long we wait for the peer to close. Default 2 s.
    pub disconnect_linger: Duration,
}

impl Default for SessionTimeouts {
    fn default() -> Self {
        SessionTimeouts {
            ping_interval: Duration::from_secs(15),
            read_idle: Duration::from_secs(30),
            write: Duration::from_secs(20),
            disconnect_linger: Duration::from_secs(2),
        }
    }
}

/// A session ready to run: negotiated, admitted, not yet started.
pub(crate) struct Session<S> {
    pub(crate) stream: RlpxStream<S>,
    pub(crate) info: Arc<PeerInfo>,
    pub(crate) compress: bool,
    /// Each shared capability's protocol.
    pub(crate) protocols: Vec<Protocol>,
    /// Bytes of received messages the peer may have waiting for our handlers.
    pub(crate) inbound_budget: usize,
}

impl<S: AsyncRead + AsyncWrite + Unpin + Send + 'static> Session<S> {
    /// The peer's handle, and the future that runs the session until it ends. The future
    /// returns only after every task it started has finished.
    pub(crate) fn into_running(
        self,
        timeouts: SessionTimeouts,
    ) -> (Peer, impl std::future::Future<Output = SessionEnd> + Send) {
        let control = Arc::new(SessionControl::default());
        let peer = Peer::new(self.info.clone(), control.clone());
        let span = tracing::info_span!(
            "peer",
            id = %self.info.id.short(),
            addr = %self.info.remote_addr,
            dir = ?self.info.direction,
        );
        // The tasks start when the returned future is first polled, inside the peer's span.
        let running = {
            let (peer, control) = (peer.clone(), control.clone());
            async move {
                let tasks = start_tasks(self, &peer, &control, timeouts);
                supervise(tasks, control, timeouts).await
            }
            .instrument(span)
        };
        (peer, running)
    }
}

/// The tasks of a running session.
struct Tasks {
    reader: tokio::task::JoinHandle<()>,
    writer: tokio::task::JoinHandle<()>,
    handlers: JoinSet<Result<(), crate::protocol::HandlerError>>,
}

/// Splits the connection and spawns the reader, the writer and one handler per protocol.
fn start_tasks<S: AsyncRead + AsyncWrite + Unpin + Send + 'static>(
    session: Session<S>,
    peer: &Peer,
    control: &Arc<SessionControl>,
    timeouts: SessionTimeouts,
) -> Tasks {
    let Session {
        stream,
        info,
        compress,
        protocols,
        inbound_budget,
    } = session;
    let parts = stream.into_framed().into_parts();
    let (sealer, opener) = parts.codec.split();
    let (read_half, write_half) = tokio::io::split(parts.io);
    // Frames that arrived together with the Hello are read first. Put into the FramedRead's
    // buffer instead, they would wait for more bytes from the socket: a new FramedRead reads
    // before it decodes. Copied, so the handshake's buffer is not kept for the session.
    let pipelined = std::io::Cursor::new(bytes::Bytes::copy_from_slice(&parts.read_buf));
    let read_half = pipelined.chain(read_half);
    // Small to start with, so idle peers stay cheap; the opener reserves what a frame needs.
    let frames = FramedRead::with_capacity(read_half, opener, READ_BUFFER);

    let mut routes = Vec::new();
    let mut out_queues = Vec::new();
    let mut handlers = JoinSet::new();
    for (shared, protocol) in info.capabilities.iter().zip(&protocols) {
        let (in_tx, in_rx) = mpsc::channel(protocol.inbound_capacity());
        let (out_tx, out_rx) = mpsc::channel(protocol.outbound_capacity());
        routes.push(Route {
            offset: shared.offset,
            length: shared.length,
            queue: in_tx,
            parked: Default::default(),
        });
        out_queues.push(OutQueue {
            queue: out_rx,
            weight: protocol.weight(),
        });
        let rw = MsgReadWriter::new(
            in_rx,
            out_tx,
            shared.offset,
            shared.length,
            compress,
            control.clone(),
        );
        let name = shared.capability.to_string();
        handlers.spawn(
            protocol
                .run(peer.clone(), rw)
                .instrument(tracing::debug_span!("protocol", cap = %name)),
        );
    }

    let reader = {
        let control = control.clone();
        tokio::spawn(
            async move {
                let _ends_session = EndOnDrop(&control);
                let limits = ReaderLimits {
                    idle_timeout: timeouts.read_idle,
                    inbound_budget,
                };
                reader::read_loop(frames, routes, compress, limits, &control).await
            }
            .in_current_span(),
        )
    };
    let timing = WriterTiming {
        ping_interval: timeouts.ping_interval,
        write_timeout: timeouts.write,
    };
    let writer = {
        let control = control.clone();
        tokio::spawn(
            async move {
                let _ends_session = EndOnDrop(&control);
                writer::write_loop(write_half, sealer, out_queues, compress, timing, &control).await
            }
            .in_current_span(),
        )
    };
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
            Some(result) = handlers.join_next() => control.end(SessionEnd::Local(handler_reason(result))),
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

/// Ends the session when the reader or writer stops for any reason, a panic included; the
/// normal paths have recorded a more precise end already, and the first end recorded wins.
struct EndOnDrop<'a>(&'a SessionControl);

impl Drop for EndOnDrop<'_> {
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

fn handler_reason(
    result: Result<Result<(), crate::protocol::HandlerError>, tokio::task::JoinError>,
) -> DisconnectReason {
    match result {
        Ok(Ok(())) => DisconnectReason::Quitting,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "protocol handler failed");
            DisconnectReason::SubprotocolError
        }
        Err(e) => {
            tracing::warn!(error = %e, "protocol handler panicked or was cancelled");
            DisconnectReason::SubprotocolError
        }
    }
}
