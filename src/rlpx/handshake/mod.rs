//! The RLPx handshake as sans-IO state machines.
//!
//! ```text
//! Initiator::new ──auth──▶ Recipient::read_auth ──▶ (ack, Secrets)
//!      │                                              │
//!      ◀──────────────────────ack─────────────────────┘
//! Initiator::read_ack ──▶ Secrets
//! ```
//! Each side ends with [`Secrets`], the only input a [`FrameCodec`](super::FrameCodec) takes.
//! Neither state machine does I/O, reads a clock or owns a random number generator.

mod ack;
mod auth;
mod packet;
mod rlp_fields;
#[cfg(test)]
mod tests;
#[cfg(test)]
mod vectors;

use bytes::{Buf, BytesMut};
use rand::{CryptoRng, RngCore};
use secp256k1::SecretKey;

use self::ack::Ack;
use self::auth::{Auth, VERSION};
pub use self::packet::MAX_PACKET_SIZE;
pub(crate) use self::packet::{seal_eip8, seal_legacy};
use self::packet::{Format, PacketReader};
pub(crate) use self::packet::{LEGACY_ACK_LEN, LEGACY_AUTH_LEN};
use super::secrets::{Role, Secrets, Transcript};
use crate::crypto::ecies::EciesError;
use crate::crypto::{NodeId, NodeIdError, NodeKey};

/// Why a handshake failed. Every variant is the remote side's fault (or an attacker's).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HandshakeError {
    /// An EIP-8 size prefix above [`MAX_PACKET_SIZE`]; rejected before reading the body.
    #[error("handshake packet of {0} bytes exceeds the {MAX_PACKET_SIZE}-byte limit")]
    PacketTooLarge(usize),
    /// The packet could not be decrypted: not for our key, tampered, or a bad ECIES point.
    #[error("handshake packet: {0}")]
    Ecies(#[from] EciesError),
    /// The decrypted body is not the RLP the spec describes.
    #[error("malformed handshake body: {0:?}")]
    Malformed(rlp::DecoderError),
    /// A fixed-size field (signature, key, nonce) has the wrong length.
    #[error("handshake field has the wrong length")]
    FieldLength,
    /// The initiator's static public key is not a valid point.
    #[error("handshake carries an invalid node id: {0}")]
    InvalidNodeId(#[from] NodeIdError),
    /// The recipient's ephemeral public key is not a valid point.
    #[error("handshake carries an invalid ephemeral key")]
    InvalidEphemeralKey,
    /// The auth signature does not recover to a public key.
    #[error("handshake signature is invalid")]
    InvalidSignature,
}

impl From<rlp::DecoderError> for HandshakeError {
    fn from(e: rlp::DecoderError) -> Self {
        Self::Malformed(e)
    }
}

fn random_nonce<R: RngCore + CryptoRng>(rng: &mut R) -> [u8; 32] {
    let mut nonce = [0u8; 32];
    rng.fill_bytes(&mut nonce);
    nonce
}

/// The dialing side, after it has written auth and while it waits for ack.
pub struct Initiator {
    key: SecretKey,
    remote_id: NodeId,
    ephemeral: SecretKey,
    nonce: [u8; 32],
    auth: Vec<u8>,
    reader: PacketReader,
}

/// What reading the ack led to.
#[expect(
    clippy::large_enum_variant,
    reason = "one value per handshake: moving it once is cheaper than boxing the secrets"
)]
#[derive(Debug)]
pub enum AckProgress {
    /// The ack is not complete yet: read more bytes into the buffer and call again.
    NeedMore(Initiator),
    /// The handshake is done. Bytes after the ack stay in the buffer: they are frames.
    ///
    /// The ack proves nothing by itself: the remote's identity is authenticated once the
    /// first frame from it opens, since only the owner of its key can derive these secrets.
    Done(Secrets),
}

impl std::fmt::Debug for Initiator {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Initiator")
            .field("remote_id", &self.remote_id)
            .finish_non_exhaustive()
    }
}

impl Initiator {
    /// Starts a handshake with `remote_id`, writing an EIP-8 auth (see [`Self::auth_packet`]).
    pub fn new<R: RngCore + CryptoRng>(rng: &mut R, key: &NodeKey, remote_id: NodeId) -> Self {
        let ephemeral = SecretKey::new(rng);
        let nonce = random_nonce(rng);
        let remote = remote_id.public_key();
        let auth = Auth::new(key, &remote, &ephemeral, nonce);
        let auth = seal_eip8(rng, &remote, &auth.encode_eip8());
        Self::from_parts(*key.secret(), remote_id, ephemeral, nonce, auth)
    }

