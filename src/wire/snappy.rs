//! Snappy block compression of message payloads (devp2p `p2p` version 5).
//!
//! devp2p: "Message payloads are compressed with snappy after Hello when both sides advertise
//! version 5 or higher ... implementations should check the uncompressed length of the data
//! before decoding it and disconnect if it exceeds 16 MiB" (here: the 2^24 - 1 frame limit).

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

/// Compresses `data` as one snappy block.
pub fn compress(data: &[u8]) -> Vec<u8> {
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        for data in [&b""[..], b"a", &[7u8; 100_000]] {
            assert_eq!(decompress(&compress(data)).unwrap(), data);
        }
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
