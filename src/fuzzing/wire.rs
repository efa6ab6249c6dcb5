//! The base-protocol targets: Hello, Disconnect, snappy and capability matching, through the
//! public API of `crate::wire` alone. Each returns the decoder's verdict and panics when a
//! property is broken: a decoded value must survive its own encoder, limits must hold, and
//! related decoders must agree.

use crate::rlpx::MAX_FRAME_SIZE;
use crate::wire::snappy::{self, compress, decompress, decompress_max, SnappyError};
use crate::wire::{
    match_capabilities, Capability, DisconnectDecodeError, DisconnectReason, Hello, HelloError,
    PayloadCodec, SharedCapability, BASE_PROTOCOL_LENGTH, MAX_HELLO_SIZE,
};

/// Reads `data` as a Hello. A Hello that decodes re-encodes canonically and decodes to itself.
///
/// One exception is checked instead of refused: the client id is read lossily, so each invalid
/// UTF-8 byte grows into a 3-byte U+FFFD and the re-encoding can exceed [`MAX_HELLO_SIZE`].
pub(super) fn hello_decode(data: &[u8]) -> Result<Hello, HelloError> {
    let decoded = Hello::decode(data);
    match &decoded {
        Ok(hello) => {
            assert!(data.len() <= MAX_HELLO_SIZE);
            let encoded = hello.encode();
            match Hello::decode(&encoded) {
                Ok(again) => {
                    assert_eq!(&again, hello, "decode(encode(hello)) differs");
                    assert_eq!(again.encode(), encoded, "encoding is not canonical");
                }
                Err(HelloError::TooLarge(size)) => {
                    assert_eq!(size, encoded.len());
                    assert!(
                        hello.client_id.contains(char::REPLACEMENT_CHARACTER),
                        "re-encoding grew to {size} bytes without a lossy client id"
                    );
                }
                Err(e) => panic!("re-encoded hello refused: {e:?}"),
            }
        }
        Err(HelloError::TooLarge(size)) => {
            assert_eq!(*size, data.len());
            assert!(data.len() > MAX_HELLO_SIZE);
        }
        Err(e) => {
            assert!(data.len() <= MAX_HELLO_SIZE, "{e:?} for an oversized hello");
            let want = match e {
                HelloError::InvalidIdentity => DisconnectReason::InvalidIdentity,
                _ => DisconnectReason::ProtocolError,
            };
            assert_eq!(e.disconnect_reason(), want);
        }
    }
    decoded
}

/// Reads `data` with both Disconnect decoders. Every reason either returns re-encodes (as a
/// list, a bare integer, compressed and not) and decodes to itself; `decode_message` agrees with
/// `decode` whenever the plain form reads; unknown codes are really unknown. Returns what
/// `decode_message` made of it.
pub(super) fn disconnect_decode(data: &[u8]) -> Result<DisconnectReason, DisconnectDecodeError> {
    let plain = DisconnectReason::decode(data);
    let message = DisconnectReason::decode_message(data);
    for result in [&plain, &message] {
        match result {
            Ok(reason) => reason_round_trips(*reason),
            Err(DisconnectDecodeError::UnknownReason(code)) => {
                assert_eq!(DisconnectReason::from_code(*code), None);
            }
            Err(_) => {}
        }
    }
    if let Ok(reason) = plain {
        assert_eq!(message, Ok(reason), "decode_message disagrees with decode");
    }
    if data.is_empty() || data == [0xc0] {
        assert_eq!(plain, Ok(DisconnectReason::Requested));
    }
    message
}

