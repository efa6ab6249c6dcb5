//! The read half of a session: frames in, base-protocol messages handled here, everything
//! else routed to its protocol's bounded queue.
//!
//! When a protocol's queue is full, its messages are parked here, in order, instead of
//! blocking the read loop, so Ping, Disconnect and the other protocols keep flowing. What one
//! peer can make us hold is bounded by its inbound byte budget: the bytes of messages queued
//! or parked and not yet read by a handler. What all peers together can make us hold is
//! bounded by the server's inbound budget. A message is charged to both at the size its
//! header declares, before it is decompressed; when either is spent, the reader stops
//! reading the socket (TCP then pushes back on the peer) until handlers catch up.
//!
//! Fairness: the peer's own budget lets one message of any size through when the peer holds
//! nothing. The server's budget is a FIFO line across sessions (see `budget.rs`): it does
//! not make that exception, or N peers could again hold N messages, but a waiting reader is
//! served in turn and cannot be overtaken indefinitely by smaller messages. Only handlers
//! reading their queues release budget, and a waiting reader holds none that its own
//! handlers need (their queued messages are charged already, and parked ones still move),
//! so waiting cannot deadlock the library; Ping, Pong and Disconnect of every other peer
//! are handled as usual. A handler that stops reading for good keeps its peer's share
//! (at most the per-peer budget) until the session ends.
//!
//! Messages received before the session ends (queued or parked) are still delivered after
//! the end, in order, for as long as the handler reads within the disconnect linger time;
//! then the handler's `read_msg` reports the end.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use tokio::io::AsyncRead;
use tokio::sync::mpsc;

use std::sync::Arc;

use super::control::{InboundCharge, SessionControl, SessionEnd};
use super::metrics::CapMetrics;
use super::msg::{Inbound, Msg};
use crate::metrics::MsgDirection;
use crate::rlpx::{Frame, FrameReader, RlpxError};
use crate::wire::{
    code, DisconnectReason, PayloadCodec, BASE_PROTOCOL_LENGTH, EMPTY_LIST, MAX_PAYLOAD_SIZE,
};

/// The read loop lets other tasks run after handling this many bytes of frames in a row, so
/// that a fast peer delays the worker's other tasks by about one large frame's work at most.
const YIELD_EVERY: usize = 64 * 1024;
/// What a frame costs to handle beyond its payload, counted towards [`YIELD_EVERY`].
const FRAME_OVERHEAD: usize = 64;

/// Where messages of one shared capability go.
#[derive(Debug)]
pub(crate) struct Route {
    offset: u64,
    length: u64,
    queue: mpsc::Sender<Inbound>,
    /// Messages waiting for room in `queue`, oldest first.
    parked: VecDeque<Inbound>,
    metrics: Arc<CapMetrics>,
}

impl Route {
    pub(crate) fn new(
        offset: u64,
        length: u64,
        queue: mpsc::Sender<Inbound>,
        metrics: Arc<CapMetrics>,
    ) -> Self {
        Self {
            offset,
            length,
            queue,
            parked: VecDeque::new(),
            metrics,
        }
    }
}

/// Limits of the read half.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReaderLimits {
    pub(crate) idle_timeout: Duration,
    pub(crate) inbound_budget: usize,
}

struct Reader {
    routes: Vec<Route>,
    codec: PayloadCodec,
    limits: ReaderLimits,
    control: Arc<SessionControl>,
}

/// Reads until the session ends; records how it ended in `control`, then hands the parked
/// messages to their handlers and returns.
///
/// devp2p: a peer silent for the read idle timeout is dropped. Any frame, Pong included,
/// resets the timer; time spent waiting for our own handlers does not count as silence.
pub(crate) async fn read_loop<R: AsyncRead + Unpin>(
    mut frames: FrameReader<R>,
    routes: Vec<Route>,
    codec: PayloadCodec,
    limits: ReaderLimits,
    control: Arc<SessionControl>,
) {
    let mut reader = Reader {
        routes,
        codec,
        limits,
        control,
    };
    let end = reader.run(&mut frames).await;
    reader.control.end(end);
    drop(frames);
    // Received before the end, so still delivered; the session bounds this by its linger.
    reader.deliver_parked().await;
}

