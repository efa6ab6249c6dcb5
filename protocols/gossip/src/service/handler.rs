//! One peer's gossip/1 session (our Status is queued when it starts): theirs first, then its messages into the router (relaying
//! sessions) or to the application (direct messages), at most at the peer's read rate.

use std::sync::atomic::Ordering;
use std::time::Duration;

use peerwire::crypto::NodeId;
use peerwire::protocol::{HandlerError, MsgReader, Peer, SendError};

use super::{lock, Gossip, GossipEvent};
use crate::bucket::TokenBucket;
use crate::error::PenaltyReason;
use crate::wire::{self, Status, DIRECT, STATUS};

/// How long a peer may take to send its Status.
const STATUS_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a session was ended by us.
#[derive(Debug, thiserror::Error)]
enum SessionError {
    #[error("peer misbehaved: {0}")]
    Penalty(PenaltyReason),
}

/// Runs one session until it ends.
pub(super) async fn run(
    gossip: &Gossip,
    peer: Peer,
    mut reader: MsgReader,
    session: u64,
    ours: Status,
    status_sent: Result<(), SendError>,
) -> Result<(), HandlerError> {
    gossip.ensure_timer();
    let id = peer.id();
    status_sent?;
    let first = tokio::time::timeout(STATUS_TIMEOUT, reader.read_msg())
        .await
        .map_err(|_| SessionError::Penalty(PenaltyReason::NoStatus))??;
    let theirs = match (first.code, Status::decode(&first.payload)) {
        (STATUS, Ok(status)) => status,
        (STATUS, Err(e)) => return Err(gossip.misbehaved(id, PenaltyReason::Malformed(e))),
        _ => return Err(gossip.misbehaved(id, PenaltyReason::NoStatus)),
    };
    gossip
        .shared
        .peers
        .with(&id, |entry| entry.greeted.store(true, Ordering::Relaxed));
    let relay = theirs.relay && ours.relay;
    let _tree = relay.then(|| InTree::join(gossip, id, session));
    tracing::debug!(peer = %id.short(), relay, "gossip: session up");

    let limits = gossip.shared.config.peer;
    let now = tokio::time::Instant::now().into_std();
    let mut bytes = TokenBucket::new(limits.read_bytes_per_sec, limits.read_bytes_burst, now);
    let mut count = TokenBucket::new(limits.read_msgs_per_sec, limits.read_msgs_burst, now);
    let idle = gossip.shared.config.direct.idle;
    let touched = gossip
        .shared
        .peers
        .with(&id, |entry| entry.touched.clone())
        .unwrap_or_default();
    loop {
        let msg = if relay {
            reader.read_msg().await?
        } else {
            // A direct-only session lives while direct messages go either way.
            tokio::select! {
                msg = reader.read_msg() => msg?,
                _ = touched.notified() => continue,
                _ = tokio::time::sleep(idle) => {
                    tracing::debug!(peer = %id.short(), "gossip: direct session idle, closing");
                    return Ok(());
                }
            }
        };
        let now = tokio::time::Instant::now().into_std();
        let wait = bytes
            .charge(msg.payload.len() as u64, now)
            .max(count.charge(1, now));
        match msg.code {
            DIRECT => {
                let data = wire::decode_direct(&msg.payload, gossip.shared.config.limits.max_data)
                    .map_err(|e| gossip.misbehaved(id, PenaltyReason::Malformed(e)))?;
                gossip.emit(GossipEvent::Direct { from: id, data });
            }
            // A repeated Status changes nothing.
            STATUS => {}
            code if relay => {
                let validator = gossip.shared.validator.clone();
                gossip
                    .drive(|router, now| {
                        router.handle_message(id, code, &msg.payload, now, &*validator)
                    })
                    .map_err(|e| gossip.misbehaved(id, PenaltyReason::Malformed(e)))?;
            }
            // Tree messages on a direct-only session: not for us, and harmless.
            _ => {}
        }
        if !wait.is_zero() {
            // Over its read rate: stop reading from it for as long as it is in debt. What
            // it cannot push to us meanwhile it announces, and we graft it later.
            tokio::time::sleep(wait).await;
        }
    }
}

impl Gossip {
    /// Reports a peer ending its session by misbehaving, as the error to end it with.
    fn misbehaved(&self, peer: NodeId, reason: PenaltyReason) -> HandlerError {
        self.emit(GossipEvent::Penalty {
            peer,
            reason: reason.clone(),
            count: 1,
        });
        Box::new(SessionError::Penalty(reason))
    }
}

/// A peer's place in the router's tree, for as long as its session's handler runs.
struct InTree<'a> {
    gossip: &'a Gossip,
    id: NodeId,
    session: u64,
}

impl<'a> InTree<'a> {
    fn join(gossip: &'a Gossip, id: NodeId, session: u64) -> Self {
        gossip.drive(|router, now| router.handle_peer_up(id, now));
        Self {
            gossip,
            id,
            session,
        }
    }
}

impl Drop for InTree<'_> {
    fn drop(&mut self) {
        // A newer session of the same peer owns its place now: leave it.
        let current = self.gossip.shared.peers.with(&self.id, |e| e.session);
        if current.is_some_and(|s| s != self.session) {
            return;
        }
        lock(&self.gossip.shared.router).handle_peer_down(&self.id);
    }
}
