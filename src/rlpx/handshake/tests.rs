//! Handshake round trips and every rejection path.

use bytes::BytesMut;
use rand::rngs::StdRng;
use rand::SeedableRng;
use secp256k1::SECP256K1;
use sha3::Digest;

use super::packet::{PacketReader, LEGACY_ACK_LEN};
use super::*;
use crate::crypto::ecies::{self, EciesError};

struct Pair {
    rng: StdRng,
    key_a: NodeKey,
    key_b: NodeKey,
}

fn pair(seed: u64) -> Pair {
    let mut rng = StdRng::seed_from_u64(seed);
    let key_a = NodeKey::generate(&mut rng);
    let key_b = NodeKey::generate(&mut rng);
    Pair { rng, key_a, key_b }
}

fn run(p: &mut Pair) -> (Secrets, Secrets) {
    let initiator = Initiator::new(&mut p.rng, &p.key_a, p.key_b.id());
    let mut auth = BytesMut::from(initiator.auth_packet());
    let AuthProgress::Done { ack, secrets: b } = Recipient::new(&mut p.rng, &p.key_b)
        .read_auth(&mut p.rng, &mut auth)
        .unwrap()
    else {
        panic!("whole auth given");
    };
    let AckProgress::Done(a) = initiator.read_ack(&mut BytesMut::from(&ack[..])).unwrap() else {
        panic!("whole ack given");
    };
    (a, b)
}

#[test]
fn both_roles_derive_the_same_session() {
    let mut p = pair(1);
    let (a, b) = run(&mut p);
    assert_eq!(a.remote_id(), p.key_b.id());
    assert_eq!(b.remote_id(), p.key_a.id());
    assert_eq!(a.aes_secret, b.aes_secret);
    assert_eq!(a.mac_secret, b.mac_secret);
    assert_ne!(a.aes_secret, a.mac_secret);
    assert_eq!(a.egress_mac.finalize(), b.ingress_mac.finalize());
    assert_eq!(a.ingress_mac.finalize(), b.egress_mac.finalize());
}

#[test]
fn auth_is_eip8_with_100_to_300_bytes_of_padding() {
    let mut p = pair(2);
    let mut sizes = std::collections::HashSet::new();
    for _ in 0..20 {
        let initiator = Initiator::new(&mut p.rng, &p.key_a, p.key_b.id());
        let auth = initiator.auth_packet();
        let size = usize::from(u16::from_be_bytes([auth[0], auth[1]]));
        assert_eq!(size + 2, auth.len());
        let plain = PacketReader::new(0)
            .open(p.key_b.secret(), auth)
            .unwrap()
            .unwrap()
            .plaintext;
        let body_len = rlp::Rlp::new(&plain).payload_info().unwrap().total();
        let padding = plain.len() - body_len;
        assert!((100..=300).contains(&padding), "padding {padding}");
        sizes.insert(auth.len());
    }
    assert!(sizes.len() > 5, "padding length varies: {sizes:?}");
}

#[test]
fn packets_fed_one_byte_at_a_time_complete_exactly_once() {
    let mut p = pair(3);
    let initiator = Initiator::new(&mut p.rng, &p.key_a, p.key_b.id());
    let auth = initiator.auth_packet().to_vec();
    let mut recipient = Recipient::new(&mut p.rng, &p.key_b);
    let mut buf = BytesMut::new();
    let mut result = None;
    for (i, byte) in auth.iter().enumerate() {
        buf.extend_from_slice(&[*byte]);
        match recipient.read_auth(&mut p.rng, &mut buf).unwrap() {
            AuthProgress::NeedMore(r) => recipient = r,
            AuthProgress::Done { ack, .. } => {
                assert_eq!(i, auth.len() - 1, "done only at the last byte");
                result = Some(ack);
                break;
            }
        }
    }
    let ack = result.expect("auth completed");
    let mut initiator = initiator;
    let mut buf = BytesMut::new();
    for (i, byte) in ack.iter().enumerate() {
        buf.extend_from_slice(&[*byte]);
        match initiator.read_ack(&mut buf).unwrap() {
            AckProgress::NeedMore(next) => initiator = next,
            AckProgress::Done(_) => {
                assert_eq!(i, ack.len() - 1);
                return;
            }
        }
    }
    panic!("ack never completed");
}

