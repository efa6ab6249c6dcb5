//! Snappy block compression of message payloads (devp2p `p2p` version 5).
//!
//! devp2p: "Message payloads are compressed with snappy after Hello when both sides advertise
//! version 5 or higher ... implementations should check the uncompressed length of the data
//! before decoding it and disconnect if it exceeds 16 MiB" (here: the 2^24 - 1 frame limit).
//!
//! Payloads that would not shrink (random bytes, hashes, signatures) are not run through the
//! match search: a cheap sample says so, and they are sent as one literal, which is a valid
//! snappy block (format_description.txt: "a stream of literals and copies ... literals are
//! uncompressed data stored directly in the byte stream"). The header of such a block is
//! [`literal_header`], so the payload itself can go on the wire behind it without a copy, and
//! a receiver can take the payload out of such a block without copying it either
//! ([`single_literal`]).

use crate::rlpx::MAX_FRAME_SIZE;

/// Why a compressed payload was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SnappyError {
    /// The declared uncompressed length exceeds the limit; nothing was allocated for it.
    #[error("snappy payload declares {size} bytes, above the {max}-byte limit")]
    TooLarge {
        /// Declared uncompressed size.
        size: usize,
        /// The limit in force.
        max: usize,
    },
    /// Not a valid snappy block.
    #[error("invalid snappy data")]
    Corrupt,
}

/// Compresses `data` as one snappy block: one literal if it [`looks_incompressible`].
pub fn compress(data: &[u8]) -> Vec<u8> {
    if looks_incompressible(data) {
        let (header, len) = literal_header(data.len());
        let mut out = Vec::with_capacity(len + data.len());
        out.extend_from_slice(&header[..len]);
        out.extend_from_slice(data);
        return out;
    }
    compress_matching(data)
}

/// Compresses `data` as one snappy block through snappy's match search, without first
/// checking whether it [`looks_incompressible`] (for callers that checked already).
pub fn compress_matching(data: &[u8]) -> Vec<u8> {
    let mut out = vec![0; snap::raw::max_compress_len(data.len())];
    // Compression into a buffer of max_compress_len bytes cannot fail for inputs the frame
    // limit allows (snap only fails for inputs above 2^32 - 1 bytes).
    let len = snap::raw::Encoder::new()
        .compress(data, &mut out)
        .expect("output buffer is max_compress_len");
    out.truncate(len);
    out
}

/// Decompresses one snappy block, checking its declared length against [`MAX_FRAME_SIZE`]
/// before allocating.
pub fn decompress(data: &[u8]) -> Result<Vec<u8>, SnappyError> {
    decompress_max(data, MAX_FRAME_SIZE)
}

/// The uncompressed length a block declares in its header.
pub fn decompressed_len(data: &[u8]) -> Result<usize, SnappyError> {
    snap::raw::decompress_len(data).map_err(|_| SnappyError::Corrupt)
}

/// [`decompress`] with an explicit limit.
pub fn decompress_max(data: &[u8], max: usize) -> Result<Vec<u8>, SnappyError> {
    let size = decompressed_len(data)?;
    if size > max {
        return Err(SnappyError::TooLarge { size, max });
    }
    let mut out = vec![0; size];
    let written = snap::raw::Decoder::new()
        .decompress(data, &mut out)
        .map_err(|_| SnappyError::Corrupt)?;
    out.truncate(written);
    Ok(out)
}

/// Longest header of a one-literal block: a 5-byte length varint, the tag, 4 length bytes.
pub const MAX_LITERAL_HEADER: usize = 10;

/// The header of a snappy block that holds `len` bytes as one literal: the block is this
/// header followed by the bytes themselves. `len` must be below 2^32 (the frame limit is).
///
/// Snappy format: the block starts with the uncompressed length as a little-endian varint;
/// a literal's tag has low bits `00`, and its upper six bits hold `len - 1` if below 60, or
/// 60..=63 for `len - 1` in the next 1..=4 bytes, little-endian.
pub fn literal_header(len: usize) -> ([u8; MAX_LITERAL_HEADER], usize) {
    let mut out = [0u8; MAX_LITERAL_HEADER];
    let mut at = 0;
    let mut rest = len as u64;
    loop {
        let byte = (rest & 0x7f) as u8;
        rest >>= 7;
        if rest == 0 {
            out[at] = byte;
            at += 1;
            break;
        }
        out[at] = byte | 0x80;
        at += 1;
    }
    if len == 0 {
        // The empty block is its length alone.
        return (out, at);
    }
    let n = (len - 1) as u32;
    if n < 60 {
        out[at] = (n as u8) << 2;
        return (out, at + 1);
    }
    let extra = (4 - n.leading_zeros() as usize / 8).max(1);
    out[at] = ((59 + extra) as u8) << 2;
    out[at + 1..at + 1 + extra].copy_from_slice(&n.to_le_bytes()[..extra]);
    (out, at + 1 + extra)
}

