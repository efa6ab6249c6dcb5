//! Ethereum Node Records (EIP-778) for discovery, on the `enr` crate's rust-secp256k1 backend.
//!
//! Our local record holds the `secp256k1` key, `ip` and `udp`/`tcp` for IPv4, `ip6` and
//! `udp6`/`tcp6` for IPv6, or both for a dual-stack node. EIP-778: *"the sequence number ...
//! should be increased whenever the record changes"*, so a change bumps `seq` (by one, or
//! to the `seq` another discovery version sharing the record signed it at) and re-signs.

use std::net::IpAddr;

use secp256k1::SecretKey;

use super::v4::Endpoint;
use crate::crypto::{Enode, NodeId, NodeKey};

/// A node record with the "v4" identity scheme (secp256k1 keys).
pub type Record = enr::Enr<SecretKey>;

/// Why a record could not be built or signed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RecordError {
    /// EIP-778: *"The maximum encoded size of a node record is 300 bytes."*
    #[error("node record exceeds 300 bytes")]
    TooLarge,
    /// The sequence number cannot be increased any further.
    #[error("node record sequence number exhausted")]
    SeqExhausted,
    /// Signing failed (should not happen with a valid key).
    #[error("node record could not be signed")]
    Signing,
}

impl From<enr::Error> for RecordError {
    fn from(e: enr::Error) -> Self {
        match e {
            enr::Error::ExceedsMaxSize => Self::TooLarge,
            enr::Error::SequenceNumberTooHigh => Self::SeqExhausted,
            _ => Self::Signing,
        }
    }
}

/// The id of the key that signed `record`.
pub fn node_id(record: &Record) -> NodeId {
    NodeId::from_public_key(&record.public_key())
}

/// The record's TCP/UDP endpoint as an [`Enode`], if it has an IP and at least one port.
///
/// IPv4 (`ip`, `tcp`, `udp`) is preferred; for `ip6`, EIP-778 says of `tcp6`/`udp6`: *"If
/// omitted, same as tcp/udp"*. A missing TCP port takes the UDP port and vice versa, as in
/// enode URLs.
pub fn to_enode(record: &Record) -> Option<Enode> {
    let (ip, tcp, udp) = if let Some(ip4) = record.ip4() {
        (IpAddr::V4(ip4), record.tcp4(), record.udp4())
    } else {
        let ip6 = record.ip6()?;
        (
            IpAddr::V6(ip6),
            record.tcp6().or(record.tcp4()),
            record.udp6().or(record.udp4()),
        )
    };
    let (tcp_port, udp_port) = match (tcp, udp) {
        (Some(t), Some(u)) => (t, u),
        (Some(p), None) | (None, Some(p)) => (p, p),
        (None, None) => return None,
    };
    Some(Enode {
        id: node_id(record),
        ip,
        tcp_port,
        udp_port,
    })
}

/// Where to dial the node of `record` over RLPx: [`to_enode`] for a record that has a TCP
/// port, `None` for one without.
///
/// EIP-778 names the keys: `tcp` is the *"TCP port, big endian integer"* and *"If omitted,
/// same as tcp"* for `tcp6`; without either the node takes no RLPx connections (enode URLs
/// default a missing TCP port to the UDP one, records do not). A discovery-only node, such
/// as a consensus client's, would otherwise be dialed at its UDP port.
pub fn dialable(record: &Record) -> Option<Enode> {
    let tcp = if record.ip4().is_some() {
        record.tcp4()
    } else {
        record.tcp6().or(record.tcp4())
    }?;
    let mut enode = to_enode(record)?;
    enode.tcp_port = tcp;
    Some(enode)
}

/// A record for `key` at `endpoint` with sequence number `seq` (`tcp_port == 0` omits `tcp`).
pub fn build(key: &NodeKey, seq: u64, endpoint: &Endpoint) -> Result<Record, RecordError> {
    build_dual(key, seq, endpoint, None)
}