#[test]
fn size_prefix_above_2048_is_rejected_from_two_bytes() {
    let p = pair(4);
    let mut rng = StdRng::seed_from_u64(4);
    for prefix in [[0xff, 0xff], [0x08, 0x01]] {
        let mut buf = BytesMut::from(&prefix[..]);
        let capacity = buf.capacity();
        let err = Recipient::new(&mut rng, &p.key_b)
            .read_auth(&mut rng, &mut buf)
            .unwrap_err();
        let size = usize::from(u16::from_be_bytes(prefix));
        assert_eq!(err, HandshakeError::PacketTooLarge(size));
        // Nothing was reserved or read for the announced body.
        assert_eq!(buf.capacity(), capacity);
        assert_eq!(buf.len(), 2);
    }
    // 2048 itself is allowed: the recipient waits for the body.
    let mut buf = BytesMut::from(&[0x08, 0x00][..]);
    assert!(matches!(
        Recipient::new(&mut rng, &p.key_b).read_auth(&mut rng, &mut buf),
        Ok(AuthProgress::NeedMore(_))
    ));
}

#[test]
fn auth_encrypted_to_another_key_is_a_mac_error() {
    let mut p = pair(5);
    let stranger = NodeKey::generate(&mut p.rng);
    let initiator = Initiator::new(&mut p.rng, &p.key_a, stranger.id());
    let err = Recipient::new(&mut p.rng, &p.key_b)
        .read_auth(&mut p.rng, &mut BytesMut::from(initiator.auth_packet()))
        .unwrap_err();
    assert_eq!(err, HandshakeError::Ecies(EciesError::MacMismatch));
}

#[test]
fn off_curve_ecies_point_is_rejected() {
    let mut p = pair(6);
    let initiator = Initiator::new(&mut p.rng, &p.key_a, p.key_b.id());
    let mut auth = BytesMut::from(initiator.auth_packet());
    // After the 2-byte prefix: 0x04 || x || y. (x, y) = (1, 1) is not on y^2 = x^3 + 7.
    auth[3..67].fill(0);
    auth[34] = 1;
    auth[66] = 1;
    let err = Recipient::new(&mut p.rng, &p.key_b)
        .read_auth(&mut p.rng, &mut auth)
        .unwrap_err();
    assert_eq!(err, HandshakeError::Ecies(EciesError::InvalidEphemeralKey));
}

/// Encrypts an arbitrary EIP-8 body to `to`, as a hostile peer could.
fn eip8_packet(rng: &mut StdRng, to: &NodeKey, body: &[u8]) -> BytesMut {
    BytesMut::from(&seal_eip8(rng, &to.id().public_key(), body)[..])
}

#[test]
fn malformed_auth_bodies_are_typed() {
    let mut p = pair(7);
    let id_a = p.key_a.id();
    let mut auth_with = |sig: &[u8], id: &[u8], nonce: &[u8]| {
        let mut s = rlp::RlpStream::new_list(4);
        s.append(&sig).append(&id).append(&nonce).append(&4u64);
        let mut buf = eip8_packet(&mut p.rng, &p.key_b, &s.out());
        Recipient::new(&mut p.rng, &p.key_b)
            .read_auth(&mut p.rng, &mut buf)
            .unwrap_err()
    };
    assert_eq!(
        auth_with(&[0; 64], id_a.as_bytes(), &[0; 32]),
        HandshakeError::FieldLength
    );
    assert_eq!(
        auth_with(&[0; 65], &[0; 64], &[0; 32]),
        HandshakeError::InvalidNodeId(NodeIdError::NotOnCurve)
    );
    let mut bad_recovery_id = [1u8; 65];
    bad_recovery_id[64] = 7;
    assert_eq!(
        auth_with(&bad_recovery_id, id_a.as_bytes(), &[0; 32]),
        HandshakeError::InvalidSignature
    );
    let mut buf = eip8_packet(&mut p.rng, &p.key_b, &[0x82, 0x01, 0x02]);
    assert_eq!(
        Recipient::new(&mut p.rng, &p.key_b)
            .read_auth(&mut p.rng, &mut buf)
            .unwrap_err(),
        HandshakeError::Malformed(rlp::DecoderError::RlpExpectedToBeList)
    );
}

