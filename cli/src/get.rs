//! `peerwire get`: dial a node, fetch one blob over blobs/1 (checked against its sha256 by
//! the library), write it to a new file.

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use peerwire::crypto::{Enode, NodeKey};
use peerwire::server::{DiscoveryMode, Server, ServerConfig};
use peerwire_blobs::{BlobHash, Blobs, FetchError, MemoryStore};
use serde_json::json;

use crate::output::Output;

pub(crate) async fn run(
    enode: Enode,
    hash: BlobHash,
    out_path: &Path,
    timeout_secs: u64,
    json: bool,
) -> Result<(), String> {
    // Checked before dialing, and again (atomically) when the file is created.
    if out_path.exists() {
        return Err(format!(
            "{} already exists; not overwriting it",
            out_path.display()
        ));
    }
    let limit = Duration::from_secs(timeout_secs.max(1));
    let blobs = Blobs::new(Arc::new(MemoryStore::new()));
    let mut config = ServerConfig::new(NodeKey::random());
    config.name = concat!("peerwire-get/", env!("CARGO_PKG_VERSION")).into();
    config.listen_addr = None;
    config.discovery.mode = DiscoveryMode::Never;
    config.protocols = vec![blobs.protocol()];
    let server = Server::start(config).await.map_err(|e| e.to_string())?;
    let bar = crate::progress::bytes(json);
    let fetched = tokio::time::timeout(limit, fetch(&server, &blobs, enode, &hash, &bar)).await;
    bar.finish_and_clear();
    let _ = tokio::time::timeout(Duration::from_secs(2), server.stop()).await;
    let data = fetched.map_err(|_| format!("timed out after {} s", limit.as_secs()))??;
    write_new(out_path, &data)?;
    Output { json }.event(
        "blob_fetched",
        || {
            format!(
                "fetched {hash} ({} bytes) to {}",
                data.len(),
                out_path.display()
            )
        },
        json!({ "hash": hash.to_string(), "size": data.len() }),
    );
    Ok(())
}

async fn fetch(
    server: &peerwire::server::ServerHandle,
    blobs: &Blobs,
    enode: Enode,
    hash: &BlobHash,
    bar: &indicatif::ProgressBar,
) -> Result<bytes::Bytes, String> {
    let addr = enode.tcp_addr();
    let id = enode.id;
    server
        .dial(enode)
        .await
        .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
    // The blobs/1 handler registers the peer as its session starts (blobs/1 is our only
    // capability, so an admitted peer runs it).
    while !blobs.peer_ids().contains(&id) {
        if server.peer(&id).is_none() {
            return Err(format!("{addr} disconnected"));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let progress = |received, size| {
        bar.set_length(size);
        bar.set_position(received);
    };
    let fetched = blobs.fetch_from_with_progress(&id, hash, progress).await;
    fetched.map_err(|e| match e {
        FetchError::NotFound => format!("{addr} does not have blob {hash}"),
        other => format!("fetching {hash} from {addr} failed: {other}"),
    })
}

/// Creates `path` (never overwriting) and writes `data`; a partial file is removed.
fn write_new(path: &Path, data: &[u8]) -> Result<(), String> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::AlreadyExists => {
                format!("{} already exists; not overwriting it", path.display())
            }
            _ => format!("cannot create {}: {e}", path.display()),
        })?;
    if let Err(e) = file.write_all(data).and_then(|()| file.sync_all()) {
        let _ = std::fs::remove_file(path);
        return Err(format!("cannot write {}: {e}", path.display()));
    }
    Ok(())
}
