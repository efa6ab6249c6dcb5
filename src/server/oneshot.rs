//! One-shot dials: reach a node for a short exchange without taking a static or discovered
//! peer's slot.

use std::sync::Arc;

use super::dialer::{self, DialError};
use super::ServerHandle;
use crate::crypto::Enode;
use crate::protocol::PeerInfo;

impl ServerHandle {
    /// Dials `enode` once, in one of the [`ONESHOT_SLOTS`](super::ONESHOT_SLOTS) one-shot
    /// slots instead of a dialed slot: the peer counts in neither the dialed nor the inbound
    /// slots (nor `max_peers`), so neither static peers nor the dial scheduler lose a place
    /// to it. The slot is given back when the session ends; the session is the caller's to
    /// end (a protocol that sent what it had closes it when idle). Fails with
    /// [`DialError::NoSlot`] when every one-shot slot is taken (or the node is connected
    /// already: [`DialError::AlreadyConnected`]); otherwise as [`dial`](Self::dial) does.
    ///
    /// Cancel-safe as `dial` is: dropped before it resolves, the slot is given back at once
    /// (a handshake still under way then needs an ordinary slot to be admitted).
    pub async fn dial_oneshot(&self, enode: Enode) -> Result<Arc<PeerInfo>, DialError> {
        {
            let mut state = self.shared.state();
            if state.peers.is_connected(&enode.id) {
                return Err(DialError::AlreadyConnected);
            }
            if !state.peers.take_oneshot(enode.id) {
                return Err(DialError::NoSlot);
            }
        }
        let slot = Slot {
            handle: self,
            enode: &enode,
        };
        let dialed = dialer::dial_once(&self.shared, enode).await;
        drop(slot);
        dialed
    }
}

/// Gives a one-shot slot back when the dial is over, unless the peer got in (then the slot
/// goes when it leaves).
struct Slot<'a> {
    handle: &'a ServerHandle,
    enode: &'a Enode,
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        self.handle
            .shared
            .state()
            .peers
            .release_oneshot(&self.enode.id);
    }
}
