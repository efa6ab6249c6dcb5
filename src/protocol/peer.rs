//! The handle a handler (or the application) holds for one connected peer.

use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;

use super::{MsgSender, Reporter, ReputationChange, SendError};
use crate::crypto::{Enode, NodeId};
use crate::session::{SessionControl, SessionEnd, Traffic};
use crate::wire::{Capability, DisconnectReason, SharedCapability};

/// Who dialed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// The peer dialed us.
    Inbound,
    /// We dialed the peer.
    Outbound,
}

/// What is known about a connected peer.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[non_exhaustive]
pub struct PeerInfo {
    /// The node id proven in the handshake.
    pub id: NodeId,
    /// The TCP address of the connection.
    pub remote_addr: SocketAddr,
    /// Our end of the connection.
    pub local_addr: SocketAddr,
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
    /// A sender per running protocol, set once by `protocol::attach` before the handlers start.
    senders: Arc<OnceLock<Vec<(Capability, MsgSender)>>>,
    /// Where `report` goes, set once by the server before the handlers start.
    reporter: Arc<OnceLock<Reporter>>,
    /// When the session was set up (Hello exchanged).
    since: Instant,
}

impl Peer {
    pub(crate) fn new(info: Arc<PeerInfo>, control: Arc<SessionControl>) -> Self {
        Self {
            info,
            control,
            senders: Arc::default(),
            reporter: Arc::default(),
            since: Instant::now(),
        }
    }

    /// Sets where [`report`](Self::report) goes; only the first call counts.
    pub(crate) fn set_reporter(&self, reporter: Reporter) {
        let _ = self.reporter.set(reporter);
    }

    /// Reports the peer's behaviour to the server's reputation table: a score below the
    /// server's threshold bans the peer (it is disconnected and refused for the ban's
    /// duration). Does nothing for a peer outside a server (an in-memory pipe). Never
    /// blocks.
    pub fn report(&self, change: ReputationChange) {
        if let Some(reporter) = self.reporter.get() {
            (reporter.0)(self.info.id, change);
        }
    }

    /// Records the senders of the protocols running on this session; only the first call
    /// counts (`attach` makes it once, before any handler runs).
    pub(crate) fn set_senders(&self, senders: Vec<(Capability, MsgSender)>) {
        let _ = self.senders.set(senders);
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

    /// The bytes this session moved so far, whole RLPx frames as they crossed the socket
    /// (the Hello exchange and the handshake are not counted). Two relaxed atomic loads.
    pub fn traffic(&self) -> Traffic {
        self.control.traffic()
    }

    /// How long the session has been up (since Hello was exchanged).
    pub fn connected_for(&self) -> Duration {
        self.since.elapsed()
    }

    /// Everything known about the peer.
    pub fn info(&self) -> &PeerInfo {
        &self.info
    }

    /// Our end of the connection (go-ethereum's `LocalAddr`).
    pub fn local_addr(&self) -> SocketAddr {
        self.info.local_addr
    }

    /// The peer's enode URL, where it can be dialed: for a peer we dialed, the address we
    /// dialed; for one that dialed us, its remote IP with the listen port from its Hello, or
    /// `None` if that port is 0 (it does not say it listens; go-ethereum always sends 0).
    pub fn enode(&self) -> Option<Enode> {
        let info = &self.info;
        match (info.direction, info.listen_port) {
            (Direction::Outbound, _) => Some(Enode::new(info.id, info.remote_addr)),
            (Direction::Inbound, 0) => None,
            (Direction::Inbound, port) => Some(Enode::new(
                info.id,
                SocketAddr::new(info.remote_addr.ip(), port),
            )),
        }
    }

    /// Whether the session runs protocol `name` at one of `versions` (go-ethereum's
    /// `RunningCap`). False once the session has ended.
    pub fn running_cap(&self, name: &str, versions: &[u32]) -> bool {
        !self.is_disconnected()
            && self
                .running()
                .any(|c| c.name == name && versions.contains(&c.version))
    }

    /// The capabilities whose handlers run on this session (empty until they start).
    fn running(&self) -> impl Iterator<Item = &Capability> {
        self.senders.get().into_iter().flatten().map(|(c, _)| c)
    }

    /// A clone of the sending half of `capability`'s handler channel, to send on it from
    /// anywhere; [`SendError::NotShared`] if this session does not run it (or its handlers
    /// have not started yet).
    pub fn sender(&self, capability: &Capability) -> Result<MsgSender, SendError> {
        self.find(capability).cloned()
    }

    fn find(&self, capability: &Capability) -> Result<&MsgSender, SendError> {
        self.senders
            .get()
            .into_iter()
            .flatten()
            .find(|(c, _)| c == capability)
            .map(|(_, sender)| sender)
            .ok_or(SendError::NotShared)
    }

    /// Queues `msg` (RLP-encoded) under `code` on `capability`, from outside its handler,
    /// waiting while that protocol's queue for the peer is full (CometBFT's `Peer.Send`).
    /// See [`MsgSender::send`]; cancel-safe like it.
    pub async fn send<T: rlp::Encodable>(
        &self,
        capability: &Capability,
        code: u64,
        msg: &T,
    ) -> Result<(), SendError> {
        self.find(capability)?.send(code, msg).await
    }

    /// Queues `msg` under `code` on `capability` if there is room now (CometBFT's
    /// `Peer.TrySend`); [`SendError::Full`] if not. Never waits.
    pub fn try_send<T: rlp::Encodable>(
        &self,
        capability: &Capability,
        code: u64,
        msg: &T,
    ) -> Result<(), SendError> {
        self.try_send_raw(capability, code, rlp::encode(msg).freeze())
    }

    /// [`try_send`](Self::try_send) with an already-encoded payload.
    pub fn try_send_raw(
        &self,
        capability: &Capability,
        code: u64,
        payload: Bytes,
    ) -> Result<(), SendError> {
        self.find(capability)?.try_send_raw(code, payload)
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
