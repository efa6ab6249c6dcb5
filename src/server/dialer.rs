//! Keeping static peers connected: dial, and after every failure or drop, dial again with
//! exponential backoff and jitter.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::connection::serve_connection;
use super::state::Shared;
use super::PeerEvent;
use crate::crypto::Enode;
use crate::protocol::{Direction, SessionEnd};

/// Dials `enode` whenever it is not connected, until `cancel` fires.
pub(crate) async fn keep_connected(shared: Arc<Shared>, enode: Enode, cancel: CancellationToken) {
    // `None`: cancelled.
    let _: Option<()> = redial(shared, enode, cancel).await;
}

async fn redial(shared: Arc<Shared>, enode: Enode, cancel: CancellationToken) -> Option<()> {
    let (min, max) = shared.config.redial_backoff;
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
        } else if dial(&shared, &enode, &cancel).await?.is_some() {
            // A session was up: start the backoff afresh.
            delay = min;
        }
        let jitter = rand::thread_rng().gen_range(0..=delay.as_millis() as u64 / 4);
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
    let connect = tokio::time::timeout(shared.config.dial_timeout, TcpStream::connect(addr));
    let connected = tokio::select! {
        biased;
        _ = cancel.cancelled() => return None,
        result = connect => result,
    };
    match connected {
        Ok(Ok(io)) => {
            let _ = io.set_nodelay(true);
            Some(serve_connection(shared.clone(), io, addr, Some(enode.id), permit).await)
        }
        Ok(Err(e)) => {
            tracing::debug!(peer = %enode.id.short(), error = %e, "dial failed");
            crate::metrics::dialed(crate::metrics::DIAL_FAILED);
            Some(None)
        }
        Err(_) => {
            tracing::debug!(peer = %enode.id.short(), "dial timed out");
            crate::metrics::dialed(crate::metrics::DIAL_TIMEOUT);
            Some(None)
        }
    }
}
