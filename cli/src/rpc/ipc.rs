//! The unix socket: mode 0600, so only the node's user reaches it; the same HTTP/1.1 as the
//! TCP listener (see `conn.rs`), without the secret and `Host` checks, which the file's
//! permissions replace.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::Semaphore;

use super::conn::{self, Shared};

/// Binds `path`. A socket file left there by a node that is gone is replaced; a live one (a
/// connect succeeds) or any other kind of file is an error.
pub(crate) fn bind(path: &Path) -> Result<std::os::unix::net::UnixListener, String> {
    let shown = path.display();
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        if !meta.file_type().is_socket() {
            return Err(format!("--ipc {shown}: exists and is not a socket"));
        }
        if std::os::unix::net::UnixStream::connect(path).is_ok() {
            return Err(format!("--ipc {shown}: another process is serving it"));
        }
        std::fs::remove_file(path)
            .map_err(|e| format!("--ipc {shown}: cannot remove the old socket: {e}"))?;
    }
    // Bound in a private directory (0700), made 0600, then renamed into place: no moment
    // exists at which another user could connect.
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let private = parent.join(format!(".peerwire-ipc-{}", std::process::id()));
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(|e| format!("--ipc {shown}: cannot make {}: {e}", private.display()))?;
    let staged = private.join("socket");
    let bound = std::os::unix::net::UnixListener::bind(&staged)
        .map_err(|e| format!("--ipc {shown}: {e}"))
        .and_then(|l| {
            std::fs::set_permissions(&staged, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| format!("--ipc {shown}: cannot set mode 0600: {e}"))?;
            std::fs::rename(&staged, path).map_err(|e| format!("--ipc {shown}: {e}"))?;
            Ok(l)
        });
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&private);
    let listener = bound?;
    listener
        .set_nonblocking(true)
        .map_err(|e| format!("--ipc {shown}: {e}"))?;
    Ok(listener)
}

/// Accepts connections, at most as many at once as `slots` holds (past that, closed at once).
pub(crate) async fn accept(listener: UnixListener, shared: Arc<Shared>, slots: Arc<Semaphore>) {
    loop {
        match listener.accept().await {
            Ok((io, _)) => {
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    continue;
                };
                tokio::spawn(conn::serve(io, shared.clone(), slot));
            }
            Err(e) => {
                tracing::warn!(error = %e, "IPC accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}
