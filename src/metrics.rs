//! What the library records through the [`metrics`](https://docs.rs/metrics) facade.
//!
//! The library only records; the application decides where the numbers go by installing a
//! recorder (an exporter such as `metrics-exporter-prometheus`, as `peerwire node --metrics`
//! does). Without one, recording does nothing. Handles are resolved against the recorder
//! installed when a server starts or a session begins, so install it before
//! [`Server::start`](crate::server::Server::start).
//!
//! | name | kind | labels |
//! | --- | --- | --- |
//! | [`PEERS`] | gauge | `direction`: `inbound`, `outbound` |
//! | [`DIALS`] | counter | `outcome`: [`DIAL_CONNECTED`], [`DIAL_NO_SESSION`], [`DIAL_FAILED`], [`DIAL_TIMEOUT`] |
//! | [`HANDSHAKE_FAILURES`] | counter | `stage`: `rlpx`, `hello`; `cause` |
//! | [`DISCONNECTS`] | counter | `reason` (snake case, e.g. `client_quitting`); `side`: `local`, `remote`, `none` (closed without Disconnect) |
//! | [`REFUSED`] | counter | `reason` (gating rule, e.g. `throttled`); `direction` |
//! | [`REJECTED`] | counter | `reason` (devp2p reason, e.g. `too_many_peers`); `direction` |
//! | [`INGRESS_MESSAGES`], [`EGRESS_MESSAGES`] | counter | `cap` (e.g. `foo/1`); `code` (relative to the protocol) |
//! | [`INGRESS_BYTES`], [`EGRESS_BYTES`] | counter | `cap`; `code` |
//! | [`INBOUND_QUEUE`], [`OUTBOUND_QUEUE`] | gauge | `cap` |
//! | [`INBOUND_BUDGET`] | gauge | none |
//! | [`STORE_BATCHES`], [`STORE_CHANGES`], [`STORE_DROPPED`] | counter | none |
//! | [`REPUTATION_CHANGES`] | counter | `kind` (e.g. `failed_dial`) |
//! | [`REPUTATION_BANS`] | counter | none |
//! | [`NAT_EVENTS`] | counter | `event`: `mapped`, `renewed`, `address_changed`, `lost`, `refused`, `removed` |
//! | [`NAT_MAPPED`] | gauge | none (1 while the gateway maps our ports) |
//!
//! Bytes are payload bytes as they go on the wire (compressed, if the peer uses snappy),
//! without frame headers and MACs. Base-protocol messages (Ping, Pong, Disconnect) are not
//! counted per message. Label sets are bounded: `code` by the protocol's length (codes from
//! [`MAX_CODE_LABELS`] on share the label `other`), the other labels by their enums.
//!
//! Per-message recording uses handles made once per session and capability, so it does not
//! allocate.
//!
//! This module holds only the names, so every layer can use it: the per-message handles
//! live in the session layer (`session/metrics.rs`), the connection-level recording in the
//! server (`server/metrics.rs`). It holds no state.

use metrics::{describe_counter, describe_gauge, Unit};

