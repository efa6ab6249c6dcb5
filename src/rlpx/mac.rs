//! The RLPx frame MAC: a running keccak-256 state per direction, "keyed" through AES-256.
//!
//! From the RLPx spec:
//! ```text
//! header-mac-seed = aes(mac-secret, keccak256.digest(egress-mac)[:16]) ^ header-ciphertext
//! egress-mac = keccak256.update(egress-mac, header-mac-seed)
//! header-mac = keccak256.digest(egress-mac)[:16]
//!
//! egress-mac = keccak256.update(egress-mac, frame-ciphertext)
//! frame-mac-seed = aes(mac-secret, keccak256.digest(egress-mac)[:16]) ^ keccak256.digest(egress-mac)[:16]
//! egress-mac = keccak256.update(egress-mac, frame-mac-seed)
//! frame-mac = keccak256.digest(egress-mac)[:16]
//! ```

use aes::cipher::{BlockEncrypt, KeyInit};
use aes::Aes256;
use sha3::Digest;

/// The keccak-256 of the frame MAC: the pure Rust `sha3` crate, or with the `asm-keccak`
/// feature the `keccak-asm` crate's assembly. Both hash alike; only the speed differs.
#[cfg(not(feature = "asm-keccak"))]
pub(crate) type MacKeccak = sha3::Keccak256;
/// The keccak-256 of the frame MAC: the pure Rust `sha3` crate, or with the `asm-keccak`
/// feature the `keccak-asm` crate's assembly. Both hash alike; only the speed differs.
#[cfg(feature = "asm-keccak")]
pub(crate) type MacKeccak = keccak_asm::Keccak256;

/// A running hash whose digest can be read without ending it.
///
/// Keccak-256 in production; tests replace it to check the frame vector, whose MAC states are
/// fakes.
pub(crate) trait MacHash: Clone {
    fn update(&mut self, data: &[u8]);
    fn digest(&self) -> [u8; 32];
}

impl MacHash for MacKeccak {
    fn update(&mut self, data: &[u8]) {
        Digest::update(self, data);
    }

    fn digest(&self) -> [u8; 32] {
        self.clone().finalize().into()
    }
}

/// One direction's MAC state.
#[derive(Clone)]
pub(crate) struct FrameMac<H = MacKeccak> {
    hash: H,
    cipher: Aes256,
    /// `hash.digest()`, kept current between frames: the header MAC of a frame starts from the
    /// digest that ended the previous frame, so it need not be computed twice.
    digest: [u8; 32],
}

impl<H: MacHash> FrameMac<H> {
    pub(crate) fn new(mac_secret: &[u8; 32], hash: H) -> Self {
        let digest = hash.digest();
        Self {
            hash,
            cipher: Aes256::new(mac_secret.into()),
            digest,
        }
    }

    /// Feeds `seed ^ aes(mac-secret, digest[:16])` and returns the new digest's first 16 bytes.
    fn absorb_seed(&mut self, seed: &[u8; 16]) -> [u8; 16] {
        let mut block = aes::Block::clone_from_slice(&self.digest[..16]);
        self.cipher.encrypt_block(&mut block);
        for (b, s) in block.iter_mut().zip(seed) {
            *b ^= s;
        }
        self.hash.update(&block);
        self.digest = self.hash.digest();
        first_16(&self.digest)
    }

    /// The header MAC for an encrypted 16-byte header.
    pub(crate) fn header_mac(&mut self, header_ciphertext: &[u8; 16]) -> [u8; 16] {
        self.absorb_seed(header_ciphertext)
    }

    /// Feeds frame ciphertext; may be called in pieces.
    pub(crate) fn absorb(&mut self, frame_ciphertext: &[u8]) {
        self.hash.update(frame_ciphertext);
    }

    /// The frame MAC over everything absorbed since the header MAC.
    pub(crate) fn frame_mac(&mut self) -> [u8; 16] {
        self.digest = self.hash.digest();
        let seed = first_16(&self.digest);
        self.absorb_seed(&seed)
    }

    /// The digest at the last frame boundary; equal on both ends of a healthy session.
    #[cfg(test)]
    pub(crate) fn boundary_digest(&self) -> [u8; 32] {
        self.digest
    }
}

fn first_16(digest: &[u8; 32]) -> [u8; 16] {
    let mut out = [0u8; 16];
    out.copy_from_slice(&digest[..16]);
    out
}
