//! What a protocol handler can say about a peer's behaviour: [`ReputationChange`], reported
//! with [`Peer::report`](super::Peer::report). The server keeps the scores and bans a peer
//! whose score falls below its threshold (`peerwire::server::ReputationConfig`).

use std::sync::Arc;

use crate::crypto::NodeId;

/// One unit of reputation. A peer starts at 0; penalties are whole units.
pub const REPUTATION_UNIT: i32 = 1024;

/// A change to a peer's reputation. The server applies some itself (failed dials and
/// handshakes, ping timeouts, sessions it ends for a protocol error); handlers report the
/// rest.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ReputationChange {
    /// A message that does not decode or breaks the protocol's rules: −16 units.
    BadMessage,
    /// A violation so clear the peer must be buggy or hostile (wrong network, forged data):
    /// −64 units, enough for a ban by the default threshold.
    BadProtocol,
    /// A request not answered in time: −4 units.
    Timeout,
    /// A dial that failed to connect: −4 units.
    FailedToConnect,
    /// A connection whose RLPx handshake or Hello exchange failed: −8 units.
    HandshakeFailed,
    /// A peer that serves nothing we need: −2 units.
    Useless,
    /// A useful answer: +1 unit (scores never rise above 0 by much: see the server's cap).
    Good,
    /// A change of this many units (negative: a penalty).
    Units(i16),
}

impl ReputationChange {
    /// The change in score.
    pub fn value(self) -> i32 {
        let units = match self {
            Self::BadMessage => -16,
            Self::BadProtocol => -64,
            Self::Timeout | Self::FailedToConnect => -4,
            Self::HandshakeFailed => -8,
            Self::Useless => -2,
            Self::Good => 1,
            Self::Units(n) => i32::from(n),
        };
        units * REPUTATION_UNIT
    }

    /// A short name, for metrics labels and logs.
    pub fn kind(self) -> &'static str {
        match self {
            Self::BadMessage => "bad_message",
            Self::BadProtocol => "bad_protocol",
            Self::Timeout => "timeout",
            Self::FailedToConnect => "failed_to_connect",
            Self::HandshakeFailed => "handshake_failed",
            Self::Useless => "useless",
            Self::Good => "good",
            Self::Units(_) => "units",
        }
    }
}

/// Where [`Peer::report`](super::Peer::report) sends a change: the server's reputation
/// table. Set by the server when it admits the peer.
#[derive(Clone)]
pub(crate) struct Reporter(pub(crate) Arc<dyn Fn(NodeId, ReputationChange) + Send + Sync>);

impl std::fmt::Debug for Reporter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Reporter")
    }
}
