//! Node Discovery v4.

pub mod message;
pub mod packet;

pub use message::{
    Endpoint, EnrRequest, EnrResponse, FindNode, Message, Neighbors, NodeRecord, Ping, Pong,
    Target, MAX_NEIGHBORS, VERSION,
};
pub use packet::{decode, encode, Encoded, Packet, PacketError, MAX_PACKET_SIZE};
