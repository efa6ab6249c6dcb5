//! Capabilities and the devp2p rule for sharing message-code space between them.
//!
//! RLPx: "message IDs are assumed to be compact from ID 0x10 onwards (0x00-0x0f is reserved for
//! the p2p capability) and given to each shared (equal-version, equal-name) capability in
//! alphabetic order. Capability names are case-sensitive. Capabilities which are not shared
//! are ignored. If multiple versions are shared of the same (equal name) capability, the
//! numerically highest wins, others are ignored."

use std::fmt;

/// Message codes reserved for the base `p2p` protocol.
pub const BASE_PROTOCOL_LENGTH: u64 = 0x10;

/// A (name, version) pair as advertised in Hello.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Capability {
    /// Case-sensitive name, e.g. `eth`.
    pub name: String,
    /// Version number.
    pub version: u32,
}

impl Capability {
    /// A capability.
    pub fn new(name: impl Into<String>, version: u32) -> Self {
        Self {
            name: name.into(),
            version,
        }
    }
}

impl fmt::Display for Capability {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.name, self.version)
    }
}

impl rlp::Encodable for Capability {
    fn rlp_append(&self, s: &mut rlp::RlpStream) {
        s.begin_list(2).append(&self.name).append(&self.version);
    }
}

impl rlp::Decodable for Capability {
    /// `[name, version, ...]`; extra elements are ignored.
    fn decode(rlp: &rlp::Rlp<'_>) -> Result<Self, rlp::DecoderError> {
        if !rlp.is_list() {
            return Err(rlp::DecoderError::RlpExpectedToBeList);
        }
        Ok(Self {
            name: rlp.val_at(0)?,
            version: rlp.val_at(1)?,
        })
    }
}

/// A capability both sides run, with the message codes it was given.
#[derive(Clone, Debug, PartialEq, Eq, Hash, serde::Serialize)]
pub struct SharedCapability {
    /// The capability and the (highest shared) version.
    pub capability: Capability,
    /// The first message code of its range.
    pub offset: u64,
    /// How many codes it takes.
    pub length: u64,
}

impl SharedCapability {
    /// Whether an absolute message code falls in this capability's range.
    pub fn contains(&self, code: u64) -> bool {
        code >= self.offset && code - self.offset < self.length
    }
}

/// Matches our capabilities (each with its number of message codes) against the remote's list,
/// returning the shared ones sorted by name with their code ranges.
pub fn match_capabilities(
    local: &[(Capability, u64)],
    remote: &[Capability],
) -> Vec<SharedCapability> {
    let mut best: Vec<(&Capability, u64)> = Vec::new();
    for (cap, length) in local {
        if !remote.contains(cap) {
            continue;
        }
        match best.iter_mut().find(|(b, _)| b.name == cap.name) {
            Some(slot) if slot.0.version < cap.version => *slot = (cap, *length),
            Some(_) => {}
            None => best.push((cap, *length)),
        }
    }
    best.sort_by(|a, b| a.0.name.as_bytes().cmp(b.0.name.as_bytes()));
    let mut offset = BASE_PROTOCOL_LENGTH;
    best.into_iter()
        .map(|(cap, length)| {
            let shared = SharedCapability {
                capability: cap.clone(),
                offset,
                length,
            };
            // Server::start checks that all protocols fit the code space.
            offset = offset.saturating_add(length);
            shared
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn caps(list: &[(&str, u32)]) -> Vec<Capability> {
        list.iter().map(|(n, v)| Capability::new(*n, *v)).collect()
    }

    fn local(list: &[(&str, u32, u64)]) -> Vec<(Capability, u64)> {
        list.iter()
            .map(|(n, v, l)| (Capability::new(*n, *v), *l))
            .collect()
    }

    /// (name, version, offset, length) of each shared capability.
    fn ranges(shared: &[SharedCapability]) -> Vec<(String, u32, u64, u64)> {
        shared
            .iter()
            .map(|s| {
                (
                    s.capability.name.clone(),
                    s.capability.version,
                    s.offset,
                    s.length,
                )
            })
            .collect()
    }

    #[test]
    fn allocation_table() {
        type Case<'a> = (
            &'a str,
            Vec<(Capability, u64)>,
            Vec<Capability>,
            Vec<(&'a str, u32, u64, u64)>,
        );
        let cases: Vec<Case> = vec![
            (
                "no overlap",
                local(&[("foo", 1, 1)]),
                caps(&[("bar", 1)]),
                vec![],
            ),
            (
                "version mismatch",
                local(&[("foo", 2, 1)]),
                caps(&[("foo", 1)]),
                vec![],
            ),
            (
                "one shared",
                local(&[("foo", 1, 3)]),
                caps(&[("foo", 1)]),
                vec![("foo", 1, 0x10, 3)],
            ),
            (
                "sorted by name, not by registration order",
                local(&[("zzz", 1, 2), ("eth", 68, 17), ("foo", 1, 1)]),
                caps(&[("foo", 1), ("zzz", 1), ("eth", 68)]),
                vec![
                    ("eth", 68, 0x10, 17),
                    ("foo", 1, 0x21, 1),
                    ("zzz", 1, 0x22, 2),
                ],
            ),
            (
                "highest shared version wins, with its own length",
                local(&[("eth", 66, 17), ("eth", 67, 17), ("eth", 68, 18)]),
                caps(&[("eth", 66), ("eth", 67), ("eth", 69)]),
                vec![("eth", 67, 0x10, 17)],
            ),
            (
                "unshared capabilities take no codes",
                local(&[("aaa", 1, 5), ("bbb", 1, 2)]),
                caps(&[("bbb", 1), ("ccc", 1)]),
                vec![("bbb", 1, 0x10, 2)],
            ),
            (
                "names are case-sensitive and sort bytewise",
                local(&[("foo", 1, 1), ("Foo", 1, 4)]),
                caps(&[("foo", 1), ("Foo", 1)]),
                vec![("Foo", 1, 0x10, 4), ("foo", 1, 0x14, 1)],
            ),
            (
                "remote duplicates are harmless",
                local(&[("foo", 1, 1)]),
                caps(&[("foo", 1), ("foo", 1)]),
                vec![("foo", 1, 0x10, 1)],
            ),
            (
                "zero-length protocol shares without codes",
                local(&[("a", 1, 0), ("b", 1, 2)]),
                caps(&[("a", 1), ("b", 1)]),
                vec![("a", 1, 0x10, 0), ("b", 1, 0x10, 2)],
            ),
        ];
        for (name, local, remote, want) in cases {
            let want: Vec<_> = want
                .into_iter()
                .map(|(n, v, o, l)| (n.to_string(), v, o, l))
                .collect();
            assert_eq!(ranges(&match_capabilities(&local, &remote)), want, "{name}");
        }
    }

    #[test]
    fn contains_respects_range_ends() {
        let shared = &match_capabilities(&local(&[("foo", 1, 2)]), &caps(&[("foo", 1)]))[0];
        assert!(!shared.contains(0x0f));
        assert!(shared.contains(0x10));
        assert!(shared.contains(0x11));
        assert!(!shared.contains(0x12));
    }
}
