//! Known-answer tests from EIP-8 (`testdata/eip8.txt`).

use bytes::BytesMut;
use secp256k1::{PublicKey, SECP256K1};
use sha3::Digest;

use super::packet::{Format, PacketReader, LEGACY_ACK_LEN, LEGACY_AUTH_LEN};
use super::*;
use crate::rlpx::secrets::{Role, Secrets, Transcript};
use crate::testdata::Vectors;

fn public(v: &Vectors, name: &str) -> PublicKey {
    v.key(name).public_key(SECP256K1)
}

fn decode_auth(v: &Vectors, section: &str) -> (Auth, Format) {
    let blob = v.blob(section);
    let opened = PacketReader::new(LEGACY_AUTH_LEN)
        .open(&v.key("static_key_b"), blob)
        .unwrap()
        .expect("whole packet");
    assert_eq!(opened.wire_len, blob.len(), "{section} length");
    let auth = match opened.format {
        Format::Eip8 => Auth::decode_eip8(&opened.plaintext),
        Format::Legacy => Auth::decode_legacy(&opened.plaintext),
    }
    .unwrap();
    (auth, opened.format)
}

fn decode_ack(v: &Vectors, section: &str) -> (Ack, Format) {
    let blob = v.blob(section);
    let opened = PacketReader::new(LEGACY_ACK_LEN)
        .open(&v.key("static_key_a"), blob)
        .unwrap()
        .expect("whole packet");
    assert_eq!(opened.wire_len, blob.len(), "{section} length");
    let ack = match opened.format {
        Format::Eip8 => Ack::decode_eip8(&opened.plaintext),
        Format::Legacy => Ack::decode_legacy(&opened.plaintext),
    }
    .unwrap();
    (ack, opened.format)
}

#[test]
fn auth_vectors_decode_with_key_b() {
    let v = Vectors::eip8();
    let cases = [
        ("auth1", Format::Legacy, 4),
        ("auth2", Format::Eip8, 4),
        ("auth3", Format::Eip8, 56),
    ];
    for (section, format, version) in cases {
        let (auth, got_format) = decode_auth(&v, section);
        assert_eq!(got_format, format, "{section}");
        assert_eq!(auth.version, version, "{section}");
        assert_eq!(
            auth.initiator_id,
            NodeId::from_secret_key(&v.key("static_key_a")),
            "{section}"
        );
        assert_eq!(auth.nonce, v.bytes32("keys", "nonce_a"), "{section}");
        let ephemeral = auth.recover_ephemeral(&v.key("static_key_b")).unwrap();
        assert_eq!(ephemeral, public(&v, "ephemeral_key_a"), "{section}");
    }
}

#[test]
fn ack_vectors_decode_with_key_a() {
    let v = Vectors::eip8();
    let cases = [
        ("ack1", Format::Legacy, 4),
        ("ack2", Format::Eip8, 4),
        ("ack3", Format::Eip8, 57),
    ];
    for (section, format, version) in cases {
        let (ack, got_format) = decode_ack(&v, section);
        assert_eq!(got_format, format, "{section}");
        assert_eq!(ack.version, version, "{section}");
        assert_eq!(ack.ephemeral, public(&v, "ephemeral_key_b"), "{section}");
        assert_eq!(ack.nonce, v.bytes32("keys", "nonce_b"), "{section}");
    }
}

/// Node B's secrets for the (auth2, ack2) exchange, derived through the transcript.
fn secrets_of_b(v: &Vectors) -> Secrets {
    let (auth, _) = decode_auth(v, "auth2");
    let remote_ephemeral = auth.recover_ephemeral(&v.key("static_key_b")).unwrap();
    let transcript = Transcript {
        role: Role::Recipient,
        local_ephemeral: &v.key("ephemeral_key_b"),
        remote_ephemeral: &remote_ephemeral,
        local_nonce: &v.bytes32("keys", "nonce_b"),
        remote_nonce: &auth.nonce,
        auth: v.blob("auth2"),
        ack: v.blob("ack2"),
    };
    Secrets::derive(&transcript, auth.initiator_id)
}

#[test]
fn secrets_from_auth2_ack2_match_the_vector() {
    let v = Vectors::eip8();
    let section = "secrets_b_from_auth2_ack2";
    let secrets = secrets_of_b(&v);
    assert_eq!(secrets.aes_secret, v.bytes32(section, "aes_secret"));
    assert_eq!(secrets.mac_secret, v.bytes32(section, "mac_secret"));
    let mut ingress = secrets.ingress_mac.clone();
    ingress.update(b"foo");
    let digest: [u8; 32] = ingress.finalize().into();
    assert_eq!(digest, v.bytes32(section, "ingress_mac_foo"));
}

#[test]
fn initiator_state_machine_reads_ack2_into_the_same_session() {
    let v = Vectors::eip8();
    let key_b = v.key("static_key_b");
    // Node A as it was when it sent auth2.
    let initiator = Initiator::from_parts(
        v.key("static_key_a"),
        NodeId::from_secret_key(&key_b),
        v.key("ephemeral_key_a"),
        v.bytes32("keys", "nonce_a"),
        v.blob("auth2").to_vec(),
    );
    let mut buf = BytesMut::from(v.blob("ack2"));
    buf.extend_from_slice(b"next frame");
    let AckProgress::Done(a) = initiator.read_ack(&mut buf).unwrap() else {
        panic!("ack2 is complete");
    };
    assert_eq!(&buf[..], b"next frame", "bytes after the ack are left");
    let b = secrets_of_b(&v);
    let section = "secrets_b_from_auth2_ack2";
    assert_eq!(a.aes_secret, v.bytes32(section, "aes_secret"));
    assert_eq!(a.mac_secret, v.bytes32(section, "mac_secret"));
    assert_eq!(a.egress_mac.finalize(), b.ingress_mac.finalize());
    assert_eq!(a.ingress_mac.finalize(), b.egress_mac.finalize());
    assert_eq!(a.remote_id, NodeId::from_secret_key(&key_b));
}

#[test]
fn recipient_state_machine_accepts_every_auth_vector() {
    let v = Vectors::eip8();
    let mut rng = rand::rngs::OsRng;
    for (section, ack_format) in [
        ("auth1", Format::Legacy),
        ("auth2", Format::Eip8),
        ("auth3", Format::Eip8),
    ] {
        let recipient = Recipient::new(&mut rng, &NodeKey::new(v.key("static_key_b")));
        let mut buf = BytesMut::from(v.blob(section));
        let AuthProgress::Done { ack, secrets } = recipient.read_auth(&mut rng, &mut buf).unwrap()
        else {
            panic!("{section} is complete");
        };
        assert!(buf.is_empty());
        assert_eq!(
            secrets.remote_id(),
            NodeId::from_secret_key(&v.key("static_key_a"))
        );
        // A recipient answers in the format it was addressed in, and A can read the answer.
        let opened = PacketReader::new(LEGACY_ACK_LEN)
            .open(&v.key("static_key_a"), &ack)
            .unwrap()
            .unwrap();
        assert_eq!(opened.format, ack_format, "{section}");
        assert_eq!(opened.wire_len, ack.len());
        if ack_format == Format::Legacy {
            assert_eq!(ack.len(), LEGACY_ACK_LEN);
        }
    }
}
