//! The tokio shell around the [`Router`]: one handler per peer session feeds it, a timer
//! task drives its clock, and what it outputs is queued to peers without waiting and to
//! subscribers without waiting.

mod direct;
mod handler;

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use peerwire::crypto::{NodeId, NodeKey};
use peerwire::protocol::{MsgSender, Peer, PeerRegistry, Protocol, SendError};
use peerwire::wire::{Capability, DisconnectReason};
use tokio::sync::{mpsc, Notify};

pub use self::direct::Route;
use crate::config::Config;
use crate::error::{PenaltyReason, PublishError};
use crate::message::{Message, MessageId};
use crate::router::{Delivery, Router, RouterEvent, Stats, Transmit, Verdict};
use crate::wire::{self, Status, LENGTH};
use crate::{NAME, VERSION};

/// Deliveries queued per subscription; past it a slow subscriber misses messages (counted
/// in [`Gossip::dropped`]), so it never holds up relaying.
pub const SUBSCRIPTION_CAPACITY: usize = 1024;
/// Events queued for the application; past it they are dropped (counted).
const EVENT_CAPACITY: usize = 1024;
/// Origins remembered for [`Gossip::origins`].
const MAX_ORIGINS: usize = 256;
/// The timer task looks at least this often whether the protocol is still in use.
const TIMER_CHECK: Duration = Duration::from_secs(1);

/// The application's validation hook: asked about every new message (signature already
/// checked) before it is delivered or relayed. Called under the router's lock: keep it
/// quick and never block in it.
pub type Validator = Arc<dyn Fn(&Message) -> Verdict + Send + Sync>;

/// What the protocol tells the application, besides subscriptions.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum GossipEvent {
    /// A direct message ([`Gossip::send_to`]) for this node.
    Direct {
        /// The sender, as its session's handshake proved.
        from: NodeId,
        /// The payload.
        data: Bytes,
    },
    /// A peer misbehaved. At `PeerLimits::max_penalties` the session is ended (Disconnect
    /// ProtocolError, as at once for a malformed message); a ban is the application's call
    /// (`ServerHandle::ban`).
    Penalty {
        /// The peer.
        peer: NodeId,
        /// What it did.
        reason: PenaltyReason,
        /// Its penalties so far on this session.
        count: u32,
    },
}

/// Network-wide publish/subscribe and direct messages over `gossip/1`. Cheap to clone;
/// every clone is the same node's.
#[derive(Clone)]
pub struct Gossip {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Gossip {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gossip")
            .field("id", &self.shared.local_id)
            .field("peers", &self.shared.peers.len())
            .finish_non_exhaustive()
    }
}

struct Shared {
    local_id: NodeId,
    config: Config,
    router: Mutex<Router>,
    validator: Validator,
    /// Every gossip/1 session, relaying or direct-only.
    peers: PeerRegistry<PeerEntry>,
    subscriptions: Mutex<HashMap<String, Vec<mpsc::Sender<Delivery>>>>,
    events: mpsc::Sender<GossipEvent>,
    /// Ids we are dialing only to send a direct message: their sessions do not relay.
    dialing_direct: Mutex<HashSet<NodeId>>,
    origins: Mutex<VecDeque<NodeId>>,
    /// Wakes the timer task when the router's next deadline may have moved.
    timer: Arc<Notify>,
    timer_started: AtomicBool,
    sessions: AtomicU64,
    dropped: AtomicU64,
}

/// One gossip/1 session.
#[derive(Clone)]
struct PeerEntry {
    sender: MsgSender,
    peer: Peer,
    /// Tells a peer's sessions apart when it reconnects before the old one is gone.
    session: u64,
    /// Woken by a direct message sent, so an idle direct-only session stays up.
    touched: Arc<Notify>,
    /// Their Status arrived: the peer admitted us too (a node that refuses us after the
    /// Hello exchange never sends it).
    greeted: Arc<AtomicBool>,
}

impl Gossip {
    /// The protocol state of the node whose key is `key` (messages are signed with it: pass
    /// the server's), and the stream of its [`GossipEvent`]s. Every message is accepted.
    pub fn new(key: NodeKey, config: Config) -> (Self, mpsc::Receiver<GossipEvent>) {
        Self::with_validator(key, config, Arc::new(|_: &Message| Verdict::Accept))
    }

    /// As [`Gossip::new`], asking `validator` about each new message first.
    pub fn with_validator(
        key: NodeKey,
        config: Config,
        validator: Validator,
    ) -> (Self, mpsc::Receiver<GossipEvent>) {
        let unix = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        Self::with_clock(key, config, validator, unix)
    }

