//! Node lists in DNS (EIP-1459): signed Merkle trees of node records in TXT records.
//!
//! ```text
//! source.rs    a tree as a node source for the dialer (re-synced on a timer)
//!   │
//! client.rs    DnsClient: lookups through a TxtResolver (a few at once), links followed
//!   │          (loops refused), bounds on entries, depth, links and time
//! sync.rs      sans-IO: TreeState (root checks, cache of verified entries), Walk (which
//!   │          hash to ask next, what an answer means)
//! entry.rs     root, branch, enr and link entries, hashes; tree.rs builds and signs trees
//! resolver.rs  TxtResolver: hickory-resolver for real DNS, an in-memory map for tests
//! ```
//!
//! Build and publish a tree, then sync it:
//!
//! ```
//! use peerwire::crypto::NodeKey;
//! use peerwire::discovery::dns::{DnsClient, DnsConfig, MemoryResolver, Tree};
//! use peerwire::discovery::enr;
//! use peerwire::discovery::v4::Endpoint;
//!
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! let node = NodeKey::random();
//! let record = enr::build(&node, 1, &Endpoint { ip: [10, 0, 0, 1].into(), udp_port: 30303, tcp_port: 30303 })?;
//! let signer = NodeKey::random();
//! let tree = Tree::sign(1, &[record], &[], signer.secret());
//! let resolver = MemoryResolver::new();
//! resolver.insert_all(tree.to_txt("nodes.example.org"));
//!
//! let mut client = DnsClient::new(resolver, DnsConfig::default());
//! let report = client.sync(&tree.url("nodes.example.org")?).await?;
//! assert_eq!(enr::node_id(&report.records[0]), node.id());
//! # Ok::<_, Box<dyn std::error::Error>>(())
//! # }).unwrap();
//! ```

mod client;
mod entry;
mod error;
mod resolver;
mod source;
mod sync;
#[cfg(feature = "dns-test-server")]
mod test_server;
#[cfg(test)]
mod tests;
mod tree;

pub use client::{DnsClient, DnsConfig, SyncReport, TreeReport};
pub use entry::{character_strings, Entry, EntryHash, Link, Root, HASH_LEN, MAX_ENTRY_LEN};
pub use error::{EntryError, ResolveError, SyncError};
pub use resolver::{HickoryResolver, MemoryResolver, TxtResolver};
pub use source::node_source;
pub use sync::{Synced, TreeState, Walk, WalkLimits};
#[cfg(feature = "dns-test-server")]
pub use test_server::{TestDnsServer, TestServerError};
pub use tree::{url_for, Tree, MAX_CHILDREN};
