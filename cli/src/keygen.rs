//! `peerwire keygen`.

use std::io::Write;
use std::path::Path;

use peerwire::crypto::NodeKey;

pub(crate) fn run(out: Option<&Path>) -> Result<(), String> {
    let key = NodeKey::random();
    if let Some(path) = out {
        write_key_file(path, &hex::encode(key.secret().secret_bytes()))?;
    }
    println!("{}", key.id());
    Ok(())
}

/// Creates `path` with mode 0600 and the key in it; fails if it exists.
fn write_key_file(path: &Path, key_hex: &str) -> Result<(), String> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path).map_err(|e| match e.kind() {
        std::io::ErrorKind::AlreadyExists => {
            format!("{} already exists; not overwriting it", path.display())
        }
        _ => format!("cannot create {}: {e}", path.display()),
    })?;
    writeln!(file, "{key_hex}").map_err(|e| format!("cannot write {}: {e}", path.display()))
}