/// A record for `key` at `endpoint` and, for a dual-stack node, at `other`, an endpoint of
/// the other IP family (ignored when it is of the same family): EIP-778 gives each family
/// its own keys (`ip`/`tcp`/`udp` and `ip6`/`tcp6`/`udp6`), so one record holds both.
pub fn build_dual(
    key: &NodeKey,
    seq: u64,
    endpoint: &Endpoint,
    other: Option<&Endpoint>,
) -> Result<Record, RecordError> {
    let mut builder = Record::builder();
    builder.seq(seq);
    let other = other.filter(|o| o.ip.is_ipv4() != endpoint.ip.is_ipv4());
    for e in std::iter::once(endpoint).chain(other) {
        builder.ip(e.ip);
        match e.ip {
            IpAddr::V4(_) => {
                builder.udp4(e.udp_port);
                if e.tcp_port != 0 {
                    builder.tcp4(e.tcp_port);
                }
            }
            IpAddr::V6(_) => {
                builder.udp6(e.udp_port);
                if e.tcp_port != 0 {
                    builder.tcp6(e.tcp_port);
                }
            }
        }
    }
    Ok(builder.build(key.secret())?)
}

/// Our own record, kept signed and current.
#[derive(Clone, Debug)]
pub struct LocalRecord {
    key: NodeKey,
    endpoint: Endpoint,
    /// A dual-stack node's endpoint in the other IP family, once known.
    other: Option<Endpoint>,
    record: Record,
}

impl LocalRecord {
    /// The first record (`seq` 1) for `key` at `endpoint`.
    pub fn new(key: NodeKey, endpoint: Endpoint) -> Result<Self, RecordError> {
        let record = build(&key, 1, &endpoint)?;
        Ok(Self {
            key,
            endpoint,
            other: None,
            record,
        })
    }

    /// The signed record.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// Its sequence number (what Ping/Pong carry as `enr-seq`, EIP-868).
    pub fn seq(&self) -> u64 {
        self.record.seq()
    }

    /// The endpoint the record advertises.
    pub fn endpoint(&self) -> Endpoint {
        self.endpoint
    }

    /// The endpoint advertised in the other IP family, if any (a dual-stack node's).
    pub fn other_endpoint(&self) -> Option<Endpoint> {
        self.other
    }

    /// Advertises `endpoint`: if it differs from the current one, bumps `seq` by one and
    /// re-signs. Returns whether the record changed. An endpoint of the other family is
    /// dropped when `endpoint` moves into that family.
    pub fn set_endpoint(&mut self, endpoint: Endpoint) -> Result<bool, RecordError> {
        self.set_endpoint_seq(endpoint, 0)
    }

    /// As [`set_endpoint`](Self::set_endpoint), and the new `seq` is at least `min_seq`: how a
    /// record another discovery version changed (and re-signed at `min_seq`) is adopted, so
    /// that both sign the same content at the same `seq`. Also re-signs when only `min_seq`
    /// is above our `seq`.
    pub fn set_endpoint_seq(
        &mut self,
        endpoint: Endpoint,
        min_seq: u64,
    ) -> Result<bool, RecordError> {
        let other = self
            .other
            .filter(|o| o.ip.is_ipv4() != endpoint.ip.is_ipv4());
        self.update(endpoint, other, min_seq)
    }

    /// Advertises `other`, an endpoint of the other IP family than [`endpoint`], beside it
    /// (a dual-stack node; `None` withdraws it), bumping `seq` if the record changed.
    /// An endpoint of the same family as [`endpoint`] is ignored: returns `Ok(false)`.
    ///
    /// [`endpoint`]: Self::endpoint
    pub fn set_other_endpoint(&mut self, other: Option<Endpoint>) -> Result<bool, RecordError> {
        self.set_other_endpoint_seq(other, 0)
    }

    /// As [`set_other_endpoint`](Self::set_other_endpoint), and the new `seq` is at least
    /// `min_seq` (see [`set_endpoint_seq`](Self::set_endpoint_seq)).
    pub fn set_other_endpoint_seq(
        &mut self,
        other: Option<Endpoint>,
        min_seq: u64,
    ) -> Result<bool, RecordError> {
        if other.is_some_and(|o| o.ip.is_ipv4() == self.endpoint.ip.is_ipv4()) {
            return Ok(false);
        }
        self.update(self.endpoint, other, min_seq)
    }

