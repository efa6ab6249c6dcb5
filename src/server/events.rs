//! What the server tells subscribers about peers.

use std::net::SocketAddr;
use std::sync::Arc;

use super::gating::RejectReason;
use crate::crypto::NodeId;
use crate::protocol::{Direction, PeerInfo, SessionEnd};
use crate::wire::DisconnectReason;

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
}
