//! The read half of a session: frames in, base-protocol messages handled here, everything
//! else routed to its protocol's bounded queue.

use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::StreamExt;
use tokio::io::AsyncRead;
use tokio::sync::mpsc;
use tokio_util::codec::FramedRead;

use super::control::{SessionControl, SessionEnd};
use super::setup::read_disconnect;
use crate::protocol::Msg;
use crate::rlpx::{Frame, Opener};
use crate::wire::{code, snappy, DisconnectReason, BASE_PROTOCOL_LENGTH};

/// Where messages of one shared capability go.
#[derive(Debug)]
pub(crate) struct Route {
    pub(crate) offset: u64,
    pub(crate) length: u64,
    pub(crate) queue: mpsc::Sender<Msg>,
}

/// Reads until the session ends; records how it ended in `control` and returns.
///
/// devp2p: "a peer silent for the read idle timeout is dropped": any frame, Pong included,
/// resets the timer. Time spent waiting for a full protocol queue does not count as silence.
pub(crate) async fn read_loop<R: AsyncRead + Unpin>(
    mut frames: FramedRead<R, Opener>,
    routes: Vec<Route>,
    compress: bool,
    idle_timeout: Duration,
    control: &SessionControl,
) {
    loop {
        let frame = match tokio::time::timeout(idle_timeout, frames.next()).await {
            Err(_) => {
                control.end(SessionEnd::Local(DisconnectReason::PingTimeout));
                return;
            }
            Ok(None) => return control.end(SessionEnd::Closed),
            Ok(Some(Err(e))) => {
                tracing::debug!(error = %e, "read failed");
                let end = match e {
                    crate::rlpx::RlpxError::Io(_) => SessionEnd::Closed,
                    _ => SessionEnd::Local(DisconnectReason::ProtocolError),
                };
                return control.end(end);
            }
            Ok(Some(Ok(frame))) => frame,
        };
        if control.is_ending() {
            // Draining until the peer closes; nothing more is delivered.
            continue;
        }
        if let Err(end) = dispatch(frame, &routes, compress, control).await {
            return control.end(end);
        }
    }
}

async fn dispatch(
    frame: Frame,
    routes: &[Route],
    compress: bool,
    control: &SessionControl,
) -> Result<(), SessionEnd> {
    let protocol_error = SessionEnd::Local(DisconnectReason::ProtocolError);
    if frame.code == code::DISCONNECT {
        // Accepted compressed or not: implementations differ.
        return Err(SessionEnd::Remote(read_disconnect(&frame.payload)));
    }
    let payload = if compress {
        Bytes::from(snappy::decompress(&frame.payload).map_err(|_| protocol_error)?)
    } else {
        frame.payload
    };
    match frame.code {
        code::HELLO => Err(protocol_error),
        code::PING => {
            control.request_pong();
            Ok(())
        }
        // Any frame already reset the idle timer; other reserved base codes are ignored.
        c if c < BASE_PROTOCOL_LENGTH => Ok(()),
        c => {
            let route = routes
                .iter()
                .find(|r| c >= r.offset && c - r.offset < r.length)
                .ok_or(protocol_error)?;
            let msg = Msg {
                code: c - route.offset,
                size: payload.len(),
                payload,
                received_at: Instant::now(),
            };
            tokio::select! {
                // The handler dropped its MsgReadWriter: it can never receive this message,
                // so the protocol cannot go on with this peer.
                sent = route.queue.send(msg) => sent.map_err(|_| {
                    tracing::warn!(code = c, "protocol handler no longer reads; ending session");
                    SessionEnd::Local(DisconnectReason::SubprotocolError)
                }),
                _ = control.ending() => Ok(()),
            }
        }
    }
}
