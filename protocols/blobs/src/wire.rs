//! The messages of `blobs/1`, inside the request-id envelope of `peerwire::protocol::request`.
//!
//! | code | name    | payload                                      |
//! |------|---------|----------------------------------------------|
//! | 0    | GetBlob | `[request-id, [hash, offset]]`               |
//! | 1    | Blob    | `[request-id, [size, bytes]]`, or `[request-id, []]` if not held |
//! | 2    | Have    | `[hash, ...]` (no id: an announcement)       |
//!
//! A blob larger than [`CHUNK_SIZE`] is fetched as several GetBlob/Blob exchanges at offsets
//! `0, CHUNK_SIZE, 2 × CHUNK_SIZE, …`, so that each message stays far below the 16 MiB frame
//! limit; `bytes` holds at most `CHUNK_SIZE` bytes from `offset`, and `size` is the whole blob's.

use bytes::Bytes;
use peerwire::rlp::{self, Decodable, DecoderError, Encodable, Rlp, RlpStream};

use crate::BlobHash;

/// GetBlob's code.
pub const GET_BLOB: u64 = 0;
/// Blob's code.
pub const BLOB: u64 = 1;
/// Have's code.
pub const HAVE: u64 = 2;
/// Message codes used.
pub const LENGTH: u64 = 3;
/// Most blob bytes in one Blob message: 1 MiB.
pub const CHUNK_SIZE: usize = 1 << 20;
/// Most hashes in one Have message we send (about 135 KiB).
pub const HAVE_BATCH: usize = 4096;

/// GetBlob's body.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct GetBlob {
    pub(crate) hash: BlobHash,
    pub(crate) offset: u64,
}

impl Encodable for GetBlob {
    fn rlp_append(&self, s: &mut RlpStream) {
        s.begin_list(2).append(&self.hash).append(&self.offset);
    }
}

impl Decodable for GetBlob {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        if rlp.item_count()? != 2 {
            return Err(DecoderError::RlpIncorrectListLen);
        }
        Ok(Self {
            hash: rlp.val_at(0)?,
            offset: rlp.val_at(1)?,
        })
    }
}

/// Blob's body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum BlobReply {
    /// Part of the blob from the offset asked for, and the blob's size.
    Chunk { size: u64, data: Bytes },
    /// The peer does not hold it.
    Missing,
}

impl Encodable for BlobReply {
    fn rlp_append(&self, s: &mut RlpStream) {
        match self {
            Self::Chunk { size, data } => {
                s.begin_list(2).append(size).append(&&data[..]);
            }
            Self::Missing => {
                s.begin_list(0);
            }
        }
    }
}

impl Decodable for BlobReply {
    fn decode(rlp: &Rlp<'_>) -> Result<Self, DecoderError> {
        match rlp.item_count()? {
            0 => Ok(Self::Missing),
            2 => Ok(Self::Chunk {
                size: rlp.val_at(0)?,
                data: Bytes::copy_from_slice(rlp.at(1)?.data()?),
            }),
            _ => Err(DecoderError::RlpIncorrectListLen),
        }
    }
}

/// A Have message's payload.
pub(crate) fn have(hashes: &[BlobHash]) -> Bytes {
    rlp::encode_list(hashes).freeze()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bodies_round_trip() {
        let get = GetBlob {
            hash: BlobHash::of(b"x"),
            offset: 1 << 20,
        };
        assert_eq!(rlp::decode::<GetBlob>(&rlp::encode(&get)), Ok(get));
        let chunk = BlobReply::Chunk {
            size: 3,
            data: Bytes::from_static(b"abc"),
        };
        assert_eq!(rlp::decode::<BlobReply>(&rlp::encode(&chunk)), Ok(chunk));
        assert_eq!(
            rlp::decode::<BlobReply>(&rlp::encode(&BlobReply::Missing)),
            Ok(BlobReply::Missing)
        );
        assert!(rlp::decode::<BlobReply>(&rlp::encode_list(&[1u64])).is_err());
    }
}
