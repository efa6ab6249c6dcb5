//! Frame codec: the known-answer vector, round-trip properties and every rejection path.

use aes::cipher::KeyIvInit;
use bytes::BytesMut;
use proptest::prelude::*;
use sha3::{Digest, Keccak256};

use super::open::Ingress;
use super::seal::seal;
use super::*;
use crate::rlpx::mac::{FrameMac, MacHash};
use crate::testdata::{session_pair, Vectors};

/// The vector's stand-in MAC state: updates are ignored and every digest is 32 bytes of 0x01.
#[derive(Clone)]
struct FakeHash;

impl MacHash for FakeHash {
    fn update(&mut self, _: &[u8]) {}
    fn digest(&self) -> [u8; 32] {
        [1; 32]
    }
}

fn vector_direction() -> (Aes256Ctr, FrameMac<FakeHash>) {
    let secret: [u8; 32] = <Keccak256 as Digest>::digest(b"").into();
    let cipher = Aes256Ctr::new(&secret.into(), &[0u8; 16].into());
    (cipher, FrameMac::new(&secret, FakeHash))
}

#[test]
fn frame_vector_produces_the_expected_wire_bytes() {
    let v = Vectors::eip8();
    let (mut cipher, mut mac) = vector_direction();
    let mut out = BytesMut::new();
    seal(&mut cipher, &mut mac, 8, &[0xc4, 1, 2, 3, 4], &mut out).unwrap();
    assert_eq!(&out[..], v.blob("frame_vector"));
}

#[test]
fn frame_vector_opens_to_its_message() {
    let v = Vectors::eip8();
    let (cipher, mac) = vector_direction();
    let mut ingress = Ingress::new(cipher, mac);
    let mut wire = BytesMut::from(v.blob("frame_vector"));
    let frame = ingress.open(&mut wire).unwrap().unwrap();
    assert_eq!(frame.code, 8);
    assert_eq!(&frame.payload[..], &[0xc4, 1, 2, 3, 4]);
    assert!(wire.is_empty());
}

#[test]
fn message_ids_encode_as_rlp_integers() {
    for (code, want) in [
        (0u64, vec![0x80]),
        (1, vec![0x01]),
        (0x7f, vec![0x7f]),
        (0x80, vec![0x81, 0x80]),
        (0x1234, vec![0x82, 0x12, 0x34]),
        (u64::MAX, [vec![0x88], vec![0xff; 8]].concat()),
    ] {
        let (bytes, len) = encode_code(code);
        assert_eq!(&bytes[..len], &want[..], "code {code}");
        assert_eq!(decode_code(&want), Ok((code, want.len())));
        assert_eq!(
            rlp::encode(&code).to_vec(),
            want,
            "agrees with the rlp crate"
        );
    }
}

fn payload(len: usize, fill: u8) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u8).wrapping_mul(31) ^ fill)
        .collect()
}

fn sealed(codec: &mut FrameCodec, code: u64, body: &[u8]) -> BytesMut {
    let mut out = BytesMut::new();
    codec.sealer().seal(code, body, &mut out).unwrap();
    out
}

