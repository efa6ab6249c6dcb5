//! The handle a handler (or the application) holds for one connected peer.

use std::net::SocketAddr;
use std::sync::Arc;

use crate::crypto::NodeId;
use crate::session::{SessionControl, SessionEnd};
use crate::wire::{DisconnectReason, SharedCapability};

/// Who dialed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// The peer dialed us.
    Inbound,
    /// We dialed the peer.
    Outbound,
}

/// What is known about a connected peer.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The node id proven in the handshake.
    pub id: NodeId,
    /// The TCP address of the connection.
    pub remote_addr: SocketAddr,
    /// Who dialed.
    pub direction: Direction,
    /// The client id from the peer's Hello.
    pub client_id: String,
    /// The peer's `p2p` version from Hello.
    pub protocol_version: u64,
    /// The listening port from the peer's Hello.
    pub listen_port: u16,
    /// The capabilities both sides run, with their message-code ranges.
    pub capabilities: Vec<SharedCapability>,
}

/// A connected peer. Cheap to clone; every clone refers to the same session.
#[derive(Clone, Debug)]
pub struct Peer {
    info: Arc<PeerInfo>,
    control: Arc<SessionControl>,
}

impl Peer {
    pub(crate) fn new(info: Arc<PeerInfo>, control: Arc<SessionControl>) -> Self {
        Peer { info, control }
    }

    /// The peer's node id.
    pub fn id(&self) -> NodeId {
        self.info.id
    }

    /// The connection's remote address.
    pub fn remote_addr(&self) -> SocketAddr {
        self.info.remote_addr
    }

    /// Who dialed.
    pub fn direction(&self) -> Direction {
        self.info.direction
    }

    /// The client id the peer sent in Hello.
    pub fn client_id(&self) -> &str {
        &self.info.client_id
    }

    /// The shared capabilities.
    pub fn capabilities(&self) -> &[SharedCapability] {
        &self.info.capabilities
    }

    /// Everything known about the peer.
    pub fn info(&self) -> &PeerInfo {
        &self.info
    }

    /// Ends the session, sending Disconnect with `reason` after messages already queued.
    /// Later calls, and calls after the session ended, do nothing.
    pub fn disconnect(&self, reason: DisconnectReason) {
        self.control.end(SessionEnd::Local(reason));
    }

    /// Whether the session has ended (or is ending).
    pub fn is_disconnected(&self) -> bool {
        self.control.is_ending()
    }

    /// Resolves when the session is ending, with how it ended. Cancel-safe.
    pub async fn closed(&self) -> SessionEnd {
        self.control.ending().await;
        // `ending` resolves only after the outcome was recorded.
        self.control.outcome().unwrap_or(SessionEnd::Closed)
    }
}
