//! The payload encoding negotiated at Hello: snappy for `p2p` version 5 and later.
//!
//! devp2p (RLPx, "Message Snappy Compression"): "Snappy compression is enabled for all
//! messages after Hello if both sides advertise version 5 or higher ... implementations
//! should check the uncompressed length of the data before decoding it".
//!
//! A session picks its [`PayloadCodec`] once, when the peer's Hello is read, and every
//! message after that — Ping, Pong and Disconnect included — goes through it.

use bytes::Bytes;

use super::snappy::{self, SnappyError};
use super::EMPTY_LIST;
use crate::rlpx::MAX_FRAME_SIZE;

/// Largest payload a frame carries: the frame limit less room for the message id.
pub const MAX_PAYLOAD_SIZE: usize = MAX_FRAME_SIZE - 9;

/// Received payloads at least this long are handed out as views of the frame they came in
/// (when they need no decompression); shorter ones are copied. A view keeps its whole read
/// buffer (up to a frame plus one read) alive, so only views this large keep that overhead
/// to a small multiple of what they hold.
pub const VIEW_MIN: usize = 4 * 1024;

/// How message payloads go on the wire after Hello.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum PayloadCodec {
    /// As they are (a peer below `p2p` version 5).
    Plain,
    /// One snappy block per payload.
    Snappy,
}

/// A payload as it goes on the wire: a short head, then the body. A snappy payload that does
/// not compress is its literal header and the payload itself, so it is never copied before
/// the frame is sealed; every other payload is all body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WirePayload {
    head: [u8; snappy::MAX_LITERAL_HEADER],
    head_len: u8,
    body: Bytes,
}

impl WirePayload {
    fn whole(body: Bytes) -> Self {
        Self {
            head: [0; snappy::MAX_LITERAL_HEADER],
            head_len: 0,
            body,
        }
    }

    /// The bytes that go before [`Self::body`].
    pub fn head(&self) -> &[u8] {
        &self.head[..usize::from(self.head_len)]
    }

    /// The bytes that go after [`Self::head`].
    pub fn body(&self) -> &Bytes {
        &self.body
    }

    /// Bytes on the wire.
    pub fn len(&self) -> usize {
        usize::from(self.head_len) + self.body.len()
    }

    /// Whether nothing goes on the wire (only ever for a plain empty payload).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Head and body in one buffer (copies, unless the head is empty).
    pub fn to_bytes(&self) -> Bytes {
        if self.head_len == 0 {
            return self.body.clone();
        }
        let mut out = Vec::with_capacity(self.len());
        out.extend_from_slice(self.head());
        out.extend_from_slice(&self.body);
        out.into()
    }
}

/// A payload that does not fit a frame once encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("payload of {0} bytes exceeds the frame limit")]
pub struct PayloadTooLarge(pub usize);

impl PayloadCodec {
    /// The codec both sides use after exchanging Hellos announcing these `p2p` versions.
    pub fn negotiate(ours: u64, theirs: u64) -> Self {
        if ours >= 5 && theirs >= 5 {
            Self::Snappy
        } else {
            Self::Plain
        }
    }

    /// Whether payloads are compressed.
    pub fn is_snappy(self) -> bool {
        self == Self::Snappy
    }

    /// Encodes a payload for the wire. Fails, before and after compressing, when it would not
    /// fit a frame (incompressible data grows slightly under snappy).
    pub fn encode(self, payload: Bytes) -> Result<Bytes, PayloadTooLarge> {
        self.encode_parts(payload).map(|wire| wire.to_bytes())
    }

    /// [`Self::encode`] in two parts, so that a payload snappy cannot shrink goes on the
    /// wire behind its literal header without being copied.
    pub fn encode_parts(self, payload: Bytes) -> Result<WirePayload, PayloadTooLarge> {
        if payload.len() > MAX_PAYLOAD_SIZE {
            return Err(PayloadTooLarge(payload.len()));
        }
        let encoded = match self {
            Self::Plain => WirePayload::whole(payload),
            Self::Snappy if snappy::looks_incompressible(&payload) => {
                let (head, len) = snappy::literal_header(payload.len());
                WirePayload {
                    head,
                    // At most MAX_LITERAL_HEADER (10).
                    head_len: len as u8,
                    body: payload,
                }
            }
            // Sampled just above: the match search is what is left.
            Self::Snappy => WirePayload::whole(Bytes::from(snappy::compress_matching(&payload))),
        };
        if encoded.len() > MAX_PAYLOAD_SIZE {
            return Err(PayloadTooLarge(encoded.len()));
        }
        Ok(encoded)
    }

    /// The size `payload` decodes to, read from its header without decoding it, so that it
    /// can be checked (and budgeted) before anything is allocated.
    pub fn decoded_len(self, payload: &[u8]) -> Result<usize, SnappyError> {
        match self {
            Self::Plain => Ok(payload.len()),
            Self::Snappy => snappy::decompressed_len(payload),
        }
    }

