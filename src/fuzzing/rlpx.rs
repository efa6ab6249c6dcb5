//! The RLPx targets: frames of an established session, and the handshake packets and bodies
//! addressed to the EIP-8 vectors' nodes. Each returns the decoder's verdict; the property is
//! that the decoder returns at all, typed.

use std::sync::OnceLock;

use bytes::BytesMut;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::crypto::{NodeId, NodeKey};
use crate::rlpx::{
    AckProgress, AuthProgress, Frame, FrameError, HandshakeError, Initiator, Opener, Recipient,
    Sealer,
};
use crate::testdata::{session_pair, Vectors};

/// Seed of the in-memory session whose ingress `frame_decode` reads.
pub const FRAME_SESSION_SEED: u64 = 0xf4a3e;

struct Fixtures {
    vectors: Vectors,
    /// Ingress of one end of a fixed session, and egress of the other end.
    opener: Opener,
    sealer: Sealer,
}

fn fixtures() -> &'static Fixtures {
    static FIXTURES: OnceLock<Fixtures> = OnceLock::new();
    FIXTURES.get_or_init(|| {
        let (a, b) = session_pair(FRAME_SESSION_SEED);
        Fixtures {
            vectors: Vectors::eip8(),
            opener: b.split().1,
            sealer: a.split().0,
        }
    })
}

/// Opens frames from `data` with an established session; returns how many opened.
pub(super) fn frame_decode(data: &[u8]) -> Result<usize, FrameError> {
    let mut opener = fixtures().opener.clone();
    let mut buf = BytesMut::from(data);
    let mut frames = 0;
    while opener.open(&mut buf)?.is_some() {
        frames += 1;
    }
    Ok(frames)
}

/// Seals `data` as raw frame data (no message id added) and opens it on the other end: reaches
/// the message-id parser, which a fuzzer cannot reach through valid MACs by chance.
pub(super) fn frame_plaintext(data: &[u8]) -> Result<Frame, FrameError> {
    let f = fixtures();
    let (mut sealer, mut opener) = (f.sealer.duplicate(), f.opener.clone());
    let mut wire = BytesMut::new();
    sealer.seal_raw(data, &mut wire)?;
    opener.open(&mut wire)?.ok_or(FrameError::Truncated)
}

/// Reads `data` as an auth addressed to node B of the EIP-8 vectors; `Some` when complete.
pub(super) fn auth_decode(data: &[u8]) -> Result<Option<NodeId>, HandshakeError> {
    let v = &fixtures().vectors;
    let mut rng = StdRng::seed_from_u64(1);
    let recipient = Recipient::new(&mut rng, &NodeKey::new(v.key("static_key_b")));
    match recipient.read_auth(&mut rng, &mut BytesMut::from(data))? {
        AuthProgress::NeedMore(_) => Ok(None),
        AuthProgress::Done { secrets, .. } => Ok(Some(secrets.remote_id())),
    }
}

/// Reads `data` as the ack answering node A's auth2 of the EIP-8 vectors; `Some` when complete.
pub(super) fn ack_decode(data: &[u8]) -> Result<Option<NodeId>, HandshakeError> {
    let v = &fixtures().vectors;
    match vector_initiator(v).read_ack(&mut BytesMut::from(data))? {
        AckProgress::NeedMore(_) => Ok(None),
        AckProgress::Done(secrets) => Ok(Some(secrets.remote_id())),
    }
}

/// Which packet a body is sealed into: the first input byte picks the format.
fn seal_body(data: &[u8], to: &secp256k1::PublicKey, legacy_len: usize) -> BytesMut {
    use crate::crypto::ecies::OVERHEAD;
    use crate::rlpx::handshake::{seal_eip8, seal_legacy};
    let mut rng = StdRng::seed_from_u64(2);
    let (legacy, body) = match data.split_first() {
        Some((flag, body)) => (flag & 1 == 1, body),
        None => (false, data),
    };
    let packet = if legacy {
        let mut plain = body.to_vec();
        plain.resize(legacy_len - OVERHEAD, 0);
        seal_legacy(&mut rng, to, &plain)
    } else {
        // Room for the largest padding within the 2048-byte packet limit.
        let body = &body[..body
            .len()
            .min(crate::rlpx::handshake::MAX_PACKET_SIZE - OVERHEAD - 300)];
        seal_eip8(&mut rng, to, body)
    };
    BytesMut::from(&packet[..])
}

/// Seals `data` as an auth body (EIP-8, or legacy if the first byte is odd) to node B of the
/// vectors and reads it: reaches the body decoding and signature recovery behind ECIES.
pub(super) fn auth_body(data: &[u8]) -> Result<Option<NodeId>, HandshakeError> {
    use crate::rlpx::handshake::LEGACY_AUTH_LEN;
    let v = &fixtures().vectors;
    let key_b = NodeKey::new(v.key("static_key_b"));
    let mut packet = seal_body(data, &key_b.id().public_key(), LEGACY_AUTH_LEN);
    let mut rng = StdRng::seed_from_u64(3);
    match Recipient::new(&mut rng, &key_b).read_auth(&mut rng, &mut packet)? {
        AuthProgress::NeedMore(_) => Ok(None),
        AuthProgress::Done { secrets, .. } => Ok(Some(secrets.remote_id())),
    }
}

