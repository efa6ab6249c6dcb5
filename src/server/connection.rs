//! One connection from handshake to end: RLPx, Hello, admission, then the session.

use std::net::SocketAddr;
use std::sync::Arc;

use super::gating::RejectReason;
use super::state::Shared;
use super::PeerEvent;
use crate::crypto::NodeId;
use crate::net::Connection;
use crate::protocol::{attach, Direction, Peer, PeerInfo, Protocol, Reporter};
use crate::rlpx::{RlpxConfig, RlpxStream, MAX_FRAME_SIZE};
use crate::session::{self, Session, SessionEnd, SetupError};
use crate::wire::{DisconnectReason, MAX_HELLO_SIZE};

/// The largest frame accepted before Hello: a Hello plus its message id.
const HELLO_FRAME_LIMIT: usize = MAX_HELLO_SIZE + 16;

/// Why an identified peer was not admitted.
enum Refusal {
    /// devp2p's rules (`admission.rs`).
    Admission(DisconnectReason),
    /// The gating rules (`gating.rs`): a banned node id.
    Gated(RejectReason),
}

/// A running session, as `serve_connection` awaits it.
type Running = std::pin::Pin<Box<dyn std::future::Future<Output = SessionEnd> + Send>>;

/// Runs one connection from handshake to end. `dialed` is the id we dialed, if we did.
/// `permit` is its pending-handshake slot, dropped once the peer is up (or refused).
/// Returns how the session ended, or `None` if it never became a peer.
pub(crate) async fn serve_connection(
    shared: Arc<Shared>,
    io: Connection,
    remote_addr: SocketAddr,
    dialed: Option<NodeId>,
    permit: impl Send + 'static,
) -> Option<SessionEnd> {
    // Setup runs boxed: its state (handshake, Hello, the stream before it is split) is large
    // and short-lived, and would otherwise be reserved in every connected peer's task.
    let established = Box::pin(establish(&shared, io, remote_addr, dialed)).await;
    super::metrics::dial_established(dialed.is_some(), established.is_some());
    let (id, running) = established?;
    drop(permit);
    // Starts the session, and with it the handlers; then the peer is announced.
    let end = running.await;

    shared.state().peers.remove(&id);
    shared.peers_changed.notify_waiters();
    tracing::info!(peer = %id.short(), reason = %end.reason(), ?end, "peer dropped");
    super::metrics::peer_removed(direction_of(dialed));
    shared.emit(PeerEvent::Dropped { id, end });
    if let SessionEnd::Local(reason) = end {
        if let Some(change) = super::reputation::for_local_disconnect(reason) {
            shared.report(id, change);
        }
    }
    Some(end)
}