fn macs_in_step(a: &mut FrameCodec, b: &mut FrameCodec) -> bool {
    a.sealer().mac.boundary_digest() == b.opener().inner.mac.boundary_digest()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(24))]

    #[test]
    fn random_frames_open_in_order(
        frames in prop::collection::vec((any::<u64>(), 0usize..=256 * 1024, any::<u8>()), 1..6),
        chunk in 1usize..70_000,
    ) {
        let (mut a, mut b) = session_pair(11);
        let mut wire = BytesMut::new();
        for (code, len, fill) in &frames {
            a.sealer().seal(*code, &payload(*len, *fill), &mut wire).unwrap();
        }
        // Deliver the stream in arbitrary pieces.
        let mut inbox = BytesMut::new();
        let mut opened = Vec::new();
        for piece in wire.chunks(chunk) {
            inbox.extend_from_slice(piece);
            while let Some(frame) = b.opener().open(&mut inbox).unwrap() {
                opened.push(frame);
            }
        }
        prop_assert!(inbox.is_empty());
        prop_assert_eq!(opened.len(), frames.len());
        for (frame, (code, len, fill)) in opened.iter().zip(&frames) {
            prop_assert_eq!(frame.code, *code);
            prop_assert_eq!(&frame.payload[..], &payload(*len, *fill)[..]);
        }
        prop_assert!(macs_in_step(&mut a, &mut b));
    }

    #[test]
    fn mac_states_stay_in_step_over_many_small_frames(
        sizes in prop::collection::vec(0usize..600, 200..400),
    ) {
        let (mut a, mut b) = session_pair(12);
        for (i, len) in sizes.iter().enumerate() {
            let body = payload(*len, i as u8);
            let mut wire = sealed(&mut a, i as u64, &body);
            let frame = b.opener().open(&mut wire).unwrap().unwrap();
            prop_assert_eq!(frame.code, i as u64);
            prop_assert_eq!(&frame.payload[..], &body[..]);
            prop_assert!(macs_in_step(&mut a, &mut b));
        }
    }
}

#[test]
fn both_directions_are_independent() {
    let (mut a, mut b) = session_pair(13);
    let mut to_b = sealed(&mut a, 1, b"a to b");
    let mut to_a = sealed(&mut b, 2, b"b to a");
    assert_eq!(
        &b.opener().open(&mut to_b).unwrap().unwrap().payload[..],
        b"a to b"
    );
    assert_eq!(
        &a.opener().open(&mut to_a).unwrap().unwrap().payload[..],
        b"b to a"
    );
}

/// Flips one bit at `at` of a fresh 40-byte frame and returns what opening it says.
fn open_with_flip(at: usize) -> (FrameError, FrameCodec, BytesMut) {
    let (mut a, mut b) = session_pair(14);
    let mut wire = sealed(&mut a, 3, &[0x55; 40]);
    wire[at] ^= 0x10;
    let err = b.opener().open(&mut wire).unwrap_err();
    (err, b, wire)
}

#[test]
fn flipped_header_ciphertext_bit_fails_the_header_mac() {
    assert_eq!(open_with_flip(0).0, FrameError::HeaderMac);
}

#[test]
fn flipped_header_mac_bit_fails_the_header_mac() {
    assert_eq!(open_with_flip(20).0, FrameError::HeaderMac);
}

#[test]
fn flipped_frame_ciphertext_bit_fails_the_frame_mac() {
    assert_eq!(open_with_flip(32 + 5).0, FrameError::FrameMac);
}

#[test]
fn flipped_frame_mac_bit_fails_the_frame_mac() {
    // 32 header bytes + 48 padded body bytes (1 + 40 = 41 -> 48), then the 16-byte MAC.
    assert_eq!(open_with_flip(32 + 48 + 3).0, FrameError::FrameMac);
}

#[test]
fn an_opener_that_failed_stays_failed() {
    let (_, mut b, mut wire) = open_with_flip(32 + 5);
    assert_eq!(b.opener().open(&mut wire), Err(FrameError::Poisoned));
    assert_eq!(
        b.opener().open(&mut BytesMut::new()),
        Err(FrameError::Poisoned)
    );
}

#[test]
fn incomplete_input_asks_for_more_and_reserves_only_the_announced_frame() {
    let (mut a, mut b) = session_pair(15);
    let wire = sealed(&mut a, 4, &[9; 1000]);
    let mut inbox = BytesMut::from(&wire[..31]);
    assert_eq!(b.opener().open(&mut inbox), Ok(None));
    inbox.extend_from_slice(&wire[31..40]);
    assert_eq!(b.opener().open(&mut inbox), Ok(None));
    assert!(!b.opener().at_frame_boundary());
    // 1001 bytes of data pad to 1008, plus the 16-byte MAC.
    assert!(inbox.capacity() >= 1008 + 16);
    assert!(inbox.capacity() < 4096);
    inbox.extend_from_slice(&wire[40..]);
    assert_eq!(
        &b.opener().open(&mut inbox).unwrap().unwrap().payload[..],
        &[9; 1000]
    );
    assert!(b.opener().at_frame_boundary());
}

