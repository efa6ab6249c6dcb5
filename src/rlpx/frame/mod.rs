//! The RLPx frame codec, sans-IO: [`Sealer`] for egress, [`Opener`] for ingress.
//!
//! ```text
//! frame = header-ciphertext || header-mac || frame-ciphertext || frame-mac
//! header = frame-size (3 bytes) || header-data ([0, 0]) || header-padding (zeros to 16 bytes)
//! frame-data = msg-id (RLP) || msg-data, zero-padded to a multiple of 16
//! ```
//! Both directions encrypt with AES-256-CTR keyed by aes-secret, zero IV, one keystream per
//! direction for the whole session; MACs are in [`mac`](super::mac).

mod open;
mod seal;
#[cfg(test)]
mod tests;

use aes::Aes256;

pub use self::open::Opener;
pub use self::seal::Sealer;
use super::mac::{FrameMac, MacKeccak};
use super::secrets::Secrets;

/// RLPx: the frame size is a 24-bit integer, so a frame carries at most 2^24 - 1 bytes of data.
pub const MAX_FRAME_SIZE: usize = (1 << 24) - 1;

/// A decrypted frame: a message code and its payload.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    /// The message id, RLP-decoded from the start of the frame data.
    pub code: u64,
    /// Everything after the message id (still snappy-compressed if the session compresses).
    pub payload: bytes::Bytes,
}

/// Why a frame could not be sealed or opened.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The header MAC did not verify: corruption or an attack.
    #[error("frame header MAC mismatch")]
    HeaderMac,
    /// The frame MAC did not verify: corruption or an attack.
    #[error("frame MAC mismatch")]
    FrameMac,
    /// A frame larger than the limit, announced by a peer or asked of [`Sealer::seal`].
    #[error("frame of {size} bytes exceeds the limit of {max} bytes")]
    TooLarge {
        /// The frame size announced or requested.
        size: usize,
        /// The limit in force.
        max: usize,
    },
    /// The frame data does not start with an RLP-encoded message id.
    #[error("frame has no valid message id")]
    MessageCode,
    /// The byte stream ended inside a frame.
    #[error("stream ended inside a frame")]
    Truncated,
    /// An earlier error left the keystream and MAC states out of step; nothing more can be read.
    #[error("frame codec failed earlier and cannot continue")]
    Poisoned,
}

type Aes256Ctr = ctr::Ctr64BE<Aes256>;

/// One direction's cipher and MAC state, both built from the session secrets.
fn direction(
    aes_secret: &[u8; 32],
    mac_secret: &[u8; 32],
    mac: MacKeccak,
) -> (Aes256Ctr, FrameMac) {
    use aes::cipher::KeyIvInit;
    // The RLPx frame cipher uses an all-zero IV; a 64-bit counter never wraps in practice
    // (2^64 blocks) and matches a 128-bit one until then.
    let cipher = Aes256Ctr::new(aes_secret.into(), &[0u8; 16].into());
    (cipher, FrameMac::new(mac_secret, mac))
}

/// Both directions of an established session.
#[derive(Debug)]
pub struct FrameCodec {
    sealer: Sealer,
    opener: Opener,
}

impl FrameCodec {
    /// The codec for the session `secrets` describe.
    pub fn new(secrets: Secrets) -> Self {
        let Secrets {
            aes_secret,
            mac_secret,
            egress_mac,
            ingress_mac,
            ..
        } = secrets;
        Self {
            sealer: Sealer::new(&aes_secret, &mac_secret, egress_mac),
            opener: Opener::new(&aes_secret, &mac_secret, ingress_mac),
        }
    }

    /// Lowers the largest frame [`Opener::open`] accepts (default and ceiling: [`MAX_FRAME_SIZE`]).
    pub fn with_max_frame_size(mut self, max: usize) -> Self {
        self.opener.set_max_frame_size(max);
        self
    }

    /// The egress half.
    pub fn sealer(&mut self) -> &mut Sealer {
        &mut self.sealer
    }

    /// The ingress half.
    pub fn opener(&mut self) -> &mut Opener {
        &mut self.opener
    }

    /// Splits into halves that can live in separate tasks.
    pub fn split(self) -> (Sealer, Opener) {
        (self.sealer, self.opener)
    }
}

/// The RLP encoding of a message id: at most 9 bytes.
fn encode_code(code: u64) -> ([u8; 9], usize) {
    let mut out = [0u8; 9];
    if code != 0 && code < 0x80 {
        out[0] = code as u8;
        return (out, 1);
    }
    let be = code.to_be_bytes();
    let skip = (code.leading_zeros() / 8) as usize;
    let len = 8 - skip;
    out[0] = 0x80 + len as u8;
    out[1..=len].copy_from_slice(&be[skip..]);
    (out, 1 + len)
}

/// Reads the message id at the start of frame data; returns it and its encoded length.
fn decode_code(data: &[u8]) -> Result<(u64, usize), FrameError> {
    let info = rlp::Rlp::new(data)
        .payload_info()
        .map_err(|_| FrameError::MessageCode)?;
    let len = info.header_len + info.value_len;
    let encoded = data.get(..len).ok_or(FrameError::MessageCode)?;
    let code = rlp::Rlp::new(encoded)
        .as_val::<u64>()
        .map_err(|_| FrameError::MessageCode)?;
    Ok((code, len))
}
