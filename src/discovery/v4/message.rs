//! The six discv4 messages and their RLP `packet-data`.
//!
//! Decoding follows EIP-8 forward compatibility (discv4.md, "Wire Protocol"): *"Implementations
//! should ignore any additional elements in the `packet-data` list as well as any extra data
//! after the list."* Callers hand in exactly one RLP item (see [`super::packet`]).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use rlp::{DecoderError, Rlp, RlpStream};

use super::error::PacketError;
use crate::crypto::{Enode, NodeId, NODE_ID_LEN};
use crate::discovery::enr::Record;

/// The protocol version we send in Ping.
///
/// discv4.md, Ping: *"version = 4"*.
pub const PROTOCOL_VERSION: u64 = 4;

/// A FindNode target: 64 bytes, usually a public key, but any bytes are a valid target.
pub type Target = [u8; NODE_ID_LEN];

/// Where a node can be reached: `[ip, udp-port, tcp-port]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Endpoint {
    /// IPv4 (4 bytes on the wire) or IPv6 (16 bytes).
    pub ip: IpAddr,
    /// Discovery port.
    pub udp_port: u16,
    /// RLPx port; 0 when unknown (discv4.md, Ping: *"to = [recipient-ip, recipient-udp-port, 0]"*).
    pub tcp_port: u16,
}

/// A node in a Neighbors reply: `[ip, udp-port, tcp-port, node-id]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NodeRecord {
    /// Its endpoint.
    pub endpoint: Endpoint,
    /// Its id.
    pub id: NodeId,
}

impl NodeRecord {
    /// The table/lookup form of an enode.
    pub fn from_enode(enode: &Enode) -> Self {
        Self {
            endpoint: Endpoint {
                ip: enode.ip,
                udp_port: enode.udp_port,
                tcp_port: enode.tcp_port,
            },
            id: enode.id,
        }
    }

    /// The enode of this node; an unknown TCP port (0) is taken to be the UDP port.
    pub fn to_enode(&self) -> Enode {
        let e = self.endpoint;
        Enode {
            id: self.id,
            ip: e.ip,
            tcp_port: if e.tcp_port == 0 {
                e.udp_port
            } else {
                e.tcp_port
            },
            udp_port: e.udp_port,
        }
    }
}

/// Ping (0x01): `[version, from, to, expiration, enr-seq ...]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Ping {
    /// Protocol version. *"Implementations should ignore any mismatches in version."*
    pub version: u64,
    /// The sender's endpoint, as the sender sees it.
    pub from: Endpoint,
    /// The recipient's endpoint, as the sender sees it.
    pub to: Endpoint,
    /// Absolute UNIX time (seconds) after which the packet is stale.
    pub expiration: u64,
    /// The sender's ENR sequence number (EIP-868); optional.
    pub enr_seq: Option<u64>,
}

/// Pong (0x02): `[to, ping-hash, expiration, enr-seq, ...]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pong {
    /// The endpoint the ping came from, as the pong's sender saw it.
    pub to: Endpoint,
    /// The `hash` of the ping this answers.
    pub ping_hash: [u8; 32],
    /// Absolute UNIX time (seconds) after which the packet is stale.
    pub expiration: u64,
    /// The sender's ENR sequence number (EIP-868); optional.
    pub enr_seq: Option<u64>,
}

/// FindNode (0x03): `[target, expiration, ...]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FindNode {
    /// The id to find nodes close to.
    pub target: Target,
    /// Absolute UNIX time (seconds) after which the packet is stale.
    pub expiration: u64,
}

/// Neighbors (0x04): `[nodes, expiration, ...]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Neighbors {
    /// Nodes close to the requested target; at most [`MAX_NEIGHBORS`] per packet.
    pub nodes: Vec<NodeRecord>,
    /// Absolute UNIX time (seconds) after which the packet is stale.
    pub expiration: u64,
}

/// How many IPv6 nodes fit in one Neighbors packet of at most 1280 bytes (12 × 91-byte
/// entries plus header and expiration is 1,200 bytes; 13 would be 1,291).
pub const MAX_NEIGHBORS: usize = 12;