    /// An initiator that already sent `auth`, for known-answer tests and fuzzing.
    pub(crate) fn from_parts(
        key: SecretKey,
        remote_id: NodeId,
        ephemeral: SecretKey,
        nonce: [u8; 32],
        auth: Vec<u8>,
    ) -> Self {
        Self {
            key,
            remote_id,
            ephemeral,
            nonce,
            auth,
            reader: PacketReader::new(LEGACY_ACK_LEN),
        }
    }

    /// The auth packet to send to the recipient.
    pub fn auth_packet(&self) -> &[u8] {
        &self.auth
    }

    /// Reads the ack (EIP-8 or legacy) from the front of `buf`, consuming only its bytes.
    pub fn read_ack(mut self, buf: &mut BytesMut) -> Result<AckProgress, HandshakeError> {
        let Some(opened) = self.reader.open(&self.key, buf)? else {
            return Ok(AckProgress::NeedMore(self));
        };
        let ack = match opened.format {
            Format::Eip8 => Ack::decode_eip8(&opened.plaintext)?,
            Format::Legacy => Ack::decode_legacy(&opened.plaintext)?,
        };
        let transcript = Transcript {
            role: Role::Initiator,
            local_ephemeral: &self.ephemeral,
            remote_ephemeral: &ack.ephemeral,
            local_nonce: &self.nonce,
            remote_nonce: &ack.nonce,
            auth: &self.auth,
            ack: &buf[..opened.wire_len],
        };
        let secrets = Secrets::derive(&transcript, self.remote_id);
        buf.advance(opened.wire_len);
        Ok(AckProgress::Done(secrets))
    }
}

/// The listening side, waiting for auth.
pub struct Recipient {
    key: SecretKey,
    ephemeral: SecretKey,
    nonce: [u8; 32],
    reader: PacketReader,
}

/// What reading the auth led to.
#[expect(
    clippy::large_enum_variant,
    reason = "one value per handshake: moving it once is cheaper than boxing the secrets"
)]
#[derive(Debug)]
pub enum AuthProgress {
    /// The auth is not complete yet: read more bytes into the buffer and call again.
    NeedMore(Recipient),
    /// The auth was valid: send `ack`, then use `secrets`.
    Done {
        /// The ack packet to send, in the format the auth came in.
        ack: Vec<u8>,
        /// The session secrets. `secrets.remote_id()` is the id the initiator claims: an auth
        /// can be replayed, so it is authenticated only once a frame from the initiator opens.
        secrets: Secrets,
    },
}

impl std::fmt::Debug for Recipient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recipient").finish_non_exhaustive()
    }
}

impl Recipient {
    /// Prepares to receive an auth, drawing the ephemeral key and nonce from `rng`.
    pub fn new<R: RngCore + CryptoRng>(rng: &mut R, key: &NodeKey) -> Self {
        Self {
            key: *key.secret(),
            ephemeral: SecretKey::new(rng),
            nonce: random_nonce(rng),
            reader: PacketReader::new(LEGACY_AUTH_LEN),
        }
    }

    /// Reads the auth from the front of `buf`, consuming only its bytes, and writes the ack.
    pub fn read_auth<R: RngCore + CryptoRng>(
        mut self,
        rng: &mut R,
        buf: &mut BytesMut,
    ) -> Result<AuthProgress, HandshakeError> {
        let Some(opened) = self.reader.open(&self.key, buf)? else {
            return Ok(AuthProgress::NeedMore(self));
        };
        let auth = match opened.format {
            Format::Eip8 => Auth::decode_eip8(&opened.plaintext)?,
            Format::Legacy => Auth::decode_legacy(&opened.plaintext)?,
        };
        let remote_ephemeral = auth.recover_ephemeral(&self.key)?;
        let remote = auth.initiator_id.public_key();
        let ack = Ack {
            ephemeral: self.ephemeral.public_key(secp256k1::SECP256K1),
            nonce: self.nonce,
            version: VERSION,
        };
        // EIP-8: a recipient answers a legacy auth with a legacy ack.
        let ack = match opened.format {
            Format::Eip8 => seal_eip8(rng, &remote, &ack.encode_eip8()),
            Format::Legacy => seal_legacy(rng, &remote, &ack.encode_legacy()),
        };
        let transcript = Transcript {
            role: Role::Recipient,
            local_ephemeral: &self.ephemeral,
            remote_ephemeral: &remote_ephemeral,
            local_nonce: &self.nonce,
            remote_nonce: &auth.nonce,
            auth: &buf[..opened.wire_len],
            ack: &ack,
        };
        let secrets = Secrets::derive(&transcript, auth.initiator_id);
        buf.advance(opened.wire_len);
        Ok(AuthProgress::Done { ack, secrets })
    }
}
