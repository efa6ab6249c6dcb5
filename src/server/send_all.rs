//! Sending to every peer at once, and the per-peer admin reports.

use super::ServerHandle;
use crate::crypto::NodeId;
use crate::protocol::{Peer, PeerReport, SendError};
use crate::wire::Capability;

/// Who a [`ServerHandle::broadcast`] reached. Peers that do not run the capability are in
/// neither list.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct BroadcastReport {
    /// The peers whose queue took the message.
    pub sent: Vec<NodeId>,
    /// The peers that were skipped, and why: [`SendError::Full`] for a peer whose queue for
    /// the protocol is full (a slow reader), `Disconnected` for one going away, or an error
    /// every peer gets (`InvalidCode`, `TooLarge`).
    pub skipped: Vec<(NodeId, SendError)>,
}

impl ServerHandle {
    /// Queues `msg` (RLP-encoded once) under `code` on `capability` for every connected peer
    /// that runs it, without waiting for any of them (CometBFT's `Switch.Broadcast`, with
    /// `TrySend` per peer): a peer whose queue is full is skipped, so one slow peer cannot
    /// hold up the others. Returns who got it and who was skipped, and why.
    pub fn broadcast<T: rlp::Encodable>(
        &self,
        capability: &Capability,
        code: u64,
        msg: &T,
    ) -> BroadcastReport {
        let payload = rlp::encode(msg).freeze();
        let mut report = BroadcastReport::default();
        // The peer list is copied, so no lock is held while queueing.
        for peer in self.peers() {
            match peer.try_send_raw(capability, code, payload.clone()) {
                Ok(()) => report.sent.push(peer.id()),
                Err(SendError::NotShared) => {}
                Err(e) => report.skipped.push((peer.id(), e)),
            }
        }
        report
    }

    /// The admin report on every connected peer (go-ethereum's `Server.PeersInfo`), with
    /// each protocol's peer-info hook asked now; sorted by node id.
    pub fn peers_info(&self) -> Vec<PeerReport> {
        let mut peers: Vec<Peer> = self.peers();
        peers.sort_by_key(|p| *p.id().as_bytes());
        let protocols = &self.shared.config.protocols;
        peers
            .iter()
            .map(|p| PeerReport::new(p, protocols))
            .collect()
    }
}