/// ENRRequest (0x05): `[expiration]` (EIP-868).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EnrRequest {
    /// Absolute UNIX time (seconds) after which the packet is stale.
    pub expiration: u64,
}

/// ENRResponse (0x06): `[request-hash, ENR]` (EIP-868).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnrResponse {
    /// The `hash` of the ENRRequest packet this answers.
    pub request_hash: [u8; 32],
    /// The sender's node record; decoding checked its signature.
    pub record: Record,
}

/// Any discv4 message.
#[derive(Clone, Debug, PartialEq, Eq)]
#[expect(missing_docs, reason = "the variants are the structs of the same name")]
pub enum Message {
    Ping(Ping),
    Pong(Pong),
    FindNode(FindNode),
    Neighbors(Neighbors),
    EnrRequest(EnrRequest),
    EnrResponse(EnrResponse),
}

impl Message {
    /// The `packet-type` byte.
    pub fn packet_type(&self) -> u8 {
        match self {
            Self::Ping(_) => 0x01,
            Self::Pong(_) => 0x02,
            Self::FindNode(_) => 0x03,
            Self::Neighbors(_) => 0x04,
            Self::EnrRequest(_) => 0x05,
            Self::EnrResponse(_) => 0x06,
        }
    }

    /// The expiration time stamp, if the message has one (ENRResponse has none).
    pub fn expiration(&self) -> Option<u64> {
        match self {
            Self::Ping(m) => Some(m.expiration),
            Self::Pong(m) => Some(m.expiration),
            Self::FindNode(m) => Some(m.expiration),
            Self::Neighbors(m) => Some(m.expiration),
            Self::EnrRequest(m) => Some(m.expiration),
            Self::EnrResponse(_) => None,
        }
    }

    /// The RLP `packet-data`.
    pub(crate) fn encode_data(&self) -> Vec<u8> {
        let mut s = RlpStream::new();
        match self {
            Self::Ping(m) => {
                s.begin_list(4 + usize::from(m.enr_seq.is_some()));
                s.append(&m.version);
                append_endpoint(&mut s, &m.from);
                append_endpoint(&mut s, &m.to);
                s.append(&m.expiration);
                if let Some(seq) = m.enr_seq {
                    s.append(&seq);
                }
            }
            Self::Pong(m) => {
                s.begin_list(3 + usize::from(m.enr_seq.is_some()));
                append_endpoint(&mut s, &m.to);
                s.append(&m.ping_hash.as_slice());
                s.append(&m.expiration);
                if let Some(seq) = m.enr_seq {
                    s.append(&seq);
                }
            }
            Self::FindNode(m) => {
                s.begin_list(2);
                s.append(&m.target.as_slice());
                s.append(&m.expiration);
            }
            Self::Neighbors(m) => {
                s.begin_list(2);
                s.begin_list(m.nodes.len());
                for node in &m.nodes {
                    s.begin_list(4);
                    append_ip(&mut s, node.endpoint.ip);
                    s.append(&node.endpoint.udp_port);
                    s.append(&node.endpoint.tcp_port);
                    s.append(&node.id.as_bytes().as_slice());
                }
                s.append(&m.expiration);
            }
            Self::EnrRequest(m) => {
                s.begin_list(1);
                s.append(&m.expiration);
            }
            Self::EnrResponse(m) => {
                s.begin_list(2);
                s.append(&m.request_hash.as_slice());
                s.append_raw(&alloy_rlp::encode(&m.record), 1);
            }
        }
        s.out().to_vec()
    }

