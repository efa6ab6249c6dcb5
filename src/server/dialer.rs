//! Keeping static peers connected: dial, and after every failure or drop, dial again with
//! exponential backoff and jitter. And one-shot dials, which report their outcome.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{broadcast, oneshot, OwnedSemaphorePermit};
use tokio_util::sync::CancellationToken;

use super::connection::serve_connection;
use super::gating::RejectReason;
use super::state::Shared;
use super::PeerEvent;
use crate::crypto::Enode;
use crate::protocol::{Direction, PeerInfo, SessionEnd};
use crate::wire::DisconnectReason;

/// Dials `enode` whenever it is not connected, until `cancel` fires.
/// Checks a dial against the bans and `net_restrict`; a refusal is logged and reported as
/// `PeerEvent::Refused`.
fn gate_dial(shared: &Shared, enode: &Enode) -> Result<(), RejectReason> {
    let addr = enode.tcp_addr();
    let gated = shared
        .state()
        .gate
        .check_dial(enode.id, addr.ip(), shared.now());
    if let Err(reason) = gated {
        tracing::debug!(peer = %enode.id.short(), %addr, %reason, "dial refused");
        shared.emit(PeerEvent::Refused {
            remote_addr: addr,
            direction: Direction::Outbound,
            id: Some(enode.id),
            reason,
        });
    }
    gated
}

pub(crate) async fn keep_connected(shared: Arc<Shared>, enode: Enode, cancel: CancellationToken) {
    // `None`: cancelled.
    let _: Option<()> = redial(shared, enode, cancel).await;
}

async fn redial(shared: Arc<Shared>, enode: Enode, cancel: CancellationToken) -> Option<()> {
    let (min, max) = shared.config.dial.redial_backoff;
    let mut delay = min;
    loop {
        // Connected already (perhaps it dialed us): wait until that ends.
        loop {
            let changed = shared.peers_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if !shared.is_connected(&enode.id) {
                break;
            }
            tokio::select! {
                _ = changed => {}
                _ = cancel.cancelled() => return None,
            }
        }
        // Banned or outside net_restrict: do not dial, look again after the backoff (a ban
        // may be lifted or expire).
        if gate_dial(&shared, &enode).is_ok() && dial(&shared, &enode, &cancel).await?.is_some() {
            // A session was up: start the backoff afresh.
            delay = min;
        }
        let jitter = shared.random_up_to(delay.as_millis() as u64 / 4);
        tokio::select! {
            _ = tokio::time::sleep(delay + Duration::from_millis(jitter)) => {}
            _ = cancel.cancelled() => return None,
        }
        delay = delay.saturating_mul(2).min(max);
    }
}

/// One dial and, if it connects, the connection to its end. `None`: cancelled; `Some(None)`:
/// no session came of it; `Some(Some(end))`: a session ran and ended.
async fn dial(
    shared: &Arc<Shared>,
    enode: &Enode,
    cancel: &CancellationToken,
) -> Option<Option<SessionEnd>> {
    let permit = tokio::select! {
        biased;
        _ = cancel.cancelled() => None,
        permit = shared.dialing.clone().acquire_owned() => permit.ok(),
    }?;
    let addr = enode.tcp_addr();
    let connect = tokio::time::timeout(
        shared.config.dial.timeout,
        shared
            .config
            .network
            .connect(addr, shared.config.connection.socket_options()),
    );
    let connected = tokio::select! {
        biased;
        _ = cancel.cancelled() => return None,
        result = connect => result,
    };
    match connected {
        Ok(Ok(io)) => {
            Some(serve_connection(shared.clone(), io, addr, Some(enode.id), permit).await)
        }
        Ok(Err(e)) => {
            tracing::debug!(peer = %enode.id.short(), error = %e, "dial failed");
            super::metrics::dialed(crate::metrics::DIAL_FAILED);
            Some(None)
        }
        Err(_) => {
            tracing::debug!(peer = %enode.id.short(), "dial timed out");
            super::metrics::dialed(crate::metrics::DIAL_TIMEOUT);
            Some(None)
        }
    }
}

