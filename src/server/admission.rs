//! Who may become a peer, sans-IO: the checks devp2p runs once the remote's identity is known.

use std::collections::{HashMap, HashSet};

use crate::crypto::NodeId;
use crate::protocol::Direction;
use crate::wire::DisconnectReason;

/// The connected set and the limits it is held to.
#[derive(Debug)]
pub(crate) struct Admission {
    local_id: NodeId,
    max_peers: usize,
    max_inbound: usize,
    max_dialed: usize,
    trusted: HashSet<NodeId>,
    peers: HashMap<NodeId, Direction>,
    closed: bool,
}

impl Admission {
    pub(crate) fn new(
        local_id: NodeId,
        max_peers: usize,
        max_inbound: usize,
        max_dialed: usize,
        trusted: impl IntoIterator<Item = NodeId>,
    ) -> Self {
        Admission {
            local_id,
            max_peers,
            max_inbound,
            max_dialed,
            trusted: trusted.into_iter().collect(),
            peers: HashMap::new(),
            closed: false,
        }
    }

    /// Admits `id` as a peer, or says which Disconnect it gets. Trusted peers skip the slot
    /// limits, never the identity checks.
    pub(crate) fn admit(
        &mut self,
        id: NodeId,
        direction: Direction,
    ) -> Result<(), DisconnectReason> {
        if self.closed {
            return Err(DisconnectReason::Quitting);
        }
        if id == self.local_id {
            return Err(DisconnectReason::ConnectedToSelf);
        }
        if self.peers.contains_key(&id) {
            return Err(DisconnectReason::AlreadyConnected);
        }
        if !self.trusted.contains(&id) {
            let counted = self.peers.keys().filter(|p| !self.trusted.contains(p));
            if counted.count() >= self.max_peers {
                return Err(DisconnectReason::TooManyPeers);
            }
            let limit = match direction {
                Direction::Inbound => self.max_inbound,
                Direction::Outbound => self.max_dialed,
            };
            if self.count(direction) >= limit {
                return Err(DisconnectReason::TooManyPeers);
            }
        }
        self.peers.insert(id, direction);
        Ok(())
    }

    /// Untrusted peers connected in `direction`.
    fn count(&self, direction: Direction) -> usize {
        self.peers
            .iter()
            .filter(|(id, d)| **d == direction && !self.trusted.contains(id))
            .count()
    }

    pub(crate) fn remove(&mut self, id: &NodeId) {
        self.peers.remove(id);
    }

    pub(crate) fn is_connected(&self, id: &NodeId) -> bool {
        self.peers.contains_key(id)
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
    use crate::crypto::generate_secret_key;

    fn id() -> NodeId {
        NodeId::from_secret_key(&generate_secret_key(&mut rand::rngs::OsRng))
    }

    #[test]
    fn self_and_duplicates_are_refused() {
        let me = id();
        let mut a = Admission::new(me, 10, 7, 3, []);
        assert_eq!(
            a.admit(me, Direction::Inbound),
            Err(DisconnectReason::ConnectedToSelf)
        );
        let other = id();
        assert_eq!(a.admit(other, Direction::Inbound), Ok(()));
        assert_eq!(
            a.admit(other, Direction::Outbound),
            Err(DisconnectReason::AlreadyConnected)
        );
        a.remove(&other);
        assert_eq!(a.admit(other, Direction::Outbound), Ok(()));
    }

    #[test]
    fn inbound_and_dialed_slots_are_separate() {
        let mut a = Admission::new(id(), 3, 2, 1, []);
        assert_eq!(a.admit(id(), Direction::Outbound), Ok(()));
        assert_eq!(
            a.admit(id(), Direction::Outbound),
            Err(DisconnectReason::TooManyPeers)
        );
        assert_eq!(a.admit(id(), Direction::Inbound), Ok(()));
        assert_eq!(a.admit(id(), Direction::Inbound), Ok(()));
        assert_eq!(
            a.admit(id(), Direction::Inbound),
            Err(DisconnectReason::TooManyPeers)
        );
    }

    #[test]
    fn trusted_peers_bypass_slots_and_do_not_use_them() {
        let trusted = id();
        let mut a = Admission::new(id(), 1, 1, 1, [trusted]);
        assert_eq!(a.admit(id(), Direction::Inbound), Ok(()));
        assert_eq!(
            a.admit(id(), Direction::Inbound),
            Err(DisconnectReason::TooManyPeers)
        );
        assert_eq!(a.admit(trusted, Direction::Inbound), Ok(()));
        let late = id();
        a.trust(late);
        assert_eq!(a.admit(late, Direction::Outbound), Ok(()));
    }

    #[test]
    fn max_peers_caps_both_directions_together() {
        let mut a = Admission::new(id(), 2, 2, 2, []);
        assert_eq!(a.admit(id(), Direction::Inbound), Ok(()));
        assert_eq!(a.admit(id(), Direction::Outbound), Ok(()));
        assert_eq!(
            a.admit(id(), Direction::Outbound),
            Err(DisconnectReason::TooManyPeers)
        );
    }

    #[test]
    fn a_closed_server_admits_no_one() {
        let mut a = Admission::new(id(), 2, 2, 2, []);
        a.close();
        assert_eq!(
            a.admit(id(), Direction::Inbound),
            Err(DisconnectReason::Quitting)
        );
    }
}
