//! The errors of the discv5 wrapper, and why a discovered record is not dialed.

use std::net::SocketAddr;

use crate::discovery::enr::RecordError;

/// Why discv5 could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Discv5Error {
    /// The UDP address could not be bound.
    #[error("cannot bind discv5 on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// sigp's `discv5` runs on tokio's sockets only, not on a custom
    /// [`Network`](crate::net::Network).
    #[error("discv5 runs on the host network only")]
    NeedsHostNetwork,
    /// Our record could not be built or signed.
    #[error("local record: {0}")]
    Record(#[from] RecordError),
    /// Our key or record was refused by the discv5 crate (it does not happen with a valid key).
    #[error("discv5 refused our key or record: {0}")]
    Setup(&'static str),
    /// The discv5 service did not start.
    #[error("discv5 did not start: {0}")]
    Start(discv5::Error),
    /// discv4 could not start on the shared socket.
    #[error("discv4: {0}")]
    Discv4(#[source] crate::discovery::v4::ServiceError),
}

/// Why a lookup or request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Discv5QueryError {
    /// The service has stopped.
    #[error("discv5 has stopped")]
    Stopped,
    /// The node did not answer, or answered with something unusable.
    #[error("no answer")]
    NoAnswer,
    /// The record cannot be contacted over discv5 (no UDP endpoint, or not a "v4" record).
    #[error("record has no usable UDP endpoint")]
    Uncontactable,
}

/// Why a record a lookup returned is not passed to the dialer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum Unusable {
    /// EIP-778's identity scheme is not "v4" (secp256k1): RLPx needs a secp256k1 key.
    #[error("identity scheme is not v4")]
    IdentityScheme,
    /// The record has no `ip`/`ip6`.
    #[error("no IP address")]
    NoAddress,
    /// The record has no `tcp`/`tcp6`: the node takes no RLPx connections (a consensus-layer
    /// node, or a discovery-only one).
    #[error("no TCP port")]
    NoTcpPort,
}
