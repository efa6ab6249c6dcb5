//! Reading the fixed-size fields of handshake bodies.

use rlp::Rlp;

use super::HandshakeError;

/// The byte string at `index` of `list`, which must be exactly `N` bytes long.
pub(crate) fn fixed<const N: usize>(
    list: &Rlp<'_>,
    index: usize,
) -> Result<[u8; N], HandshakeError> {
    let item = list.at(index)?;
    if !item.is_data() {
        return Err(HandshakeError::Malformed(
            rlp::DecoderError::RlpExpectedToBeData,
        ));
    }
    item.data()?
        .try_into()
        .map_err(|_| HandshakeError::FieldLength)
}

/// The list at the start of a padded EIP-8 plaintext; the padding after it is ignored.
pub(crate) fn body_list(plaintext: &[u8]) -> Result<Rlp<'_>, HandshakeError> {
    let list = Rlp::new(plaintext);
    if !list.is_list() {
        return Err(HandshakeError::Malformed(
            rlp::DecoderError::RlpExpectedToBeList,
        ));
    }
    Ok(list)
}

/// Fixed-size slices of a legacy plaintext, checked for length first.
pub(crate) fn split_legacy<const N: usize>(
    plaintext: &[u8],
    at: usize,
) -> Result<[u8; N], HandshakeError> {
    plaintext
        .get(at..at + N)
        .and_then(|s| s.try_into().ok())
        .ok_or(HandshakeError::FieldLength)
}
