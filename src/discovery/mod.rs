//! Node discovery: the sans-IO core of Node Discovery v4 (devp2p `discv4.md`) with node
//! records (EIP-778, EIP-868).
//!
//! ```text
//! v4/service.rs    tokio: one UDP socket, timers, Discv4Handle
//!   │
//! v4/driver/       sans-IO Driver: lookups (up to 3 at once, bond first), refresh, ENR
//!   │              updates, external IP (v4/ip_votes.rs); v4/lookup/: one FindNode lookup
//! v4/core/         sans-IO Discv4: endpoint proofs, request/reply matching, amplification
//!   │              rules, revalidation; v4/table/: Kademlia buckets (v4/distance.rs)
//! v4/packet/       hash || signature || type || RLP, signed and verified
//! v4/message.rs    Ping, Pong, FindNode, Neighbors, ENRRequest, ENRResponse
//! v4/error.rs      packet, request and service errors
//! enr.rs           our signed node record; ENR <-> NodeId/Enode
//! source.rs        node sources for the dialer, FairMix
//! v5/              Node Discovery v5 through sigp's `discv5` crate, on discv4's socket
//! dns/             node lists in DNS (EIP-1459): signed trees, sync, a node source
//! ```
//!
//! Only `v4/service.rs` and `source` do I/O: elsewhere time (`Instant` for timers, UNIX seconds
//! for packet expirations) and randomness are passed in.

pub mod dns;
pub mod enr;
pub mod source;
pub mod v4;
pub mod v5;
