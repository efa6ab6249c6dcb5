//! What the server tells subscribers about peers.

use std::net::SocketAddr;
use std::sync::Arc;

use super::gating::RejectReason;
use tokio::sync::broadcast;

use crate::crypto::NodeId;
use crate::metrics::MsgDirection;
use crate::protocol::{Direction, PeerInfo, ReputationChange, SessionEnd};
use crate::session::MsgHook;
use crate::wire::{Capability, DisconnectReason};

/// A change in the peer set. Delivered through a bounded broadcast channel: a subscriber that
/// falls behind by more than the configured capacity misses events (and is told so).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub enum PeerEvent {
    /// A peer passed the handshake, Hello and admission, and its handlers were started (each
    /// protocol's `run` closure has been called), so sends to it from now on reach it.
    Added(Arc<PeerInfo>),
    /// A peer's session ended.
    Dropped {
        /// The peer.
        id: NodeId,
        /// How it ended; [`SessionEnd::reason`] gives the devp2p reason.
        end: SessionEnd,
    },
    /// A connection passed the handshake but was refused by devp2p's rules (full, duplicate,
    /// self, no shared capability, bad Hello ...). `id` is the proven identity. Refusals by
    /// the gating rules (bans, `net_restrict`, throttle, pending limits) are [`Refused`].
    ///
    /// [`Refused`]: PeerEvent::Refused
    Rejected {
        /// The remote node.
        id: NodeId,
        /// The connection's address.
        remote_addr: SocketAddr,
        /// Who dialed.
        direction: Direction,
        /// The Disconnect reason sent, or received if the remote refused us.
        reason: DisconnectReason,
    },
    /// A connection refused by the gating rules, usually before any handshake: closed at
    /// once, or, for a dial, never made. No Disconnect is sent, except to a banned node id
    /// found in the handshake, which gets Disconnect `Requested`.
    Refused {
        /// The connection's address (for a dial: the address we were to dial).
        remote_addr: SocketAddr,
        /// Who dialed.
        direction: Direction,
        /// The node, when known: the id we were to dial, or for
        /// [`RejectReason::BannedNode`] the id proven in the handshake. `None` for an inbound
        /// connection refused before its handshake, when nobody knows who it is.
        id: Option<NodeId>,
        /// Which rule refused it.
        reason: RejectReason,
    },
    /// A peer's reputation changed ([`Peer::report`](crate::protocol::Peer::report), or a
    /// penalty the server applied: failed dial or handshake, ping timeout, protocol error).
    ReputationChanged {
        /// The peer.
        id: NodeId,
        /// What happened.
        change: ReputationChange,
        /// Its score now.
        score: i32,
    },
    /// A peer's score reached the ban threshold: it is disconnected and refused for
    /// `duration` ([`ReputationConfig`](super::ReputationConfig)).
    Banned {
        /// The peer.
        id: NodeId,
        /// Its score.
        score: i32,
        /// How long the ban lasts.
        duration: std::time::Duration,
    },
    /// A protocol message received from or sent to a peer; only with
    /// [`ServerConfig::msg_events`](super::ServerConfig::msg_events) on, for debugging tools.
    /// Sent when the connection reads the message, or takes it off the queue to write it.
    Msg {
        /// The peer.
        id: NodeId,
        /// The protocol.
        cap: Capability,
        /// The message code, relative to the protocol.
        code: u64,
        /// Payload bytes on the wire (compressed, if the peer uses snappy).
        size: usize,
        /// Received or sent.
        direction: MsgDirection,
    },
}

/// The hook a session calls for each message when message events are on: sends
/// [`PeerEvent::Msg`] for peer `id` on `events`.
pub(crate) fn msg_hook(events: broadcast::Sender<PeerEvent>, id: NodeId) -> MsgHook {
    MsgHook(Arc::new(move |cap: &Capability, code, size, direction| {
        // No subscribers is fine.
        let _ = events.send(PeerEvent::Msg {
            id,
            cap: cap.clone(),
            code,
            size,
            direction,
        });
    }))
}
