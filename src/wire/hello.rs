//! The Hello message (`p2p` message 0x00), the first frame of every session.
//!
//! devp2p: "Hello (0x00) `[protocolVersion: P, clientId: B, capabilities, listenPort: P,
//! nodeKey: B_64, ...]`. First packet sent over the connection, and sent once by both sides.
//! No other messages may be sent until a Hello is received. Implementations must ignore any
//! additional list elements in Hello because they may be used by a future version." Hello is
//! never compressed.

use crate::crypto::NodeId;

use super::capability::Capability;
use super::disconnect::DisconnectReason;

/// The `p2p` protocol version we speak: 5 (snappy compression after Hello).
pub const P2P_VERSION: u64 = 5;

/// Largest Hello payload accepted.
pub const MAX_HELLO_SIZE: usize = 2048;

/// A Hello message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Hello {
    /// The sender's `p2p` protocol version.
    pub protocol_version: u64,
    /// Free-form client name, e.g. `peerwire/0.1.0`.
    pub client_id: String,
    /// The capabilities the sender runs.
    pub capabilities: Vec<Capability>,
    /// The sender's listening TCP port (0 if none, or if it sent a value above 65535).
    pub listen_port: u16,
    /// The sender's node id.
    pub id: NodeId,
}

/// Why a Hello was refused.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum HelloError {
    /// Larger than [`MAX_HELLO_SIZE`].
    #[error("hello of {0} bytes exceeds {MAX_HELLO_SIZE}")]
    TooLarge(usize),
    /// Not the RLP structure devp2p describes.
    #[error("malformed hello: {0:?}")]
    Malformed(rlp::DecoderError),
    /// The node id is not 64 bytes or not a valid public key.
    #[error("hello carries an invalid node id")]
    InvalidIdentity,
}

impl HelloError {
    /// The Disconnect reason this failure calls for.
    pub fn disconnect_reason(&self) -> DisconnectReason {
        match self {
            Self::InvalidIdentity => DisconnectReason::InvalidIdentity,
            Self::TooLarge(_) | Self::Malformed(_) => DisconnectReason::ProtocolError,
        }
    }
}

impl From<rlp::DecoderError> for HelloError {
    fn from(e: rlp::DecoderError) -> Self {
        Self::Malformed(e)
    }
}

impl Hello {
    /// The RLP payload.
    pub fn encode(&self) -> Vec<u8> {
        let mut s = rlp::RlpStream::new_list(5);
        s.append(&self.protocol_version);
        s.append(&self.client_id);
        s.append_list(&self.capabilities);
        s.append(&self.listen_port);
        s.append(&self.id.as_bytes().as_slice());
        s.out().to_vec()
    }

    /// Reads a Hello payload; extra list elements are ignored.
    pub fn decode(payload: &[u8]) -> Result<Self, HelloError> {
        if payload.len() > MAX_HELLO_SIZE {
            return Err(HelloError::TooLarge(payload.len()));
        }
        let list = rlp::Rlp::new(payload);
        if !list.is_list() {
            return Err(HelloError::Malformed(
                rlp::DecoderError::RlpExpectedToBeList,
            ));
        }
        let client_id: Vec<u8> = list.val_at(1)?;
        let port: u64 = list.val_at(3)?;
        let id = list.at(4)?;
        if !id.is_data() {
            return Err(HelloError::InvalidIdentity);
        }
        Ok(Self {
            protocol_version: list.val_at(0)?,
            client_id: String::from_utf8_lossy(&client_id).into_owned(),
            capabilities: capabilities(&list.at(2)?)?,
            listen_port: u16::try_from(port).unwrap_or(0),
            id: NodeId::from_slice(id.data()?).map_err(|_| HelloError::InvalidIdentity)?,
        })
    }
}

/// The capability list. An entry we cannot read (a version beyond 32 bits, say) cannot match
/// any of ours, so it is skipped rather than failing the whole Hello.
fn capabilities(list: &rlp::Rlp<'_>) -> Result<Vec<Capability>, HelloError> {
    if !list.is_list() {
        return Err(HelloError::Malformed(
            rlp::DecoderError::RlpExpectedToBeList,
        ));
    }
    Ok(list.iter().filter_map(|c| c.as_val().ok()).collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testdata::Vectors;

    #[test]
    fn hello_vector_with_extra_elements_is_accepted() {
        let v = Vectors::eip8();
        let hello = Hello::decode(v.blob("hello_v22")).unwrap();
        // Read off the vector's bytes: 0x37, a 17-byte string, two capabilities, 0x270f.
        assert_eq!(hello.protocol_version, 0x37);
        assert_eq!(hello.client_id, "kneth/v0.91/plan9");
        assert_eq!(
            hello.capabilities,
            [Capability::new("eth", 61), Capability::new("mork", 22)]
        );
        assert_eq!(hello.listen_port, 9999);
        assert!(hello.id.to_string().starts_with("fda1cff674c90c9a"));
    }

    #[test]
    fn round_trip() {
        let hello = Hello {
            protocol_version: P2P_VERSION,
            client_id: "peerwire/test".into(),
            capabilities: vec![Capability::new("foo", 1), Capability::new("bar", 2)],
            listen_port: 30303,
            id: Hello::decode(Vectors::eip8().blob("hello_v22")).unwrap().id,
        };
        assert_eq!(Hello::decode(&hello.encode()), Ok(hello));
    }

    #[test]
    fn unreadable_capabilities_are_skipped() {
        let id = Hello::decode(Vectors::eip8().blob("hello_v22")).unwrap().id;
        let mut s = rlp::RlpStream::new_list(5);
        s.append(&5u64).append(&"x");
        s.begin_list(3);
        s.begin_list(2).append(&"eth").append(&(1u64 << 40));
        s.begin_list(2).append(&vec![0xffu8, 0xfe]).append(&1u64);
        s.begin_list(2).append(&"foo").append(&1u64);
        s.append(&0u64).append(&id.as_bytes().as_slice());
        let hello = Hello::decode(&s.out()).unwrap();
        assert_eq!(hello.capabilities, [Capability::new("foo", 1)]);
    }

    #[test]
    fn bad_hellos_are_typed_with_their_disconnect_reason() {
        let good = Vectors::eip8().blob("hello_v22").to_vec();
        let too_large = vec![0u8; MAX_HELLO_SIZE + 1];
        let err = Hello::decode(&too_large).unwrap_err();
        assert_eq!(err, HelloError::TooLarge(MAX_HELLO_SIZE + 1));
        assert_eq!(err.disconnect_reason(), DisconnectReason::ProtocolError);

        let err = Hello::decode(&[0x05]).unwrap_err();
        assert!(matches!(err, HelloError::Malformed(_)));
        assert_eq!(err.disconnect_reason(), DisconnectReason::ProtocolError);

        let mut short_id = rlp::RlpStream::new_list(5);
        short_id.append(&5u64).append(&"x").begin_list(0);
        short_id.append(&1u64).append(&vec![1u8; 63]);
        let err = Hello::decode(&short_id.out()).unwrap_err();
        assert_eq!(err, HelloError::InvalidIdentity);
        assert_eq!(err.disconnect_reason(), DisconnectReason::InvalidIdentity);

        let mut off_curve = good.clone();
        let at = off_curve.len() - 11 - 64;
        off_curve[at..at + 64].fill(0);
        assert_eq!(Hello::decode(&off_curve), Err(HelloError::InvalidIdentity));
    }
}