    /// As [`Gossip::with_validator`], with the wall-clock time now (since the Unix epoch)
    /// given instead of read from the system: publish times follow it and tokio's clock.
    /// For a network with a clock of its own (`peerwire::net::Network::unix_time`), such
    /// as a simulation.
    pub fn with_clock(
        key: NodeKey,
        config: Config,
        validator: Validator,
        unix: Duration,
    ) -> (Self, mpsc::Receiver<GossipEvent>) {
        let (events, rx) = mpsc::channel(EVENT_CAPACITY);
        let now = tokio::time::Instant::now().into_std();
        let shared = Shared {
            local_id: key.id(),
            router: Mutex::new(Router::new(key, config.clone(), now, unix)),
            config,
            validator,
            peers: PeerRegistry::new(),
            subscriptions: Mutex::default(),
            events,
            dialing_direct: Mutex::default(),
            origins: Mutex::default(),
            timer: Arc::new(Notify::new()),
            timer_started: AtomicBool::new(false),
            sessions: AtomicU64::new(0),
            dropped: AtomicU64::new(0),
        };
        let gossip = Self {
            shared: Arc::new(shared),
        };
        (gossip, rx)
    }

    /// The [`Protocol`] to register with a server. Its inbound queue holds 1,024 messages
    /// (IHave and Graft are small and come in bursts).
    pub fn protocol(&self) -> Protocol {
        let gossip = self.clone();
        Protocol::new(Capability::new(NAME, VERSION), LENGTH, move |peer, rw| {
            let (reader, sender) = rw.split();
            let session = gossip.shared.sessions.fetch_add(1, Ordering::Relaxed);
            // Read now, while `send_to` still holds the mark it set before dialing.
            let direct_only = lock(&gossip.shared.dialing_direct).contains(&peer.id());
            // Queued now, before the session is registered: whatever `send_to` queues on it
            // comes after. The queue is empty at the start, so this cannot be `Full`.
            let status = Status {
                version: wire::VERSION,
                relay: !direct_only,
            };
            let status_sent = sender.try_send_raw(wire::STATUS, status.encode());
            // Registered before the handler's future exists, so that `send_to` finds the
            // session as soon as the server admitted the peer.
            let registration = gossip.shared.peers.register(
                peer.id(),
                PeerEntry {
                    sender: sender.clone(),
                    peer: peer.clone(),
                    session,
                    touched: Arc::new(Notify::new()),
                    greeted: Arc::new(AtomicBool::new(false)),
                },
            );
            let gossip = gossip.clone();
            async move {
                let _registration = registration;
                handler::run(&gossip, peer, reader, session, status, status_sent).await
            }
        })
        .with_queue_capacity(1024, peerwire::protocol::DEFAULT_QUEUE_CAPACITY)
    }

    /// Publishes `data` on `topic` to every node of the network that runs gossip/1 and is
    /// connected to us through others that do. Never waits: peers whose queue is full are
    /// skipped, and are told of the message later so they can ask for it. Not delivered
    /// to our own subscribers.
    pub fn publish(&self, topic: &str, data: impl Into<Bytes>) -> Result<MessageId, PublishError> {
        self.ensure_timer();
        self.drive(|router, now| router.publish(topic, data.into(), now))
    }

    /// The messages published on `topic` from now on, from other nodes. Each subscription
    /// holds up to [`SUBSCRIPTION_CAPACITY`] undelivered messages; past it, it misses
    /// messages (counted in [`Gossip::dropped`]) rather than holding up the network.
    pub fn subscribe(&self, topic: &str) -> mpsc::Receiver<Delivery> {
        let (tx, rx) = mpsc::channel(SUBSCRIPTION_CAPACITY);
        lock(&self.shared.subscriptions)
            .entry(topic.to_owned())
            .or_default()
            .push(tx);
        rx
    }

    /// Our node id.
    pub fn local_id(&self) -> NodeId {
        self.shared.local_id
    }

    /// The peers we run gossip/1 with (relaying or direct-only sessions).
    pub fn peers(&self) -> Vec<NodeId> {
        self.shared.peers.ids()
    }

    /// The router's counters.
    pub fn stats(&self) -> Stats {
        lock(&self.shared.router).stats()
    }

    /// The peers in the broadcast tree, and whether each is eager.
    pub fn tree(&self) -> Vec<(NodeId, bool)> {
        lock(&self.shared.router).peers()
    }

