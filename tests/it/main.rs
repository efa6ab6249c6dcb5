//! The integration tests, in one binary: one module per area, and the helpers they share in
//! `support`. A test that changes or measures what the whole process shares runs in a child
//! process of this binary (`support::in_own_process`); `tests/steady_state_alloc.rs` is a
//! binary of its own because it installs a counting global allocator.
#![expect(
    clippy::disallowed_methods,
    reason = "tests collect what they observe in unbounded channels; the test bounds what is sent"
)]

mod support;

mod accept_emfile;
mod chat_example;
mod discovery_eclipse;
mod discovery_external_ip;
mod discovery_network;
mod discv5;
mod dns;
mod fuzz_seeds;
mod hostile;
mod hostile_discovery;
mod interop;
mod interop_discovery;
mod interop_discv5;
mod ipv6;
mod metrics;
mod peer_send;
mod pipe;
mod pipelined;
mod request;
mod rlpx_stream;
mod server_admission;
mod server_basic;
mod server_budget;
mod server_dial;
mod server_gating;
mod server_keepalive;
mod server_protocols;
mod server_store;
mod session_limits;
mod static_names;