#[test]
fn ack_with_off_curve_ephemeral_key_is_typed() {
    let mut p = pair(8);
    let initiator = Initiator::new(&mut p.rng, &p.key_a, p.key_b.id());
    let mut s = rlp::RlpStream::new_list(3);
    s.append(&[0u8; 64].as_slice())
        .append(&[0u8; 32].as_slice())
        .append(&4u64);
    let mut buf = eip8_packet(&mut p.rng, &p.key_a, &s.out());
    assert_eq!(
        initiator.read_ack(&mut buf).unwrap_err(),
        HandshakeError::InvalidEphemeralKey
    );
}

#[test]
fn legacy_ack_is_accepted_by_the_initiator() {
    let mut p = pair(9);
    let initiator = Initiator::new(&mut p.rng, &p.key_a, p.key_b.id());
    let ephemeral = SecretKey::new(&mut p.rng);
    let ack = Ack {
        ephemeral: ephemeral.public_key(SECP256K1),
        nonce: [7; 32],
        version: 4,
    };
    let mut plain = Vec::new();
    ecies::encrypt_into(
        &mut p.rng,
        &p.key_a.id().public_key(),
        &ack.encode_legacy(),
        &[],
        &mut plain,
    );
    assert_eq!(plain.len(), LEGACY_ACK_LEN);
    assert!(matches!(
        initiator.read_ack(&mut BytesMut::from(&plain[..])),
        Ok(AckProgress::Done(_))
    ));
}

#[test]
fn eip8_packet_whose_size_prefix_starts_with_0x04_is_read_as_eip8() {
    let mut p = pair(10);
    let auth = Auth::new(
        &p.key_a,
        &p.key_b.id().public_key(),
        &SecretKey::new(&mut p.rng),
        [3; 32],
    );
    // EIP-8 lets a future version append list elements; a large one pushes the size past 1024.
    let mut s = rlp::RlpStream::new_list(5);
    s.append(&auth.signature.as_slice())
        .append(&p.key_a.id().as_bytes().as_slice())
        .append(&auth.nonce.as_slice())
        .append(&4u64)
        .append(&vec![0xee_u8; 800]);
    let packet = seal_eip8(&mut p.rng, &p.key_b.id().public_key(), &s.out());
    assert_eq!(packet[0], 0x04, "size prefix 0x04xx");
    assert_eq!(packet[2], 0x04, "ECIES point tag");
    let mut recipient = Recipient::new(&mut p.rng, &p.key_b);
    let mut buf = BytesMut::new();
    for (i, byte) in packet.iter().enumerate() {
        buf.extend_from_slice(&[*byte]);
        match recipient.read_auth(&mut p.rng, &mut buf).unwrap() {
            AuthProgress::NeedMore(r) => recipient = r,
            AuthProgress::Done { secrets, .. } => {
                assert_eq!(i, packet.len() - 1);
                assert_eq!(secrets.remote_id(), p.key_a.id());
                return;
            }
        }
    }
    panic!("auth never completed");
}

#[test]
fn tampered_legacy_auth_fails_at_once_instead_of_waiting() {
    let v = crate::testdata::Vectors::eip8();
    let mut auth1 = BytesMut::from(v.blob("auth1"));
    let last = auth1.len() - 1;
    auth1[last] ^= 1;
    let mut rng = StdRng::seed_from_u64(11);
    let err = Recipient::new(&mut rng, &NodeKey::new(v.key("static_key_b")))
        .read_auth(&mut rng, &mut auth1)
        .unwrap_err();
    assert_eq!(err, HandshakeError::Ecies(EciesError::MacMismatch));
}
