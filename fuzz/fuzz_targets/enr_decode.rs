//! Arbitrary bytes as an RLP-encoded node record (EIP-778): decoding fails, or yields a record
//! whose signature verified, which re-encodes to a record that decodes to the same one.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerwire::discovery::enr::{self, Record};

fuzz_target!(|data: &[u8]| {
    let Ok(record) = <Record as alloy_rlp::Decodable>::decode(&mut &data[..]) else {
        return;
    };
    // EIP-778: "The maximum encoded size of a node record is 300 bytes."
    assert!(alloy_rlp::encode(&record).len() <= 300);
    assert!(record.verify());
    let id = enr::node_id(&record);
    if let Some(enode) = enr::to_enode(&record) {
        assert_eq!(enode.id, id);
    }
    let again = <Record as alloy_rlp::Decodable>::decode(&mut &alloy_rlp::encode(&record)[..])
        .expect("a record we encoded decodes");
    assert_eq!(again, record);
});