impl Reader {
    async fn run<R: AsyncRead + Unpin>(&mut self, frames: &mut FrameReader<R>) -> SessionEnd {
        let idle = self.limits.idle_timeout;
        let mut last_frame = tokio::time::Instant::now();
        // One timer for the session, moved on only when it fires early: per frame, only the
        // time is read.
        let silence = tokio::time::sleep_until(last_frame + idle);
        tokio::pin!(silence);
        // Bytes of frames handled since the task last let others run.
        let mut since_yield = 0;
        loop {
            if since_yield >= YIELD_EVERY {
                // Frames already buffered do not wait for the socket, so nothing else would
                // make the task yield before tokio's budget runs out.
                since_yield = 0;
                tokio::task::yield_now().await;
            }
            let next = tokio::select! {
                biased;
                moved = self.unpark_one() => {
                    if let Err(index) = moved {
                        return handler_gone(self.routes[index].offset);
                    }
                    continue;
                }
                next = frames.recv() => next,
                () = &mut silence => {
                    let deadline = last_frame + idle;
                    if tokio::time::Instant::now() >= deadline {
                        return SessionEnd::Local(DisconnectReason::PingTimeout);
                    }
                    silence.as_mut().reset(deadline);
                    continue;
                }
            };
            let frame = match next {
                Ok(None) => return SessionEnd::Closed,
                Err(e) => {
                    tracing::debug!(error = %e, "read failed");
                    return match e {
                        RlpxError::Io(_) => SessionEnd::Closed,
                        _ => SessionEnd::Local(DisconnectReason::ProtocolError),
                    };
                }
                Ok(Some(frame)) => frame,
            };
            since_yield += frame.payload.len() + FRAME_OVERHEAD;
            self.control
                .count_ingress(wire_len(frame.code, frame.payload.len()));
            if self.control.is_ending() {
                // Draining until the peer closes; nothing more is delivered.
                continue;
            }
            if let Err(end) = self.dispatch(frame).await {
                return end;
            }
            last_frame = tokio::time::Instant::now();
        }
    }

    async fn dispatch(&mut self, frame: Frame) -> Result<(), SessionEnd> {
        let protocol_error = SessionEnd::Local(DisconnectReason::ProtocolError);
        match frame.code {
            code::DISCONNECT => {
                // Accepted compressed or not: implementations differ.
                Err(SessionEnd::Remote(DisconnectReason::read_message(
                    &frame.payload,
                )))
            }
            // Hello is sent once, before everything else.
            code::HELLO => Err(protocol_error),
            // devp2p: Ping and Pong carry the empty list; nothing else is accepted, and the
            // check reads the declared size before anything is decompressed.
            code::PING | code::PONG => {
                let empty = self
                    .codec
                    .decode(frame.payload, EMPTY_LIST.len())
                    .map_err(|_| protocol_error)?;
                if empty[..] != EMPTY_LIST {
                    return Err(protocol_error);
                }
                if frame.code == code::PING {
                    self.control.request_pong();
                }
                Ok(())
            }
            // Any frame already reset the idle timer; other reserved base codes are ignored.
            c if c < BASE_PROTOCOL_LENGTH => Ok(()),
            c => {
                let index = self
                    .routes
                    .iter()
                    .position(|r| c >= r.offset && c - r.offset < r.length)
                    .ok_or(protocol_error)?;
                // The size the payload declares counts against the budgets before anything
                // is allocated for it; decoding then checks that it holds.
                let size = self
                    .codec
                    .decoded_len(&frame.payload)
                    .map_err(|_| protocol_error)?;
                if size > MAX_PAYLOAD_SIZE {
                    return Err(protocol_error);
                }
                let charge = self.wait_for_budget(size).await?;
                let wire_size = frame.payload.len();
                // On an error the charge is dropped, and so released.
                let payload = self
                    .codec
                    .decode(frame.payload, size)
                    .map_err(|_| protocol_error)?;
                let metrics = &self.routes[index].metrics;
                metrics.record(MsgDirection::Ingress, c, wire_size);
                let charge = charge.queued_in(&metrics.inbound_queue);
                let msg = Msg {
                    code: c - self.routes[index].offset,
                    payload,
                    received_at: Instant::now(),
                };
                self.deliver(
                    index,
                    Inbound {
                        msg,
                        _charge: charge,
                    },
                )
            }
        }
    }

