//! Egress: turning (code, payload) into frame bytes.

use aes::cipher::StreamCipher;
use bytes::BytesMut;

use super::{encode_code, Aes256Ctr, FrameError, MAX_FRAME_SIZE};
use crate::rlpx::mac::{FrameMac, MacHash, MacKeccak};

/// Encrypt and MAC in pieces of this size, so each piece is hashed while still in cache.
const CHUNK: usize = 8 * 1024;

/// Longest payload head [`Sealer::seal_parts`] takes.
const MAX_HEAD: usize = 16;

/// RLPx: "header-data = [capability-id, context-id]", both zero; encoded `c2 80 80`.
const HEADER_DATA: [u8; 3] = [0xc2, 0x80, 0x80];

/// The egress half of a session: seals frames in order.
pub struct Sealer {
    pub(super) cipher: Aes256Ctr,
    pub(super) mac: FrameMac,
}

impl Sealer {
    pub(crate) fn new(aes_secret: &[u8; 32], mac_secret: &[u8; 32], mac: MacKeccak) -> Self {
        let (cipher, mac) = super::direction(aes_secret, mac_secret, mac);
        Self { cipher, mac }
    }

    /// Appends the frame for `(code, payload)` to `out`.
    ///
    /// Fails, changing nothing, if the frame data would exceed [`MAX_FRAME_SIZE`]. The only
    /// allocation is growing `out` when it lacks capacity.
    pub fn seal(
        &mut self,
        code: u64,
        payload: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), FrameError> {
        seal(&mut self.cipher, &mut self.mac, code, payload, out)
    }

    /// Appends the frame for `code` and the payload `head || body`, as if they were one
    /// slice, so that a payload encoding's header can go in front of a payload without
    /// copying the payload first. Fails like [`Self::seal`], and with `TooLarge` for a head
    /// over 16 bytes.
    pub fn seal_parts(
        &mut self,
        code: u64,
        head: &[u8],
        body: &[u8],
        out: &mut BytesMut,
    ) -> Result<(), FrameError> {
        if head.len() > MAX_HEAD {
            return Err(FrameError::TooLarge {
                size: head.len(),
                max: MAX_HEAD,
            });
        }
        let (code, code_len) = encode_code(code);
        let mut start = [0u8; 9 + MAX_HEAD];
        start[..code_len].copy_from_slice(&code[..code_len]);
        start[code_len..code_len + head.len()].copy_from_slice(head);
        let start = &start[..code_len + head.len()];
        seal_data(&mut self.cipher, &mut self.mac, start, body, out)
    }

    /// Seals `data` as the whole frame data, message id included (or not): for tests and
    /// fuzzing of the opener's message-id parsing.
    #[cfg(any(test, feature = "test-utils"))]
    pub(crate) fn seal_raw(&mut self, data: &[u8], out: &mut BytesMut) -> Result<(), FrameError> {
        seal_data(&mut self.cipher, &mut self.mac, &[], data, out)
    }

    /// A second sealer at the same keystream position. Never let both send: that reuses the
    /// keystream. Fuzzing uses it to restart from one fixed state.
    #[cfg(any(test, feature = "test-utils"))]
    pub(crate) fn duplicate(&self) -> Self {
        Self {
            cipher: self.cipher.clone(),
            mac: self.mac.clone(),
        }
    }
}

pub(crate) fn seal<H: MacHash>(
    cipher: &mut Aes256Ctr,
    mac: &mut FrameMac<H>,
    code: u64,
    payload: &[u8],
    out: &mut BytesMut,
) -> Result<(), FrameError> {
    let (code, code_len) = encode_code(code);
    seal_data(cipher, mac, &code[..code_len], payload, out)
}

/// Seals frame data `head || payload` (normally: message id, then message).
pub(crate) fn seal_data<H: MacHash>(
    cipher: &mut Aes256Ctr,
    mac: &mut FrameMac<H>,
    head: &[u8],
    payload: &[u8],
    out: &mut BytesMut,
) -> Result<(), FrameError> {
    let size = head.len() + payload.len();
    if size > MAX_FRAME_SIZE {
        return Err(FrameError::TooLarge {
            size,
            max: MAX_FRAME_SIZE,
        });
    }
    let padded = size.next_multiple_of(16);
    out.reserve(32 + padded + 16);

    let mut header = [0u8; 16];
    header[..3].copy_from_slice(&(size as u32).to_be_bytes()[1..]);
    header[3..6].copy_from_slice(&HEADER_DATA);
    cipher.apply_keystream(&mut header);
    out.extend_from_slice(&header);
    out.extend_from_slice(&mac.header_mac(&header));

    // Copy, encrypt and hash the body a cache-sized piece at a time, so each byte is read
    // from memory once.
    let body = out.len();
    out.extend_from_slice(head);
    let mut done = body;
    for piece in payload.chunks(CHUNK) {
        out.extend_from_slice(piece);
        if out.len() - done >= CHUNK {
            cipher.apply_keystream(&mut out[done..]);
            mac.absorb(&out[done..]);
            done = out.len();
        }
    }
    out.resize(body + padded, 0);
    cipher.apply_keystream(&mut out[done..]);
    mac.absorb(&out[done..]);
    out.extend_from_slice(&mac.frame_mac());
    Ok(())
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Sealer").finish_non_exhaustive()
    }
}
