//! `gossip/1`: network-wide messages for peerwire. [`Gossip::publish`] reaches every node
//! of a connected network that runs the protocol, not just our peers;
//! [`Gossip::send_to`] reaches one node anywhere by its id. Built on peerwire's public API
//! only.
//!
//! ```text
//! Gossip (service/)     tokio shell: one handler per session, a timer task, subscriptions,
//!   │                   send_to (discovery lookup + ServerHandle::dial_oneshot)
//!   ▼
//! Router (router/)      sans-IO Plumtree: eager/lazy links, IHave, Graft, Prune, caches;
//!   │                   inputs `handle_*`, outputs `poll_transmit`/`poll_event`/`poll_timeout`
//!   ▼
//! wire, message         RLP forms and limits; message ids; origin signatures
//! ```
//!
//! ```no_run
//! # async fn run(mut config: peerwire::server::ServerConfig) -> Result<(), Box<dyn std::error::Error>> {
//! use peerwire_gossip::{Config, Gossip};
//!
//! let (gossip, _events) = Gossip::new(config.key.clone(), Config::default());
//! config.protocols.push(gossip.protocol());
//! let server = peerwire::server::Server::start(config).await?;
//! let mut chat = gossip.subscribe("chat");
//! gossip.publish("chat", &b"hello, everyone"[..])?;
//! while let Some(m) = chat.recv().await {
//!     println!("{} ({} hops): {:?}", m.origin.short(), m.hops, m.data);
//! }
//! # Ok(()) }
//! ```
//!
//! # Why Plumtree
//!
//! Flooding sends every message over every link: each node receives about as many copies
//! as it has peers (12 with 12 peers). A gossipsub mesh keeps about D = 6 links per node
//! eager, so about 6 copies. Plumtree (Leitão, Pereira, Rodrigues, 2007) keeps the eager
//! links to a spanning tree, built by the traffic itself: a link over which a copy arrives
//! a second time is pruned to lazy, so once the tree has formed a node receives each
//! message about once, and every other link carries only the message's 32-byte id in
//! batched announcements (IHave). The lazy links are also the repair path: a node that
//! hears of a message but does not get it within `Timing::graft_timeout` grafts it from the
//! announcer, which sends it and makes that link eager again. So a lost link, a departed
//! node or a slow peer costs one graft timeout for the messages affected, and the tree
//! reshapes around it. The price is latency under churn (a repair waits for the timeout)
//! and that a message from a new source follows a tree shaped by earlier traffic, which
//! can be longer than the shortest path; gossipsub pays for its lower latency with about
//! six times the bandwidth. Every node relays every topic: topics filter what is delivered
//! locally, so one tree serves all of them.
//!
//! # Messages and their ids
//!
//! A message names its origin and the origin's clock at publishing, and is signed by the
//! origin's node key (secp256k1, as the RLPx identity): the transport authenticates only the
//! neighbour a message came from, so without a signature any relay could publish in
//! another's name. Its id ([`MessageId`]) is sha256 over origin, time, topic and data,
//! which is what is signed: see [`MessageId`] for why not the data alone. Checks on
//! receipt, cheapest first: size limits while decoding, the hop limit, the seen-cache (a
//! copy costs a hash, no signature check), the publish time against our clock
//! (`Limits::max_clock_skew`: so a message the seen-cache has forgotten cannot be replayed),
//! the signature, then the application's [`Verdict`].
//!
//! # Bounds
//!
//! Everything a peer can make us hold is bounded (see [`Config`]): the seen-cache and the
//! message store by count, bytes and age; the ids we wait for (and so the Grafts we have
//! outstanding); each peer's queue of announcements; IHave and Graft sizes; what we read
//! from one peer per second (past it we stop reading it for a while); and what we send one
//! peer in answer to its Grafts. Sending never waits: a peer whose queue is full is
//! skipped, and what it missed is announced to it later so it can graft it. Subscribers
//! and the event stream are bounded queues too; a slow one misses messages (counted)
//! rather than holding up relaying.

#![forbid(unsafe_code)]

mod bucket;
pub mod config;
mod error;
mod message;
mod router;
mod service;
pub mod wire;

pub use self::config::Config;
pub use self::error::{PenaltyReason, PublishError, SendToError};
pub use self::message::{Message, MessageId, ID_LEN, SIGNATURE_LEN};
pub use self::router::{Delivery, Router, RouterEvent, Stats, Transmit, Verdict};
pub use self::service::{Gossip, GossipEvent, Route, Validator, SUBSCRIPTION_CAPACITY};

/// Capability name.
pub const NAME: &str = "gossip";
/// Capability version.
pub const VERSION: u32 = 1;
