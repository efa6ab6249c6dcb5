//! A node's data directory: its key, its peer store, and a lock so that two processes never
//! share them.
//!
//! ```text
//! DIR/LOCK         held (advisory lock) while a DataDir is open
//! DIR/nodekey      the node key in hex, mode 0600, created once and never overwritten
//! DIR/peers.redb   the peer store (server::store::DbStore)
//! ```
//!
//! ```
//! use peerwire::datadir::DataDir;
//! use peerwire::server::store::DEFAULT_MAX_NODES;
//!
//! let tmp = tempfile::tempdir().unwrap();
//! let dir = DataDir::open(tmp.path()).unwrap();
//! let key = dir.node_key().unwrap();
//! let store = dir.open_store(DEFAULT_MAX_NODES).unwrap();
//! assert!(store.moved_aside.is_none());
//! // The same directory cannot be opened twice at once.
//! assert!(DataDir::open(tmp.path()).is_err());
//! drop(dir);
//! assert_eq!(DataDir::open(tmp.path()).unwrap().node_key().unwrap().id(), key.id());
//! ```

use std::fs::{File, OpenOptions};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::crypto::{parse_secret_key, NodeKey, SecretKeyError};
use crate::server::store::{DbStore, PeerStore, StoreError};

/// The lock file's name.
pub const LOCK_FILE: &str = "LOCK";
/// The node key's file name.
pub const KEY_FILE: &str = "nodekey";
/// The peer store's file name.
pub const STORE_FILE: &str = "peers.redb";

/// Why a data directory could not be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DataDirError {
    /// The directory could not be created or opened.
    #[error("cannot create data directory {path}: {source}")]
    Create {
        /// The directory.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// Another process (or another `DataDir` in this one) holds the directory.
    #[error("data directory {0} is in use by another node")]
    InUse(PathBuf),
    /// The lock file could not be created or locked for another reason.
    #[error("cannot lock data directory {path}: {source}")]
    Lock {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file could not be read or written.
    #[error("node key {path}: {source}")]
    KeyFile {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The key file does not hold a key.
    #[error("bad node key in {path}: {source}")]
    BadKey {
        /// The key file.
        path: PathBuf,
        /// Why.
        source: SecretKeyError,
    },
    /// The peer store could not be opened, even fresh, or is of a newer layout.
    #[error("peer store {path}: {source}")]
    Store {
        /// The store file.
        path: PathBuf,
        /// Why.
        source: StoreError,
    },
    /// A damaged peer store could not be moved aside.
    #[error("cannot move the damaged peer store {path} aside: {source}")]
    MoveAside {
        /// The store file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// An open data directory; the lock is held until it is dropped.
#[derive(Debug)]
pub struct DataDir {
    path: PathBuf,
    /// Holds the lock; closing it releases it.
    _lock: File,
}

/// The peer store of a data directory, as [`DataDir::open_store`] opened it.
#[derive(Debug)]
#[non_exhaustive]
pub struct OpenedStore {
    /// The store, for [`StoreConfig::backend`](crate::server::StoreConfig::backend).
    pub store: Arc<DbStore>,
    /// Where a damaged store was moved before a fresh one was made, and why it was judged
    /// damaged; `None` when the store opened fine.
    pub moved_aside: Option<(PathBuf, StoreError)>,
}

impl OpenedStore {
    /// The store as the server takes it.
    pub fn backend(&self) -> Arc<dyn PeerStore> {
        self.store.clone()
    }
}

impl DataDir {
    /// Opens `path`, creating it (mode 0700) if missing, and takes its lock; fails with
    /// [`DataDirError::InUse`] if another node holds it.
    pub fn open(path: &Path) -> Result<Self, DataDirError> {
        let create = |source| DataDirError::Create {
            path: path.to_owned(),
            source,
        };
        let mut builder = std::fs::DirBuilder::new();
        builder.recursive(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            builder.mode(0o700);
        }
        builder.create(path).map_err(create)?;
        let lock_path = path.join(LOCK_FILE);
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock_path)
            .map_err(|source| DataDirError::Lock {
                path: lock_path.clone(),
                source,
            })?;
        // Called through the trait: newer Rust's own `File::try_lock` would otherwise win.
        match fs4::FileExt::try_lock(&lock) {
            Ok(()) => {}
            Err(fs4::TryLockError::WouldBlock) => return Err(DataDirError::InUse(path.to_owned())),
            Err(fs4::TryLockError::Error(source)) => {
                return Err(DataDirError::Lock {
                    path: lock_path,
                    source,
                })
            }
        }
        Ok(Self {
            path: path.to_owned(),
            _lock: lock,
        })
    }

    /// The directory.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The key in `nodekey`, created (mode 0600, a new random key) if the file does not
    /// exist. An existing file is never written, so a bad one is an error, not replaced.
    pub fn node_key(&self) -> Result<NodeKey, DataDirError> {
        let path = self.path.join(KEY_FILE);
        let key_error = |source| DataDirError::KeyFile {
            path: path.clone(),
            source,
        };
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let secret = parse_secret_key(&text).map_err(|source| DataDirError::BadKey {
                    path: path.clone(),
                    source,
                })?;
                return Ok(NodeKey::new(secret));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(key_error(e)),
        }
        let key = NodeKey::random();
        let mut options = OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path).map_err(key_error)?;
        writeln!(file, "{}", hex::encode(key.secret().secret_bytes()))
            .and_then(|()| file.sync_all())
            .map_err(key_error)?;
        Ok(key)
    }

    /// Opens the peer store `peers.redb`, keeping at most `max_nodes` nodes. A store that
    /// cannot be opened or read whole (corrupt, truncated, unreadable) is renamed to
    /// `peers.redb.damaged-<unix seconds>`, a warning is logged, and a fresh store is made;
    /// [`OpenedStore::moved_aside`] says so. A store of a newer layout is an error, and is
    /// left as it is.
    pub fn open_store(&self, max_nodes: usize) -> Result<OpenedStore, DataDirError> {
        let path = self.path.join(STORE_FILE);
        let store_error = |source| DataDirError::Store {
            path: path.clone(),
            source,
        };
        let damage = match DbStore::open(&path, max_nodes) {
            Ok(store) => match store.load() {
                Ok(_) => {
                    return Ok(OpenedStore {
                        store: Arc::new(store),
                        moved_aside: None,
                    })
                }
                Err(e) => e,
            },
            Err(e) => e,
        };
        if !damage.is_damaged_file() {
            return Err(store_error(damage));
        }
        let unix = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let aside = self.path.join(format!("{STORE_FILE}.damaged-{unix}"));
        std::fs::rename(&path, &aside).map_err(|source| DataDirError::MoveAside {
            path: path.clone(),
            source,
        })?;
        tracing::warn!(
            store = %path.display(),
            moved_to = %aside.display(),
            error = %damage,
            "peer store damaged; moved aside, starting with an empty one"
        );
        let store = DbStore::open(&path, max_nodes).map_err(store_error)?;
        Ok(OpenedStore {
            store: Arc::new(store),
            moved_aside: Some((aside, damage)),
        })
    }
}
