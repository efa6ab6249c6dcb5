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

/// One-shot slots: peers dialed once for a short exchange
/// ([`ServerHandle::dial_oneshot`](super::ServerHandle::dial_oneshot)), outside the
/// inbound and dialed slots, so that they never take a static or discovered peer's place.
/// Each costs what any idle peer does (about 22 KiB).
pub const ONESHOT_SLOTS: usize = 4;

/// The connected peers and the limits they are held to. The server's only record of who is
/// connected.
#[derive(Debug)]
pub(crate) struct Admission<P> {
    local_id: NodeId,
    max_peers: usize,
    max_inbound: usize,
    max_dialed: usize,
    trusted: HashSet<NodeId>,
    /// Ids holding a one-shot slot: marked before the dial, unmarked when the peer leaves (or
    /// the dial fails). At most [`ONESHOT_SLOTS`].
    oneshot: HashSet<NodeId>,
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
            oneshot: HashSet::new(),
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
    /// peers and those holding a one-shot slot always do). Checked before dialing, so that a
    /// dial that would be refused with TooManyPeers after its handshake is not made at all.
    pub(crate) fn has_slot(&self, id: &NodeId, direction: Direction) -> bool {
        if self.is_exempt(id) {
            return true;
        }
        let counted = self.peers.keys().filter(|p| !self.is_exempt(p));
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
            .filter(|(id, p)| p.direction() == direction && !self.is_exempt(id))
            .count()
    }

    /// Trusted, or holding a one-shot slot: not held to the slot limits, not counted in them.
    fn is_exempt(&self, id: &NodeId) -> bool {
        self.trusted.contains(id) || self.oneshot.contains(id)
    }

    /// Takes a one-shot slot for `id`; false if all [`ONESHOT_SLOTS`] are taken, or `id`
    /// is connected already (a one-shot dial would be refused as a duplicate anyway).
    pub(crate) fn take_oneshot(&mut self, id: NodeId) -> bool {
        if self.peers.contains_key(&id) || self.oneshot.len() >= ONESHOT_SLOTS {
            return false;
        }
        self.oneshot.insert(id)
    }

    /// Gives `id`'s one-shot slot back, unless it is connected (then it is given back when
    /// the peer leaves).
    pub(crate) fn release_oneshot(&mut self, id: &NodeId) {
        if !self.peers.contains_key(id) {
            self.oneshot.remove(id);
        }
    }

    pub(crate) fn remove(&mut self, id: &NodeId) -> Option<P> {
        self.oneshot.remove(id);
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
    fn a_oneshot_peer_takes_neither_a_dialed_nor_an_inbound_slot() {
        let mut a = Admission::new(id(), 2, 1, 1, []);
        let once = id();
        assert!(a.take_oneshot(once));
        assert!(!a.take_oneshot(once), "one slot per id");
        assert_eq!(reason(a.admit(once, Direction::Outbound)), None);
        // The ordinary slots are all still free.
        assert_eq!(reason(a.admit(id(), Direction::Outbound)), None);
        assert_eq!(reason(a.admit(id(), Direction::Inbound)), None);
        assert_eq!(a.count_direction(Direction::Outbound), 1);
        // Gone: its one-shot slot is free again, and it would now need an ordinary slot.
        a.remove(&once);
        assert!(!a.has_slot(&once, Direction::Outbound));
    }

    #[test]
    fn oneshot_slots_are_bounded_and_released_by_a_failed_dial() {
        let mut a = Admission::<Direction>::new(id(), 2, 1, 1, []);
        let ids: Vec<NodeId> = (0..ONESHOT_SLOTS).map(|_| id()).collect();
        for once in &ids {
            assert!(a.take_oneshot(*once));
        }
        let late = id();
        assert!(!a.take_oneshot(late), "all one-shot slots taken");
        a.release_oneshot(&ids[0]);
        assert!(a.take_oneshot(late));
        // A connected peer's slot is kept until it leaves.
        assert_eq!(reason(a.admit(late, Direction::Outbound)), None);
        a.release_oneshot(&late);
        assert!(!a.take_oneshot(id()), "still taken by the connected one");
        a.remove(&late);
        assert!(a.take_oneshot(id()));
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
