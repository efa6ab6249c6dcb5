//! Known-answer vectors (EIP-8's discv4 packets), malformed packets, and round trips.

use std::net::IpAddr;

use proptest::prelude::*;

use super::*;
use crate::discovery::enr::{self as record, Record};
use crate::discovery::v4::message::*;
use crate::testdata::Vectors;

/// The expiration of every EIP-8 vector packet (2006-01-02).
const VECTOR_EXPIRATION: u64 = 0x43b9a355;

fn signing_key() -> NodeKey {
    let v = Vectors::eip8();
    let secret = secp256k1::SecretKey::from_slice(v.blob("discv4_signing_key")).unwrap();
    NodeKey::new(secret)
}

fn vector(name: &str) -> Packet {
    let bytes = Vectors::eip8().blob(name).to_vec();
    let packet = decode_packet(&bytes, VECTOR_EXPIRATION).unwrap_or_else(|e| panic!("{name}: {e}"));
    assert_eq!(packet.sender, signing_key().id(), "{name}: sender");
    assert_eq!(packet.hash[..], bytes[..32], "{name}: hash");
    packet
}

fn ep(ip: &str, udp_port: u16, tcp_port: u16) -> Endpoint {
    Endpoint {
        ip: ip.parse().unwrap(),
        udp_port,
        tcp_port,
    }
}

fn id(hex: &str) -> NodeId {
    hex.parse().unwrap()
}

#[test]
fn eip8_ping_v4_with_extra_elements() {
    // The fifth element (0x01) is in enr-seq's place (EIP-868); the sixth is ignored.
    let expected = Message::Ping(Ping {
        version: 4,
        from: ep("127.0.0.1", 3322, 5544),
        to: ep("::1", 2222, 3333),
        expiration: VECTOR_EXPIRATION,
        enr_seq: Some(1),
    });
    assert_eq!(vector("discv4_ping_v4_extra").message, expected);
}

#[test]
fn eip8_ping_v555_with_extra_list_and_trailing_data() {
    let expected = Message::Ping(Ping {
        version: 555,
        from: ep("2001:db8:3c4d:15::abcd:ef12", 3322, 5544),
        to: ep("2001:db8:85a3:8d3:1319:8a2e:370:7348", 2222, 33338),
        expiration: VECTOR_EXPIRATION,
        enr_seq: None, // a list sits where enr-seq would be: an extra element, ignored
    });
    assert_eq!(vector("discv4_ping_v555_extra_data").message, expected);
}

#[test]
fn eip8_pong_with_extra_data() {
    let expected = Message::Pong(Pong {
        to: ep("2001:db8:85a3:8d3:1319:8a2e:370:7348", 2222, 33338),
        ping_hash: hex::decode("fbc914b16819237dcd8801d7e53f69e9719adecb3cc0e790c57e91ca4461c954")
            .unwrap()
            .try_into()
            .unwrap(),
        expiration: VECTOR_EXPIRATION,
        enr_seq: None,
    });
    assert_eq!(vector("discv4_pong_extra_data").message, expected);
}

#[test]
fn eip8_findnode_with_extra_data() {
    let target = id(
        "ca634cae0d49acb401d8a4c6b6fe8c55b70d115bf400769cc1400f3258cd3138\
                     7574077f301b421bc84df7266c44e9e6d569fc56be00812904767bf5ccd1fc7f",
    );
    let expected = Message::FindNode(FindNode {
        target: *target.as_bytes(),
        expiration: VECTOR_EXPIRATION,
    });
    assert_eq!(vector("discv4_findnode_extra_data").message, expected);
}

