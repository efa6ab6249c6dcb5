//! ECIES as RLPx uses it for the handshake packets.
//!
//! From the RLPx spec: "`R = r * G`, `S = Px` where `(Px, Py) = r * K_B`,
//! `kE || kM = KDF(S, 32)`, `iv` random, `c = AES(kE, iv, m)`,
//! `d = MAC(sha256(kM), iv || c)`; the encrypted message is `R || iv || c || d`."
//! KDF is NIST SP 800-56 concatenation with SHA-256, AES is AES-128-CTR, and MAC is
//! HMAC-SHA256 computed over `iv || c || shared-mac-data`.

use aes::cipher::{KeyIvInit, StreamCipher};
use hmac::{Hmac, Mac};
use rand::{CryptoRng, RngCore};
use secp256k1::{ecdh, PublicKey, SecretKey};
use sha2::{Digest, Sha256};

type Aes128Ctr = ctr::Ctr128BE<aes::Aes128>;
type HmacSha256 = Hmac<Sha256>;

const PUBLIC_KEY_LEN: usize = 65;
const IV_LEN: usize = 16;
const TAG_LEN: usize = 32;

/// Bytes ECIES adds to a plaintext: ephemeral public key, IV and MAC tag.
pub const OVERHEAD: usize = PUBLIC_KEY_LEN + IV_LEN + TAG_LEN;

/// Why an ECIES packet could not be decrypted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EciesError {
    /// Shorter than the fixed overhead.
    #[error("ECIES packet shorter than its {OVERHEAD}-byte overhead")]
    TooShort,
    /// The ephemeral public key `R` is not a valid point on secp256k1.
    #[error("ECIES ephemeral key is not a point on secp256k1")]
    InvalidEphemeralKey,
    /// The HMAC tag does not match: wrong key or tampered packet.
    #[error("ECIES MAC mismatch")]
    MacMismatch,
}

/// The x coordinate of `scalar * point`, unhashed, as RLPx's ECDH uses it.
pub(crate) fn ecdh_x(point: &PublicKey, scalar: &SecretKey) -> [u8; 32] {
    let xy = ecdh::shared_secret_point(point, scalar);
    let mut x = [0u8; 32];
    x.copy_from_slice(&xy[..32]);
    x
}

/// `kE` (AES-128 key) and `sha256(kM)` (HMAC key) from the shared x coordinate.
fn derive_keys(shared_x: &[u8; 32]) -> ([u8; 16], [u8; 32]) {
    let mut material = [0u8; 32];
    // concat-kdf only fails for an empty output or one longer than 2^32 hash blocks.
    concat_kdf::derive_key_into::<Sha256>(shared_x, &[], &mut material)
        .expect("32 bytes is a valid KDF output length");
    let mut enc_key = [0u8; 16];
    enc_key.copy_from_slice(&material[..16]);
    let mac_key: [u8; 32] = Sha256::digest(&material[16..]).into();
    (enc_key, mac_key)
}

fn tag(mac_key: &[u8; 32], iv_and_ciphertext: &[u8], shared_mac_data: &[u8]) -> HmacSha256 {
    // HMAC accepts keys of any length.
    let mut mac = HmacSha256::new_from_slice(mac_key).expect("HMAC takes any key length");
    mac.update(iv_and_ciphertext);
    mac.update(shared_mac_data);
    mac
}

/// Encrypts `plaintext` to `remote`, appending `R || iv || c || d` to `out`.
pub fn encrypt_into<R: RngCore + CryptoRng>(
    rng: &mut R,
    remote: &PublicKey,
    plaintext: &[u8],
    shared_mac_data: &[u8],
    out: &mut Vec<u8>,
) {
    let ephemeral = SecretKey::new(rng);
    let (enc_key, mac_key) = derive_keys(&ecdh_x(remote, &ephemeral));
    let mut iv = [0u8; IV_LEN];
    rng.fill_bytes(&mut iv);

    out.reserve(OVERHEAD + plaintext.len());
    out.extend_from_slice(
        &ephemeral
            .public_key(secp256k1::SECP256K1)
            .serialize_uncompressed(),
    );
    let iv_start = out.len();
    out.extend_from_slice(&iv);
    let body_start = out.len();
    out.extend_from_slice(plaintext);
    Aes128Ctr::new(&enc_key.into(), &iv.into()).apply_keystream(&mut out[body_start..]);
    let d = tag(&mac_key, &out[iv_start..], shared_mac_data).finalize();
    out.extend_from_slice(&d.into_bytes());
}

