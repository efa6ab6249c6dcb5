//! The read half of a session: frames in, base-protocol messages handled here, everything
//! else routed to its protocol's bounded queue.
//!
//! When a protocol's queue is full, its messages are parked here, in order, instead of
//! blocking the read loop, so Ping, Disconnect and the other protocols keep flowing. What one
//! peer can make us hold is bounded by its inbound byte budget: the bytes of messages queued
//! or parked and not yet read by a handler. Only when that budget is spent does the reader
//! stop reading the socket (TCP then pushes back on the peer).

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;

use super::control::{SessionControl, SessionEnd};
use super::setup::read_disconnect;
use crate::protocol::Msg;
use crate::rlpx::{Frame, Opener, RlpxError, MAX_FRAME_SIZE};
use crate::wire::{code, snappy, DisconnectReason, BASE_PROTOCOL_LENGTH, EMPTY_LIST};

/// Largest decompressed base-protocol message (Ping, Pong and the reserved codes) accepted.
const MAX_CONTROL_SIZE: usize = 1024;

/// Where messages of one shared capability go.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) offset: u64,
    pub(crate) length: u64,
    pub(crate) queue: mpsc::Sender<Msg>,
    /// Messages waiting for room in `queue`, oldest first.
    pub(crate) parked: VecDeque<Msg>,
}

/// Limits of the read half.
#[derive(Clone, Copy, Debug)]
pub(crate) struct ReaderLimits {
    pub(crate) idle_timeout: Duration,
    pub(crate) inbound_budget: usize,
}

struct Reader<'a> {
    routes: Vec<Route>,
    compress: bool,
    limits: ReaderLimits,
    control: &'a SessionControl,
}

/// Reads until the session ends; records how it ended in `control` and returns.
///
/// devp2p: a peer silent for the read idle timeout is dropped. Any frame, Pong included,
/// resets the timer; time spent waiting for our own handlers does not count as silence.
pub(crate) async fn read_loop<R: AsyncRead + Unpin>(
    mut frames: FramedRead<R, Opener>,
    routes: Vec<Route>,
    compress: bool,
    limits: ReaderLimits,
    control: &SessionControl,
) {
    let mut reader = Reader {
        routes,
        compress,
        limits,
        control,
    };
    let end = reader.run(&mut frames).await;
    control.end(end);
}

impl Reader<'_> {
    async fn run<R: AsyncRead + Unpin>(
        &mut self,
        frames: &mut FramedRead<R, Opener>,
    ) -> SessionEnd {
        let mut deadline = tokio::time::Instant::now() + self.limits.idle_timeout;
        loop {
            let next = tokio::select! {
                biased;
                moved = self.unpark_one() => {
                    if let Err(end) = moved {
                        return end;
                    }
                    continue;
                }
                next = tokio::time::timeout_at(deadline, frames.next()) => next,
            };
            let frame = match next {
                Err(_) => return SessionEnd::Local(DisconnectReason::PingTimeout),
                Ok(None) => return SessionEnd::Closed,
                Ok(Some(Err(e))) => {
                    tracing::debug!(error = %e, "read failed");
                    return match e {
                        RlpxError::Io(_) => SessionEnd::Closed,
                        _ => SessionEnd::Local(DisconnectReason::ProtocolError),
                    };
                }
                Ok(Some(Ok(frame))) => frame,
            };
            if self.control.is_ending() {
                // Draining until the peer closes; nothing more is delivered.
                continue;
            }
            if let Err(end) = self.dispatch(frame).await {
                return end;
            }
            deadline = tokio::time::Instant::now() + self.limits.idle_timeout;
        }
    }

    async fn dispatch(&mut self, frame: Frame) -> Result<(), SessionEnd> {
        let protocol_error = SessionEnd::Local(DisconnectReason::ProtocolError);
        if frame.code == code::DISCONNECT {
            // Accepted compressed or not: implementations differ.
            return Err(SessionEnd::Remote(read_disconnect(&frame.payload)));
        }
        // A base-protocol message is a few bytes: one that decodes to more is refused before
        // its decoded bytes are allocated.
        let max = if frame.code < BASE_PROTOCOL_LENGTH {
            MAX_CONTROL_SIZE
        } else {
            MAX_FRAME_SIZE
        };
        let payload = if self.compress {
            Bytes::from(snappy::decompress_max(&frame.payload, max).map_err(|_| protocol_error)?)
        } else {
            frame.payload
        };
        match frame.code {
            // Hello is sent once, before everything else.
            code::HELLO => Err(protocol_error),
            // devp2p: "Ping (0x02) `[]`" and "Pong (0x03) `[]`": the payload is the empty list.
            code::PING | code::PONG if payload[..] != EMPTY_LIST => Err(protocol_error),
            code::PING => {
                self.control.request_pong();
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
                let msg = Msg {
                    code: c - self.routes[index].offset,
                    size: payload.len(),
                    payload,
                    received_at: Instant::now(),
                };
                self.wait_for_budget(msg.size).await?;
                self.control.charge_inbound(msg.size);
                self.deliver(index, msg)
            }
        }
    }

    /// Waits until a message of `size` bytes fits the peer's inbound budget (a message larger
    /// than the whole budget is let through once nothing else is held), moving parked
    /// messages on meanwhile.
    async fn wait_for_budget(&mut self, size: usize) -> Result<(), SessionEnd> {
        loop {
            let used = self.control.inbound_bytes();
            if used == 0 || used + size <= self.limits.inbound_budget {
                return Ok(());
            }
            let control = self.control;
            tokio::select! {
                _ = control.inbound_released() => {}
                moved = self.unpark_one() => moved?,
                // The session ends elsewhere; the message is not wanted any more.
                _ = control.ending() => {
                    return Err(control.outcome().unwrap_or(SessionEnd::Closed));
                }
            }
        }
    }

    /// Queues `msg` for its handler, or parks it behind earlier messages of its protocol.
    fn deliver(&mut self, index: usize, msg: Msg) -> Result<(), SessionEnd> {
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
    /// parked. Cancel-safe: a message is only taken from `parked` together with a permit.
    async fn unpark_one(&mut self) -> Result<(), SessionEnd> {
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
        let permit = permit.map_err(|_| handler_gone(route.offset))?;
        if let Some(msg) = route.parked.pop_front() {
            permit.send(msg);
        }
        Ok(())
    }
}

/// The handler dropped its MsgReadWriter: it can never receive this protocol's messages, so
/// the protocol cannot go on with this peer.
fn handler_gone(offset: u64) -> SessionEnd {
    tracing::warn!(offset, "protocol handler no longer reads; ending session");
    SessionEnd::Local(DisconnectReason::SubprotocolError)
}