fn reason_round_trips(reason: DisconnectReason) {
    assert!(DisconnectReason::all().contains(&reason));
    let code = reason.code();
    assert_eq!(DisconnectReason::from_code(code.into()), Some(reason));
    let list = reason.encode();
    assert_eq!(DisconnectReason::decode(&list), Ok(reason));
    // The bare RLP integer: 0x80 for zero, the byte itself below 0x80 (all codes are).
    let bare = [if code == 0 { 0x80 } else { code }];
    assert_eq!(DisconnectReason::decode(&bare), Ok(reason));
    for codec in [PayloadCodec::Plain, PayloadCodec::Snappy] {
        let message = reason.encode_message(codec);
        assert_eq!(DisconnectReason::decode_message(&message), Ok(reason));
    }
    assert_eq!(
        DisconnectReason::decode_message(&compress(&bare)),
        Ok(reason)
    );
}

/// The small limit `snappy` checks `decompress_max` with (the one Disconnect uses).
const SMALL_LIMIT: usize = 64;

/// Decompresses `data` with the frame limit and with [`SMALL_LIMIT`]: the two agree, outputs
/// respect their limit, a refused size is the real size; the output recompresses to itself,
/// and `data` itself survives compress → decompress, with its exact length as the limit.
pub(super) fn snappy_decode(data: &[u8]) -> Result<Vec<u8>, SnappyError> {
    let full = decompress(data);
    let small = decompress_max(data, SMALL_LIMIT);
    match (&full, &small) {
        (Ok(full), Ok(small)) => {
            assert!(small.len() <= SMALL_LIMIT);
            assert_eq!(full, small);
        }
        (Ok(full), Err(SnappyError::TooLarge { size, max })) => {
            assert_eq!((*size, *max), (full.len(), SMALL_LIMIT));
            assert!(*size > SMALL_LIMIT);
        }
        // A block declaring more than SMALL_LIMIT is refused before it is read.
        (Err(SnappyError::Corrupt), Err(SnappyError::Corrupt | SnappyError::TooLarge { .. })) => {}
        (Err(SnappyError::TooLarge { size, max }), Err(SnappyError::TooLarge { size: s, .. })) => {
            assert_eq!(*max, MAX_FRAME_SIZE);
            assert!(size > max);
            assert_eq!(size, s);
        }
        (full, small) => panic!("limits disagree: full {full:?}, small {small:?}"),
    }
    // The receive path takes a one-literal block as a view instead of decoding it: the view
    // must be exactly what the decoder gives.
    if let Some(start) = snappy::single_literal(data) {
        assert_eq!(
            full.as_deref(),
            Ok(&data[start..]),
            "one literal is its own bytes"
        );
    }
    if let Ok(out) = &full {
        assert!(out.len() <= MAX_FRAME_SIZE);
        assert_eq!(decompress(&compress(out)).as_ref(), Ok(out));
    }
    round_trip(data);
    full
}

fn round_trip(data: &[u8]) {
    let packed = compress(data);
    assert_eq!(decompress(&packed).as_deref(), Ok(data), "round trip");
    assert_eq!(
        decompress_max(&packed, data.len()).as_deref(),
        Ok(data),
        "the exact length is within the limit"
    );
    if let Some(below) = data.len().checked_sub(1) {
        assert_eq!(
            decompress_max(&packed, below),
            Err(SnappyError::TooLarge {
                size: data.len(),
                max: below
            })
        );
    }
}

/// Names the capability input draws from: prefixes, case and normalisation variants, so
/// that fuzzed lists share names often and sort in interesting ways.
const CAP_NAMES: [&str; 16] = [
    "", "a", "aa", "b", "eth", "Eth", "eth2", "et", "snap", "les", "foo", "bar", "\u{e9}",
    "e\u{301}", "zzz", "A",
];

/// The capability version a byte stands for: small numbers mostly, the top of the range for
/// the last eight byte values.
fn cap_version(b: u8) -> u32 {
    if b >= 0xf8 {
        u32::MAX - u32::from(b & 7)
    } else {
        u32::from(b & 7)
    }
}

