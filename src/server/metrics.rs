//! Connection-level recording: peers, dials, handshake failures and what server events say.
//! The names are in [`crate::metrics`].

use metrics::{counter, gauge};

use crate::metrics::*;
use crate::protocol::{Direction, SessionEnd};
use crate::rlpx::RlpxError;
use crate::server::{PeerEvent, RejectReason};
use crate::session::SetupError;
use crate::wire::DisconnectReason;

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
        PeerEvent::Added(_)
        | PeerEvent::Msg { .. }
        | PeerEvent::ReputationChanged { .. }
        | PeerEvent::Banned { .. } => {}
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
