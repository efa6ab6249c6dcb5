//! Who may become a peer, sans-IO: the checks devp2p runs once the remote's identity is known,
//! over the one set of connected peers.

use std::collections::{HashMap, HashSet};

use crate::crypto::NodeId;
use crate::protocol::{Direction, Peer};
use crate::wire::DisconnectReason;

/// What the peer set stores for each peer: at least who dialed.
pub(crate) trait Connected {
    fn direction(&self) -> Direction;
}

impl Connected for Peer {
    fn direction(&self) -> Direction {
        Self::direction(self)
    }
}

/// The connected peers and the limits they are held to. The server's only record of who is
/// connected.
#[derive(Debug)]
pub(crate) struct Admission<P> {
    local_id: NodeId,
    max_peers: usize,
    max_inbound: usize,
    max_dialed: usize,
    trusted: HashSet<NodeId>,
    peers: HashMap<NodeId, P>,
    closed: bool,
}

impl<P: Connected> Admission<P> {
    pub(crate) fn new(
        local_id: NodeId,
        max_peers: usize,
        max_inbound: usize,
        max_dialed: usize,
        trusted: impl IntoIterator<Item = NodeId>,
    ) -> Self {
        Self {
            local_id,
            max_peers,
            max_inbound,
            max_dialed,
            trusted: trusted.into_iter().collect(),
            peers: HashMap::new(),
            closed: false,
        }
    }

    /// Admits `peer` as `id`, or says which Disconnect it gets (and hands it back). Trusted
    /// peers skip the slot limits, never the identity checks.
    pub(crate) fn admit(&mut self, id: NodeId, peer: P) -> Result<(), (DisconnectReason, P)> {
        match self.check(id, peer.direction()) {
            Ok(()) => {
                self.peers.insert(id, peer);
                Ok(())
            }
            Err(reason) => Err((reason, peer)),
        }
    }

    fn check(&self, id: NodeId, direction: Direction) -> Result<(), DisconnectReason> {
        if self.closed {
            return Err(DisconnectReason::Quitting);
        }
        if id == self.local_id {
            return Err(DisconnectReason::ConnectedToSelf);
        }
        if self.peers.contains_key(&id) {
            return Err(DisconnectReason::AlreadyConnected);
        }
        if !self.has_slot(&id, direction) {
            return Err(DisconnectReason::TooManyPeers);
        }
        Ok(())
    }

    /// Whether a peer `id` connecting in `direction` would find a free slot now (trusted
    /// peers always do). Checked before dialing, so that a dial that would be refused with
    /// TooManyPeers after its handshake is not made at all.
    pub(crate) fn has_slot(&self, id: &NodeId, direction: Direction) -> bool {
        if self.trusted.contains(id) {
            return true;
        }
        let counted = self.peers.keys().filter(|p| !self.trusted.contains(p));
        let limit = match direction {
            Direction::Inbound => self.max_inbound,
            Direction::Outbound => self.max_dialed,
        };
        counted.count() < self.max_peers && self.count(direction) < limit
    }

    /// Untrusted peers connected in `direction`.
    pub(crate) fn count_direction(&self, direction: Direction) -> usize {
        self.count(direction)
    }

    fn count(&self, direction: Direction) -> usize {
        self.peers
            .iter()
            .filter(|(id, p)| p.direction() == direction && !self.trusted.contains(id))
            .count()
    }

    pub(crate) fn remove(&mut self, id: &NodeId) -> Option<P> {
        self.peers.remove(id)
    }

    pub(crate) fn get(&self, id: &NodeId) -> Option<&P> {
        self.peers.get(id)
    }

    pub(crate) fn is_connected(&self, id: &NodeId) -> bool {
        self.peers.contains_key(id)
    }

    pub(crate) fn peers(&self) -> impl Iterator<Item = &P> {
        self.peers.values()
    }

    pub(crate) fn len(&self) -> usize {
        self.peers.len()
    }

    pub(crate) fn is_trusted(&self, id: &NodeId) -> bool {
        self.trusted.contains(id)
    }

    pub(crate) fn trust(&mut self, id: NodeId) {
        self.trusted.insert(id);
    }

    pub(crate) fn distrust(&mut self, id: &NodeId) {
        self.trusted.remove(id);
    }

