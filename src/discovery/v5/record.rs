//! One record for both discovery versions: our [`Record`] (the `enr` crate on rust-secp256k1,
//! what discv4 signs) and [`discv5::Enr`] (the same crate on k256, what sigp's service holds)
//! are two types for the same bytes, converted through their RLP encoding (signature
//! included, so a converted record is the one that was signed).

use discv5::enr::CombinedKey;

use super::error::Unusable;
use crate::crypto::{Enode, NodeKey};
use crate::discovery::enr::{self, Record};

/// The discv5 crate's form of `key`.
pub(crate) fn combined_key(key: &NodeKey) -> CombinedKey {
    let mut bytes = key.secret().secret_bytes();
    let combined = CombinedKey::secp256k1_from_bytes(&mut bytes);
    // A valid secp256k1 secret key is a valid k256 one: the same curve and range.
    combined.expect("a secp256k1 secret key")
}

/// `record` in the discv5 crate's type (the same bytes and signature).
pub fn to_v5(record: &Record) -> Option<discv5::Enr> {
    let bytes = alloy_rlp::encode(record);
    alloy_rlp::Decodable::decode(&mut &bytes[..]).ok()
}

/// A record from discv5 in our type; `None` unless its identity scheme is "v4".
pub fn from_v5(enr: &discv5::Enr) -> Result<Record, Unusable> {
    if enr.id().as_deref() != Some("v4") {
        return Err(Unusable::IdentityScheme);
    }
    let bytes = alloy_rlp::encode(enr);
    alloy_rlp::Decodable::decode(&mut &bytes[..]).map_err(|_| Unusable::IdentityScheme)
}

/// Where to dial the node of `enr` over RLPx ([`enr::dialable`]), or why it cannot be.
pub fn dialable(enr: &discv5::Enr) -> Result<Enode, Unusable> {
    let record = from_v5(enr)?;
    if record.ip4().is_none() && record.ip6().is_none() {
        return Err(Unusable::NoAddress);
    }
    enr::dialable(&record).ok_or(Unusable::NoTcpPort)
}

#[cfg(test)]
mod tests {
    use std::net::{IpAddr, Ipv4Addr};

    use super::*;
    use crate::discovery::v4::Endpoint;

    fn endpoint(tcp_port: u16) -> Endpoint {
        Endpoint {
            ip: IpAddr::V4(Ipv4Addr::new(10, 1, 2, 3)),
            udp_port: 30303,
            tcp_port,
        }
    }

    #[test]
    fn a_record_converts_to_the_same_bytes_and_matches_the_other_signer() {
        let key = NodeKey::random();
        let ours = enr::build(&key, 3, &endpoint(30304)).unwrap();
        let converted = to_v5(&ours).unwrap();
        assert_eq!(alloy_rlp::encode(&converted), alloy_rlp::encode(&ours));
        assert!(converted.verify());
        assert_eq!(from_v5(&converted).unwrap(), ours);
        // sigp's signer with the converted key signs the same content under the same id.
        let combined = combined_key(&key);
        let mut builder = discv5::enr::Enr::builder();
        builder
            .seq(3)
            .ip4(Ipv4Addr::new(10, 1, 2, 3))
            .udp4(30303)
            .tcp4(30304);
        let theirs: discv5::Enr = builder.build(&combined).unwrap();
        assert!(theirs.compare_content(&converted));
        assert_eq!(theirs.node_id(), converted.node_id());
    }

    #[test]
    fn a_record_without_tcp_is_not_dialable() {
        let key = NodeKey::random();
        let record = to_v5(&enr::build(&key, 1, &endpoint(0)).unwrap()).unwrap();
        assert_eq!(dialable(&record), Err(Unusable::NoTcpPort));
        let record = to_v5(&enr::build(&key, 1, &endpoint(4000)).unwrap()).unwrap();
        let enode = dialable(&record).unwrap();
        assert_eq!(
            (enode.id, enode.tcp_port, enode.udp_port),
            (key.id(), 4000, 30303)
        );
    }

    #[test]
    fn an_ed25519_record_is_refused_for_its_scheme() {
        let key = CombinedKey::generate_ed25519();
        let mut builder = discv5::enr::Enr::builder();
        builder
            .ip4(Ipv4Addr::new(10, 0, 0, 1))
            .udp4(9000)
            .tcp4(9000);
        let record: discv5::Enr = builder.build(&key).unwrap();
        assert_eq!(dialable(&record), Err(Unusable::IdentityScheme));
    }

    #[test]
    fn a_record_without_an_address_is_not_dialable() {
        let key = combined_key(&NodeKey::random());
        let mut builder = discv5::enr::Enr::builder();
        builder.tcp4(30303);
        let record: discv5::Enr = builder.build(&key).unwrap();
        assert_eq!(dialable(&record), Err(Unusable::NoAddress));
    }
}
