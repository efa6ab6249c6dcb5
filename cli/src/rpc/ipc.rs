//! The unix socket: mode 0600, so only the node's user reaches it; the same HTTP/1.1 as the
//! TCP listener (see `conn.rs`), without the secret and `Host` checks, which the file's
//! permissions replace.

use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::UnixListener;
use tokio::sync::Semaphore;

use super::conn::{self, Shared};

/// The longest path a unix socket can be bound at: `sun_path` holds 108 bytes with the NUL
/// on Linux, 104 on the BSDs and macOS.
const MAX_SOCKET_PATH: usize = if cfg!(any(target_os = "linux", target_os = "android")) {
    107
} else {
    103
};

/// Binds `path`. A socket file left there by a node that is gone is replaced; a live one (a
/// connect succeeds) or any other kind of file is an error.
///
/// No other user can connect at any moment. In a directory of ours that only we can enter
/// (no group or other bits) the socket is bound in place, then made 0600. Elsewhere it is
/// bound in a private directory beside it (`.pw-PID/s`, short, so a long `path` still fits
/// the limit), made 0600 there, then linked into place, which fails rather than replace a
/// file that appeared there meanwhile.
pub(crate) fn bind(path: &Path) -> Result<std::os::unix::net::UnixListener, String> {
    let shown = path.display();
    let length = path.as_os_str().len();
    if length > MAX_SOCKET_PATH {
        return Err(format!(
            "--ipc {shown}: {length} bytes long; a unix socket's path holds at most \
             {MAX_SOCKET_PATH}"
        ));
    }
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
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    let listener = if only_we_enter(parent) {
        bind_private(path)
    } else {
        bind_staged(path, parent)
    }
    .map_err(|e| format!("--ipc {shown}: {e}"))?;
    if let Err(e) = listener.set_nonblocking(true) {
        let _ = std::fs::remove_file(path);
        return Err(format!("--ipc {shown}: {e}"));
    }
    Ok(listener)
}

/// `dir` is ours and grants nothing to its group or others, so no other user reaches what
/// is in it.
fn only_we_enter(dir: &Path) -> bool {
    std::fs::metadata(dir).is_ok_and(|m| {
        m.is_dir()
            && m.uid() == rustix::process::geteuid().as_raw()
            && m.permissions().mode() & 0o077 == 0
    })
}

/// Binds `path` and makes it 0600.
fn bind_private(path: &Path) -> Result<std::os::unix::net::UnixListener, String> {
    let listener = std::os::unix::net::UnixListener::bind(path).map_err(|e| e.to_string())?;
    if let Err(e) = std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)) {
        let _ = std::fs::remove_file(path);
        return Err(format!("cannot set mode 0600: {e}"));
    }
    Ok(listener)
}

/// Binds in a new private directory in `parent`, then links the socket to `path`.
fn bind_staged(path: &Path, parent: &Path) -> Result<std::os::unix::net::UnixListener, String> {
    let private = parent.join(format!(".pw-{}", std::process::id()));
    let staged = private.join("s");
    if staged.as_os_str().len() > MAX_SOCKET_PATH {
        return Err(format!(
            "binding it needs {}, over the {MAX_SOCKET_PATH} bytes a unix socket's path \
             holds; use a directory only this user can enter (mode 0700), where it is bound \
             in place",
            staged.display()
        ));
    }
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(&private)
        .map_err(|e| format!("cannot make {}: {e}", private.display()))?;
    // A hard link, not a rename: it fails if `path` appeared since the stale check (another
    // node starting at once), where a rename would replace that node's socket.
    let bound = bind_private(&staged).and_then(|l| {
        std::fs::hard_link(&staged, path).map_err(|e| e.to_string())?;
        Ok(l)
    });
    let _ = std::fs::remove_file(&staged);
    let _ = std::fs::remove_dir(&private);
    bound
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

#[cfg(test)]
mod tests {
    use std::os::unix::net::UnixStream;
    use std::path::PathBuf;

    use super::*;

    /// A new directory of `mode` named `name` under /tmp, padded with `x` to at least
    /// `length` bytes.
    fn dir(name: &str, mode: u32, length: usize) -> PathBuf {
        let mut name = format!("peerwire-ipc-{name}-{}-", std::process::id());
        // Not $TMPDIR: a long one would leave no room under the limit.
        let base = Path::new("/tmp");
        while base.join(&name).as_os_str().len() < length {
            name.push('x');
        }
        let dir = base.join(name);
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(mode)).unwrap();
        dir
    }

    /// A path in `dir` exactly `length` bytes long.
    fn path_of_length(dir: &Path, length: usize) -> PathBuf {
        let path = dir.join("s".repeat(length - dir.as_os_str().len() - 1));
        assert_eq!(path.as_os_str().len(), length);
        path
    }

    /// Binds `path`, checks the socket is 0600 and serves, and that nothing else is left in
    /// its directory.
    fn binds_privately(path: &Path) {
        let listener = bind(path).unwrap();
        let meta = std::fs::symlink_metadata(path).unwrap();
        assert!(meta.file_type().is_socket());
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        UnixStream::connect(path).unwrap();
        drop(listener);
        let left: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .map(|e| e.unwrap().file_name())
            .collect();
        assert_eq!(left, [path.file_name().unwrap()]);
    }

    #[test]
    fn the_longest_path_binds_in_a_private_directory_and_in_a_shared_one() {
        for (name, mode) in [("private", 0o700), ("shared", 0o755)] {
            let dir = dir(name, mode, 0);
            binds_privately(&path_of_length(&dir, MAX_SOCKET_PATH));
            std::fs::remove_dir_all(&dir).unwrap();
        }
    }

    #[test]
    fn a_path_too_long_for_a_socket_is_refused_with_the_limit() {
        let dir = dir("long", 0o700, 0);
        let path = path_of_length(&dir, MAX_SOCKET_PATH + 1);
        let e = bind(&path).unwrap_err();
        assert!(e.contains(&format!("at most {MAX_SOCKET_PATH}")), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn where_staging_would_not_fit_the_error_says_to_use_a_private_directory() {
        // The socket's own path fits; `.pw-PID/s` beside it would not.
        let dir = dir("deep", 0o755, MAX_SOCKET_PATH - 4);
        let path = dir.join("s");
        assert!(path.as_os_str().len() <= MAX_SOCKET_PATH);
        let e = bind(&path).unwrap_err();
        assert!(e.contains("mode 0700"), "{e}");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        binds_privately(&path);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn staging_never_replaces_a_socket_that_appeared_meanwhile() {
        let dir = dir("race", 0o755, 0);
        let path = dir.join("node.ipc");
        // Another node bound it after our stale check.
        let other = std::os::unix::net::UnixListener::bind(&path).unwrap();
        let e = bind_staged(&path, &dir).unwrap_err();
        assert!(e.contains("exists"), "{e}");
        UnixStream::connect(&path).expect("the other node's socket is still there");
        drop(other);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn only_our_own_private_directory_is_bound_in_place() {
        let dir = dir("owner", 0o700, 0);
        assert!(only_we_enter(&dir));
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o750)).unwrap();
        assert!(!only_we_enter(&dir), "the group may enter");
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        // Another user's 0700 directory: only root can make one here to try.
        if std::os::unix::fs::chown(&dir, Some(65534), None).is_ok() {
            assert!(!only_we_enter(&dir), "the directory is nobody's");
            binds_privately(&dir.join("s"));
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
