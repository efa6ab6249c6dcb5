//! Where blobs live: the [`Store`] trait, in memory ([`MemoryStore`]) or one file per blob in
//! a directory ([`DiskStore`]).

use std::collections::HashMap;
use std::fs;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};

use bytes::Bytes;

use crate::BlobHash;

/// Part of a blob, and the size of the whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Chunk {
    /// The blob's size in bytes.
    pub size: u64,
    /// The bytes from the offset asked for (empty at or past the end).
    pub data: Bytes,
}

/// Why the store failed (a local fault, never the peer's).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// Reading or writing the backing files.
    #[error("blob store I/O: {0}")]
    Io(#[from] std::io::Error),
    /// The store call panicked, or the runtime shut down under it.
    #[error("blob store call aborted")]
    Aborted,
}

/// A content-addressed blob store. Its methods may block (a disk store reads files); the
/// protocol calls them on tokio's blocking pool.
pub trait Store: Send + Sync + 'static {
    /// Stores `data` under its sha256 and returns that; storing it again does nothing.
    fn put(&self, data: &[u8]) -> Result<BlobHash, StoreError>;

    /// Up to `max` bytes of blob `hash` from `offset`, with the blob's size; `None` if the
    /// blob is not held.
    fn read(&self, hash: &BlobHash, offset: u64, max: usize) -> Result<Option<Chunk>, StoreError>;

    /// The hashes of every blob held.
    fn hashes(&self) -> Result<Vec<BlobHash>, StoreError>;

    /// A whole blob, `None` if not held.
    fn get(&self, hash: &BlobHash) -> Result<Option<Bytes>, StoreError> {
        Ok(self.read(hash, 0, usize::MAX)?.map(|c| c.data))
    }
}

/// Blobs in memory.
#[derive(Debug, Default)]
pub struct MemoryStore {
    blobs: Mutex<HashMap<BlobHash, Bytes>>,
}

impl MemoryStore {
    /// An empty store.
    pub fn new() -> Self {
        Self::default()
    }

    fn blobs(&self) -> MutexGuard<'_, HashMap<BlobHash, Bytes>> {
        // Inserts and lookups only: a panic elsewhere cannot leave the map half-updated.
        self.blobs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// `data[offset..offset + max]`, clamped to the data.
fn slice(data: &Bytes, offset: u64, max: usize) -> Bytes {
    let start = usize::try_from(offset)
        .unwrap_or(usize::MAX)
        .min(data.len());
    let end = start.saturating_add(max).min(data.len());
    data.slice(start..end)
}

impl Store for MemoryStore {
    fn put(&self, data: &[u8]) -> Result<BlobHash, StoreError> {
        let hash = BlobHash::of(data);
        self.blobs()
            .entry(hash)
            .or_insert_with(|| Bytes::copy_from_slice(data));
        Ok(hash)
    }

    fn read(&self, hash: &BlobHash, offset: u64, max: usize) -> Result<Option<Chunk>, StoreError> {
        Ok(self.blobs().get(hash).map(|data| Chunk {
            size: data.len() as u64,
            data: slice(data, offset, max),
        }))
    }

    fn hashes(&self) -> Result<Vec<BlobHash>, StoreError> {
        Ok(self.blobs().keys().copied().collect())
    }
}

/// One file per blob in a directory, named by the hash in hex; other files are ignored.
/// Blobs are written to a temporary file and renamed, so a crash leaves no partial blob
/// under a hash name (only, at worst, a `.blob-*.tmp` file, which is never served).
#[derive(Debug)]
pub struct DiskStore {
    dir: PathBuf,
}

impl DiskStore {
    /// The store in `dir`, created if missing; blobs already there are served.
    pub fn open(dir: impl AsRef<Path>) -> Result<Self, StoreError> {
        let dir = dir.as_ref().to_path_buf();
        fs::create_dir_all(&dir)?;
        Ok(Self { dir })
    }

    fn path(&self, hash: &BlobHash) -> PathBuf {
        self.dir.join(hash.to_string())
    }
}

impl Store for DiskStore {
    fn put(&self, data: &[u8]) -> Result<BlobHash, StoreError> {
        let hash = BlobHash::of(data);
        let path = self.path(&hash);
        // Only a file there is the blob; anything else is not, and the rename below fails.
        if path.is_file() {
            return Ok(hash);
        }
        // A temporary file of its own for each put (concurrent puts of one blob must not
        // truncate each other's), removed when dropped if the write or the rename fails.
        let mut tmp = tempfile::Builder::new()
            .prefix(".blob-")
            .suffix(".tmp")
            .tempfile_in(&self.dir)?;
        tmp.write_all(data)?;
        tmp.as_file().sync_all()?;
        // Another put of the same blob may have landed meanwhile: the rename replaces it with
        // the same bytes.
        tmp.persist(&path).map_err(|e| e.error)?;
        Ok(hash)
    }

