//! `serde` forms of the wire types, for admin APIs.

use serde::{Serialize, Serializer};

use super::Capability;

/// `name/version`, as `Display` writes it (go-ethereum's admin API shows `eth/68`).
impl Serialize for Capability {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::super::SharedCapability;
    use super::*;

    #[test]
    fn capabilities_serialize_as_name_slash_version() {
        let shared = SharedCapability {
            capability: Capability::new("eth", 68),
            offset: 16,
            length: 17,
        };
        assert_eq!(
            serde_json::to_value(&shared).unwrap(),
            serde_json::json!({"capability": "eth/68", "offset": 16, "length": 17})
        );
    }
}