#[test]
fn eip8_neighbours_with_extra_data() {
    let node = |ip, udp, tcp, hex| NodeRecord {
        endpoint: ep(ip, udp, tcp),
        id: id(hex),
    };
    let expected = Message::Neighbors(Neighbors {
        nodes: vec![
            node(
                "99.33.22.55",
                4444,
                4445,
                "3155e1427f85f10a5c9a7755877748041af1bcd8d474ec065eb33df57a97babf\
                 54bfd2103575fa829115d224c523596b401065a97f74010610fce76382c0bf32",
            ),
            node(
                "1.2.3.4",
                1,
                1,
                "312c55512422cf9b8a4097e9a6ad79402e87a15ae909a4bfefa22398f03d2095\
                 1933beea1e4dfa6f968212385e829f04c2d314fc2d4e255e0d3bc08792b069db",
            ),
            node(
                "2001:db8:3c4d:15::abcd:ef12",
                3333,
                3333,
                "38643200b172dcfef857492156971f0e6aa2c538d8b74010f8e140811d53b98c\
                 765dd2d96126051913f44582e8c199ad7c6d6819e9a56483f637feaac9448aac",
            ),
            node(
                "2001:db8:85a3:8d3:1319:8a2e:370:7348",
                999,
                1000,
                "8dcab8618c3253b558d459da53bd8fa68935a719aff8b811197101a4b2b47dd2\
                 d47295286fc00cc081bb542d760717d1bdd6bec2c37cd72eca367d6dd3b9df73",
            ),
        ],
        expiration: VECTOR_EXPIRATION,
    });
    assert_eq!(vector("discv4_neighbours_extra_data").message, expected);
}

#[test]
fn expired_vectors_are_rejected_against_a_later_clock() {
    let bytes = Vectors::eip8().blob("discv4_ping_v4_extra").to_vec();
    assert_eq!(
        decode_packet(&bytes, VECTOR_EXPIRATION + 1),
        Err(PacketError::Expired {
            expiration: VECTOR_EXPIRATION,
            now: VECTOR_EXPIRATION + 1
        })
    );
}

#[test]
fn damaged_packets_are_rejected_by_kind() {
    let good = Vectors::eip8().blob("discv4_findnode_extra_data").to_vec();
    assert_eq!(
        decode_packet(&good[..98], 0),
        Err(PacketError::TooShort(98))
    );
    assert_eq!(
        decode_packet(&[0u8; 1281], 0),
        Err(PacketError::TooLarge(1281))
    );

    let mut flipped = good.clone();
    flipped[120] ^= 1;
    assert_eq!(decode_packet(&flipped, 0), Err(PacketError::BadHash));

    // A valid hash over a bad recovery id.
    let mut bad_v = good.clone();
    bad_v[32 + 64] = 4;
    let hash = keccak256(&[&bad_v[32..]]);
    bad_v[..32].copy_from_slice(&hash);
    assert_eq!(decode_packet(&bad_v, 0), Err(PacketError::BadSignature));

    // Re-hashing altered data: the signature then recovers to some other key, never ours.
    let mut altered = good.clone();
    altered[200] ^= 1;
    let hash = keccak256(&[&altered[32..]]);
    altered[..32].copy_from_slice(&hash);
    if let Ok(p) = decode_packet(&altered, 0) {
        assert_ne!(p.sender, signing_key().id());
    }
}

#[test]
fn malformed_data_is_typed() {
    let key = signing_key();
    let enc = encode_raw(&key, 0x07, &[0xc0]).unwrap();
    assert_eq!(
        decode_packet(&enc.bytes, 0),
        Err(PacketError::UnknownType(0x07))
    );

    let enc = encode_raw(&key, 0x05, &[0x05]).unwrap();
    assert!(matches!(
        decode_packet(&enc.bytes, 0),
        Err(PacketError::BadRlp(_))
    ));

    // A Pong whose `to` IP is 5 bytes long.
    let mut s = rlp::RlpStream::new_list(3);
    s.begin_list(3)
        .append(&vec![1u8; 5])
        .append(&1u16)
        .append(&0u16);
    s.append(&vec![0u8; 32]).append(&9u64);
    let enc = encode_raw(&key, 0x02, &s.out()).unwrap();
    assert_eq!(decode_packet(&enc.bytes, 0), Err(PacketError::BadIp(5)));
}

#[test]
fn twelve_ipv6_neighbors_fit_thirteen_do_not() {
    let node = NodeRecord {
        endpoint: ep("2001:db8:85a3:8d3:1319:8a2e:370:7348", 65535, 65535),
        id: signing_key().id(),
    };
    let msg = |n| {
        Message::Neighbors(Neighbors {
            nodes: vec![node; n],
            expiration: u64::MAX,
        })
    };
    let enc = encode_packet(&signing_key(), &msg(MAX_NEIGHBORS)).unwrap();
    assert!(enc.bytes.len() <= MAX_PACKET_SIZE);
    assert_eq!(
        decode_packet(&enc.bytes, 0).unwrap().message,
        msg(MAX_NEIGHBORS)
    );
    assert!(matches!(
        encode_packet(&signing_key(), &msg(MAX_NEIGHBORS + 1)),
        Err(PacketError::TooLarge(_))
    ));
}