/// If `block` is exactly one literal holding all of its declared length (what
/// [`literal_header`] starts), where the literal's bytes begin; `None` for any other block,
/// valid or not, which must then go through the decoder.
pub fn single_literal(block: &[u8]) -> Option<usize> {
    let varint = block.iter().position(|b| b & 0x80 == 0)? + 1;
    if varint > 5 {
        return None;
    }
    let declared = snap::raw::decompress_len(block).ok()?;
    if declared == 0 {
        return (block.len() == varint).then_some(varint);
    }
    let tag = *block.get(varint)?;
    if tag & 0b11 != 0 {
        return None;
    }
    let (len, header) = match (tag >> 2) as usize {
        n @ 0..=59 => (n + 1, varint + 1),
        n => {
            let extra = n - 59;
            let bytes = block.get(varint + 1..varint + 1 + extra)?;
            let mut le = [0u8; 4];
            le[..extra].copy_from_slice(bytes);
            (u32::from_le_bytes(le) as usize + 1, varint + 1 + extra)
        }
    };
    (len == declared && block.len() - header == len).then_some(header)
}

/// Bytes of each sample [`looks_incompressible`] examines.
const SAMPLE: usize = 512;
/// Samples taken from a payload longer than one sample, spread evenly over it.
const SAMPLES: usize = 4;

/// Whether snappy would gain (next to) nothing on `data`: in every sample, fewer than 1 in
/// 32 positions start 4 bytes seen shortly before, snappy's shortest useful copy. Costs at
/// most a few thousand table lookups however long `data` is. Data whose only repeats are far
/// apart, or outside the samples, is taken as incompressible and sent as a literal: still
/// valid snappy, only larger than it could be.
pub fn looks_incompressible(data: &[u8]) -> bool {
    if data.len() <= SMALL_SAMPLE {
        // A table this size is cleared in a few stores, where a message of a few hundred
        // bytes would spend as long clearing the large one as scanning itself.
        return few_repeats::<64>(data);
    }
    if data.len() <= SAMPLE {
        return few_repeats::<512>(data);
    }
    let step = (data.len() - SAMPLE) / (SAMPLES - 1);
    (0..SAMPLES).all(|i| few_repeats::<512>(&data[i * step..i * step + SAMPLE]))
}

/// Samples up to this long use the small hash table.
const SMALL_SAMPLE: usize = 128;