    /// Decodes the `packet-data` of `packet_type`. `data` is exactly one RLP item.
    pub(crate) fn decode_data(packet_type: u8, data: &[u8]) -> Result<Self, PacketError> {
        let list = Rlp::new(data);
        if !list.is_list() {
            return Err(DecoderError::RlpExpectedToBeList.into());
        }
        Ok(match packet_type {
            0x01 => Self::Ping(Ping {
                version: list.val_at(0)?,
                from: endpoint(&list.at(1)?)?,
                to: endpoint(&list.at(2)?)?,
                expiration: list.val_at(3)?,
                enr_seq: optional_u64(&list, 4),
            }),
            0x02 => Self::Pong(Pong {
                to: endpoint(&list.at(0)?)?,
                ping_hash: bytes32(&list.at(1)?)?,
                expiration: list.val_at(2)?,
                enr_seq: optional_u64(&list, 3),
            }),
            0x03 => {
                let target = list.at(0)?;
                let target: Target = target
                    .data()?
                    .try_into()
                    .map_err(|_| DecoderError::RlpInvalidLength)?;
                Self::FindNode(FindNode {
                    target,
                    expiration: list.val_at(1)?,
                })
            }
            0x04 => {
                let entries = list.at(0)?;
                if !entries.is_list() {
                    return Err(DecoderError::RlpExpectedToBeList.into());
                }
                // Bounded by the 1280-byte packet: at most ~14 entries can be present.
                let nodes = entries
                    .iter()
                    .map(|n| node_record(&n))
                    .collect::<Result<_, _>>()?;
                Self::Neighbors(Neighbors {
                    nodes,
                    expiration: list.val_at(1)?,
                })
            }
            0x05 => Self::EnrRequest(EnrRequest {
                expiration: list.val_at(0)?,
            }),
            0x06 => {
                let request_hash = bytes32(&list.at(0)?)?;
                let mut raw = list.at(1)?.as_raw();
                let record = <Record as alloy_rlp::Decodable>::decode(&mut raw)
                    .map_err(|_| PacketError::BadEnr)?;
                Self::EnrResponse(EnrResponse {
                    request_hash,
                    record,
                })
            }
            other => return Err(PacketError::UnknownType(other)),
        })
    }
}

/// EIP-868 added `enr-seq` where EIP-8 already allowed arbitrary extra elements, so an element
/// in that position that is not an integer is one of those extras: absent, not an error.
fn optional_u64(list: &Rlp<'_>, index: usize) -> Option<u64> {
    list.val_at(index).ok()
}

fn bytes32(item: &Rlp<'_>) -> Result<[u8; 32], PacketError> {
    Ok(item
        .data()?
        .try_into()
        .map_err(|_| DecoderError::RlpInvalidLength)?)
}

fn append_ip(s: &mut RlpStream, ip: IpAddr) {
    match ip {
        IpAddr::V4(v4) => s.append(&v4.octets().as_slice()),
        IpAddr::V6(v6) => s.append(&v6.octets().as_slice()),
    };
}

fn append_endpoint(s: &mut RlpStream, e: &Endpoint) {
    s.begin_list(3);
    append_ip(s, e.ip);
    s.append(&e.udp_port);
    s.append(&e.tcp_port);
}

fn ip(item: &Rlp<'_>) -> Result<IpAddr, PacketError> {
    let bytes = item.data()?;
    if let Ok(v4) = <[u8; 4]>::try_from(bytes) {
        Ok(IpAddr::V4(Ipv4Addr::from(v4)))
    } else if let Ok(v6) = <[u8; 16]>::try_from(bytes) {
        Ok(IpAddr::V6(Ipv6Addr::from(v6)))
    } else {
        Err(PacketError::BadIp(bytes.len()))
    }
}

fn endpoint(item: &Rlp<'_>) -> Result<Endpoint, PacketError> {
    if !item.is_list() {
        return Err(DecoderError::RlpExpectedToBeList.into());
    }
    Ok(Endpoint {
        ip: ip(&item.at(0)?)?,
        udp_port: item.val_at(1)?,
        tcp_port: item.val_at(2)?,
    })
}

fn node_record(item: &Rlp<'_>) -> Result<NodeRecord, PacketError> {
    if !item.is_list() {
        return Err(DecoderError::RlpExpectedToBeList.into());
    }
    let id = item.at(3)?;
    Ok(NodeRecord {
        endpoint: Endpoint {
            ip: ip(&item.at(0)?)?,
            udp_port: item.val_at(1)?,
            tcp_port: item.val_at(2)?,
        },
        id: NodeId::from_slice(id.data()?).map_err(|_| PacketError::BadNodeId)?,
    })
}
