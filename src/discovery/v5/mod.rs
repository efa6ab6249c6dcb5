//! Node Discovery v5 through sigp's `discv5` crate (what reth and Lighthouse run): a thin
//! wrapper that shares our key and record with discv4 and feeds the dialer.
//!
//! ```text
//! service.rs   Discv5Handle: start (alone, or with discv4 on one socket), lookups, table,
//!   │          our record, the node source; the task that keeps the record in step
//! demux.rs     one UDP socket for both versions: what is not discv5 goes to discv4
//! record.rs    Record <-> discv5::Enr (same bytes), which records can be dialed
//! config.rs    Discv5Config
//! error.rs     start and query errors, why a record is not dialed
//! ```
//!
//! One port, as go-ethereum: sigp's crate reads a socket we bind and hands back each
//! datagram it cannot decode, so discv4 runs behind it on the same port, and our one record
//! names one `udp` port that is right for both versions. (With two ports, discv4 peers that
//! fetch our record would be sent to the discv5 port; reth keeps two records for that
//! reason.)
//!
//! One record: discv4 signs it and discv5 serves discv4's signed bytes. When discv4's Pong
//! votes move our address, discv5 takes discv4's new record; when discv5's own votes (or
//! [`Discv5Handle::set_endpoint`]) move it, discv5 re-signs (sigp's crate does), discv4
//! signs the same content at that `seq`, and discv5 takes those bytes. `seq` never goes
//! down, and both versions answer with the same bytes once the change has settled.

mod config;
mod demux;
mod error;
mod record;
mod service;

pub use config::Discv5Config;
pub use error::{Discv5Error, Discv5QueryError, Unusable};
pub use record::{dialable, from_v5, to_v5};
pub use service::{Discv5Handle, Discv5Stats};
