//! Node Discovery v4.

pub mod core;
pub mod distance;
pub mod lookup;
pub mod message;
pub mod packet;
pub mod table;

pub use self::core::{Config, Discv4, Event, Outputs, RequestError, RequestKind, Stats, Transmit};
pub use distance::NodeHash;
pub use lookup::{Lookup, ALPHA, K};
pub use message::{
    Endpoint, EnrRequest, EnrResponse, FindNode, Message, Neighbors, NodeRecord, Ping, Pong,
    Target, MAX_NEIGHBORS, VERSION,
};
pub use packet::{decode, encode, Encoded, Packet, PacketError, MAX_PACKET_SIZE};
pub use table::{Entry, Insert, Revalidated, Table, BUCKET_SIZE, MAX_REPLACEMENTS};
