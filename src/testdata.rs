//! The EIP-8 / devp2p test vectors (`testdata/eip8.txt`), for tests, fuzzing and benchmarks;
//! [`tools`], for tests that drive programs from outside Rust.

pub mod tools;

use std::collections::HashMap;

use secp256k1::SecretKey;

/// The vector file, as shipped in the repository.
pub const EIP8_VECTORS: &str = include_str!("../testdata/eip8.txt");

/// The parsed vector file: hex blobs by section, and `key = value` pairs by section.
#[derive(Debug)]
pub struct Vectors {
    blobs: HashMap<String, Vec<u8>>,
    values: HashMap<(String, String), String>,
}

impl Vectors {
    /// Parses the shipped vector file.
    pub fn eip8() -> Self {
        Self::parse(EIP8_VECTORS)
    }

    /// Parses the vector format: `[section]` headers, `#` comments, `key = hex` lines and
    /// multi-line hex blobs (spaces inside lines ignored).
    pub fn parse(text: &str) -> Self {
        let mut blobs: HashMap<String, String> = HashMap::new();
        let mut values = HashMap::new();
        let mut section = String::new();
        for line in text.lines().map(str::trim) {
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            if let Some(rest) = line.strip_prefix('[') {
                section = rest.split(']').next().unwrap_or_default().to_string();
            } else if let Some((key, value)) = line.split_once('=') {
                values.insert(
                    (section.clone(), key.trim().to_string()),
                    value.trim().to_string(),
                );
            } else {
                blobs
                    .entry(section.clone())
                    .or_default()
                    .push_str(&line.replace(' ', ""));
            }
        }
        let blobs = blobs
            .into_iter()
            .map(|(k, v)| {
                let bytes = hex::decode(&v).unwrap_or_else(|e| panic!("vector {k}: {e}"));
                (k, bytes)
            })
            .collect();
        Self { blobs, values }
    }

    /// The hex blob of a section, e.g. `auth2`.
    pub fn blob(&self, section: &str) -> &[u8] {
        self.blobs
            .get(section)
            .unwrap_or_else(|| panic!("no vector section {section}"))
    }

    /// A `key = hex` value of a section, decoded.
    pub fn value(&self, section: &str, key: &str) -> Vec<u8> {
        let text = self
            .values
            .get(&(section.to_string(), key.to_string()))
            .unwrap_or_else(|| panic!("no vector value {section}.{key}"));
        hex::decode(text).unwrap_or_else(|e| panic!("vector {section}.{key}: {e}"))
    }

    /// A 32-byte `key = hex` value.
    pub fn bytes32(&self, section: &str, key: &str) -> [u8; 32] {
        self.value(section, key)
            .try_into()
            .unwrap_or_else(|_| panic!("vector {section}.{key} is not 32 bytes"))
    }

    /// A secret key from the `[keys]` section, e.g. `static_key_a`.
    pub fn key(&self, name: &str) -> SecretKey {
        SecretKey::from_byte_array(&self.bytes32("keys", name))
            .unwrap_or_else(|_| panic!("vector key {name} is out of range"))
    }
}

/// Both ends of an in-memory session, from a handshake driven by a seeded RNG: the same seed
/// gives the same secrets, so fuzz seed corpora stay valid.
pub fn session_pair(seed: u64) -> (crate::rlpx::FrameCodec, crate::rlpx::FrameCodec) {
    use crate::crypto::NodeKey;
    use crate::rlpx::{AckProgress, AuthProgress, FrameCodec, Initiator, Recipient};
    use rand::SeedableRng;

    let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
    let v = Vectors::eip8();
    let (key_a, key_b) = (
        NodeKey::new(v.key("static_key_a")),
        NodeKey::new(v.key("static_key_b")),
    );
    let initiator = Initiator::new(&mut rng, &key_a, key_b.id());
    let mut auth = bytes::BytesMut::from(initiator.auth_packet());
    let Ok(AuthProgress::Done { ack, secrets: b }) =
        Recipient::new(&mut rng, &key_b).read_auth(&mut rng, &mut auth)
    else {
        panic!("in-memory auth failed");
    };
    let Ok(AckProgress::Done(a)) = initiator.read_ack(&mut bytes::BytesMut::from(&ack[..])) else {
        panic!("in-memory ack failed");
    };
    (FrameCodec::new(a), FrameCodec::new(b))
}
