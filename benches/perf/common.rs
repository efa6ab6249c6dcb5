//! What the measurements share: server configs and process memory.

use peerwire::crypto::NodeKey;
use peerwire::protocol::Protocol;
use peerwire::server::ServerConfig;

/// A server config with `protocols`, listening on loopback if `listen`.
pub fn config(protocols: Vec<Protocol>, listen: bool, max_peers: usize) -> ServerConfig {
    let mut c = ServerConfig::new(NodeKey::generate(&mut rand::rngs::OsRng));
    c.listen_addr = listen.then(|| "127.0.0.1:0".parse().unwrap());
    c.protocols = protocols;
    c.max_peers = max_peers;
    c
}

/// Resident set size of this process, bytes.
pub fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}