#[test]
fn header_announcing_more_than_the_limit_is_rejected_before_the_body() {
    let (mut a, b) = session_pair(16);
    let mut b = b.with_max_frame_size(1024);
    let wire = sealed(&mut a, 5, &[0; 2000]);
    // Only the header is needed to reject it.
    let mut inbox = BytesMut::from(&wire[..32]);
    let capacity = inbox.capacity();
    assert_eq!(
        b.opener().open(&mut inbox),
        Err(FrameError::TooLarge {
            size: 2001,
            max: 1024
        })
    );
    assert_eq!(inbox.capacity(), capacity, "nothing reserved for the body");
}

#[test]
fn frames_above_2_pow_24_minus_1_cannot_be_sealed() {
    let (mut a, _) = session_pair(17);
    let mut out = BytesMut::new();
    // A one-byte message id plus 2^24 - 1 bytes of payload is one byte over.
    let body = vec![0u8; MAX_FRAME_SIZE];
    assert_eq!(
        a.sealer().seal(1, &body, &mut out),
        Err(FrameError::TooLarge {
            size: MAX_FRAME_SIZE + 1,
            max: MAX_FRAME_SIZE
        })
    );
    assert!(out.is_empty(), "nothing written");
    // The largest frame is fine and opens on the other side.
    let (mut a, mut b) = session_pair(17);
    a.sealer().seal(1, &body[1..], &mut out).unwrap();
    let frame = b.opener().open(&mut out).unwrap().unwrap();
    assert_eq!(frame.payload.len(), MAX_FRAME_SIZE - 1);
}

#[test]
fn frame_data_without_a_message_id_is_typed() {
    let non_canonical: [&[u8]; 5] = [
        &[0x00],                            // zero must be 0x80
        &[0x81, 0x05],                      // a byte below 0x80 must stand alone
        &[0x89, 1, 2, 3, 4, 5, 6, 7, 8, 9], // more than 64 bits
        &[0xb8, 0x01, 0x05],                // long-string form for one byte
        &[0x82, 0x00, 0x01],                // leading zero
    ];
    let malformed: [&[u8]; 3] = [&[], &[0xc0], &[0x81]];
    for data in non_canonical.into_iter().chain(malformed) {
        let (mut a, mut b) = session_pair(18);
        let mut wire = BytesMut::new();
        a.sealer().seal_raw(data, &mut wire).unwrap();
        assert_eq!(
            b.opener().open(&mut wire),
            Err(FrameError::MessageCode),
            "{data:?}"
        );
    }
}

#[test]
fn sealing_in_parts_gives_the_bytes_of_sealing_the_joined_payload() {
    let body: Vec<u8> = (0..20_000u32).map(|i| (i * 7) as u8).collect();
    for (code, head) in [
        (0x10, &b""[..]),
        (0x10, b"\x80\x80\x04"),
        (1 << 40, &[9u8; 16]),
    ] {
        let (mut a, _) = session_pair(23);
        let (mut b, _) = session_pair(23);
        let (mut parts, mut joined) = (BytesMut::new(), BytesMut::new());
        a.sealer()
            .seal_parts(code, head, &body, &mut parts)
            .unwrap();
        let whole = [head, &body[..]].concat();
        b.sealer().seal(code, &whole, &mut joined).unwrap();
        assert_eq!(parts, joined, "head of {} bytes", head.len());
    }
    let (mut a, _) = session_pair(23);
    let mut out = BytesMut::new();
    assert!(a.sealer().seal_parts(1, &[0; 17], b"", &mut out).is_err());
    assert!(out.is_empty());
}
