//! Where a command's node key comes from: `--key`, `--keyfile`, `$PEERWIRE_KEY`, or a new one.

use std::path::PathBuf;

use peerwire::crypto::{parse_secret_key, NodeKey};

/// The environment variable holding a node key in hex. Only the process's own user (and
/// root) can read its environment, unlike its command line.
pub(crate) const KEY_ENV: &str = "PEERWIRE_KEY";

/// The key options, for any command that runs a node (flattened into its arguments).
#[derive(clap::Args, Debug)]
pub(crate) struct KeyArgs {
    /// Node key as 64 hex digits. Other users of the machine can read it in the process
    /// list: prefer --keyfile or $PEERWIRE_KEY.
    #[arg(long, conflicts_with = "keyfile")]
    key: Option<String>,
    /// File holding the node key in hex (as written by `peerwire keygen --out`).
    #[arg(long)]
    keyfile: Option<PathBuf>,
}

impl KeyArgs {
    /// The key from `--key`, `--keyfile` or `$PEERWIRE_KEY`, if one was given (`--key`
    /// or `--keyfile` first; an empty variable counts as unset); `None` leaves the choice to
    /// the caller (a data directory's key, or a new one). A key given with `--key` is used,
    /// with a warning on stderr that it is visible to other users.
    pub(crate) fn given(&self) -> Result<Option<NodeKey>, String> {
        let secret = if let Some(hex) = &self.key {
            let secret = parse_secret_key(hex).map_err(|e| format!("bad --key: {e}"))?;
            eprintln!(
                "peerwire: warning: a key given with --key is visible to other users of this \
                 machine (process list); use --keyfile or {KEY_ENV}"
            );
            secret
        } else if let Some(path) = &self.keyfile {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
            parse_secret_key(&text).map_err(|e| format!("bad key in {}: {e}", path.display()))?
        } else {
            match std::env::var(KEY_ENV) {
                Ok(hex) if !hex.trim().is_empty() => {
                    parse_secret_key(&hex).map_err(|e| format!("bad {KEY_ENV}: {e}"))?
                }
                Err(std::env::VarError::NotUnicode(_)) => {
                    return Err(format!("bad {KEY_ENV}: not hex digits"));
                }
                _ => return Ok(None),
            }
        };
        Ok(Some(NodeKey::new(secret)))
    }
}