/// Decrypts a packet addressed to `key`. The tag is checked before anything is decrypted.
pub fn decrypt(
    key: &SecretKey,
    packet: &[u8],
    shared_mac_data: &[u8],
) -> Result<Vec<u8>, EciesError> {
    if packet.len() < OVERHEAD {
        return Err(EciesError::TooShort);
    }
    let (ephemeral, rest) = packet.split_at(PUBLIC_KEY_LEN);
    let (iv_and_ciphertext, d) = rest.split_at(rest.len() - TAG_LEN);
    // R must be an uncompressed point (tag 0x04; libsecp256k1 would also take the hybrid tags
    // 0x06/0x07, a second encoding of the same packet) and on the curve.
    if ephemeral[0] != 0x04 {
        return Err(EciesError::InvalidEphemeralKey);
    }
    let ephemeral =
        PublicKey::from_slice(ephemeral).map_err(|_| EciesError::InvalidEphemeralKey)?;
    let (enc_key, mac_key) = derive_keys(&ecdh_x(&ephemeral, key));
    tag(&mac_key, iv_and_ciphertext, shared_mac_data)
        .verify_slice(d)
        .map_err(|_| EciesError::MacMismatch)?;

    let (iv, ciphertext) = iv_and_ciphertext.split_at(IV_LEN);
    let mut plaintext = ciphertext.to_vec();
    let iv: [u8; IV_LEN] = iv.try_into().expect("split at IV_LEN");
    Aes128Ctr::new(&enc_key.into(), &iv.into()).apply_keystream(&mut plaintext);
    Ok(plaintext)
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    fn rng() -> rand::rngs::StdRng {
        rand::rngs::StdRng::seed_from_u64(1)
    }

    #[test]
    fn round_trip_with_shared_mac_data() {
        let mut rng = rng();
        let key = SecretKey::new(&mut rng);
        let mut packet = Vec::new();
        encrypt_into(
            &mut rng,
            &key.public_key(secp256k1::SECP256K1),
            b"hello",
            b"ad",
            &mut packet,
        );
        assert_eq!(packet.len(), OVERHEAD + 5);
        assert_ne!(&packet[PUBLIC_KEY_LEN + IV_LEN..][..5], b"hello");
        assert_eq!(decrypt(&key, &packet, b"ad").unwrap(), b"hello");
        assert_eq!(decrypt(&key, &packet, b"xx"), Err(EciesError::MacMismatch));
    }

    #[test]
    fn tampering_wrong_key_and_bad_points_are_typed() {
        let mut rng = rng();
        let key = SecretKey::new(&mut rng);
        let other = SecretKey::new(&mut rng);
        let mut packet = Vec::new();
        encrypt_into(
            &mut rng,
            &key.public_key(secp256k1::SECP256K1),
            b"payload",
            b"",
            &mut packet,
        );
        assert_eq!(decrypt(&other, &packet, b""), Err(EciesError::MacMismatch));

        let mut flipped = packet.clone();
        flipped[PUBLIC_KEY_LEN + IV_LEN] ^= 1;
        assert_eq!(decrypt(&key, &flipped, b""), Err(EciesError::MacMismatch));

        let mut hybrid = packet.clone();
        hybrid[0] = 0x06 | (packet[PUBLIC_KEY_LEN - 1] & 1);
        assert_eq!(
            decrypt(&key, &hybrid, b""),
            Err(EciesError::InvalidEphemeralKey)
        );

        let mut off_curve = packet.clone();
        off_curve[1..PUBLIC_KEY_LEN].fill(0);
        assert_eq!(
            decrypt(&key, &off_curve, b""),
            Err(EciesError::InvalidEphemeralKey)
        );
        assert_eq!(
            decrypt(&key, &packet[..OVERHEAD - 1], b""),
            Err(EciesError::TooShort)
        );
    }
}
