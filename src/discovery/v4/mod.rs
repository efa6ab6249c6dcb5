//! Node Discovery v4.
//!
//! ```text
//! service.rs     tokio: one UDP socket, timers, Discv4Handle
//!   │
//! driver/        sans-IO Driver: lookups (lookups.rs), refresh, ENR updates, external IP
//!   │            uses lookup/ (one iterative FindNode lookup) and ip_votes.rs
//! core/          sans-IO Discv4: endpoint proofs, request/reply matching, revalidation;
//!   │            intake.rs (cheap checks before the signature, replays), handlers.rs,
//!   │            budget.rs (the Pings others make us send, apart from our own requests)
//!   │            uses table/ (Kademlia buckets) and distance.rs (the XOR metric)
//! packet/        hash || signature || type || data, signed and verified
//! message.rs     Ping, Pong, FindNode, Neighbors, ENRRequest, ENRResponse
//! error.rs       the errors of all of the above
//! ```
//!
//! [`Discv4`] and [`Driver`] share one calling contract (quinn-proto's): inputs go in
//! through `handle_packet`, `handle_timeout` and commands; datagrams, events and the next
//! timer come out through `poll_transmit`, `poll_event` and `poll_timeout`.

mod core;
mod distance;
mod driver;
mod error;
mod ip_votes;
mod lookup;
mod message;
mod packet;
mod service;
mod table;

pub use self::core::{Discv4, Discv4Config, Discv4Event, Discv4Stats, RequestKind, Transmit};
pub use distance::NodeHash;
pub use driver::{Driver, DriverConfig, DriverEvent, LookupId, LookupResult, LookupStats};
pub use error::{PacketError, QueryError, RequestError, ServiceError};
pub use message::{
    Endpoint, EnrRequest, EnrResponse, FindNode, Message, Neighbors, NodeRecord, Ping, Pong,
    Target, MAX_NEIGHBORS, PROTOCOL_VERSION,
};
pub use packet::{decode_packet, encode_packet, EncodedPacket, Packet, MAX_PACKET_SIZE};
pub use service::{DiscoveryEvent, Discv4Handle, ServiceConfig, ServiceStats};
pub use table::{
    IpLimits, Revalidated, Table, TableEntry, TableInsert, BUCKET_SIZE, MAX_REPLACEMENTS,
};