/// Why a one-shot dial ([`ServerHandle::dial`](super::ServerHandle::dial)) made no peer.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DialError {
    /// The server is stopping.
    #[error("server is stopping")]
    Stopped,
    /// The server does not dial (`no_dial`).
    #[error("server does not dial")]
    NoDial,
    /// That is our own node id.
    #[error("refusing to dial ourselves")]
    SelfDial,
    /// The node is connected already.
    #[error("already connected")]
    AlreadyConnected,
    /// Every dialed slot (`max_peers / dial_ratio`, or `max_peers` in all) is taken; the dial
    /// was not made. Trusted peers are exempt.
    #[error("no free dialed slot")]
    NoSlot,
    /// The gating rules refused the dial (ban, `net_restrict`), or the node id proven in
    /// the handshake is banned.
    #[error("dial refused: {0}")]
    Refused(RejectReason),
    /// The TCP connect failed.
    #[error("connect failed: {0}")]
    Connect(#[source] std::io::Error),
    /// The TCP connect took longer than `dial_timeout`.
    #[error("connect timed out")]
    Timeout,
    /// The handshake completed but one side refused the peer (the Disconnect reason sent or
    /// received: too many peers, no shared capability, ...).
    #[error("peer refused: {0}")]
    Rejected(DisconnectReason),
    /// The RLPx handshake or the Hello exchange failed without a Disconnect reason (bad
    /// identity, timeout, I/O).
    #[error("handshake failed")]
    Handshake,
}

/// A pending-handshake slot that says when it is given back: `serve_connection` drops it
/// once the peer is admitted or the attempt is over.
struct Handshaking {
    _permit: OwnedSemaphorePermit,
    done: Option<oneshot::Sender<()>>,
}

impl Drop for Handshaking {
    fn drop(&mut self) {
        if let Some(done) = self.done.take() {
            let _ = done.send(());
        }
    }
}

/// Dials `enode` once; returns when it is a peer (its session keeps running) or the attempt
/// failed. Cancel-safe in that dropping it never leaves a half-registered peer; a handshake
/// already under way completes (or fails) by itself.
pub(crate) async fn dial_once(
    shared: &Arc<Shared>,
    enode: Enode,
) -> Result<Arc<PeerInfo>, DialError> {
    if shared.shutdown.is_cancelled() {
        return Err(DialError::Stopped);
    }
    if !shared.config.dial.enabled {
        return Err(DialError::NoDial);
    }
    if enode.id == shared.info.id {
        return Err(DialError::SelfDial);
    }
    {
        let s = shared.state();
        if s.peers.is_connected(&enode.id) {
            return Err(DialError::AlreadyConnected);
        }
        // Before the connect, so no handshake is completed only to refuse the peer. Dials
        // in flight are not counted: admission after the handshake stays the last word.
        if !s.peers.has_slot(&enode.id, Direction::Outbound) {
            return Err(DialError::NoSlot);
        }
    }
    gate_dial(shared, &enode).map_err(DialError::Refused)?;
    let addr = enode.tcp_addr();
    let permit = tokio::select! {
        biased;
        _ = shared.shutdown.cancelled() => return Err(DialError::Stopped),
        permit = shared.dialing.clone().acquire_owned() => permit.map_err(|_| DialError::Stopped)?,
    };
    let connect = tokio::time::timeout(
        shared.config.dial.timeout,
        shared
            .config
            .network
            .connect(addr, shared.config.connection.socket_options()),
    );
    let io = tokio::select! {
        biased;
        _ = shared.shutdown.cancelled() => return Err(DialError::Stopped),
        result = connect => match result {
            Ok(Ok(io)) => io,
            Ok(Err(e)) => return Err(DialError::Connect(e)),
            Err(_) => return Err(DialError::Timeout),
        },
    };
    // Subscribed before the handshake starts, so its refusal event cannot be missed.
    let mut events = shared.events.subscribe();
    let (done, handshake_over) = oneshot::channel();
    let slot = Handshaking {
        _permit: permit,
        done: Some(done),
    };
    shared.tasks.spawn(serve_connection(
        shared.clone(),
        io,
        addr,
        Some(enode.id),
        slot,
    ));
    let _ = handshake_over.await;
    if let Some(peer) = shared.state().peers.get(&enode.id) {
        if peer.direction() == Direction::Outbound && peer.remote_addr() == addr {
            return Ok(Arc::new(peer.info().clone()));
        }
    }
    // The refusal, if any, was announced before the slot was given back.
    loop {
        match events.try_recv() {
            Ok(PeerEvent::Rejected { id, reason, .. }) if id == enode.id => {
                return Err(DialError::Rejected(reason))
            }
            Ok(PeerEvent::Refused {
                id: Some(id),
                reason,
                ..
            }) if id == enode.id => return Err(DialError::Refused(reason)),
            Ok(_) | Err(broadcast::error::TryRecvError::Lagged(_)) => {}
            Err(_) => return Err(DialError::Handshake),
        }
    }
}
