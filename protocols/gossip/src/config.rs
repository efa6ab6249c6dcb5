//! Settings, grouped by what they govern; each field says its default and its cost.
//!
//! ```text
//! Config        .limits   what a message may be        Limits
//!               .caches   what is remembered, how long Caches
//!               .timing   the lazy path's clocks       Timing
//!               .peer     what one peer may cost us    PeerLimits
//!               .direct   one-shot direct sessions     DirectConfig
//! ```

use std::time::Duration;

/// Everything [`Gossip`](crate::Gossip) and the [`Router`](crate::Router) need.
#[derive(Clone, Debug, Default)]
#[non_exhaustive]
pub struct Config {
    /// What a message may be.
    pub limits: Limits,
    /// What is remembered, and how long.
    pub caches: Caches,
    /// The lazy path's clocks.
    pub timing: Timing,
    /// What one peer may cost us.
    pub peer: PeerLimits,
    /// One-shot sessions for direct messages.
    pub direct: DirectConfig,
    /// Flood instead of building a tree: no link is ever pruned, so every node pushes every
    /// message whole to every peer but the one it came from. For measuring the tree against
    /// flooding on the same network; default off.
    pub flood: bool,
}

/// What a message may be.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Limits {
    /// Largest message data, in bytes, published or relayed; a peer sending more is
    /// misbehaving. Default 1 MiB.
    pub max_data: usize,
    /// Longest topic, in bytes (at most 255). Default 64.
    pub max_topic_len: usize,
    /// Most links a message crosses: one arriving after this many is delivered but not
    /// relayed further. Only a guard (the seen-cache already stops loops); a tree over
    /// 1,000 nodes of 12 peers is rarely deeper than 10. Default 32.
    pub max_hops: u8,
    /// How far a message's publish time may lie from our clock, either way, before it is
    /// ignored. Messages older than this cannot be replayed once the seen-cache forgot
    /// them (`Caches::seen_ttl` is longer than twice this). Default 2 min.
    pub max_clock_skew: Duration,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            max_data: 1 << 20,
            max_topic_len: 64,
            max_hops: 32,
            max_clock_skew: Duration::from_secs(120),
        }
    }
}

/// What is remembered, and how long.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Caches {
    /// How long the id of a message seen is remembered, so a copy is known as one. At
    /// least twice `Limits::max_clock_skew` is used, whatever this says. Default 5 min.
    pub seen_ttl: Duration,
    /// Most ids remembered (about 80 bytes each); past it the oldest go first. Default
    /// 65,536 (about 5 MiB).
    pub seen_max: usize,
    /// How long a message is kept whole to answer Grafts. Default 30 s.
    pub store_ttl: Duration,
    /// Most messages kept whole. Default 4,096.
    pub store_max: usize,
    /// Most bytes of messages kept whole. Default 64 MiB.
    pub store_max_bytes: usize,
    /// Most announced ids we wait for (each with up to 4 announcers to graft from, about
    /// 400 bytes); past it new announcements are dropped. Bounds the Grafts outstanding.
    /// Default 4,096.
    pub max_missing: usize,
    /// Most ids waiting to be announced to one peer; past it the oldest are dropped.
    /// Default 4,096 (about 160 KiB).
    pub max_lazy_queue: usize,
}

impl Default for Caches {
    fn default() -> Self {
        Self {
            seen_ttl: Duration::from_secs(300),
            seen_max: 65_536,
            store_ttl: Duration::from_secs(30),
            store_max: 4096,
            store_max_bytes: 64 << 20,
            max_missing: 4096,
            max_lazy_queue: 4096,
        }
    }
}

/// The lazy path's clocks.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct Timing {
    /// How often ids are announced (IHave) to lazy peers, batched. Shorter repairs sooner
    /// and sends more IHave messages. Default 50 ms.
    pub lazy_interval: Duration,
    /// How long after an IHave we wait for the message to come the eager way before we
    /// Graft it from the announcer; then again this long before trying the next announcer.
    /// Longer than a few link delays, or the tree is rebuilt for nothing. Default 250 ms.
    pub graft_timeout: Duration,
}

impl Default for Timing {
    fn default() -> Self {
        Self {
            lazy_interval: Duration::from_millis(50),
            graft_timeout: Duration::from_millis(250),
        }
    }
}

/// What one peer may cost us. Rates are token buckets: a burst of `*_burst`, refilled at
/// `*_per_sec`.
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct PeerLimits {
    /// Bytes of gossip/1 messages read from one peer per second; past it we stop reading
    /// from it for a while (what it then cannot send us, it announces, and we graft it
    /// later or from others). Default 8 MiB/s.
    pub read_bytes_per_sec: u64,
    /// Burst of the above. Default 16 MiB.
    pub read_bytes_burst: u64,
    /// gossip/1 messages read from one peer per second. Default 2,000.
    pub read_msgs_per_sec: u64,
    /// Burst of the above. Default 4,000.
    pub read_msgs_burst: u64,
    /// Bytes of messages sent to one peer in answer to its Grafts, per second; Grafts past
    /// it are not answered (it grafts from another announcer). Default 4 MiB/s.
    pub graft_bytes_per_sec: u64,
    /// Burst of the above. Default 8 MiB.
    pub graft_bytes_burst: u64,
    /// Penalties (bad signature, rejected by the validator) after which a peer is
    /// disconnected; each is reported first ([`GossipEvent::Penalty`](crate::GossipEvent)).
    /// Default 3.
    pub max_penalties: u32,
}

impl Default for PeerLimits {
    fn default() -> Self {
        Self {
            read_bytes_per_sec: 8 << 20,
            read_bytes_burst: 16 << 20,
            read_msgs_per_sec: 2000,
            read_msgs_burst: 4000,
            graft_bytes_per_sec: 4 << 20,
            graft_bytes_burst: 8 << 20,
            max_penalties: 3,
        }
    }
}

/// One-shot sessions for [`Gossip::send_to`](crate::Gossip::send_to).
#[derive(Clone, Copy, Debug)]
#[non_exhaustive]
pub struct DirectConfig {
    /// A session dialed (or accepted) only for direct messages is closed after this long
    /// without one either way. Default 5 s.
    pub idle: Duration,
    /// Longest the discovery lookup for a node not connected may take. Default 10 s.
    pub lookup_timeout: Duration,
    /// Direct messages from all peers queued for the application; past it they are dropped
    /// (and counted). Default 1,024.
    pub queue: usize,
}

impl Default for DirectConfig {
    fn default() -> Self {
        Self {
            idle: Duration::from_secs(5),
            lookup_timeout: Duration::from_secs(10),
            queue: 1024,
        }
    }
}