    /// Decodes a received payload whose decoded size must not exceed `max`.
    ///
    /// A plain payload, or a snappy block that is one literal, of at least [`VIEW_MIN`] bytes
    /// is returned as a view of `payload`, without a copy; a shorter one is copied, so that
    /// a small message an application keeps does not keep alive the whole read buffer that
    /// `payload` is a view of.
    pub fn decode(self, payload: Bytes, max: usize) -> Result<Bytes, SnappyError> {
        let too_large = |size| Err(SnappyError::TooLarge { size, max });
        let literal = match self {
            Self::Plain => 0,
            Self::Snappy => match snappy::single_literal(&payload) {
                Some(start) => start,
                None => return snappy::decompress_max(&payload, max).map(Bytes::from),
            },
        };
        let size = payload.len() - literal;
        if size > max {
            return too_large(size);
        }
        if size < VIEW_MIN {
            return Ok(Bytes::copy_from_slice(&payload[literal..]));
        }
        Ok(payload.slice(literal..))
    }

    /// The Ping and Pong payload, the empty list, as it goes on the wire.
    pub fn empty_list(self) -> Bytes {
        match self {
            Self::Plain => Bytes::from_static(&EMPTY_LIST),
            Self::Snappy => Bytes::from(snappy::compress(&EMPTY_LIST)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn snappy_only_when_both_sides_speak_version_5() {
        assert_eq!(PayloadCodec::negotiate(5, 5), PayloadCodec::Snappy);
        assert_eq!(PayloadCodec::negotiate(5, 6), PayloadCodec::Snappy);
        assert_eq!(PayloadCodec::negotiate(5, 4), PayloadCodec::Plain);
        assert_eq!(PayloadCodec::negotiate(4, 5), PayloadCodec::Plain);
    }

    #[test]
    fn payloads_round_trip_in_both_codecs() {
        for codec in [PayloadCodec::Plain, PayloadCodec::Snappy] {
            let payload = Bytes::from(vec![7u8; 10_000]);
            let wire = codec.encode(payload.clone()).unwrap();
            assert_eq!(codec.decoded_len(&wire), Ok(10_000));
            assert_eq!(codec.decode(wire, 10_000), Ok(payload));
        }
        // Hand-written: snappy of [0xc0] is a 1-byte length then a 1-byte literal.
        assert_eq!(&PayloadCodec::Snappy.empty_list()[..], [0x01, 0x00, 0xc0]);
        assert_eq!(&PayloadCodec::Plain.empty_list()[..], [0xc0]);
    }

    #[test]
    fn incompressible_payloads_go_out_uncopied_and_come_back_as_views() {
        use rand::{RngCore, SeedableRng};
        let mut noise = vec![0u8; 64 * 1024];
        rand::rngs::StdRng::seed_from_u64(1).fill_bytes(&mut noise);
        let payload = Bytes::from(noise);
        let wire = PayloadCodec::Snappy.encode_parts(payload.clone()).unwrap();
        assert_eq!(
            wire.body().as_ptr(),
            payload.as_ptr(),
            "the body is the payload"
        );
        assert_eq!(wire.head(), [0x80, 0x80, 0x04, 0xf4, 0xff, 0xff]);
        let joined = wire.to_bytes();
        assert_eq!(snappy::decompress(&joined).unwrap(), payload);
        let decoded = PayloadCodec::Snappy
            .decode(joined.clone(), 64 * 1024)
            .unwrap();
        assert_eq!(decoded, payload);
        assert_eq!(decoded.as_ptr(), joined[wire.head().len()..].as_ptr());
        // Short payloads are copied out of the frame instead.
        let short = PayloadCodec::Snappy
            .encode(payload.slice(..VIEW_MIN - 1))
            .unwrap();
        let decoded = PayloadCodec::Snappy
            .decode(short.clone(), VIEW_MIN)
            .unwrap();
        assert_eq!(decoded, payload.slice(..VIEW_MIN - 1));
        assert!(!short.as_ptr_range().contains(&decoded.as_ptr()));
        assert_eq!(
            PayloadCodec::Snappy.decode(joined, 64 * 1024 - 1),
            Err(SnappyError::TooLarge {
                size: 64 * 1024,
                max: 64 * 1024 - 1
            })
        );
        // Compressible payloads are compressed, and all body.
        let wire = PayloadCodec::Snappy
            .encode_parts(Bytes::from(vec![0u8; 64 * 1024]))
            .unwrap();
        assert!(wire.head().is_empty() && wire.len() < 4096);
    }

    #[test]
    fn limits_are_checked_both_ways() {
        let big = Bytes::from(vec![0u8; MAX_PAYLOAD_SIZE + 1]);
        assert_eq!(
            PayloadCodec::Plain.encode(big.clone()),
            Err(PayloadTooLarge(MAX_PAYLOAD_SIZE + 1))
        );
        assert_eq!(
            PayloadCodec::Snappy.encode(big),
            Err(PayloadTooLarge(MAX_PAYLOAD_SIZE + 1))
        );
        let wire = PayloadCodec::Snappy
            .encode(Bytes::from(vec![1; 100]))
            .unwrap();
        assert_eq!(
            PayloadCodec::Snappy.decode(wire, 99),
            Err(SnappyError::TooLarge { size: 100, max: 99 })
        );
        assert_eq!(
            PayloadCodec::Plain.decode(Bytes::from(vec![1; 100]), 99),
            Err(SnappyError::TooLarge { size: 100, max: 99 })
        );
    }
}