/// Seals `data` as an ack body (EIP-8, or legacy if the first byte is odd) to node A of the
/// vectors and reads it as the answer to auth2.
pub(super) fn ack_body(data: &[u8]) -> Result<Option<NodeId>, HandshakeError> {
    use crate::rlpx::handshake::LEGACY_ACK_LEN;
    let v = &fixtures().vectors;
    let key_a = v.key("static_key_a");
    let to = key_a.public_key(secp256k1::SECP256K1);
    let mut packet = seal_body(data, &to, LEGACY_ACK_LEN);
    match vector_initiator(v).read_ack(&mut packet)? {
        AckProgress::NeedMore(_) => Ok(None),
        AckProgress::Done(secrets) => Ok(Some(secrets.remote_id())),
    }
}

fn vector_initiator(v: &Vectors) -> Initiator {
    Initiator::from_parts(
        v.key("static_key_a"),
        NodeId::from_secret_key(&v.key("static_key_b")),
        v.key("ephemeral_key_a"),
        v.bytes32("keys", "nonce_a"),
        v.blob("auth2").to_vec(),
    )
}

/// The plaintext of a vector packet, as a body seed: format byte, then the plaintext.
fn body_seed(v: &Vectors, section: &str, key: &str, legacy_len: usize) -> (String, Vec<u8>) {
    use crate::rlpx::handshake::MAX_PACKET_SIZE;
    let blob = v.blob(section);
    let secret = v.key(key);
    let legacy = blob.len() == legacy_len;
    let plain = if legacy {
        crate::crypto::ecies::decrypt(&secret, blob, &[])
    } else {
        crate::crypto::ecies::decrypt(&secret, &blob[2..], &blob[..2])
    };
    // The vectors decrypt with their own keys; a failure here is a broken vector file.
    let plain = plain.unwrap_or_else(|e| panic!("vector {section}: {e}"));
    assert!(plain.len() <= MAX_PACKET_SIZE);
    let mut seed = vec![u8::from(legacy)];
    seed.extend_from_slice(&plain);
    (format!("{section}_body"), seed)
}

/// The seed inputs of each RLPx target, built from the EIP-8 vectors.
pub(super) fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
    let v = Vectors::eip8();
    let named = |names: &[&str]| {
        names
            .iter()
            .map(|n| (n.to_string(), v.blob(n).to_vec()))
            .collect()
    };
    match target {
        "auth_decode" => named(&["auth1", "auth2", "auth3"]),
        "ack_decode" => named(&["ack1", "ack2", "ack3"]),
        "frame_decode" => frame_seeds(&v),
        "auth_body" => ["auth1", "auth2", "auth3"]
            .iter()
            .map(|s| {
                body_seed(
                    &v,
                    s,
                    "static_key_b",
                    crate::rlpx::handshake::LEGACY_AUTH_LEN,
                )
            })
            .collect(),
        "ack_body" => ["ack1", "ack2", "ack3"]
            .iter()
            .map(|s| {
                body_seed(
                    &v,
                    s,
                    "static_key_a",
                    crate::rlpx::handshake::LEGACY_ACK_LEN,
                )
            })
            .collect(),
        "frame_plaintext" => vec![
            ("frame_vector_data".to_string(), vec![8, 0xc4, 1, 2, 3, 4]),
            (
                "hello_v22_data".to_string(),
                [&[0x80][..], v.blob("hello_v22")].concat(),
            ),
            (
                "long_code".to_string(),
                vec![0x88, 1, 2, 3, 4, 5, 6, 7, 8, 0xc0],
            ),
        ],
        other => panic!("no fuzz target {other}"),
    }
}

/// Frames sealed by the other end of the `frame_decode` session: the frame vector's message,
/// the Hello vector, an empty message, a multi-frame stream and a large frame.
fn frame_seeds(v: &Vectors) -> Vec<(String, Vec<u8>)> {
    type Message = (u64, Vec<u8>);
    let streams: Vec<(&str, Vec<Message>)> = vec![
        ("frame_vector_message", vec![(8, vec![0xc4, 1, 2, 3, 4])]),
        ("hello_v22", vec![(0, v.blob("hello_v22").to_vec())]),
        (
            "three_frames",
            vec![(0x10, vec![]), (0x11, vec![0x80]), (2, vec![0xc0])],
        ),
        ("large_frame", vec![(0x20, vec![0xab; 3000])]),
    ];
    streams
        .iter()
        .map(|(name, frames)| {
            let (mut a, _) = session_pair(FRAME_SESSION_SEED);
            let mut wire = BytesMut::new();
            for (code, payload) in frames.iter() {
                // These frames are far below the size limit.
                a.sealer()
                    .seal(*code, payload, &mut wire)
                    .expect("small frame");
            }
            (name.to_string(), wire.to_vec())
        })
        .collect()
}
