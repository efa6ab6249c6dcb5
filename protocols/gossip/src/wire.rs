//! The messages of `gossip/1`, their codes and RLP forms.
//!
//! | code | message  | RLP                                                      |
//! |------|----------|----------------------------------------------------------|
//! | 0    | Status   | `[version, relay]`: first message each way               |
//! | 1    | Gossip   | `[origin, time_ms, topic, data, signature, hops]`        |
//! | 2    | IHave    | `[[id, hops], ...]`: ids we hold, at most [`MAX_IHAVE`]  |
//! | 3    | Graft    | `[id, ...]`: send these, and push to me eagerly from now |
//! | 4    | Prune    | `[]`: announce to me lazily from now                     |
//! | 5    | Direct   | `[data]`: for this peer only, not relayed                |
//!
//! Lists may carry more elements than these (a later version's), which are ignored; fewer,
//! or elements of the wrong kind, make the message malformed. `hops` counts the links the
//! message has crossed on arriving: a neighbour of the origin receives 1.

use bytes::Bytes;
use peerwire::crypto::{NodeId, NODE_ID_LEN};
use peerwire::rlp::{self, Rlp, RlpStream};

use crate::message::{Message, MessageId, Signed, ID_LEN, SIGNATURE_LEN};

/// Status: protocol version and whether the sender relays gossip on this session.
pub const STATUS: u64 = 0;
/// Gossip: a whole message, pushed eagerly or answering a Graft.
pub const GOSSIP: u64 = 1;
/// IHave: ids of messages the sender holds (the lazy push).
pub const IHAVE: u64 = 2;
/// Graft: asks for messages by id, and turns the link eager.
pub const GRAFT: u64 = 3;
/// Prune: turns the link lazy.
pub const PRUNE: u64 = 4;
/// Direct: a message for the receiving node itself.
pub const DIRECT: u64 = 5;
/// Message codes used.
pub const LENGTH: u64 = 6;

/// The version in our Status.
pub const VERSION: u64 = 1;
/// Most ids in one IHave; longer ones are malformed.
pub const MAX_IHAVE: usize = 256;
/// Most ids in one Graft; longer ones are malformed.
pub const MAX_GRAFT: usize = 64;

/// Why a received message is malformed: peer misbehaviour.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum WireError {
    /// Not RLP of the expected shape.
    #[error("malformed RLP: {0}")]
    Rlp(rlp::DecoderError),
    /// Bytes after the message's list.
    #[error("bytes after the message")]
    Trailing,
    /// An origin that is not a 64-byte public key.
    #[error("bad origin")]
    BadOrigin,
    /// A signature that is not 65 bytes, or an id that is not 32.
    #[error("bad length of a signature or id")]
    BadLength,
    /// A topic that is not UTF-8 or longer than the limit.
    #[error("bad topic")]
    BadTopic,
    /// Data larger than the limit.
    #[error("message data of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// An IHave or Graft with more ids than allowed.
    #[error("{0} ids exceed the limit")]
    TooManyIds(usize),
}

impl From<rlp::DecoderError> for WireError {
    fn from(e: rlp::DecoderError) -> Self {
        Self::Rlp(e)
    }
}

/// The first message each way.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Status {
    /// The sender's protocol version.
    pub version: u64,
    /// Whether the sender takes part in the broadcast tree on this session. A node that
    /// dialed only to send a direct message says no: the session is short-lived, and a
    /// tree edge over it would break when it closes.
    pub relay: bool,
}

/// The whole payload of one message as a list, with nothing after it.
fn list(payload: &[u8], min_items: usize) -> Result<Rlp<'_>, WireError> {
    let rlp = Rlp::new(payload);
    if rlp.payload_info()?.total() != payload.len() {
        return Err(WireError::Trailing);
    }
    if !rlp.is_list() {
        return Err(WireError::Rlp(rlp::DecoderError::RlpExpectedToBeList));
    }
    if rlp.item_count()? < min_items {
        return Err(WireError::Rlp(rlp::DecoderError::RlpIncorrectListLen));
    }
    Ok(rlp)
}

impl Status {
    /// Its RLP form.
    pub fn encode(&self) -> Bytes {
        let mut s = RlpStream::new_list(2);
        s.append(&self.version).append(&self.relay);
        s.out().freeze()
    }

    /// Reads a Status.
    pub fn decode(payload: &[u8]) -> Result<Self, WireError> {
        let rlp = list(payload, 2)?;
        Ok(Self {
            version: rlp.val_at(0)?,
            relay: rlp.val_at(1)?,
        })
    }
}

