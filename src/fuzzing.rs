//! What the cargo-fuzz targets run, shared with the test that replays their seed corpora.
//!
//! Each entry point feeds arbitrary bytes to a decoder that reads network input. They return
//! the decoder's verdict so the replay test can check that seeds get past the first checks.

use std::sync::OnceLock;

use bytes::BytesMut;
use rand::rngs::StdRng;
use rand::SeedableRng;

use crate::crypto::NodeId;
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
pub fn frame_decode(data: &[u8]) -> Result<usize, FrameError> {
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
pub fn frame_plaintext(data: &[u8]) -> Result<Frame, FrameError> {
    let f = fixtures();
    let (mut sealer, mut opener) = (f.sealer.duplicate(), f.opener.clone());
    let mut wire = BytesMut::new();
    sealer.seal_raw(data, &mut wire)?;
    opener.open(&mut wire)?.ok_or(FrameError::Truncated)
}

/// Reads `data` as an auth addressed to node B of the EIP-8 vectors; `Some` when complete.
pub fn auth_decode(data: &[u8]) -> Result<Option<NodeId>, HandshakeError> {
    let v = &fixtures().vectors;
    let mut rng = StdRng::seed_from_u64(1);
    let recipient = Recipient::new(&mut rng, &v.key("static_key_b"));
    match recipient.read_auth(&mut rng, &mut BytesMut::from(data))? {
        AuthProgress::NeedMore(_) => Ok(None),
        AuthProgress::Done { secrets, .. } => Ok(Some(secrets.remote_id())),
    }
}

/// Reads `data` as the ack answering node A's auth2 of the EIP-8 vectors; `Some` when complete.
pub fn ack_decode(data: &[u8]) -> Result<Option<NodeId>, HandshakeError> {
    let v = &fixtures().vectors;
    let initiator = Initiator::from_parts(
        v.key("static_key_a"),
        NodeId::from_secret_key(&v.key("static_key_b")),
        v.key("ephemeral_key_a"),
        v.bytes32("keys", "nonce_a"),
        v.blob("auth2").to_vec(),
    );
    match initiator.read_ack(&mut BytesMut::from(data))? {
        AckProgress::NeedMore(_) => Ok(None),
        AckProgress::Done(secrets) => Ok(Some(secrets.remote_id())),
    }
}

/// The seed inputs of each target, built from the EIP-8 vectors.
pub fn seeds(target: &str) -> Vec<(String, Vec<u8>)> {
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
