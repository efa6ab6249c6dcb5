//! What the server tells subscribers about peers.

use std::net::SocketAddr;
use std::sync::Arc;

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
    /// A connection passed the handshake but was refused (full, duplicate, self, no shared
    /// capability, bad Hello ...). `id` is the proven identity.
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
}