/// Encodes a Gossip message arriving with `hops`.
pub(crate) fn encode_gossip(signed: &Signed, hops: u8) -> Bytes {
    let m = &signed.message;
    let mut s = RlpStream::new_list(6);
    s.append(&&m.origin.as_bytes()[..])
        .append(&m.time_ms)
        .append(&m.topic.as_str())
        .append(&&m.data[..])
        .append(&&signed.signature[..])
        .append(&hops);
    s.out().freeze()
}

/// What a Gossip message may hold.
#[derive(Clone, Copy, Debug)]
pub(crate) struct GossipLimits {
    pub(crate) max_topic_len: usize,
    pub(crate) max_data: usize,
}

/// Reads a Gossip message and its hops; the signature is not checked here.
pub(crate) fn decode_gossip(
    payload: &[u8],
    limits: GossipLimits,
) -> Result<(Signed, u8), WireError> {
    let rlp = list(payload, 6)?;
    let origin = rlp.at(0)?.data()?;
    if origin.len() != NODE_ID_LEN {
        return Err(WireError::BadOrigin);
    }
    let origin = NodeId::from_slice(origin).map_err(|_| WireError::BadOrigin)?;
    let time_ms: u64 = rlp.val_at(1)?;
    let topic = rlp.at(2)?.data()?;
    if topic.len() > limits.max_topic_len {
        return Err(WireError::BadTopic);
    }
    let topic = std::str::from_utf8(topic).map_err(|_| WireError::BadTopic)?;
    let data = rlp.at(3)?.data()?;
    if data.len() > limits.max_data {
        return Err(WireError::TooLarge(data.len()));
    }
    let signature: [u8; SIGNATURE_LEN] = rlp
        .at(4)?
        .data()?
        .try_into()
        .map_err(|_| WireError::BadLength)?;
    let hops: u8 = rlp.val_at(5)?;
    let message = Message {
        origin,
        time_ms,
        topic: topic.to_owned(),
        data: Bytes::copy_from_slice(data),
    };
    Ok((Signed::unverified(message, signature), hops))
}

/// Encodes an IHave of `entries` (at most [`MAX_IHAVE`]).
pub(crate) fn encode_ihave(entries: &[(MessageId, u8)]) -> Bytes {
    let mut s = RlpStream::new_list(entries.len());
    for (id, hops) in entries {
        s.begin_list(2).append(&&id.0[..]).append(hops);
    }
    s.out().freeze()
}

/// Reads an IHave.
pub(crate) fn decode_ihave(payload: &[u8]) -> Result<Vec<(MessageId, u8)>, WireError> {
    let rlp = list(payload, 0)?;
    let count = rlp.item_count()?;
    if count > MAX_IHAVE {
        return Err(WireError::TooManyIds(count));
    }
    rlp.iter()
        .map(|entry| {
            if !entry.is_list() || entry.item_count()? < 2 {
                return Err(WireError::Rlp(rlp::DecoderError::RlpIncorrectListLen));
            }
            Ok((id(&entry.at(0)?)?, entry.val_at(1)?))
        })
        .collect()
}

/// Encodes a Graft for `ids` (at most [`MAX_GRAFT`]).
pub(crate) fn encode_graft(ids: &[MessageId]) -> Bytes {
    let mut s = RlpStream::new_list(ids.len());
    for id in ids {
        s.append(&&id.0[..]);
    }
    s.out().freeze()
}

/// Reads a Graft.
pub(crate) fn decode_graft(payload: &[u8]) -> Result<Vec<MessageId>, WireError> {
    let rlp = list(payload, 0)?;
    let count = rlp.item_count()?;
    if count > MAX_GRAFT {
        return Err(WireError::TooManyIds(count));
    }
    rlp.iter().map(|item| id(&item)).collect()
}

/// Encodes a Prune.
pub(crate) fn encode_prune() -> Bytes {
    RlpStream::new_list(0).out().freeze()
}

/// Reads a Prune.
pub(crate) fn decode_prune(payload: &[u8]) -> Result<(), WireError> {
    list(payload, 0).map(|_| ())
}

/// Encodes a Direct message.
pub(crate) fn encode_direct(data: &[u8]) -> Bytes {
    let mut s = RlpStream::new_list(1);
    s.append(&data);
    s.out().freeze()
}

/// Reads a Direct message of at most `max_data` bytes of data.
pub(crate) fn decode_direct(payload: &[u8], max_data: usize) -> Result<Bytes, WireError> {
    let rlp = list(payload, 1)?;
    let data = rlp.at(0)?.data()?;
    if data.len() > max_data {
        return Err(WireError::TooLarge(data.len()));
    }
    Ok(Bytes::copy_from_slice(data))
}

fn id(item: &Rlp<'_>) -> Result<MessageId, WireError> {
    let bytes: [u8; ID_LEN] = item.data()?.try_into().map_err(|_| WireError::BadLength)?;
    Ok(MessageId(bytes))
}

