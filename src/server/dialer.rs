//! Keeping static peers connected: dial, and after every failure or drop, dial again with
//! exponential backoff and jitter.

use std::sync::Arc;
use std::time::Duration;

use rand::Rng;
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::connection::serve_connection;
use super::state::Shared;
use crate::crypto::Enode;

/// Dials `enode` whenever it is not connected, until `cancel` fires.
pub(crate) async fn keep_connected(shared: Arc<Shared>, enode: Enode, cancel: CancellationToken) {
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
                _ = cancel.cancelled() => return,
            }
        }
        let permit = tokio::select! {
            biased;
            _ = cancel.cancelled() => None,
            permit = shared.dialing.clone().acquire_owned() => permit.ok(),
        };
        let Some(permit) = permit else {
            return;
        };
        let connect = tokio::time::timeout(
            shared.config.dial_timeout,
            TcpStream::connect(enode.tcp_addr()),
        );
        let connected = tokio::select! {
            biased;
            _ = cancel.cancelled() => return,
            result = connect => result,
        };
        match connected {
            Ok(Ok(io)) => {
                let _ = io.set_nodelay(true);
                let addr = enode.tcp_addr();
                if serve_connection(shared.clone(), io, addr, Some(enode.id), permit)
                    .await
                    .is_some()
                {
                    // A session was up: start the backoff afresh.
                    delay = min;
                }
            }
            Ok(Err(e)) => tracing::debug!(peer = %enode.id.short(), error = %e, "dial failed"),
            Err(_) => tracing::debug!(peer = %enode.id.short(), "dial timed out"),
        }
        let jitter = rand::thread_rng().gen_range(0..=delay.as_millis() as u64 / 4);
        tokio::select! {
            _ = tokio::time::sleep(delay + Duration::from_millis(jitter)) => {}
            _ = cancel.cancelled() => return,
        }
        delay = delay.saturating_mul(2).min(max);
    }
}
