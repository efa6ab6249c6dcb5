//! `node --blobs DIR`: a `DiskStore` on DIR, and the import of plain files put there.
//!
//! The store keeps each blob in a file named by its sha256 (64 hex digits) and ignores
//! other names. So that a user can just drop files into DIR, the node imports every other
//! regular file of DIR's top level at start: it is stored (copied) under its hash, and the
//! original is left alone. Names starting with `.` (the store's temporary files) are skipped.

use std::path::Path;
use std::sync::Arc;

use peerwire_blobs::{BlobHash, Blobs, DiskStore};
use serde_json::json;

use crate::output::Output;

pub(crate) fn open(dir: &Path) -> Result<Blobs, String> {
    let store = DiskStore::open(dir)
        .map_err(|e| format!("cannot open blob directory {}: {e}", dir.display()))?;
    Ok(Blobs::new(Arc::new(store)))
}

/// Imports the plain files of `dir`, printing `blob_added` {hash, name, size} for each.
pub(crate) async fn import(blobs: &Blobs, dir: &Path, out: Output) -> Result<(), String> {
    let cannot = |e: std::io::Error| format!("cannot read blob directory {}: {e}", dir.display());
    let mut entries = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(cannot)? {
        let entry = entry.map_err(cannot)?;
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || name.parse::<BlobHash>().is_ok() {
            continue;
        }
        if entry.file_type().map_err(cannot)?.is_file() {
            entries.push((name, entry.path()));
        }
    }
    entries.sort();
    for (name, path) in entries {
        let reading = path.clone();
        let data = tokio::task::spawn_blocking(move || std::fs::read(reading))
            .await
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        let size = data.len();
        let hash = blobs
            .add(data)
            .await
            .map_err(|e| format!("cannot import {}: {e}", path.display()))?;
        out.event(
            "blob_added",
            || format!("blob added {hash} {name} ({size} bytes)"),
            json!({ "hash": hash.to_string(), "name": name, "size": size }),
        );
    }
    Ok(())
}
