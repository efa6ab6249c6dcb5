//! A received message.

use std::time::Instant;

use bytes::Bytes;

use super::control::InboundCharge;

/// A message received from a peer, for one protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Msg {
    /// The message code, relative to the protocol (`0..length`).
    pub code: u64,
    /// The payload, decompressed: normally RLP. Its length is the message's size.
    pub payload: Bytes,
    /// When the connection read it.
    pub received_at: Instant,
}

/// A received message on its way to a handler, with the budget it holds until it is read.
#[derive(Debug)]
pub(crate) struct Inbound {
    pub(crate) msg: Msg,
    /// Held for its `Drop`, which releases the budgets.
    pub(crate) _charge: InboundCharge,
}

impl Msg {
    /// A message as a handler would receive it.
    pub fn new(code: u64, payload: Bytes) -> Self {
        Self {
            code,
            payload,
            received_at: Instant::now(),
        }
    }

    /// Decodes the payload as RLP.
    pub fn decode<T: rlp::Decodable>(&self) -> Result<T, rlp::DecoderError> {
        rlp::decode(&self.payload)
    }

    /// Decodes the payload as an RLP list of `T` (what `MsgReadWriter::send_items` sends).
    pub fn decode_list<T: rlp::Decodable>(&self) -> Result<Vec<T>, rlp::DecoderError> {
        let rlp = rlp::Rlp::new(&self.payload);
        if !rlp.is_list() {
            return Err(rlp::DecoderError::RlpExpectedToBeList);
        }
        let info = rlp.payload_info()?;
        if info.header_len + info.value_len != self.payload.len() {
            return Err(rlp::DecoderError::RlpIsTooBig);
        }
        rlp.as_list()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decode_list_accepts_exactly_one_list() {
        let list = Msg::new(0, rlp::encode_list(&[1u64, 2]).to_vec().into());
        assert_eq!(list.decode_list::<u64>(), Ok(vec![1, 2]));
        let string = Msg::new(0, rlp::encode(&"abc").to_vec().into());
        assert_eq!(
            string.decode_list::<u64>(),
            Err(rlp::DecoderError::RlpExpectedToBeList)
        );
        let mut trailing = rlp::encode_list(&[1u64]).to_vec();
        trailing.push(0);
        assert_eq!(
            Msg::new(0, trailing.into()).decode_list::<u64>(),
            Err(rlp::DecoderError::RlpIsTooBig)
        );
    }
}
