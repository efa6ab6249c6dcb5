//! What discv5 needs besides the settings it shares with discv4
//! ([`ServiceConfig`](crate::discovery::v4::ServiceConfig): key, address, TCP port, external IP).

use std::time::Duration;

use crate::discovery::enr::Record;

/// Node Discovery v5, through sigp's `discv5` crate. Its table holds up to 16 × 256 records
/// (a few hundred KiB at most); its sessions and request queues are bounded by the crate.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Discv5Config {
    /// Whether discv5 runs (with a server: beside discv4, on the same UDP port). Default
    /// `false`.
    pub enabled: bool,
    /// Records to start from (discv5 needs a record, not an enode URL: the `udp` it names).
    /// Default none.
    pub bootnodes: Vec<Record>,
    /// Lookups of one [`random_nodes`](super::Discv5Handle::random_nodes) source start at
    /// most this often, and only while the dialer asks for more. Default 1 s.
    pub lookup_interval: Duration,
    /// Datagrams that are not discv5 waiting for discv4 on the shared socket, each at most
    /// 1280 bytes (320 KiB at most); more are dropped. Default 256.
    pub v4_queue: usize,
    /// Whether discv5's own Pong votes may move our record's address (discv4's always
    /// may, unless the address is configured). Off, discv5 serves whatever discv4
    /// advertises. The server turns it off when a router maps our ports, whose external
    /// address must not be argued with. Default `true`.
    pub learn_ip: bool,
}

impl Default for Discv5Config {
    fn default() -> Self {
        Self {
            enabled: false,
            bootnodes: Vec::new(),
            lookup_interval: Duration::from_secs(1),
            v4_queue: 256,
            learn_ip: true,
        }
    }
}
