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
//!
//! Bytes are payload bytes as they go on the wire (compressed, if the peer uses snappy),
//! without frame headers and MACs. Base-protocol messages (Ping, Pong, Disconnect) are not
//! counted per message. Label sets are bounded: `code` by the protocol's length (codes from
//! [`MAX_CODE_LABELS`] on share the label `other`), the other labels by their enums.
//!
//! Per-message recording uses handles made once per session and capability, so it does not
//! allocate.
//!
//! This module sits beside the layers rather than in one: the layers record through it,
//! and it names the types of any layer it turns into labels. It holds no state.

use std::sync::Arc;

use metrics::{counter, describe_counter, describe_gauge, gauge, Counter, Gauge, Unit};

use crate::protocol::{Direction, SessionEnd};
use crate::rlpx::RlpxError;
use crate::server::{PeerEvent, RejectReason};
use crate::session::SetupError;
use crate::wire::{Capability, DisconnectReason};

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

/// Which way a message went, in [`PeerEvent::Msg`].
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MsgDirection {
    /// Received from the peer.
    Ingress,
    /// Sent to the peer.
    Egress,
}

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
}

fn direction(d: Direction) -> &'static str {
    match d {
        Direction::Inbound => "inbound",
        Direction::Outbound => "outbound",
    }
}

pub(crate) fn peer_added(d: Direction) {
    gauge!(PEERS, "direction" => direction(d)).increment(1.0);
}

pub(crate) fn peer_removed(d: Direction) {
    gauge!(PEERS, "direction" => direction(d)).decrement(1.0);
}

/// A dial ended with `outcome` (one of the `DIAL_*` constants).
pub(crate) fn dialed(outcome: &'static str) {
    counter!(DIALS, "outcome" => outcome).increment(1);
}

/// A connection we dialed became a peer, or did not.
pub(crate) fn dial_established(dialed_by_us: bool, established: bool) {
    if dialed_by_us {
        dialed(if established {
            DIAL_CONNECTED
        } else {
            DIAL_NO_SESSION
        });
    }
}

pub(crate) fn rlpx_failed(e: &RlpxError) {
    counter!(HANDSHAKE_FAILURES, "stage" => "rlpx", "cause" => rlpx_cause(e)).increment(1);
}

pub(crate) fn hello_failed(e: &SetupError) {
    let cause = match e {
        SetupError::Rlpx(e) => rlpx_cause(e),
        SetupError::Timeout => "timeout",
        SetupError::Hello(_) => "bad_hello",
        SetupError::UnexpectedIdentity => "unexpected_identity",
        SetupError::UnexpectedMessage(_) => "unexpected_message",
        SetupError::NoSharedCapability => "no_shared_capability",
        SetupError::Disconnected(_) => "disconnected",
        SetupError::Closed => "closed",
    };
    counter!(HANDSHAKE_FAILURES, "stage" => "hello", "cause" => cause).increment(1);
}

fn rlpx_cause(e: &RlpxError) -> &'static str {
    match e {
        RlpxError::Handshake(_) => "bad_handshake",
        RlpxError::Frame(_) => "bad_frame",
        RlpxError::HandshakeTimeout => "timeout",
        RlpxError::ClosedDuringHandshake => "closed",
        RlpxError::Io(_) => "io",
    }
}

/// Records what a server event says about connections: disconnects, refusals, rejections.
pub(crate) fn event(event: &PeerEvent) {
    match event {
        PeerEvent::Dropped { end, .. } => {
            let side = match end {
                SessionEnd::Local(_) => "local",
                SessionEnd::Remote(_) => "remote",
                SessionEnd::Closed => "none",
            };
            counter!(DISCONNECTS, "reason" => reason(end.reason()), "side" => side).increment(1);
        }
        PeerEvent::Refused {
            direction: d,
            reason: r,
            ..
        } => {
            let reason = match r {
                RejectReason::BannedIp => "banned_ip",
                RejectReason::BannedNode => "banned_node",
                RejectReason::Restricted => "restricted",
                RejectReason::Throttled => "throttled",
                RejectReason::TooManyPendingFromIp => "too_many_pending_from_ip",
                RejectReason::TooManyPending => "too_many_pending",
            };
            counter!(REFUSED, "reason" => reason, "direction" => direction(*d)).increment(1);
        }
        PeerEvent::Rejected {
            direction: d,
            reason: r,
            ..
        } => {
            counter!(REJECTED, "reason" => reason(*r), "direction" => direction(*d)).increment(1);
        }
        PeerEvent::Added(_) | PeerEvent::Msg { .. } => {}
    }
}