    /// Waits until a message of `size` bytes fits the peer's inbound budget (a message larger
    /// than the whole budget is let through once the peer holds nothing), then until it fits
    /// the server's, in line with the other sessions; moves parked messages on meanwhile.
    async fn wait_for_budget(&mut self, size: usize) -> Result<InboundCharge, SessionEnd> {
        let control = self.control.clone();
        let ended = || Err(control.outcome().unwrap_or(SessionEnd::Closed));
        loop {
            let used = control.inbound_bytes();
            if used == 0 || used + size <= self.limits.inbound_budget {
                break;
            }
            tokio::select! {
                _ = control.inbound_released() => {}
                moved = self.unpark_one() => moved.map_err(|i| handler_gone(self.routes[i].offset))?,
                // The session ends elsewhere; the message is not wanted any more.
                _ = control.ending() => return ended(),
            }
        }
        // Created once, so that moving parked messages does not cost our place in line.
        let charge = control.clone().charge_inbound(size);
        tokio::pin!(charge);
        loop {
            tokio::select! {
                biased;
                charge = &mut charge => return Ok(charge),
                moved = self.unpark_one() => moved.map_err(|i| handler_gone(self.routes[i].offset))?,
                _ = control.ending() => return ended(),
            }
        }
    }

    /// Queues `msg` for its handler, or parks it behind earlier messages of its protocol.
    fn deliver(&mut self, index: usize, msg: Inbound) -> Result<(), SessionEnd> {
        let route = &mut self.routes[index];
        if !route.parked.is_empty() {
            route.parked.push_back(msg);
            return Ok(());
        }
        match route.queue.try_send(msg) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(msg)) => {
                route.parked.push_back(msg);
                Ok(())
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err(handler_gone(route.offset)),
        }
    }

    /// Moves one parked message into its queue once there is room; pending while nothing is
    /// parked. Fails with the route's index if its handler is gone. Cancel-safe: a message is
    /// only taken from `parked` together with a permit.
    async fn unpark_one(&mut self) -> Result<(), usize> {
        let waiting: Vec<_> = self
            .routes
            .iter()
            .enumerate()
            .filter(|(_, r)| !r.parked.is_empty())
            .map(|(i, r)| Box::pin(async move { (i, r.queue.clone().reserve_owned().await) }))
            .collect();
        if waiting.is_empty() {
            return std::future::pending().await;
        }
        let ((index, permit), _, _) = futures_util::future::select_all(waiting).await;
        let route = &mut self.routes[index];
        let permit = permit.map_err(|_| index)?;
        if let Some(msg) = route.parked.pop_front() {
            permit.send(msg);
        }
        Ok(())
    }

    /// After the end: moves every parked message into its queue as its handler makes room,
    /// dropping those of handlers that are gone.
    async fn deliver_parked(&mut self) {
        while self.routes.iter().any(|r| !r.parked.is_empty()) {
            if let Err(index) = self.unpark_one().await {
                self.routes[index].parked.clear();
            }
        }
    }
}

/// The handler dropped its MsgReadWriter: it can never receive this protocol's messages, so
/// the protocol cannot go on with this peer.
/// The bytes a frame took on the wire. RLPx: "header || header-mac || frame-data ||
/// frame-mac", a 16-byte header and 16-byte MACs, frame-data padded to a multiple of 16;
/// frame-data is the RLP of the message id followed by the payload.
fn wire_len(code: u64, payload: usize) -> usize {
    let id = if code < 0x80 {
        1
    } else {
        1 + (8 - code.leading_zeros() as usize / 8)
    };
    16 + 16 + (id + payload).div_ceil(16) * 16 + 16
}

fn handler_gone(offset: u64) -> SessionEnd {
    tracing::warn!(offset, "protocol handler no longer reads; ending session");
    SessionEnd::Local(DisconnectReason::SubprotocolError)
}
