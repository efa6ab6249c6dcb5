//! The accept loop: one pending-handshake slot per accepted connection.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;

use super::connection::serve_connection;
use super::state::Shared;

/// Pause after a failed accept (e.g. out of file descriptors) rather than spin.
const ACCEPT_BACKOFF: Duration = Duration::from_millis(100);

pub(crate) async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        // Holding a pending slot before accepting leaves extra connections in the backlog.
        let permit = tokio::select! {
            permit = shared.pending.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = shared.shutdown.cancelled() => return,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shared.shutdown.cancelled() => return,
        };
        match accepted {
            Ok((io, addr)) => {
                let _ = io.set_nodelay(true);
                shared
                    .tasks
                    .spawn(serve_connection(shared.clone(), io, addr, None, permit));
            }
            Err(e) => {
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(ACCEPT_BACKOFF).await;
            }
        }
    }
}
