//! Errors, grouped by who is at fault: our caller (publish), the network (send_to's
//! steps), a peer (penalties).

use peerwire::crypto::NodeId;
use peerwire::protocol::SendError;
use peerwire::server::DialError;

use crate::message::MessageId;
use crate::wire::WireError;

/// Why a message was not published: API misuse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PublishError {
    /// The topic is longer than `Limits::max_topic_len`.
    #[error("topic of {0} bytes exceeds the limit")]
    TopicTooLong(usize),
    /// The data is larger than `Limits::max_data`.
    #[error("message of {0} bytes exceeds the limit")]
    TooLarge(usize),
}

/// What a peer did wrong. Reported as a penalty; enough of them end the session.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PenaltyReason {
    /// It relayed a message whose signature is not its origin's.
    #[error("relayed a message with a bad signature")]
    BadSignature,
    /// It relayed a message the validation hook rejected.
    #[error("relayed message {0:?}, which the validator rejected")]
    Rejected(MessageId),
    /// It sent a malformed gossip/1 message (the session is ended at once).
    #[error("malformed message: {0}")]
    Malformed(WireError),
    /// Its first message was not a Status.
    #[error("did not start with Status")]
    NoStatus,
}

/// Which step of [`Gossip::send_to`](crate::Gossip::send_to) failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SendToError {
    /// The message is larger than `Limits::max_data`: API misuse.
    #[error("message of {0} bytes exceeds the limit")]
    TooLarge(usize),
    /// That is our own node id.
    #[error("that is this node")]
    ToSelf,
    /// Not connected, and there is no discovery to look the node up with.
    #[error("node {} is not connected and discovery does not run", .0.short())]
    NoDiscovery(NodeId),
    /// The discovery lookup did not find the node (or did not end in time).
    #[error("node {} not found by discovery", .0.short())]
    NotFound(NodeId),
    /// Found, but the connection could not be made (connect failed or timed out, or the
    /// handshake failed).
    #[error("node {} unreachable: {source}", .id.short())]
    Unreachable {
        /// The node.
        id: NodeId,
        /// The dial's error.
        #[source]
        source: DialError,
    },
    /// Reached, but it refused us (its slots are full, it banned us, ...), or our own rules
    /// refused the dial (ban, `net_restrict`), or every one-shot slot is in use.
    #[error("node {} refused: {source}", .id.short())]
    Refused {
        /// The node.
        id: NodeId,
        /// The dial's error.
        #[source]
        source: DialError,
    },
    /// Connected, but it does not run gossip/1 (or not for direct messages).
    #[error("node {} does not run gossip/1", .0.short())]
    NotSupported(NodeId),
    /// Connected, but the message could not be queued (full, or the session ended).
    #[error("send to {} failed: {source}", .id.short())]
    Send {
        /// The node.
        id: NodeId,
        /// Why.
        #[source]
        source: SendError,
    },
}