/// Whether under 1 in 32 positions of `sample` (at most [`SAMPLE`] bytes) start a 4-byte
/// sequence that occurred earlier in it, as far as a hash table of `SLOTS` entries (a power
/// of two) remembers.
fn few_repeats<const SLOTS: usize>(sample: &[u8]) -> bool {
    // Position + 1 of the last occurrence of each hash; 0 for none.
    let mut last = [0u16; SLOTS];
    let shift = 32 - SLOTS.trailing_zeros();
    let mut repeats = 0;
    for (i, window) in sample.windows(4).enumerate() {
        let word = u32::from_le_bytes([window[0], window[1], window[2], window[3]]);
        let slot = (word.wrapping_mul(0x1e35_a7bd) >> shift) as usize;
        if let Some(earlier) = (last[slot] as usize).checked_sub(1) {
            if sample[earlier..earlier + 4] == *window {
                repeats += 1;
            }
        }
        last[slot] = (i + 1) as u16;
    }
    let positions = sample.len().saturating_sub(3);
    repeats * 32 < positions.max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for data in [&b""[..], b"a", &[7u8; 100_000]] {
            assert_eq!(decompress(&compress(data)).unwrap(), data);
        }
    }

    fn noise(len: usize) -> Vec<u8> {
        use rand::{RngCore, SeedableRng};
        let mut out = vec![0u8; len];
        rand::rngs::StdRng::seed_from_u64(len as u64).fill_bytes(&mut out);
        out
    }

    #[test]
    fn literal_headers_match_the_format_by_hand() {
        // varint(100) = 0x64; tag 60 << 2 = 0xf0 then len - 1 = 99 in one byte.
        assert_eq!(
            literal_header(100),
            ([0x64, 0xf0, 99, 0, 0, 0, 0, 0, 0, 0], 3)
        );
        // varint(65536) = 80 80 04; tag 61 << 2 = 0xf4 then 65535 in two bytes.
        let (h, n) = literal_header(65536);
        assert_eq!(&h[..n], [0x80, 0x80, 0x04, 0xf4, 0xff, 0xff]);
        // Up to 60 bytes the length sits in the tag: (60 - 1) << 2 = 0xec.
        assert_eq!(&literal_header(60).0[..2], [60, 0xec]);
        assert_eq!(&literal_header(61).0[..3], [61, 0xf0, 60]);
        assert_eq!(literal_header(0), ([0; 10], 1));
        let (h, n) = literal_header(MAX_FRAME_SIZE);
        assert_eq!(&h[..n], [0xff, 0xff, 0xff, 0x07, 0xf8, 0xfe, 0xff, 0xff]);
    }

    #[test]
    fn literal_blocks_decode_with_snap_at_every_header_size() {
        for len in [0, 1, 59, 60, 61, 256, 257, 65_536, 65_537, 1 << 20] {
            let data = noise(len);
            let (header, n) = literal_header(len);
            let mut block = header[..n].to_vec();
            block.extend_from_slice(&data);
            assert_eq!(
                snap::raw::Decoder::new().decompress_vec(&block).unwrap(),
                data
            );
            assert_eq!(single_literal(&block), Some(n), "len {len}");
        }
    }

    #[test]
    fn random_data_goes_out_as_one_literal_and_repetitive_data_is_compressed() {
        for len in [10, 100, 1000, 64 * 1024] {
            let data = noise(len);
            assert!(looks_incompressible(&data), "{len} random bytes");
            let block = compress(&data);
            assert_eq!(single_literal(&block), Some(block.len() - len));
            assert_eq!(decompress(&block).unwrap(), data);
        }
        // What devp2p messages often are: an RLP list of 32-byte hashes, many the same.
        let hash = noise(32);
        let list = rlp::encode_list::<Vec<u8>, _>(&vec![hash; 2000]).to_vec();
        assert!(!looks_incompressible(&list));
        let block = compress(&list);
        assert!(block.len() < list.len() / 10, "{} bytes", block.len());
        assert_eq!(single_literal(&block), None);
        assert_eq!(decompress(&block).unwrap(), list);
        // Repeats in one part of a long payload are enough for the match search.
        let mut mixed = noise(64 * 1024);
        mixed[..SAMPLE].fill(0);
        assert!(!looks_incompressible(&mixed));
    }

    #[test]
    fn short_messages_with_repeats_are_compressed_on_both_sides_of_the_small_table() {
        // Three copies of one 32-byte hash: fits the small table (up to 128 bytes), then one
        // more hash for the large one.
        let hash = noise(32);
        for copies in [3, 4, 6] {
            let list = rlp::encode_list::<Vec<u8>, _>(&vec![hash.clone(); copies]).to_vec();
            assert_eq!(
                list.len() <= SMALL_SAMPLE,
                copies < 4,
                "{} bytes",
                list.len()
            );
            assert!(!looks_incompressible(&list), "{copies} copies");
            let block = compress(&list);
            assert!(block.len() < list.len() / 2, "{} bytes", block.len());
        }
        // Random bytes just either side of the switch.
        for len in [SMALL_SAMPLE, SMALL_SAMPLE + 1] {
            assert!(looks_incompressible(&noise(len)), "{len} random bytes");
        }
    }

    #[test]
    fn only_blocks_that_are_one_whole_literal_are_taken_as_such() {
        // snap's own output for repetitive data starts with a literal and then copies.
        assert_eq!(single_literal(&compress(&[7u8; 1000])), None);
        let (header, n) = literal_header(5);
        let mut block = header[..n].to_vec();
        block.extend_from_slice(b"abcde");
        assert_eq!(single_literal(&block), Some(2));
        // One byte short, one byte long, a declared length other than the literal's.
        assert_eq!(single_literal(&block[..block.len() - 1]), None);
        assert_eq!(single_literal(&[&block[..], b"f"].concat()), None);
        assert_eq!(
            single_literal(&[6, 4 << 2, b'a', b'b', b'c', b'd', b'e']),
            None
        );
        assert_eq!(single_literal(&[]), None);
        assert_eq!(single_literal(&[0x80; 11]), None);
    }

    #[test]
    fn declared_length_is_checked_before_allocating() {
        // A snappy block starts with its uncompressed length as a varint: 2^24 here.
        let header = [0x80, 0x80, 0x80, 0x08];
        assert_eq!(
            decompress(&header),
            Err(SnappyError::TooLarge {
                size: 1 << 24,
                max: MAX_FRAME_SIZE
            })
        );
        assert_eq!(
            decompress_max(&compress(&[0; 100]), 99),
            Err(SnappyError::TooLarge { size: 100, max: 99 })
        );
    }

    #[test]
    fn corrupt_data_is_typed() {
        assert_eq!(decompress(&[0xff; 11]), Err(SnappyError::Corrupt));
        // Declares 10 bytes but carries a literal of 3.
        assert_eq!(
            decompress(&[10, 8, b'a', b'b', b'c']),
            Err(SnappyError::Corrupt)
        );
    }
}
