//! The byte layout of the database's keys and values: fixed-size, big-endian integers,
//! addresses as 16 bytes (IPv4 mapped into IPv6). Decoding checks every length, so a
//! damaged value is an error, never a panic.

use std::net::{IpAddr, Ipv6Addr};

use super::{StoreError, StoredNode, StoredReputation};
use crate::crypto::{Enode, NodeId, NODE_ID_LEN};
use crate::server::BanTarget;

/// An address and ports: 16 + 2 + 2 bytes.
const ENDPOINT_LEN: usize = 20;
/// A node: endpoint, last seen, last connected, dial failures.
pub(super) const NODE_LEN: usize = ENDPOINT_LEN + 8 + 8 + 4;
/// A reputation: score, time.
const REPUTATION_LEN: usize = 4 + 8;

const BAN_IP: u8 = 0;
const BAN_NODE: u8 = 1;

/// A reader over a value that fails, not panics, past its end.
struct Reader<'a> {
    bytes: &'a [u8],
    what: &'static str,
}

impl<'a> Reader<'a> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], StoreError> {
        let (head, rest) = self
            .bytes
            .split_first_chunk::<N>()
            .ok_or(StoreError::Malformed(self.what))?;
        self.bytes = rest;
        Ok(*head)
    }

    fn done(self) -> Result<(), StoreError> {
        if self.bytes.is_empty() {
            Ok(())
        } else {
            Err(StoreError::Malformed(self.what))
        }
    }
}

pub(super) fn node_id(bytes: &[u8], what: &'static str) -> Result<NodeId, StoreError> {
    NodeId::from_slice(bytes).map_err(|_| StoreError::Malformed(what))
}

fn put_endpoint(out: &mut Vec<u8>, enode: &Enode) {
    let ip = match enode.ip {
        IpAddr::V4(v4) => v4.to_ipv6_mapped(),
        IpAddr::V6(v6) => v6,
    };
    out.extend_from_slice(&ip.octets());
    out.extend_from_slice(&enode.tcp_port.to_be_bytes());
    out.extend_from_slice(&enode.udp_port.to_be_bytes());
}

fn read_endpoint(r: &mut Reader<'_>, id: NodeId) -> Result<Enode, StoreError> {
    let ip = Ipv6Addr::from(r.take::<16>()?).to_canonical();
    let tcp_port = u16::from_be_bytes(r.take()?);
    let udp_port = u16::from_be_bytes(r.take()?);
    Ok(Enode {
        id,
        ip,
        tcp_port,
        udp_port,
    })
}

pub(super) fn encode_node(node: &StoredNode) -> Vec<u8> {
    let mut out = Vec::with_capacity(NODE_LEN);
    put_endpoint(&mut out, &node.enode);
    out.extend_from_slice(&node.last_seen.to_be_bytes());
    out.extend_from_slice(&node.last_connected.to_be_bytes());
    out.extend_from_slice(&node.dial_failures.to_be_bytes());
    out
}

pub(super) fn decode_node(id: &[u8], value: &[u8]) -> Result<StoredNode, StoreError> {
    const WHAT: &str = "node";
    let id = node_id(id, WHAT)?;
    let mut r = Reader {
        bytes: value,
        what: WHAT,
    };
    let enode = read_endpoint(&mut r, id)?;
    let node = StoredNode {
        enode,
        last_seen: u64::from_be_bytes(r.take()?),
        last_connected: u64::from_be_bytes(r.take()?),
        dial_failures: u32::from_be_bytes(r.take()?),
    };
    r.done()?;
    Ok(node)
}

pub(super) fn encode_endpoint(enode: &Enode) -> Vec<u8> {
    let mut out = Vec::with_capacity(ENDPOINT_LEN);
    put_endpoint(&mut out, enode);
    out
}

pub(super) fn decode_static(id: &[u8], value: &[u8]) -> Result<Enode, StoreError> {
    const WHAT: &str = "static peer";
    let id = node_id(id, WHAT)?;
    let mut r = Reader {
        bytes: value,
        what: WHAT,
    };
    let enode = read_endpoint(&mut r, id)?;
    r.done()?;
    Ok(enode)
}

pub(super) fn ban_key(target: &BanTarget) -> Vec<u8> {
    match target.canonical() {
        BanTarget::Ip(ip) => {
            let mut out = vec![BAN_IP];
            let v6 = match ip {
                IpAddr::V4(v4) => v4.to_ipv6_mapped(),
                IpAddr::V6(v6) => v6,
            };
            out.extend_from_slice(&v6.octets());
            out
        }
        BanTarget::Node(id) => {
            let mut out = vec![BAN_NODE];
            out.extend_from_slice(id.as_bytes());
            out
        }
    }
}

pub(super) fn decode_ban_key(key: &[u8]) -> Result<BanTarget, StoreError> {
    const WHAT: &str = "ban";
    match key.split_first() {
        Some((&BAN_IP, ip)) => {
            let ip: [u8; 16] = ip.try_into().map_err(|_| StoreError::Malformed(WHAT))?;
            Ok(BanTarget::Ip(Ipv6Addr::from(ip).to_canonical()))
        }
        Some((&BAN_NODE, id)) if id.len() == NODE_ID_LEN => Ok(BanTarget::Node(node_id(id, WHAT)?)),
        _ => Err(StoreError::Malformed(WHAT)),
    }
}

/// A ban's expiry; `u64::MAX`: until unbanned.
pub(super) fn encode_until(until: Option<u64>) -> u64 {
    until.unwrap_or(u64::MAX)
}

pub(super) fn decode_until(value: u64) -> Option<u64> {
    (value != u64::MAX).then_some(value)
}

pub(super) fn encode_reputation(rep: &StoredReputation) -> [u8; REPUTATION_LEN] {
    let mut out = [0; REPUTATION_LEN];
    out[..4].copy_from_slice(&rep.score.to_be_bytes());
    out[4..].copy_from_slice(&rep.at.to_be_bytes());
    out
}

pub(super) fn decode_reputation(id: &[u8], value: &[u8]) -> Result<StoredReputation, StoreError> {
    const WHAT: &str = "reputation";
    let id = node_id(id, WHAT)?;
    let mut r = Reader {
        bytes: value,
        what: WHAT,
    };
    let rep = StoredReputation {
        id,
        score: i32::from_be_bytes(r.take()?),
        at: u64::from_be_bytes(r.take()?),
    };
    r.done()?;
    Ok(rep)
}
