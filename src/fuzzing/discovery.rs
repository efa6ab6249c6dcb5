//! The discovery targets: discv4 datagrams and node records (EIP-778). Each returns the
//! decoder's verdict and panics when a decoded value does not survive its own encoder.

use std::sync::OnceLock;

use crate::crypto::{Enode, NodeKey};
use crate::discovery::enr::{self, Record};
use crate::discovery::v4::{self, EnrRequest, EnrResponse, Message, Packet, PacketError};
use crate::testdata::Vectors;

/// The key decoded messages are signed again with: not the vectors' key.
fn resigning_key() -> &'static NodeKey {
    static KEY: OnceLock<NodeKey> = OnceLock::new();
    KEY.get_or_init(|| {
        // Any 32 bytes below the curve order are a secret key; [7; 32] is.
        NodeKey::new(secp256k1::SecretKey::from_byte_array(&[7; 32]).expect("valid key"))
    })
}

/// Decodes `data` as a discv4 packet (hash, signature, message), at UNIX time 0 so that no
/// expiration check cuts the decoding short. A packet that decodes fits the size limit, and its
/// message signed again by another key decodes to the same message from that key; an
/// ENRResponse, which carries its sender's own record, must then be refused.
pub(super) fn discv4_packet(data: &[u8]) -> Result<Packet, PacketError> {
    let packet = v4::decode_packet(data, 0)?;
    assert!(data.len() <= v4::MAX_PACKET_SIZE);
    assert_ne!(packet.hash, [0; 32]);
    let key = resigning_key();
    // A decoded message may not fit once re-encoded (extra elements were dropped, so it can
    // only shrink, but a record may be re-encoded differently); when it does, it round-trips.
    if let Ok(encoded) = v4::encode_packet(key, &packet.message) {
        let again = v4::decode_packet(&encoded.bytes, 0);
        if let Message::EnrResponse(_) = packet.message {
            assert_eq!(again.err(), Some(PacketError::EnrNotSenders));
        } else {
            let again = again.expect("our own packet decodes");
            assert_eq!(again.message, packet.message);
            assert_eq!(again.sender, key.id());
            assert_eq!(again.hash, encoded.hash);
        }
    }
    Ok(packet)
}

/// Decodes `data` as an RLP node record (EIP-778); `Some` with its endpoint when it has one.
/// A record that decodes verified its signature, fits the size limit, names its own node id in
/// its endpoint, and re-encodes to a record that decodes to itself.
pub(super) fn enr_decode(data: &[u8]) -> Result<Option<Enode>, alloy_rlp::Error> {
    let record: Record = alloy_rlp::Decodable::decode(&mut &data[..])?;
    // EIP-778: "The maximum encoded size of a node record is 300 bytes."
    let encoded = alloy_rlp::encode(&record);
    assert!(encoded.len() <= 300);
    assert!(record.verify());
    let enode = enr::to_enode(&record);
    if let Some(enode) = &enode {
        assert_eq!(enode.id, enr::node_id(&record));
    }
    let again: Record =
        alloy_rlp::Decodable::decode(&mut &encoded[..]).expect("a record we encoded decodes");
    assert_eq!(again, record);
    Ok(enode)
}

/// The discv4 vectors, plus an ENRRequest and an ENRResponse signed with the vectors' key
/// (ECDSA signatures here are deterministic, RFC 6979).
pub(super) fn discv4_seeds() -> Vec<(String, Vec<u8>)> {
    let v = Vectors::eip8();
    let mut seeds: Vec<(String, Vec<u8>)> = [
        "discv4_ping_v4_extra",
        "discv4_ping_v555_extra_data",
        "discv4_pong_extra_data",
        "discv4_findnode_extra_data",
        "discv4_neighbours_extra_data",
    ]
    .iter()
    .map(|n| (n.to_string(), v.blob(n).to_vec()))
    .collect();
    // The vector file holds a valid secp256k1 key here.
    let key = NodeKey::new(
        secp256k1::SecretKey::from_slice(v.blob("discv4_signing_key")).expect("vector key"),
    );
    let request = Message::EnrRequest(EnrRequest {
        expiration: 1 << 40,
    });
    let response = Message::EnrResponse(EnrResponse {
        request_hash: [7; 32],
        record: eip778_example(),
    });
    for (name, msg) in [("enr_request", request), ("enr_response", response)] {
        // Small messages always encode.
        seeds.push((
            name.to_string(),
            v4::encode_packet(&key, &msg).expect("small packet").bytes,
        ));
    }
    seeds
}

/// EIP-778's example record (key b71c71a6..., the discv4 vectors' signing key).
const EIP778_EXAMPLE: &str = "enr:-IS4QHCYrYZbAKWCBRlAy5zzaDZXJBGkcnh4MHcBFZntXNFrdvJjX04jRzjzCB\
    OonrkTfj499SZuOh8R33Ls8RRcy5wBgmlkgnY0gmlwhH8AAAGJc2VjcDI1NmsxoQPKY0yuDUmstAHYpMa2_oxVtw0RW_\
    QAdpzBQA8yWM0xOIN1ZHCCdl8";

fn eip778_example() -> Record {
    // The example from the EIP parses.
    EIP778_EXAMPLE.parse().expect("EIP-778 example")
}

/// The EIP-778 example record. (Records we sign ourselves are not reproducible, their
/// ECDSA nonces being random, so further seeds are committed files, not generated.)
pub(super) fn enr_seeds() -> Vec<(String, Vec<u8>)> {
    vec![(
        "eip778_example".to_string(),
        alloy_rlp::encode(eip778_example()),
    )]
}
