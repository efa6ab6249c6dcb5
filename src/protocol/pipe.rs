//! An in-memory pair of [`MsgReadWriter`]s, to test a protocol handler without sockets
//! (like go-ethereum's `p2p.MsgPipe`).
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use peerwire::protocol::{pipe::run_handler, Protocol};
//! use peerwire::wire::Capability;
//!
//! let upper = Protocol::new(Capability::new("upper", 1), 1, |_peer, mut rw| async move {
//!     let text: String = rw.read_msg().await?.decode()?;
//!     rw.send(0, &text.to_uppercase()).await?;
//!     Ok(())
//! });
//! let (handler, mut remote) = run_handler(&upper);
//! remote.rw.send(0, &"hi").await.unwrap();
//! assert_eq!(remote.rw.read_msg().await.unwrap().decode::<String>().unwrap(), "HI");
//! assert!(handler.await.unwrap().is_ok());
//! # });
//! ```

use std::net::SocketAddr;
use std::sync::Arc;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::DEFAULT_OUTBOUND_BYTES;
use super::{end_reason, Direction, HandlerError, MsgReadWriter, Peer, PeerInfo, Protocol};
use crate::crypto::NodeKey;
use crate::session::{Channels, Inbound, Msg, OutboundLimit, Outgoing, SessionControl};
use crate::wire::{Capability, PayloadCodec, SharedCapability, BASE_PROTOCOL_LENGTH};

/// One end of a pipe: the handle of the peer at the other end, and this end's channel.
#[derive(Debug)]
pub struct PipeEnd {
    /// The peer this end talks to.
    pub peer: Peer,
    /// Messages from and to that peer.
    pub rw: MsgReadWriter,
}

/// Two connected ends for a protocol of `length` codes, with queues of `capacity` messages
/// (so up to 2 × `capacity` + 1 messages are in flight one way); each end's outbound queue
/// also holds at most [`DEFAULT_OUTBOUND_BYTES`] bytes, as on a session.
///
/// Messages sent on one end arrive on the other in order, uncompressed. Each end's `Peer`
/// handle describes the other end, and `peer.send(capability, ..)` sends from this end as
/// `rw.send` does; `peer.disconnect` on either ends both.
/// Needs a tokio runtime: two tasks move the messages.
pub fn pipe(capability: Capability, length: u64, capacity: usize) -> (PipeEnd, PipeEnd) {
    let queues = PipeQueues {
        inbound: capacity,
        outbound: capacity,
        outbound_bytes: DEFAULT_OUTBOUND_BYTES,
    };
    pipe_with(capability, length, queues)
}

/// Queue sizes of both ends of a pipe.
#[derive(Clone, Copy)]
struct PipeQueues {
    /// Messages.
    inbound: usize,
    /// Messages.
    outbound: usize,
    /// Bytes of each outbound queue.
    outbound_bytes: usize,
}

/// [`pipe`] with the given queue sizes.
fn pipe_with(capability: Capability, length: u64, queues: PipeQueues) -> (PipeEnd, PipeEnd) {
    let control = Arc::new(SessionControl::default());
    let shared = SharedCapability {
        capability,
        offset: BASE_PROTOCOL_LENGTH,
        length,
    };
    let (a_out_tx, a_out_rx) = mpsc::channel(queues.outbound.max(1));
    let (b_out_tx, b_out_rx) = mpsc::channel(queues.outbound.max(1));
    let (a_in_tx, a_in_rx) = mpsc::channel(queues.inbound.max(1));
    let (b_in_tx, b_in_rx) = mpsc::channel(queues.inbound.max(1));
    tokio::spawn(forward(a_out_rx, b_in_tx, control.clone()));
    tokio::spawn(forward(b_out_rx, a_in_tx, control.clone()));
    let end = |inbound, outbound, direction| {
        let peer = Peer::new(Arc::new(fake_info(&shared, direction)), control.clone());
        let rw = MsgReadWriter::new(Channels {
            inbound,
            outbound,
            outbound_limit: OutboundLimit::new(queues.outbound_bytes),
            offset: BASE_PROTOCOL_LENGTH,
            length,
            codec: PayloadCodec::Plain,
            control: control.clone(),
        });
        // `peer.send` on this end sends what `rw.send` would.
        peer.set_senders(vec![(shared.capability.clone(), rw.sender().clone())]);
        PipeEnd { peer, rw }
    };
    (
        end(a_in_rx, a_out_tx, Direction::Outbound),
        end(b_in_rx, b_out_tx, Direction::Inbound),
    )
}

/// Starts `protocol`'s handler on one end of a pipe and returns its task and the other end.
/// Both ends' queues have the protocol's sizes (`with_queue_capacity`, `with_outbound_bytes`).
///
/// When the handler returns or panics, the session ends as on a real connection (`Quitting`
/// or `SubprotocolError`), so the other end's `read_msg` reports the disconnect; a panic is
/// then passed on to the task's `JoinHandle`.
pub fn run_handler(protocol: &Protocol) -> (JoinHandle<Result<(), HandlerError>>, PipeEnd) {
    // Both ends get the protocol's queue sizes, as a session would give them.
    let queues = PipeQueues {
        inbound: protocol.inbound_capacity(),
        outbound: protocol.outbound_capacity(),
        outbound_bytes: protocol.outbound_bytes(),
    };
    let (local, remote) = pipe_with(protocol.capability(), protocol.length(), queues);
    let handler = protocol.guarded(local.peer.clone(), local.rw);
    let peer = local.peer;
    let task = tokio::spawn(async move {
        let outcome = handler.await;
        peer.disconnect(end_reason(&outcome));
        outcome.unwrap_or_else(|panic| std::panic::resume_unwind(panic))
    });
    (task, remote)
}

fn fake_info(shared: &SharedCapability, direction: Direction) -> PeerInfo {
    PeerInfo {
        id: NodeKey::random().id(),
        remote_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        local_addr: SocketAddr::from(([127, 0, 0, 1], 0)),
        direction,
        client_id: "peerwire-pipe".to_string(),
        protocol_version: crate::wire::P2P_VERSION,
        listen_port: 0,
        capabilities: vec![shared.clone()],
    }
}

/// Moves messages from one end's outbound queue to the other's inbound queue. When the
/// sending end is dropped, the receiving end reads what was moved and then `Disconnected`;
/// the session's reason is left to whoever ends it (`run_handler`, or `Peer::disconnect`).
async fn forward(
    mut from: mpsc::Receiver<Outgoing>,
    to: mpsc::Sender<Inbound>,
    control: Arc<SessionControl>,
) {
    loop {
        let out = tokio::select! {
            // Messages queued before the end are moved first.
            biased;
            out = from.recv() => out,
            _ = control.ending() => None,
        };
        let Some(out) = out else {
            break;
        };
        // Taken off the queue: its room is free again, as when a session's writer takes it.
        let Outgoing {
            code,
            payload,
            _room,
        } = out;
        drop(_room);
        // The pipe's codec is Plain: the wire payload is the message.
        let msg = Msg::new(code - BASE_PROTOCOL_LENGTH, payload.to_bytes());
        let charge = control.clone().charge_inbound(msg.payload.len()).await;
        // Not raced against the end: what was sent before it is delivered, as on a real
        // session, for as long as the receiving end exists.
        if to
            .send(Inbound {
                msg,
                _charge: charge,
            })
            .await
            .is_err()
        {
            break;
        }
    }
}
