//! `serde` forms of the identity types, for admin APIs: the text forms they print.

use serde::{Serialize, Serializer};

use super::{Enode, NodeId};

/// 128 hex digits, as `Display` writes it.
impl Serialize for NodeId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The `enode://` URL.
impl Serialize for Enode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_and_enodes_serialize_as_their_text() {
        let id = crate::crypto::NodeKey::random().id();
        let enode = Enode::new(id, "127.0.0.1:30303".parse().unwrap());
        assert_eq!(serde_json::to_value(id).unwrap(), id.to_string());
        assert_eq!(serde_json::to_value(enode).unwrap(), enode.to_string());
    }
}