/// The local and remote lists of a capability input: byte 0 is the number of local entries,
/// each `[name, version, length]`; the rest is remote entries `[name, version]`.
fn cap_lists(data: &[u8]) -> (Vec<(Capability, u64)>, Vec<Capability>) {
    let cap = |n: u8, v: u8| Capability::new(CAP_NAMES[usize::from(n) % 16], cap_version(v));
    let Some((&n_local, rest)) = data.split_first() else {
        return (Vec::new(), Vec::new());
    };
    let split = (usize::from(n_local) * 3).min(rest.len() / 3 * 3);
    let (local, remote) = rest.split_at(split);
    let local = local
        .chunks_exact(3)
        .map(|c| (cap(c[0], c[1]), u64::from(c[2])))
        .collect();
    let remote = remote.chunks_exact(2).map(|c| cap(c[0], c[1])).collect();
    (local, remote)
}

/// The input `cap_lists` reads back as these lists of (name index, version byte, length).
pub fn cap_input(local: &[(u8, u8, u8)], remote: &[(u8, u8)]) -> Vec<u8> {
    let mut data = vec![u8::try_from(local.len()).expect("at most 255 local entries")];
    for (n, v, l) in local {
        data.extend([*n, *v, *l]);
    }
    for (n, v) in remote {
        data.extend([*n, *v]);
    }
    data
}

/// Matches the lists `data` describes and checks the devp2p rule: shared capabilities are
/// exactly the names both sides run, each at its highest common version with a local length,
/// sorted bytewise by name, with ranges from 0x10 on that are contiguous and do not overlap.
pub(super) fn capability_match(data: &[u8]) -> Vec<SharedCapability> {
    let (local, remote) = cap_lists(data);
    let shared = match_capabilities(&local, &remote);

    // The expected names and versions, computed the slow way.
    let mut want: Vec<(&str, u32)> = Vec::new();
    for (cap, _) in &local {
        if !remote.contains(cap) {
            continue;
        }
        match want.iter_mut().find(|(n, _)| *n == cap.name) {
            Some((_, v)) => *v = (*v).max(cap.version),
            None => want.push((&cap.name, cap.version)),
        }
    }
    want.sort_by(|a, b| a.0.as_bytes().cmp(b.0.as_bytes()));
    let got: Vec<(&str, u32)> = shared
        .iter()
        .map(|s| (s.capability.name.as_str(), s.capability.version))
        .collect();
    assert_eq!(got, want, "wrong capabilities or versions shared");

    let mut next = BASE_PROTOCOL_LENGTH;
    for (i, s) in shared.iter().enumerate() {
        assert!(remote.contains(&s.capability));
        assert!(
            local.contains(&(s.capability.clone(), s.length)),
            "{}: length {} is not a local one",
            s.capability,
            s.length
        );
        assert_eq!(
            s.offset, next,
            "{}: ranges are not contiguous",
            s.capability
        );
        // Lengths are single bytes here, so the sum cannot overflow.
        next = s.offset + s.length;
        if let Some(prev) = i.checked_sub(1).map(|p| &shared[p]) {
            assert!(prev.capability.name.as_bytes() < s.capability.name.as_bytes());
        }
    }
    // Every code maps to at most one capability, codes below 0x10 to none: checked at the
    // ends of every range, where an off-by-one would show.
    let ends = shared.iter().flat_map(|s| {
        let end = s.offset + s.length;
        [
            s.offset.saturating_sub(1),
            s.offset,
            end.saturating_sub(1),
            end,
        ]
    });
    for code in [0, BASE_PROTOCOL_LENGTH - 1, BASE_PROTOCOL_LENGTH, next]
        .into_iter()
        .chain(ends)
    {
        let owners = shared.iter().filter(|s| s.contains(code)).count();
        let want = usize::from((BASE_PROTOCOL_LENGTH..next).contains(&code));
        assert_eq!(owners, want, "code {code:#x} has {owners} owners");
    }
    // The order of the remote list does not matter.
    let reversed: Vec<Capability> = remote.iter().rev().cloned().collect();
    assert_eq!(match_capabilities(&local, &reversed), shared);
    shared
}
