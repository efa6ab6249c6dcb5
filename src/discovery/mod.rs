//! Node discovery: the sans-IO core of Node Discovery v4 (devp2p `discv4.md`) with node
//! records (EIP-778, EIP-868).
//!
//! ```text
//! v4::core     bonding (endpoint proof), request/reply matching, amplification rules
//! v4::lookup   iterative FindNode lookup (alpha 3, k 16)
//! v4::table    Kademlia table: log-distance buckets, replacements, revalidation
//! v4::packet   hash || signature || type || RLP, signed and verified
//! v4::message  Ping, Pong, FindNode, Neighbors, ENRRequest, ENRResponse
//! v4::driver   lookups (bond first; up to 3 at once), refresh, ENR updates, external IP
//! v4::service  the tokio shell: one UDP socket, timers, Discv4Handle
//! enr          our signed node record; ENR <-> NodeId/Enode
//! source       node sources for the dialer, FairMix
//! ```
//!
//! Only `v4::service` and `source` do I/O: elsewhere time (`Instant` for timers, UNIX seconds
//! for packet expirations) and randomness are passed in.

pub mod enr;
pub mod source;
pub mod v4;