/// A devp2p reason as a label.
fn reason(r: DisconnectReason) -> &'static str {
    match r {
        DisconnectReason::Requested => "requested",
        DisconnectReason::TcpError => "tcp_error",
        DisconnectReason::ProtocolError => "protocol_error",
        DisconnectReason::UselessPeer => "useless_peer",
        DisconnectReason::TooManyPeers => "too_many_peers",
        DisconnectReason::AlreadyConnected => "already_connected",
        DisconnectReason::IncompatibleVersion => "incompatible_version",
        DisconnectReason::InvalidIdentity => "invalid_identity",
        DisconnectReason::Quitting => "client_quitting",
        DisconnectReason::UnexpectedIdentity => "unexpected_identity",
        DisconnectReason::ConnectedToSelf => "connected_to_self",
        DisconnectReason::PingTimeout => "ping_timeout",
        DisconnectReason::SubprotocolError => "subprotocol_error",
    }
}

/// Called for every message of a session when message events are on: the capability, the
/// code relative to it, the payload bytes on the wire, and which way it went.
#[derive(Clone)]
pub(crate) struct MsgHook(pub(crate) Arc<MsgFn>);

/// See [`MsgHook`].
pub(crate) type MsgFn = dyn Fn(&Capability, u64, usize, MsgDirection) + Send + Sync;

impl std::fmt::Debug for MsgHook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MsgHook")
    }
}

/// One message family's counters, one per code label.
#[derive(Debug)]
struct PerCode {
    messages: Box<[Counter]>,
    bytes: Box<[Counter]>,
}

impl PerCode {
    fn new(messages: &'static str, bytes: &'static str, cap: &str, length: u64) -> Self {
        let labels = length.min(MAX_CODE_LABELS);
        let code = |c: u64| {
            if c < MAX_CODE_LABELS {
                c.to_string()
            } else {
                "other".to_string()
            }
        };
        // One more for `other` when the protocol has more codes than labels.
        let codes = (0..labels).chain((length > MAX_CODE_LABELS).then_some(MAX_CODE_LABELS));
        let (messages, bytes): (Vec<_>, Vec<_>) = codes
            .map(|c| {
                let labels = [("cap", cap.to_string()), ("code", code(c))];
                (counter!(messages, &labels), counter!(bytes, &labels))
            })
            .unzip();
        PerCode {
            messages: messages.into_boxed_slice(),
            bytes: bytes.into_boxed_slice(),
        }
    }

    fn record(&self, code: u64, size: usize) {
        let i = code.min(MAX_CODE_LABELS) as usize;
        if let (Some(m), Some(b)) = (self.messages.get(i), self.bytes.get(i)) {
            m.increment(1);
            b.increment(size as u64);
        }
    }
}

/// The handles of one capability on one session, made when the session starts so that
/// recording a message allocates nothing.
pub(crate) struct CapMetrics {
    cap: Capability,
    offset: u64,
    ingress: PerCode,
    egress: PerCode,
    /// Received messages not yet read by the handler.
    pub(crate) inbound_queue: Gauge,
    /// Messages queued for the writer.
    pub(crate) outbound_queue: Gauge,
    hook: Option<MsgHook>,
}

impl std::fmt::Debug for CapMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CapMetrics")
            .field("cap", &self.cap)
            .field("offset", &self.offset)
            .field("msg_events", &self.hook.is_some())
            .finish_non_exhaustive()
    }
}

impl CapMetrics {
    /// The handles for `cap` at wire codes `offset..offset + length`, and `hook` to call for
    /// every message, if message events are on.
    pub(crate) fn new(cap: &Capability, offset: u64, length: u64, hook: Option<MsgHook>) -> Self {
        let name = cap.to_string();
        CapMetrics {
            cap: cap.clone(),
            offset,
            ingress: PerCode::new(INGRESS_MESSAGES, INGRESS_BYTES, &name, length),
            egress: PerCode::new(EGRESS_MESSAGES, EGRESS_BYTES, &name, length),
            inbound_queue: gauge!(INBOUND_QUEUE, "cap" => name.clone()),
            outbound_queue: gauge!(OUTBOUND_QUEUE, "cap" => name),
            hook,
        }
    }

    /// A message with wire code `code` and `size` payload bytes on the wire went `direction`.
    pub(crate) fn record(&self, direction: MsgDirection, code: u64, size: usize) {
        let code = code.saturating_sub(self.offset);
        match direction {
            MsgDirection::Ingress => self.ingress.record(code, size),
            MsgDirection::Egress => self.egress.record(code, size),
        }
        if let Some(hook) = &self.hook {
            (hook.0)(&self.cap, code, size, direction);
        }
    }
}
