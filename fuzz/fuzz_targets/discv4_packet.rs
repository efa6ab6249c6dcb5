//! Arbitrary bytes as a discv4 packet: decoding fails with a typed error or yields a packet
//! whose message, signed again, decodes to the same message.
#![no_main]

use libfuzzer_sys::fuzz_target;
use peerwire::crypto::NodeKey;
use peerwire::discovery::v4;

fuzz_target!(|data: &[u8]| {
    // Time 0: no expiration has passed, so decoding goes as deep as the bytes allow.
    let Ok(packet) = v4::decode_packet(data, 0) else {
        return;
    };
    assert!(data.len() <= v4::MAX_PACKET_SIZE);
    let key = NodeKey::new(secp256k1::SecretKey::from_byte_array(&[7; 32]).unwrap());
    // An ENRResponse carries the sender's own record: signed by another key it must fail.
    if let v4::Message::EnrResponse(_) = packet.message {
        let encoded = v4::encode_packet(&key, &packet.message);
        if let Ok(encoded) = encoded {
            assert_eq!(
                v4::decode_packet(&encoded.bytes, 0).err(),
                Some(v4::PacketError::EnrNotSenders)
            );
        }
        return;
    }
    // A decoded message may not fit once re-encoded (extra elements were dropped, so it can
    // only shrink, but a record may be re-encoded differently); when it does, it round-trips.
    if let Ok(encoded) = v4::encode_packet(&key, &packet.message) {
        let again = v4::decode_packet(&encoded.bytes, 0).expect("our own packet decodes");
        assert_eq!(again.message, packet.message);
        assert_eq!(again.sender, key.id());
        assert_eq!(again.hash, encoded.hash);
    }
});