    fn read(&self, hash: &BlobHash, offset: u64, max: usize) -> Result<Option<Chunk>, StoreError> {
        let mut file = match fs::File::open(self.path(hash)) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let size = file.metadata()?.len();
        let start = offset.min(size);
        let len = usize::try_from(size - start).unwrap_or(usize::MAX).min(max);
        file.seek(SeekFrom::Start(start))?;
        let mut data = vec![0; len];
        file.read_exact(&mut data)?;
        Ok(Some(Chunk {
            size,
            data: data.into(),
        }))
    }

    fn hashes(&self) -> Result<Vec<BlobHash>, StoreError> {
        let mut hashes = Vec::new();
        for entry in fs::read_dir(&self.dir)? {
            let name = entry?.file_name();
            if let Some(hash) = name.to_str().and_then(|n| n.parse().ok()) {
                hashes.push(hash);
            }
        }
        Ok(hashes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exercise(store: &dyn Store) {
        let data: Vec<u8> = (0..1000u32).map(|i| i as u8).collect();
        let hash = store.put(&data).unwrap();
        assert_eq!(hash, BlobHash::of(&data));
        assert_eq!(store.put(&data).unwrap(), hash, "idempotent");
        let chunk = store.read(&hash, 990, 100).unwrap().unwrap();
        assert_eq!((chunk.size, &chunk.data[..]), (1000, &data[990..]));
        assert!(store
            .read(&hash, 5000, 10)
            .unwrap()
            .unwrap()
            .data
            .is_empty());
        assert_eq!(store.get(&hash).unwrap().unwrap(), data);
        assert_eq!(store.read(&BlobHash::of(b"other"), 0, 1).unwrap(), None);
        assert_eq!(store.hashes().unwrap(), vec![hash]);
    }

    #[test]
    fn memory_store() {
        exercise(&MemoryStore::new());
    }

    #[test]
    fn disk_store_and_reopening_it() {
        let dir = tempfile::tempdir().unwrap();
        exercise(&DiskStore::open(dir.path()).unwrap());
        fs::write(dir.path().join("README"), b"not a blob").unwrap();
        let again = DiskStore::open(dir.path()).unwrap();
        assert_eq!(again.hashes().unwrap().len(), 1);
    }

    fn temp_files(dir: &Path) -> Vec<String> {
        fs::read_dir(dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|name| name.ends_with(".tmp"))
            .collect()
    }

    #[test]
    fn concurrent_puts_of_one_blob_all_succeed() {
        let dir = tempfile::tempdir().unwrap();
        let store = std::sync::Arc::new(DiskStore::open(dir.path()).unwrap());
        let data: Vec<u8> = (0..4 << 20).map(|i: u32| (i % 251) as u8).collect();
        for _round in 0..4 {
            let _ = fs::remove_file(store.path(&BlobHash::of(&data)));
            let barrier = std::sync::Arc::new(std::sync::Barrier::new(8));
            let puts: Vec<_> = (0..8)
                .map(|_| {
                    let (store, data, barrier) = (store.clone(), data.clone(), barrier.clone());
                    std::thread::spawn(move || {
                        barrier.wait();
                        store.put(&data).map_err(|e| e.to_string())
                    })
                })
                .collect();
            for put in puts {
                assert_eq!(put.join().unwrap(), Ok(BlobHash::of(&data)));
            }
            assert_eq!(store.get(&BlobHash::of(&data)).unwrap().unwrap(), data);
            assert!(temp_files(dir.path()).is_empty());
        }
    }

    #[test]
    fn a_failed_put_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        let store = DiskStore::open(dir.path()).unwrap();
        let data = b"cannot be renamed into place".to_vec();
        // A directory where the blob's file should go: the rename fails.
        let target = store.path(&BlobHash::of(&data));
        fs::create_dir(&target).unwrap();
        fs::write(target.join("keep"), b"x").unwrap();
        // A directory there is not the blob: the put fails rather than claim it stored.
        assert!(store.put(&data).is_err());
        assert!(
            temp_files(dir.path()).is_empty(),
            "{:?}",
            temp_files(dir.path())
        );
    }
}
