//! Handshake packet framing: EIP-8's size prefix, or the legacy fixed length.
//!
//! EIP-8: "auth-packet = auth-size || enc-auth-body, auth-size = size of enc-auth-body, encoded
//! as a big-endian 16-bit integer", and the size prefix is the ECIES shared-mac-data. Legacy
//! (pre-EIP-8) packets have a fixed length and no prefix; EIP-8 asks implementations to keep
//! accepting them.

use rand::{CryptoRng, Rng, RngCore};
use secp256k1::{PublicKey, SecretKey};

use super::HandshakeError;
use crate::crypto::ecies;

/// Largest EIP-8 packet body (after the 2-byte size prefix) we accept or allocate for.
pub const MAX_PACKET_SIZE: usize = 2048;

/// Length of a legacy auth packet: 194 bytes of plaintext plus ECIES overhead.
pub(crate) const LEGACY_AUTH_LEN: usize = 194 + ecies::OVERHEAD;
/// Length of a legacy ack packet: 97 bytes of plaintext plus ECIES overhead.
pub(crate) const LEGACY_ACK_LEN: usize = 97 + ecies::OVERHEAD;

/// The random padding EIP-8 packets carry, so their length does not identify the client.
const PADDING: std::ops::RangeInclusive<usize> = 100..=300;

/// Which encoding a packet used; a recipient answers in kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Format {
    /// Pre-EIP-8 fixed-length packet.
    Legacy,
    /// EIP-8 size-prefixed RLP packet.
    Eip8,
}

/// A decrypted handshake packet.
pub(crate) struct Opened {
    pub(crate) plaintext: Vec<u8>,
    pub(crate) format: Format,
    /// How many bytes of input the packet took, prefix included.
    pub(crate) wire_len: usize,
}

/// Reads one handshake packet, EIP-8 or legacy, from a growing buffer.
#[derive(Clone, Copy, Debug)]
pub(crate) struct PacketReader {
    legacy_len: usize,
    /// The legacy reading was tried once and failed; it is not tried again.
    legacy_tried: bool,
}

impl PacketReader {
    pub(crate) fn new(legacy_len: usize) -> Self {
        Self {
            legacy_len,
            legacy_tried: false,
        }
    }

    /// Decrypts the packet at the start of `buf`, or returns `Ok(None)` when more bytes are
    /// needed.
    ///
    /// A legacy packet starts with ECIES's `0x04` point tag; an EIP-8 packet has that tag at
    /// offset 2, after its size prefix. So `04 .. 04` is ambiguous and `04 .. xx` is legacy
    /// only. An EIP-8 packet whose size starts with `0x04` is at least 1024 bytes long, longer
    /// than any legacy packet, so trying the legacy reading first (once) never waits for bytes
    /// an EIP-8 packet would not also need.
    pub(crate) fn open(
        &mut self,
        key: &SecretKey,
        buf: &[u8],
    ) -> Result<Option<Opened>, HandshakeError> {
        let Some(prefix) = buf.get(..2) else {
            return Ok(None);
        };
        if prefix[0] == 0x04 && !self.legacy_tried {
            let Some(packet) = buf.get(..self.legacy_len) else {
                return Ok(None);
            };
            self.legacy_tried = true;
            match ecies::decrypt(key, packet, &[]) {
                Ok(plaintext) => {
                    return Ok(Some(Opened {
                        plaintext,
                        format: Format::Legacy,
                        wire_len: self.legacy_len,
                    }))
                }
                // Not EIP-8 either: that would have its point tag here.
                Err(e) if packet[2] != 0x04 => return Err(e.into()),
                Err(_) => {}
            }
        }
        let size = usize::from(u16::from_be_bytes([prefix[0], prefix[1]]));
        if size > MAX_PACKET_SIZE {
            return Err(HandshakeError::PacketTooLarge(size));
        }
        let Some(packet) = buf.get(2..2 + size) else {
            return Ok(None);
        };
        let plaintext = ecies::decrypt(key, packet, prefix)?;
        Ok(Some(Opened {
            plaintext,
            format: Format::Eip8,
            wire_len: 2 + size,
        }))
    }
}

/// Encrypts an EIP-8 body to `remote`: size prefix, then ECIES over body and random padding.
pub(crate) fn seal_eip8<R: RngCore + CryptoRng>(
    rng: &mut R,
    remote: &PublicKey,
    body: &[u8],
) -> Vec<u8> {
    let mut padded = body.to_vec();
    let padding = rng.gen_range(PADDING);
    padded.resize(body.len() + padding, 0);
    rng.fill_bytes(&mut padded[body.len()..]);
    let size = u16::try_from(padded.len() + ecies::OVERHEAD)
        .expect("handshake bodies are a few hundred bytes");
    let mut packet = size.to_be_bytes().to_vec();
    let prefix = [packet[0], packet[1]];
    ecies::encrypt_into(rng, remote, &padded, &prefix, &mut packet);
    packet
}

/// Encrypts a legacy (pre-EIP-8) plaintext to `remote`.
pub(crate) fn seal_legacy<R: RngCore + CryptoRng>(
    rng: &mut R,
    remote: &PublicKey,
    plaintext: &[u8],
) -> Vec<u8> {
    let mut packet = Vec::new();
    ecies::encrypt_into(rng, remote, plaintext, &[], &mut packet);
    packet
}
