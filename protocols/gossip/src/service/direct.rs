//! Direct messages to any node by id: over the session if connected, else found through
//! discovery and dialed once in a one-shot slot.

use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use peerwire::crypto::NodeId;
use peerwire::server::{DialError, PeerEvent, ServerHandle};
use tokio::sync::broadcast;

use super::{lock, Gossip};
use crate::error::SendToError;
use crate::wire::{self, DIRECT};

/// How long after a one-shot dial succeeds its gossip/1 session may take to start.
const SESSION_START: Duration = Duration::from_secs(2);

/// How a direct message went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Route {
    /// Over a session that was up already.
    Connected,
    /// Over a session dialed for it (found through discovery), closed once idle for
    /// `DirectConfig::idle`.
    Dialed,
}

impl Gossip {
    /// Sends `data` to the node `to`, which `server` (the server running this protocol)
    /// need not be connected to. Steps, each with its own error: a session that is up is
    /// used at once; else discovery looks the node up by id ([`SendToError::NotFound`]),
    /// it is dialed once in a one-shot slot that takes no static or dialed peer's place
    /// ([`SendToError::Unreachable`], [`SendToError::Refused`]), and the message is sent
    /// over that session, which does not join the broadcast tree and closes when idle.
    ///
    /// Never waits on a full queue ([`SendToError::Send`] with `Full`). Cancel-safe: dropped,
    /// the message was sent or not; a dial under way completes and its session idles out.
    pub async fn send_to(
        &self,
        server: &ServerHandle,
        to: NodeId,
        data: impl Into<Bytes>,
    ) -> Result<Route, SendToError> {
        let data = data.into();
        if data.len() > self.shared.config.limits.max_data {
            return Err(SendToError::TooLarge(data.len()));
        }
        if to == self.shared.local_id {
            return Err(SendToError::ToSelf);
        }
        let payload = wire::encode_direct(&data);
        if self.shared.peers.get(&to).is_some() {
            self.send_direct(to, payload)?;
            return Ok(Route::Connected);
        }
        if server.peer(&to).is_some() {
            return Err(SendToError::NotSupported(to));
        }
        let discovery = server.discovery().ok_or(SendToError::NoDiscovery(to))?;
        let lookup = discovery.lookup(*to.as_bytes());
        let found = tokio::time::timeout(self.shared.config.direct.lookup_timeout, lookup)
            .await
            .ok()
            .and_then(Result::ok)
            .and_then(|nodes| nodes.into_iter().find(|n| n.id == to))
            .ok_or(SendToError::NotFound(to))?;
        let enode = found.to_enode();
        let dialing = DialingDirect::start(self, to);
        // Before the dial: a node that admits us and then refuses (its own slots are full)
        // ends the session right after our side admitted it; its reason comes as an event.
        let mut events = server.events();
        match server.dial_oneshot(enode).await {
            // Connected meanwhile (it dialed us, or another send did): use that session.
            Ok(_) | Err(DialError::AlreadyConnected) => {}
            Err(source) => return Err(classify(to, source)),
        }
        // Our side admits the peer after the Hello exchange, but the remote may still refuse
        // us (its slots are full) with a Disconnect that is on its way: only its Status says
        // it admitted us. A peer without gossip/1 never sends one.
        let greeted = || {
            self.shared
                .peers
                .with(&to, |entry| entry.greeted.load(Ordering::Relaxed))
                .unwrap_or(false)
        };
        let started = tokio::time::timeout(SESSION_START, async {
            while !greeted() {
                if server.peer(&to).is_none() {
                    return false;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            true
        })
        .await
        .unwrap_or(false);
        // Its handler has read the mark by now (or never will).
        drop(dialing);
        if !started {
            return Err(refusal(&mut events, to).unwrap_or(SendToError::NotSupported(to)));
        }
        self.send_direct(to, payload)?;
        Ok(Route::Dialed)
    }

    /// Queues a Direct message on `to`'s session without waiting, and keeps a direct-only
    /// session from idling out.
    fn send_direct(&self, to: NodeId, payload: Bytes) -> Result<(), SendToError> {
        let sent = self.shared.peers.with(&to, |entry| {
            entry.touched.notify_one();
            entry.sender.try_send_raw(DIRECT, payload)
        });
        match sent {
            Some(Ok(())) => Ok(()),
            Some(Err(source)) => Err(SendToError::Send { id: to, source }),
            None => Err(SendToError::Send {
                id: to,
                source: peerwire::protocol::SendError::Disconnected,
            }),
        }
    }
}

/// The refusal of a peer that ended the session we dialed before its gossip/1 session
/// started, if the events say so.
fn refusal(events: &mut broadcast::Receiver<PeerEvent>, to: NodeId) -> Option<SendToError> {
    loop {
        match events.try_recv() {
            Ok(PeerEvent::Dropped { id, end }) if id == to => {
                return Some(SendToError::Refused {
                    id,
                    source: DialError::Rejected(end.reason()),
                })
            }
            Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => return None,
        }
    }
}

/// Which step a failed one-shot dial stands for.
fn classify(id: NodeId, source: DialError) -> SendToError {
    match source {
        DialError::Connect(_) | DialError::Timeout | DialError::Handshake => {
            SendToError::Unreachable { id, source }
        }
        _ => SendToError::Refused { id, source },
    }
}

/// Marks `id` as dialed for direct messages only while the dial runs, so its session says
/// it does not relay.
struct DialingDirect<'a> {
    gossip: &'a Gossip,
    id: NodeId,
}

impl<'a> DialingDirect<'a> {
    fn start(gossip: &'a Gossip, id: NodeId) -> Self {
        lock(&gossip.shared.dialing_direct).insert(id);
        Self { gossip, id }
    }
}

impl Drop for DialingDirect<'_> {
    fn drop(&mut self) {
        lock(&self.gossip.shared.dialing_direct).remove(&self.id);
    }
}
