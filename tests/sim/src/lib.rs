//! # peerwire-sim
//!
//! peerwire servers, unchanged, on a seeded simulated internet: hundreds of nodes in one
//! thread, with per-link latency, datagram loss, partitions and churn, on a clock the
//! simulation drives. The same seed gives the same run.
//!
//! ```text
//! scenarios/    convergence, churn, partition, bootnode loss, lossy region (mod.rs) and
//!   │           gossip (gossip.rs): each asserts and returns its figures
//! harness.rs    add/crash nodes, partition/repair, run until, samples; paused-clock runtime
//!   ├─ node.rs      one node: a peerwire Server; the census of peers and events
//!   ├─ simnet/      peerwire's Transport on a simulated internet (TCP, UDP, cuts, crashes)
//!   └─ topology.rs  regions, latencies, loss rates, addresses
//! turmoil_net.rs the same Transport on turmoil's hosts (see its docs for why scenarios
//!               run on simnet)
//! report.rs     JSON figures and SVG plots of a run
//! log.rs        the event log and its digest
//! ```
//!
//! `cargo run -p peerwire-sim --release -- convergence --seed 1 --report out/` runs one
//! scenario and writes its report.

#![forbid(unsafe_code)]

pub mod harness;
pub mod log;
pub mod node;
pub mod report;
pub mod scenarios;
pub mod simnet;
pub mod topology;
pub mod turmoil_net;
