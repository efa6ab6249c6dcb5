//! Ingress: turning frame bytes back into (code, payload), MAC first.

use aes::cipher::StreamCipher;
use bytes::{Buf, BytesMut};
use subtle::ConstantTimeEq;

use super::{decode_code, Aes256Ctr, Frame, FrameError, MAX_FRAME_SIZE};
use crate::rlpx::mac::{FrameMac, MacHash, MacKeccak};

/// Where the opener is within the byte stream.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum ReadState {
    /// Waiting for a 32-byte header and header MAC.
    Header,
    /// Header verified and consumed; waiting for the body of a frame of `size` bytes.
    Body { size: usize },
    /// An error broke the keystream or MAC state.
    Failed,
}

/// The ingress half of a session: opens frames in order.
#[derive(Clone)]
pub struct Opener {
    pub(super) inner: Ingress<MacKeccak>,
}

impl Opener {
    pub(crate) fn new(aes_secret: &[u8; 32], mac_secret: &[u8; 32], mac: MacKeccak) -> Self {
        let (cipher, mac) = super::direction(aes_secret, mac_secret, mac);
        Self {
            inner: Ingress::new(cipher, mac),
        }
    }

    pub(crate) fn set_max_frame_size(&mut self, max: usize) {
        self.inner.max_frame_size = max.min(MAX_FRAME_SIZE);
    }

    /// Opens the next frame from the front of `src`, consuming its bytes.
    ///
    /// `Ok(None)` means more bytes are needed (and `src` has been reserved for them, up to the
    /// frame size limit). Each MAC is checked before the bytes it covers are decrypted. After
    /// an error the opener is poisoned: every later call returns [`FrameError::Poisoned`].
    pub fn open(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        self.inner.open(src)
    }

    /// Whether the opener is between frames (nothing of a frame consumed yet).
    pub fn at_frame_boundary(&self) -> bool {
        self.inner.state == ReadState::Header
    }
}

#[derive(Clone)]
pub(crate) struct Ingress<H> {
    cipher: Aes256Ctr,
    pub(super) mac: FrameMac<H>,
    state: ReadState,
    max_frame_size: usize,
}

impl<H: MacHash> Ingress<H> {
    pub(crate) fn new(cipher: Aes256Ctr, mac: FrameMac<H>) -> Self {
        Self {
            cipher,
            mac,
            state: ReadState::Header,
            max_frame_size: MAX_FRAME_SIZE,
        }
    }

    pub(crate) fn open(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let result = self.step(src);
        if result.is_err() {
            self.state = ReadState::Failed;
        }
        result
    }

    fn step(&mut self, src: &mut BytesMut) -> Result<Option<Frame>, FrameError> {
        let size = match self.state {
            ReadState::Failed => return Err(FrameError::Poisoned),
            ReadState::Body { size } => size,
            ReadState::Header => match self.read_header(src)? {
                Some(size) => {
                    self.state = ReadState::Body { size };
                    size
                }
                None => return Ok(None),
            },
        };
        let frame = self.read_body(src, size)?;
        if frame.is_some() {
            self.state = ReadState::Header;
        }
        Ok(frame)
    }

    /// Verifies, decrypts and consumes a header; returns the frame size it announces.
    fn read_header(&mut self, src: &mut BytesMut) -> Result<Option<usize>, FrameError> {
        let Some(bytes) = src.get(..32) else {
            return Ok(None);
        };
        let mut header: [u8; 16] = bytes[..16].try_into().expect("slice of 16");
        let expected = self.mac.header_mac(&header);
        if !bool::from(expected.ct_eq(&bytes[16..32])) {
            return Err(FrameError::HeaderMac);
        }
        self.cipher.apply_keystream(&mut header);
        let size = u32::from_be_bytes([0, header[0], header[1], header[2]]) as usize;
        if size > self.max_frame_size {
            return Err(FrameError::TooLarge {
                size,
                max: self.max_frame_size,
            });
        }
        src.advance(32);
        Ok(Some(size))
    }

    /// Verifies, decrypts and consumes the body of a frame of `size` bytes.
    fn read_body(&mut self, src: &mut BytesMut, size: usize) -> Result<Option<Frame>, FrameError> {
        let padded = size.next_multiple_of(16);
        let total = padded + 16;
        if src.len() < total {
            src.reserve(total - src.len());
            return Ok(None);
        }
        self.mac.absorb(&src[..padded]);
        let expected = self.mac.frame_mac();
        if !bool::from(expected.ct_eq(&src[padded..total])) {
            return Err(FrameError::FrameMac);
        }
        let mut data = src.split_to(total);
        self.cipher.apply_keystream(&mut data[..padded]);
        data.truncate(size);
        let (code, code_len) = decode_code(&data)?;
        data.advance(code_len);
        Ok(Some(Frame {
            code,
            payload: data.freeze(),
        }))
    }
}

impl std::fmt::Debug for Opener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Opener").finish_non_exhaustive()
    }
}