#[test]
fn enr_response_round_trips_and_must_be_the_senders_record() {
    let key = signing_key();
    let own = record::build(&key, 3, &ep("10.0.0.1", 30303, 30303)).unwrap();
    let msg = Message::EnrResponse(EnrResponse {
        request_hash: [7; 32],
        record: own,
    });
    let enc = encode_packet(&key, &msg).unwrap();
    let packet = decode_packet(&enc.bytes, u64::MAX).unwrap();
    assert_eq!((packet.message, packet.hash), (msg, enc.hash));

    let other = NodeKey::new(Vectors::eip8().key("static_key_a"));
    let foreign: Record = record::build(&other, 1, &ep("10.0.0.2", 1, 1)).unwrap();
    let msg = Message::EnrResponse(EnrResponse {
        request_hash: [7; 32],
        record: foreign,
    });
    let enc = encode_packet(&key, &msg).unwrap();
    assert_eq!(
        decode_packet(&enc.bytes, 0),
        Err(PacketError::EnrNotSenders)
    );
}

fn arb_ip() -> impl Strategy<Value = IpAddr> {
    prop_oneof![
        any::<[u8; 4]>().prop_map(IpAddr::from),
        any::<[u8; 16]>().prop_map(IpAddr::from),
    ]
}

fn arb_endpoint() -> impl Strategy<Value = Endpoint> {
    (arb_ip(), any::<u16>(), any::<u16>()).prop_map(|(ip, udp_port, tcp_port)| Endpoint {
        ip,
        udp_port,
        tcp_port,
    })
}

fn arb_message() -> impl Strategy<Value = Message> {
    // Neighbor ids must be curve points; a few fixed ones suffice for the codec.
    let ids = [
        signing_key().id(),
        NodeKey::new(Vectors::eip8().key("static_key_a")).id(),
    ];
    let node = (arb_endpoint(), 0..2usize).prop_map(move |(endpoint, i)| NodeRecord {
        endpoint,
        id: ids[i],
    });
    prop_oneof![
        (
            any::<u64>(),
            arb_endpoint(),
            arb_endpoint(),
            any::<u64>(),
            any::<Option<u64>>()
        )
            .prop_map(
                |(version, from, to, expiration, enr_seq)| Message::Ping(Ping {
                    version,
                    from,
                    to,
                    expiration,
                    enr_seq
                })
            ),
        (
            arb_endpoint(),
            any::<[u8; 32]>(),
            any::<u64>(),
            any::<Option<u64>>()
        )
            .prop_map(|(to, ping_hash, expiration, enr_seq)| Message::Pong(Pong {
                to,
                ping_hash,
                expiration,
                enr_seq
            })),
        (prop::collection::vec(any::<u8>(), 64), any::<u64>()).prop_map(|(t, expiration)| {
            Message::FindNode(FindNode {
                target: t.try_into().unwrap(),
                expiration,
            })
        }),
        (prop::collection::vec(node, 0..=MAX_NEIGHBORS), any::<u64>())
            .prop_map(|(nodes, expiration)| Message::Neighbors(Neighbors { nodes, expiration })),
        any::<u64>().prop_map(|expiration| Message::EnrRequest(EnrRequest { expiration })),
    ]
}

proptest! {
    #[test]
    fn messages_round_trip(msg in arb_message()) {
        let key = signing_key();
        let enc = encode_packet(&key, &msg).unwrap();
        prop_assert!(enc.bytes.len() <= MAX_PACKET_SIZE);
        let now = msg.expiration().unwrap_or(0);
        let packet = decode_packet(&enc.bytes, now).unwrap();
        prop_assert_eq!(packet.sender, key.id());
        prop_assert_eq!(packet.hash, enc.hash);
        prop_assert_eq!(packet.message, msg);
    }

    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..1400)) {
        let _ = decode_packet(&bytes, 0);
    }
}