    fn update(
        &mut self,
        endpoint: Endpoint,
        other: Option<Endpoint>,
        min_seq: u64,
    ) -> Result<bool, RecordError> {
        if (endpoint, other) == (self.endpoint, self.other) && min_seq <= self.seq() {
            return Ok(false);
        }
        let next = self.seq().checked_add(1).ok_or(RecordError::SeqExhausted)?;
        self.record = build_dual(&self.key, next.max(min_seq), &endpoint, other.as_ref())?;
        self.endpoint = endpoint;
        self.other = other;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;
    use std::str::FromStr;

    use super::*;
    use crate::testdata::Vectors;

    /// EIP-778's example record: key b71c71a6..., seq 1, ip 127.0.0.1, udp 30303.
    const EIP778_EXAMPLE: &str = "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRz\
        jzCBOonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_ox\
        Vtw0RW_QAdpzBQA8yWM0xOIN1ZHCCdl8";

    fn key_b() -> NodeKey {
        NodeKey::new(Vectors::eip8().key("static_key_b"))
    }

    fn v4(a: [u8; 4], udp: u16, tcp: u16) -> Endpoint {
        Endpoint {
            ip: IpAddr::V4(Ipv4Addr::from(a)),
            udp_port: udp,
            tcp_port: tcp,
        }
    }

    #[test]
    fn builds_the_eip778_example_record_content() {
        let record = build(&key_b(), 1, &v4([127, 0, 0, 1], 30303, 0)).unwrap();
        let parsed = Record::from_str(EIP778_EXAMPLE).unwrap();
        assert!(parsed.verify());
        // Same content; the signature differs because ECDSA nonces differ between signers.
        assert!(record.compare_content(&parsed));
        assert_eq!(record.size(), parsed.size());
        assert_eq!(node_id(&parsed), key_b().id());
        // EIP-778: the example's node address is keccak256 of the uncompressed public key.
        assert_eq!(
            hex::encode(parsed.node_id().raw()),
            "a448f24c6d18e575453db13171562b71999873db5b286df957af199ec94617f7"
        );
        let enode = to_enode(&parsed).unwrap();
        assert_eq!(enode.udp_addr(), "127.0.0.1:30303".parse().unwrap());
        assert_eq!(
            enode.tcp_port, 30303,
            "a missing tcp port takes the udp port"
        );
    }

    #[test]
    fn changing_the_endpoint_bumps_seq_once_and_re_signs() {
        let mut local = LocalRecord::new(key_b(), v4([10, 0, 0, 1], 30303, 30304)).unwrap();
        assert_eq!(local.seq(), 1);
        assert!(!local.set_endpoint(local.endpoint()).unwrap());
        assert_eq!(local.seq(), 1);
        assert!(local.set_endpoint(v4([10, 0, 0, 2], 30303, 30304)).unwrap());
        assert_eq!(local.seq(), 2);
        assert!(local.record().verify());
        let enode = to_enode(local.record()).unwrap();
        assert_eq!(enode.id, key_b().id());
        assert_eq!(enode.tcp_addr(), "10.0.0.2:30304".parse().unwrap());
        assert_eq!(enode.udp_port, 30303);
    }

    #[test]
    fn an_adopted_change_takes_the_higher_seq() {
        let start = v4([10, 0, 0, 1], 30303, 30303);
        let mut local = LocalRecord::new(key_b(), start).unwrap();
        let moved = v4([10, 0, 0, 9], 30303, 30303);
        // The other version re-signed the same move at seq 5: ours signs it at 5 too.
        assert!(local.set_endpoint_seq(moved, 5).unwrap());
        assert_eq!(local.seq(), 5);
        // The same content at a seq we have: nothing to sign.
        assert!(!local.set_endpoint_seq(moved, 5).unwrap());
        // Only the seq is behind: re-signed at the other's seq, never below ours + 1.
        assert!(local.set_endpoint_seq(moved, 7).unwrap());
        assert_eq!(local.seq(), 7);
        assert!(local.set_endpoint_seq(start, 2).unwrap());
        assert_eq!(local.seq(), 8);
        assert!(local.record().verify());
    }

    #[test]
    fn ipv6_records_use_the_v6_keys() {
        let endpoint = Endpoint {
            ip: "2001:db8::1".parse().unwrap(),
            udp_port: 1,
            tcp_port: 2,
        };
        let record = build(&key_b(), 7, &endpoint).unwrap();
        assert_eq!(
            (record.udp6(), record.tcp6(), record.seq()),
            (Some(1), Some(2), 7)
        );
        let decoded: Record =
            alloy_rlp::Decodable::decode(&mut &alloy_rlp::encode(&record)[..]).unwrap();
        assert_eq!(
            to_enode(&decoded).unwrap().udp_addr(),
            endpoint_addr(&endpoint)
        );
    }

    #[test]
    fn only_a_record_with_a_tcp_port_is_dialable() {
        // The EIP's example has `udp` only: an enode for discovery, nothing to dial.
        let discovery_only = Record::from_str(EIP778_EXAMPLE).unwrap();
        assert_eq!(to_enode(&discovery_only).unwrap().tcp_port, 30303);
        assert_eq!(dialable(&discovery_only), None);

        let both = build(&key_b(), 1, &v4([10, 0, 0, 1], 30303, 30304)).unwrap();
        assert_eq!(dialable(&both), to_enode(&both));
        assert_eq!(dialable(&both).unwrap().tcp_port, 30304);

        // EIP-778 on `tcp6`: "If omitted, same as tcp".
        let mut v6_with_tcp = Record::builder()
            .ip6("2001:db8::1".parse().unwrap())
            .udp6(30303)
            .tcp4(30305)
            .build(key_b().secret())
            .unwrap();
        assert_eq!(dialable(&v6_with_tcp).unwrap().tcp_port, 30305);
        v6_with_tcp.remove_key("tcp", key_b().secret()).unwrap();
        assert_eq!(dialable(&v6_with_tcp), None);
    }

    #[test]
    fn a_dual_stack_record_carries_both_families_and_follows_the_primary() {
        let v6 = Endpoint {
            ip: "2001:db8::1".parse().unwrap(),
            udp_port: 30303,
            tcp_port: 30304,
        };
        let mut local = LocalRecord::new(key_b(), v4([10, 0, 0, 1], 30303, 30304)).unwrap();
        assert!(local.set_other_endpoint(Some(v6)).unwrap());
        assert!(!local.set_other_endpoint(Some(v6)).unwrap(), "no change");
        assert!(
            !local
                .set_other_endpoint(Some(v4([10, 0, 0, 9], 1, 1)))
                .unwrap(),
            "an endpoint of the primary's family is not the other one"
        );
        let record = local.record();
        assert_eq!(record.seq(), 2);
        assert!(record.verify());
        assert_eq!(record.ip4(), Some(Ipv4Addr::new(10, 0, 0, 1)));
        assert_eq!((record.udp4(), record.tcp4()), (Some(30303), Some(30304)));
        assert_eq!(record.ip6(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!((record.udp6(), record.tcp6()), (Some(30303), Some(30304)));
        // A new IPv4 address keeps the IPv6 one...
        assert!(local.set_endpoint(v4([10, 0, 0, 2], 30303, 30304)).unwrap());
        assert_eq!(local.record().ip6(), Some("2001:db8::1".parse().unwrap()));
        assert_eq!(local.seq(), 3);
        // ...and moving the primary to IPv6 drops the other endpoint.
        assert!(local.set_endpoint(v6).unwrap());
        assert_eq!((local.record().ip4(), local.other_endpoint()), (None, None));
        assert!(local.set_other_endpoint(None).is_ok_and(|changed| !changed));
    }

    fn endpoint_addr(e: &Endpoint) -> std::net::SocketAddr {
        std::net::SocketAddr::new(e.ip, e.udp_port)
    }
}