#[cfg(test)]
mod tests {
    use peerwire::crypto::NodeKey;

    use super::*;

    const LIMITS: GossipLimits = GossipLimits {
        max_topic_len: 16,
        max_data: 100,
    };

    fn signed(topic: &str, data: &'static [u8]) -> Signed {
        let key = NodeKey::random();
        let message = Message {
            origin: key.id(),
            time_ms: 1_700_000_000_000,
            topic: topic.into(),
            data: Bytes::from_static(data),
        };
        Signed::sign(message, &key)
    }

    #[test]
    fn every_message_round_trips() {
        let s = signed("chat", b"hello");
        let (back, hops) = decode_gossip(&encode_gossip(&s, 3), LIMITS).unwrap();
        assert_eq!((back, hops), (s.clone(), 3));
        let status = Status {
            version: VERSION,
            relay: false,
        };
        assert_eq!(Status::decode(&status.encode()), Ok(status));
        let entries = vec![(s.id, 1), (MessageId([7; 32]), 255)];
        assert_eq!(decode_ihave(&encode_ihave(&entries)), Ok(entries));
        let ids = vec![s.id, MessageId([1; 32])];
        assert_eq!(decode_graft(&encode_graft(&ids)), Ok(ids));
        assert_eq!(decode_prune(&encode_prune()), Ok(()));
        assert_eq!(
            decode_direct(&encode_direct(b"psst"), 10).unwrap(),
            &b"psst"[..]
        );
    }

    #[test]
    fn a_later_versions_extra_elements_are_ignored() {
        let mut s = RlpStream::new_list(3);
        s.append(&2u64).append(&true).append(&"new field");
        assert_eq!(
            Status::decode(&s.out()),
            Ok(Status {
                version: 2,
                relay: true
            })
        );
    }

    #[test]
    fn limits_and_shapes_are_enforced() {
        let big = signed("chat", &[0u8; 101]);
        assert_eq!(
            decode_gossip(&encode_gossip(&big, 1), LIMITS).unwrap_err(),
            WireError::TooLarge(101)
        );
        let long_topic = signed("a-topic-of-17-byt", b"x");
        assert_eq!(
            decode_gossip(&encode_gossip(&long_topic, 1), LIMITS).unwrap_err(),
            WireError::BadTopic
        );
        let entries: Vec<_> = (0..=MAX_IHAVE)
            .map(|i| (MessageId([i as u8; 32]), 1))
            .collect();
        assert_eq!(
            decode_ihave(&encode_ihave(&entries)),
            Err(WireError::TooManyIds(MAX_IHAVE + 1))
        );
        let ids: Vec<_> = (0..=MAX_GRAFT).map(|i| MessageId([i as u8; 32])).collect();
        assert_eq!(
            decode_graft(&encode_graft(&ids)),
            Err(WireError::TooManyIds(MAX_GRAFT + 1))
        );
        let mut trailing = encode_prune().to_vec();
        trailing.push(0x80);
        assert_eq!(decode_prune(&trailing), Err(WireError::Trailing));
        // A short id, a non-list, an empty payload, a hops value over 255.
        let mut s = RlpStream::new_list(1);
        s.append(&&[1u8; 31][..]);
        assert_eq!(decode_graft(&s.out()), Err(WireError::BadLength));
        assert!(Status::decode(&rlp::encode(&"x")).is_err());
        assert!(Status::decode(&[]).is_err());
        let mut payload = encode_gossip(&signed("t", b"d"), 1).to_vec();
        // Re-encode with hops = 256.
        let rlp = Rlp::new(&payload);
        let mut s = RlpStream::new_list(6);
        for i in 0..5 {
            s.append_raw(rlp.at(i).unwrap().as_raw(), 1);
        }
        s.append(&256u64);
        payload = s.out().to_vec();
        assert!(decode_gossip(&payload, LIMITS).is_err());
    }

    #[test]
    fn random_bytes_never_panic() {
        use rand::{Rng, RngCore};
        let mut rng = rand::thread_rng();
        for _ in 0..2000 {
            let mut bytes = vec![0u8; rng.gen_range(0..80)];
            rng.fill_bytes(&mut bytes);
            if let Some(first) = bytes.first_mut() {
                // Lists more often than not.
                *first = rng.gen_range(0xc0..=0xff);
            }
            let _ = Status::decode(&bytes);
            let _ = decode_gossip(&bytes, LIMITS);
            let _ = decode_ihave(&bytes);
            let _ = decode_graft(&bytes);
            let _ = decode_prune(&bytes);
            let _ = decode_direct(&bytes, 10);
        }
    }
}
