//! Session secrets derived at the end of the handshake.
//!
//! From the RLPx spec:
//! ```text
//! ephemeral-key = ecdh.agree(ephemeral-privkey, remote-ephemeral-pubk)
//! shared-secret = keccak256(ephemeral-key || keccak256(nonce || initiator-nonce))
//! aes-secret = keccak256(ephemeral-key || shared-secret)
//! mac-secret = keccak256(ephemeral-key || aes-secret)
//! ```
//! "Initiator: egress-mac = keccak256.init((mac-secret ^ recipient-nonce) || auth),
//! ingress-mac = keccak256.init((mac-secret ^ initiator-nonce) || ack).
//! Recipient: egress-mac = keccak256.init((mac-secret ^ initiator-nonce) || ack),
//! ingress-mac = keccak256.init((mac-secret ^ recipient-nonce) || auth)."

use std::fmt;

use secp256k1::{PublicKey, SecretKey};
use sha3::Digest;

use super::mac::MacKeccak;

use crate::crypto::ecies::ecdh_x;
use crate::crypto::keccak::keccak256;
use crate::crypto::NodeId;

/// Which side of the handshake we were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We dialed and sent auth.
    Initiator,
    /// We were dialed and sent ack.
    Recipient,
}

/// The secrets of a completed handshake: the only way to build a [`FrameCodec`].
///
/// Only the handshake state machines in this module can create one.
///
/// [`FrameCodec`]: super::FrameCodec
pub struct Secrets {
    pub(crate) remote_id: NodeId,
    pub(crate) aes_secret: [u8; 32],
    pub(crate) mac_secret: [u8; 32],
    pub(crate) egress_mac: MacKeccak,
    pub(crate) ingress_mac: MacKeccak,
}

impl fmt::Debug for Secrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Secrets")
            .field("remote_id", &self.remote_id)
            .finish_non_exhaustive()
    }
}

/// What each side contributed to the handshake, as seen from one of them.
pub(crate) struct Transcript<'a> {
    pub(crate) role: Role,
    pub(crate) local_ephemeral: &'a SecretKey,
    pub(crate) remote_ephemeral: &'a PublicKey,
    pub(crate) local_nonce: &'a [u8; 32],
    pub(crate) remote_nonce: &'a [u8; 32],
    /// The auth packet as it crossed the wire (with its size prefix for EIP-8).
    pub(crate) auth: &'a [u8],
    /// The ack packet as it crossed the wire.
    pub(crate) ack: &'a [u8],
}

impl Secrets {
    pub(crate) fn derive(transcript: &Transcript<'_>, remote_id: NodeId) -> Self {
        let t = transcript;
        let ephemeral_key = ecdh_x(t.remote_ephemeral, t.local_ephemeral);
        let (initiator_nonce, recipient_nonce) = match t.role {
            Role::Initiator => (t.local_nonce, t.remote_nonce),
            Role::Recipient => (t.remote_nonce, t.local_nonce),
        };
        let nonce_hash = keccak256(&[recipient_nonce, initiator_nonce]);
        let shared_secret = keccak256(&[&ephemeral_key, &nonce_hash]);
        let aes_secret = keccak256(&[&ephemeral_key, &shared_secret]);
        let mac_secret = keccak256(&[&ephemeral_key, &aes_secret]);

        // Egress starts from the remote nonce and the packet we sent; ingress from our nonce
        // and the packet we received.
        let (sent, received) = match t.role {
            Role::Initiator => (t.auth, t.ack),
            Role::Recipient => (t.ack, t.auth),
        };
        let egress_mac = mac_init(&mac_secret, t.remote_nonce, sent);
        let ingress_mac = mac_init(&mac_secret, t.local_nonce, received);
        Self {
            remote_id,
            aes_secret,
            mac_secret,
            egress_mac,
            ingress_mac,
        }
    }

    /// The remote node's id as the handshake presented it. It is authenticated once a frame
    /// from the remote opens with these secrets: nobody else can derive them.
    pub fn remote_id(&self) -> NodeId {
        self.remote_id
    }
}

fn mac_init(mac_secret: &[u8; 32], nonce: &[u8; 32], packet: &[u8]) -> MacKeccak {
    let mut xored = *mac_secret;
    for (x, n) in xored.iter_mut().zip(nonce) {
        *x ^= n;
    }
    let mut mac = MacKeccak::new();
    mac.update(xored);
    mac.update(packet);
    mac
}
