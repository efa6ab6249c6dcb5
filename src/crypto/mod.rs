//! Cryptographic identity and the ECIES scheme of the RLPx handshake.

pub mod ecies;
mod enode;
pub(crate) mod keccak;
mod keys;
mod serialize;

pub use enode::{Enode, EnodeError, EnodeUrl, Host};
pub use keys::{
    generate_secret_key, parse_secret_key, NodeId, NodeIdError, NodeKey, SecretKeyError,
    NODE_ID_LEN,
};