    /// Deliveries and events dropped because a subscriber or the event stream was full.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::Relaxed)
    }

    /// Origins of recently delivered messages, latest first (at most 256): nodes known to
    /// be in the network, e.g. to resolve an id prefix for [`Gossip::send_to`].
    pub fn origins(&self) -> Vec<NodeId> {
        lock(&self.shared.origins).iter().copied().collect()
    }

    /// Runs `f` on the router, then sends what it output. The router's lock is not held
    /// while sending.
    fn drive<R>(&self, f: impl FnOnce(&mut Router, std::time::Instant) -> R) -> R {
        let now = tokio::time::Instant::now().into_std();
        let (result, transmits, events) = {
            let mut router = lock(&self.shared.router);
            let result = f(&mut router, now);
            let (transmits, events) = drain(&mut router);
            (result, transmits, events)
        };
        self.dispatch(transmits, events, now);
        self.shared.timer.notify_one();
        result
    }

    /// Queues each transmit without waiting (a full queue hands it back to the router),
    /// and passes events on.
    fn dispatch(
        &self,
        transmits: Vec<Transmit>,
        events: Vec<RouterEvent>,
        now: std::time::Instant,
    ) {
        let mut skipped = Vec::new();
        for transmit in transmits {
            let sent = self.shared.peers.with(&transmit.to, |entry| {
                entry
                    .sender
                    .try_send_raw(transmit.code, transmit.payload.clone())
            });
            if let Some(Err(SendError::Full)) = sent {
                skipped.push(transmit);
            }
        }
        if !skipped.is_empty() {
            let mut router = lock(&self.shared.router);
            for transmit in skipped {
                tracing::trace!(peer = %transmit.to.short(), code = transmit.code, "gossip: peer skipped");
                router.handle_skipped(transmit, now);
            }
        }
        for event in events {
            match event {
                RouterEvent::Deliver(delivery) => self.deliver(delivery),
                RouterEvent::Penalty {
                    peer,
                    reason,
                    count,
                } => self.penalise(peer, reason, count),
            }
        }
    }

    fn deliver(&self, delivery: Delivery) {
        {
            let mut origins = lock(&self.shared.origins);
            origins.retain(|o| *o != delivery.origin);
            origins.push_front(delivery.origin);
            origins.truncate(MAX_ORIGINS);
        }
        let mut subscriptions = lock(&self.shared.subscriptions);
        let Some(subscribers) = subscriptions.get_mut(&delivery.topic) else {
            return;
        };
        subscribers.retain(|tx| !tx.is_closed());
        for tx in subscribers.iter() {
            if tx.try_send(delivery.clone()).is_err() {
                self.shared.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }

    /// Reports a penalty, and ends the session at the limit.
    fn penalise(&self, peer: NodeId, reason: PenaltyReason, count: u32) {
        tracing::debug!(peer = %peer.short(), %reason, count, "gossip: peer penalised");
        let at_once = matches!(
            reason,
            PenaltyReason::Malformed(_) | PenaltyReason::NoStatus
        );
        self.emit(GossipEvent::Penalty {
            peer,
            reason,
            count,
        });
        let limit = self.shared.config.peer.max_penalties.max(1);
        if count >= limit || at_once {
            if let Some(entry) = self.shared.peers.get(&peer) {
                entry.peer.disconnect(DisconnectReason::ProtocolError);
            }
        }
    }

    fn emit(&self, event: GossipEvent) {
        if self.shared.events.try_send(event).is_err() {
            self.shared.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Starts the timer task once, on the current runtime (if there is one yet: the first
    /// session's handler starts it otherwise).
    fn ensure_timer(&self) {
        if self.shared.timer_started.load(Ordering::Acquire) {
            return;
        }
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        if self.shared.timer_started.swap(true, Ordering::AcqRel) {
            return;
        }
        let weak = Arc::downgrade(&self.shared);
        let notify = self.shared.timer.clone();
        runtime.spawn(timer(weak, notify));
    }
}

/// Calls the router's `handle_timeout` when it asks to be, until every [`Gossip`] clone
/// and session is gone.
async fn timer(shared: Weak<Shared>, notify: Arc<Notify>) {
    loop {
        let deadline = {
            let Some(shared) = shared.upgrade() else {
                return;
            };
            let now = tokio::time::Instant::now();
            let wanted = lock(&shared.router).poll_timeout();
            let check = now + TIMER_CHECK;
            wanted.map_or(check, |w| tokio::time::Instant::from_std(w).min(check))
        };
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => {}
            _ = notify.notified() => continue,
        }
        let Some(shared) = shared.upgrade() else {
            return;
        };
        Gossip { shared }.drive(|router, now| router.handle_timeout(now));
    }
}

fn drain(router: &mut Router) -> (Vec<Transmit>, Vec<RouterEvent>) {
    let transmits = std::iter::from_fn(|| router.poll_transmit()).collect();
    let events = std::iter::from_fn(|| router.poll_event()).collect();
    (transmits, events)
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Every critical section leaves the data consistent at each step; a panic in one (the
    // application's validator) does not leave it half-changed.
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests;