/// Handshake, Hello and admission; on success the peer is registered and its session is
/// returned, not yet started. The session announces the peer (`PeerEvent::Added`) once its
/// handlers were started.
async fn establish(
    shared: &Arc<Shared>,
    io: Connection,
    remote_addr: SocketAddr,
    dialed: Option<NodeId>,
) -> Option<(NodeId, Running)> {
    let direction = direction_of(dialed);
    let local_addr = match io.local_addr() {
        Ok(addr) => addr,
        Err(e) => {
            tracing::debug!(%remote_addr, error = %e, "no local address for the connection");
            return None;
        }
    };
    let rlpx = RlpxConfig {
        handshake_timeout: shared.config.connection.handshake_timeout,
        // Until Hello is read, nothing larger than a Hello is accepted: a peer that only
        // completed the ECIES handshake cannot make us buffer a 16 MiB frame.
        max_frame_size: HELLO_FRAME_LIMIT,
    };
    let handshake = async {
        match dialed {
            Some(id) => RlpxStream::connect(io, &shared.config.key, id, &rlpx).await,
            None => RlpxStream::accept(io, &shared.config.key, &rlpx).await,
        }
    };
    let mut stream = tokio::select! {
        result = handshake => match result {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(%remote_addr, error = %e, "rlpx handshake failed");
                super::metrics::rlpx_failed(&e);
                return None;
            }
        },
        _ = shared.shutdown.cancelled() => return None,
    };
    let id = stream.remote_id();
    let reject = |reason| {
        shared.emit(PeerEvent::Rejected {
            id,
            remote_addr,
            direction,
            reason,
        })
    };
    // Not cut short by `stop`: it is bounded by the handshake timeout, and finishing it lets
    // a stopping server refuse the peer with a proper Disconnect (Quitting).
    let negotiated = session::negotiate(
        &mut stream,
        &shared.hello,
        &shared.local_caps,
        shared.config.connection.handshake_timeout,
    )
    .await;
    let negotiated = match negotiated {
        Ok(n) => n,
        Err(e) => {
            tracing::debug!(peer = %id.short(), %remote_addr, error = %e, "session setup failed");
            super::metrics::hello_failed(&e);
            let reason = match e {
                SetupError::Disconnected(reason) => Some(reason),
                other => other.disconnect_reason(),
            };
            if let Some(reason) = reason {
                reject(reason);
            }
            return None;
        }
    };
    stream.set_max_frame_size(MAX_FRAME_SIZE);
    let (protocols, slots): (Vec<Protocol>, Vec<_>) = negotiated
        .shared
        .iter()
        .filter_map(|s| shared.protocol_for(&s.capability).map(|p| (p.slot(s), p)))
        .map(|(slot, p)| (p, slot))
        .unzip();
    let info = Arc::new(PeerInfo {
        id,
        remote_addr,
        local_addr,
        direction,
        client_id: negotiated.hello.client_id,
        protocol_version: negotiated.hello.protocol_version,
        listen_port: negotiated.hello.listen_port,
        capabilities: negotiated.shared,
    });
    let session = Session::new(
        stream,
        negotiated.codec,
        shared.config.inbound.per_peer,
        shared.inbound_budget.clone(),
        shared.config.connection.session,
    )
    .with_msg_events(
        (shared.config.msg_events).then(|| super::events::msg_hook(shared.events.clone(), id)),
    );
    let peer = Peer::new(info.clone(), session.control().clone());
    let weak = Arc::downgrade(shared);
    peer.set_reporter(Reporter(Arc::new(move |id, change| {
        if let Some(shared) = weak.upgrade() {
            shared.report(id, change);
        }
    })));
    let span = tracing::info_span!(
        "peer",
        id = %id.short(),
        addr = %remote_addr,
        dir = ?direction,
    );

    // Ban check, admission and registration under one lock: two connections from the same
    // node cannot both pass, `remove_peer` or `peers()` never miss an admitted peer, and a
    // `ban` either sees this peer (and disconnects it) or this check sees the ban.
    let admitted = {
        let now = shared.now();
        let mut state = shared.state();
        match state.gate.check_node(id, now) {
            Err(gated) => Err(Refusal::Gated(gated)),
            Ok(()) => match state.peers.admit(id, peer.clone()) {
                Err((reason, _)) => Err(Refusal::Admission(reason)),
                Ok(()) => {
                    // Static and trusted peers' addresses get past the throttle and into the
                    // reserved pending slots from now on.
                    if state.peers.is_trusted(&id) || state.statics.contains_key(&id) {
                        state.gate.know(id, remote_addr.ip());
                    }
                    Ok(())
                }
            },
        }
    };
    match admitted {
        Ok(()) => {}
        Err(Refusal::Admission(reason)) => {
            session.refuse(reason).await;
            tracing::debug!(peer = %id.short(), %reason, "peer refused");
            reject(reason);
            return None;
        }
        Err(Refusal::Gated(reason)) => {
            // devp2p has no "banned" reason; Requested says no more than "we asked".
            session.refuse(DisconnectReason::Requested).await;
            tracing::debug!(peer = %id.short(), %reason, "peer refused");
            shared.emit(PeerEvent::Refused {
                remote_addr,
                direction,
                id: Some(id),
                reason,
            });
            return None;
        }
    }
    let start_handlers = attach(protocols, peer.clone());
    let announce = {
        let shared = shared.clone();
        move || {
            tracing::info!(peer = %id.short(), %remote_addr, ?direction, client = ?info.client_id, "peer added");
            super::metrics::peer_added(direction);
            shared.emit(PeerEvent::Added(info));
        }
    };
    let running = session.run(span, slots, move |channels| {
        let handlers = start_handlers(channels);
        announce();
        handlers
    });
    // `stop` cancels before it disconnects the registered peers: either it saw this one, or
    // this check sees the cancellation.
    if shared.shutdown.is_cancelled() {
        peer.disconnect(DisconnectReason::Quitting);
    }
    Some((id, Box::pin(running)))
}

/// Who dialed a connection whose dialed id is `dialed`.
fn direction_of(dialed: Option<NodeId>) -> Direction {
    if dialed.is_some() {
        Direction::Outbound
    } else {
        Direction::Inbound
    }
}
