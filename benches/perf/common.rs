//! What the measurements share: server configs, process memory and CPU time, quantiles
//! and random payloads.

use peerwire::crypto::NodeKey;
use peerwire::protocol::Protocol;
use peerwire::server::ServerConfig;

/// A server config with `protocols`, listening on loopback if `listen`.
pub(crate) fn config(protocols: Vec<Protocol>, listen: bool, max_peers: usize) -> ServerConfig {
    let mut c = ServerConfig::new(NodeKey::random());
    c.listen_addr = listen.then(|| "127.0.0.1:0".parse().unwrap());
    c.protocols = protocols;
    c.max_peers = max_peers;
    c
}

/// Resident set size of this process, bytes.
pub(crate) fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Raises this process's open-file limit to its hard limit: the idle bench holds 10,000
/// connections.
pub(crate) fn raise_fd_limit() {
    let _ = rlimit::increase_nofile_limit(u64::MAX);
}

/// CPU time this process has used so far, user and system, all threads.
pub(crate) fn cpu_time() -> std::time::Duration {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    // utime and stime are fields 14 and 15; the command name before them may hold spaces.
    let after_name = stat.rsplit_once(')').map_or("", |(_, rest)| rest);
    let ticks: u64 = after_name
        .split_whitespace()
        .skip(11)
        .take(2)
        .filter_map(|t| t.parse::<u64>().ok())
        .sum();
    // The kernel reports in USER_HZ, 100 on Linux.
    std::time::Duration::from_millis(ticks * 10)
}

/// The `q` quantile of `times` (nearest rank; sorts them in place).
pub(crate) fn quantile(times: &mut [std::time::Duration], q: f64) -> std::time::Duration {
    times.sort_unstable();
    let i = ((times.len() as f64 * q).ceil() as usize).clamp(1, times.len()) - 1;
    times[i]
}

/// `len` random bytes from `seed`: snappy cannot shrink them.
pub(crate) fn random_bytes(len: usize, seed: u64) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut raw = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(seed).fill_bytes(&mut raw);
    raw
}