/// Gauge: connected peers, by `direction`.
pub const PEERS: &str = "peerwire_peers";
/// Counter: dials, by `outcome`.
pub const DIALS: &str = "peerwire_dials_total";
/// Counter: connections that failed the RLPx handshake or the Hello exchange, by `stage`
/// and `cause`.
pub const HANDSHAKE_FAILURES: &str = "peerwire_handshake_failures_total";
/// Counter: ended sessions, by `reason` and `side`.
pub const DISCONNECTS: &str = "peerwire_disconnects_total";
/// Counter: connections refused by the gating rules (see `PeerEvent::Refused`).
pub const REFUSED: &str = "peerwire_refused_total";
/// Counter: connections refused by devp2p's rules after the handshake (see
/// `PeerEvent::Rejected`).
pub const REJECTED: &str = "peerwire_rejected_total";
/// Counter: messages received, by `cap` and `code`.
pub const INGRESS_MESSAGES: &str = "peerwire_ingress_messages_total";
/// Counter: payload bytes received, by `cap` and `code`.
pub const INGRESS_BYTES: &str = "peerwire_ingress_bytes_total";
/// Counter: messages sent, by `cap` and `code`.
pub const EGRESS_MESSAGES: &str = "peerwire_egress_messages_total";
/// Counter: payload bytes sent, by `cap` and `code`.
pub const EGRESS_BYTES: &str = "peerwire_egress_bytes_total";
/// Gauge: received messages waiting for handlers (queued or parked), all peers, by `cap`.
pub const INBOUND_QUEUE: &str = "peerwire_inbound_queue_messages";
/// Gauge: messages queued for sending, all peers, by `cap`.
pub const OUTBOUND_QUEUE: &str = "peerwire_outbound_queue_messages";
/// Gauge: bytes of received messages held against the servers' inbound budgets.
pub const INBOUND_BUDGET: &str = "peerwire_inbound_budget_bytes";
/// Counter: batches written to the peer store (one transaction each).
pub const STORE_BATCHES: &str = "peerwire_store_batches_total";
/// Counter: changes written to the peer store (several of one node in a batch count once).
pub const STORE_CHANGES: &str = "peerwire_store_changes_total";
/// Counter: changes dropped because the peer store's writer was too far behind.
pub const STORE_DROPPED: &str = "peerwire_store_dropped_total";
/// Counter: reputation changes applied to peers, by `kind`.
pub const REPUTATION_CHANGES: &str = "peerwire_reputation_changes_total";
/// Counter: peers banned because their reputation fell below the threshold.
pub const REPUTATION_BANS: &str = "peerwire_reputation_bans_total";

/// `outcome` of a dial whose connection became a peer.
pub const DIAL_CONNECTED: &str = "connected";
/// `outcome` of a dial that connected but failed the handshake or was refused.
pub const DIAL_NO_SESSION: &str = "no_session";
/// `outcome` of a dial whose TCP connect failed.
pub const DIAL_FAILED: &str = "connect_failed";
/// `outcome` of a dial whose TCP connect timed out.
pub const DIAL_TIMEOUT: &str = "timeout";

/// Codes of a protocol that get a `code` label of their own; higher ones share `other`.
pub const MAX_CODE_LABELS: u64 = 256;

/// Which way a message went, in [`PeerEvent::Msg`](crate::server::PeerEvent::Msg).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MsgDirection {
    /// Received from the peer.
    Ingress,
    /// Sent to the peer.
    Egress,
}

/// Counter: port mapping events (see `NatEvent`), by `event`.
pub const NAT_EVENTS: &str = "peerwire_nat_events_total";
/// Gauge: 1 while a gateway maps our ports, else 0.
pub const NAT_MAPPED: &str = "peerwire_nat_mapped";

/// Describes every metric to the installed recorder (units and help texts). The server
/// calls it when it starts; calling it again is harmless.
pub fn describe() {
    describe_gauge!(PEERS, "Connected peers");
    describe_counter!(DIALS, "Dials by outcome");
    describe_counter!(
        HANDSHAKE_FAILURES,
        "Failed RLPx handshakes and Hello exchanges"
    );
    describe_counter!(DISCONNECTS, "Ended sessions by reason and side");
    describe_counter!(REFUSED, "Connections refused by the gating rules");
    describe_counter!(REJECTED, "Connections refused after the handshake");
    describe_counter!(INGRESS_MESSAGES, "Messages received");
    describe_counter!(INGRESS_BYTES, Unit::Bytes, "Payload bytes received");
    describe_counter!(EGRESS_MESSAGES, "Messages sent");
    describe_counter!(EGRESS_BYTES, Unit::Bytes, "Payload bytes sent");
    describe_gauge!(INBOUND_QUEUE, "Received messages waiting for handlers");
    describe_gauge!(OUTBOUND_QUEUE, "Messages queued for sending");
    describe_gauge!(
        INBOUND_BUDGET,
        Unit::Bytes,
        "Bytes of received messages held against the inbound budget"
    );
    describe_counter!(STORE_BATCHES, "Batches written to the peer store");
    describe_counter!(STORE_CHANGES, "Changes written to the peer store");
    describe_counter!(
        STORE_DROPPED,
        "Peer store changes dropped: the writer was behind"
    );
    describe_counter!(REPUTATION_CHANGES, "Reputation changes applied to peers");
    describe_counter!(REPUTATION_BANS, "Peers banned for a low reputation");
    describe_counter!(NAT_EVENTS, "Port mapping events by kind");
    describe_gauge!(NAT_MAPPED, "1 while a gateway maps our ports");
}