    /// Refuses everyone from now on (the server is stopping).
    pub(crate) fn close(&mut self) {
        self.closed = true;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::NodeKey;

    impl Connected for Direction {
        fn direction(&self) -> Direction {
            *self
        }
    }

    fn id() -> NodeId {
        NodeKey::random().id()
    }

    fn reason(result: Result<(), (DisconnectReason, Direction)>) -> Option<DisconnectReason> {
        result.err().map(|(reason, _)| reason)
    }

    #[test]
    fn self_and_duplicates_are_refused() {
        let me = id();
        let mut a = Admission::new(me, 10, 7, 3, []);
        assert_eq!(
            reason(a.admit(me, Direction::Inbound)),
            Some(DisconnectReason::ConnectedToSelf)
        );
        let other = id();
        assert_eq!(reason(a.admit(other, Direction::Inbound)), None);
        assert_eq!(
            reason(a.admit(other, Direction::Outbound)),
            Some(DisconnectReason::AlreadyConnected)
        );
        assert_eq!(a.remove(&other), Some(Direction::Inbound));
        assert_eq!(reason(a.admit(other, Direction::Outbound)), None);
        assert_eq!(a.len(), 1);
    }

    #[test]
    fn inbound_and_dialed_slots_are_separate() {
        let mut a = Admission::new(id(), 3, 2, 1, []);
        assert_eq!(reason(a.admit(id(), Direction::Outbound)), None);
        assert_eq!(
            reason(a.admit(id(), Direction::Outbound)),
            Some(DisconnectReason::TooManyPeers)
        );
        assert_eq!(reason(a.admit(id(), Direction::Inbound)), None);
        assert_eq!(reason(a.admit(id(), Direction::Inbound)), None);
        assert_eq!(
            reason(a.admit(id(), Direction::Inbound)),
            Some(DisconnectReason::TooManyPeers)
        );
    }

    #[test]
    fn trusted_peers_bypass_slots_and_do_not_use_them() {
        let trusted = id();
        let mut a = Admission::new(id(), 1, 1, 1, [trusted]);
        assert_eq!(reason(a.admit(id(), Direction::Inbound)), None);
        assert_eq!(
            reason(a.admit(id(), Direction::Inbound)),
            Some(DisconnectReason::TooManyPeers)
        );
        assert_eq!(reason(a.admit(trusted, Direction::Inbound)), None);
        let late = id();
        a.trust(late);
        assert_eq!(reason(a.admit(late, Direction::Outbound)), None);
    }

    #[test]
    fn max_peers_caps_both_directions_together() {
        let mut a = Admission::new(id(), 2, 2, 2, []);
        assert_eq!(reason(a.admit(id(), Direction::Inbound)), None);
        assert_eq!(reason(a.admit(id(), Direction::Outbound)), None);
        assert_eq!(
            reason(a.admit(id(), Direction::Outbound)),
            Some(DisconnectReason::TooManyPeers)
        );
    }

    #[test]
    fn a_dialed_slot_is_known_free_or_taken_before_dialing() {
        let trusted = id();
        let mut a = Admission::new(id(), 3, 2, 1, [trusted]);
        assert!(a.has_slot(&id(), Direction::Outbound));
        assert_eq!(reason(a.admit(id(), Direction::Outbound)), None);
        assert!(
            !a.has_slot(&id(), Direction::Outbound),
            "the one dialed slot is taken"
        );
        assert!(a.has_slot(&id(), Direction::Inbound));
        assert!(
            a.has_slot(&trusted, Direction::Outbound),
            "trusted peers need no slot"
        );
    }

    #[test]
    fn a_closed_server_admits_no_one() {
        let mut a = Admission::new(id(), 2, 2, 2, []);
        a.close();
        assert_eq!(
            reason(a.admit(id(), Direction::Inbound)),
            Some(DisconnectReason::Quitting)
        );
    }

    #[test]
    fn a_refused_peer_is_handed_back() {
        let me = id();
        let mut a = Admission::<Direction>::new(me, 1, 1, 1, []);
        assert_eq!(
            a.admit(me, Direction::Outbound),
            Err((DisconnectReason::ConnectedToSelf, Direction::Outbound))
        );
        assert!(a.peers().next().is_none());
    }
}
