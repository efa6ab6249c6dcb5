//! Node Discovery v4.

pub mod core;
pub mod distance;
pub mod driver;
pub mod ip_votes;
pub mod lookup;
pub mod message;
pub mod packet;
pub mod service;
pub mod table;

pub use self::core::{Config, Discv4, Event, Outputs, RequestError, RequestKind, Stats, Transmit};
pub use distance::NodeHash;
pub use driver::{
    Driver, DriverConfig, DriverEvent, DriverOutputs, LookupId, LookupResult, LookupStats,
};
pub use ip_votes::IpVotes;
pub use lookup::{Lookup, ALPHA, K};
pub use message::{
    Endpoint, EnrRequest, EnrResponse, FindNode, Message, Neighbors, NodeRecord, Ping, Pong,
    Target, MAX_NEIGHBORS, VERSION,
};
pub use packet::{decode, encode, Encoded, Packet, PacketError, MAX_PACKET_SIZE};
pub use service::{
    DiscoveryEvent, Discv4Handle, QueryError, ServiceConfig, ServiceError, ServiceStats,
};
pub use table::{Entry, Insert, Revalidated, Table, BUCKET_SIZE, MAX_REPLACEMENTS};
