//! The broadcast tree, sans-IO: Plumtree's eager and lazy push, Graft and Prune, over a
//! seen-cache and a message store. No tokio, no clock, no sockets: time comes in as `now`,
//! messages come in as bytes, and what to send comes out.
//!
//! Calling contract (as quinn-proto's): inputs go in through `handle_*` and
//! [`Router::publish`]; outputs come out through [`Router::poll_transmit`],
//! [`Router::poll_event`] and [`Router::poll_timeout`]. After any input, drain the transmits
//! and events and ask for the timeout again; an extra poll is harmless (it returns `None`).
//!
//! Per link, each side keeps the peer *eager* (whole messages are pushed to it) or *lazy*
//! (only ids are announced, batched every `Timing::lazy_interval`). Every link starts
//! eager, so the first message floods; each copy that arrives a second time prunes the link
//! it came over to lazy, on both ends, until the eager links form a tree. A node that hears
//! of a message only through an announcement waits `Timing::graft_timeout` for it, then
//! grafts it from the announcer: the announcer sends it and the link turns eager again, so
//! the tree heals around lost links, slow peers and departed nodes.

mod cache;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use peerwire::crypto::{NodeId, NodeKey};

use self::cache::{Seen, Store, Stored};
use crate::bucket::TokenBucket;
use crate::config::Config;
use crate::error::{PenaltyReason, PublishError};
use crate::message::{Message, MessageId, Signed};
use crate::wire::{
    self, GossipLimits, WireError, GOSSIP, GRAFT, IHAVE, MAX_GRAFT, MAX_IHAVE, PRUNE,
};

/// Announcers remembered per missing id, to graft from one after the other.
const MAX_ANNOUNCERS: usize = 4;

/// What the application's validation hook answers for a message not seen before, before it
/// is delivered or relayed (libp2p gossipsub's three answers).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Verdict {
    /// Deliver it and relay it.
    Accept,
    /// Neither deliver nor relay it, and hold nothing against the peer (a message that is
    /// merely unwanted here, or stale).
    Ignore,
    /// Neither deliver nor relay it, and penalise the peer that sent it: reported as a
    /// [`RouterEvent::Penalty`], and counted towards disconnecting it.
    Reject,
}

/// A message delivered to this node.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Delivery {
    /// Its id.
    pub id: MessageId,
    /// The node that published it (its signature was checked).
    pub origin: NodeId,
    /// The topic.
    pub topic: String,
    /// The payload.
    pub data: Bytes,
    /// Links it crossed to reach us: 1 from a neighbour of the origin.
    pub hops: u8,
    /// The neighbour it came from.
    pub from: NodeId,
}

/// What the router tells its owner, besides transmits.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum RouterEvent {
    /// A new, valid, accepted message.
    Deliver(Delivery),
    /// A peer misbehaved; `count` is its penalties so far. The owner decides what follows
    /// (`PeerLimits::max_penalties`, a ban).
    Penalty {
        /// The peer.
        peer: NodeId,
        /// What it did.
        reason: PenaltyReason,
        /// Its penalties so far, this one included.
        count: u32,
    },
}

/// A message to send to one peer, already encoded. Send it without waiting; if the peer's
/// queue is full, hand it back through [`Router::handle_skipped`].
#[derive(Clone, Debug)]
pub struct Transmit {
    /// The peer.
    pub to: NodeId,
    /// The gossip/1 message code.
    pub code: u64,
    /// The RLP payload.
    pub payload: Bytes,
    what: What,
}

#[derive(Clone, Debug)]
enum What {
    Gossip(MessageId, u8),
    IHave(Vec<(MessageId, u8)>),
    Control,
}

/// Counters since the router was made.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Stats {
    /// Messages published here.
    pub published: u64,
    /// Whole messages received (Gossip), copies included: the cost the tree keeps low.
    pub gossip_received: u64,
    /// Messages delivered here.
    pub delivered: u64,
    /// Copies of messages already seen.
    pub duplicates: u64,
    /// Messages ignored: by the validation hook, too old or too far ahead, over the hop
    /// limit, or from a peer not in the tree.
    pub ignored: u64,
    /// Messages rejected by the validation hook.
    pub rejected: u64,
    /// Messages whose signature is not their origin's.
    pub bad_signatures: u64,
    /// Whole messages sent (eager pushes and Graft answers).
    pub gossip_sent: u64,
    /// Ids announced in IHave messages.
    pub ihave_sent: u64,
    /// Ids grafted from announcers.
    pub grafts_sent: u64,
    /// Grafted ids answered with the message.
    pub grafts_answered: u64,
    /// Grafted ids not answered: not held (any more), or the peer's graft budget is spent.
    pub grafts_refused: u64,
    /// Prunes sent.
    pub prunes_sent: u64,
    /// Transmits handed back because the peer's queue was full.
    pub skipped: u64,
    /// Announcements dropped: a lazy queue or the missing table was full.
    pub dropped_announcements: u64,
}

/// One peer in the tree.
#[derive(Debug)]
struct PeerState {
    eager: bool,
    /// Ids to announce at the next flush, with the hops they would arrive with.
    lazy: VecDeque<(MessageId, u8)>,
    /// Bytes we may still send it in answer to Grafts.
    graft_budget: TokenBucket,
    penalties: u32,
}

/// An id announced to us that we have not received.
#[derive(Debug)]
struct Missing {
    announcers: VecDeque<NodeId>,
    deadline: Instant,
}

/// The broadcast tree of one node, sans-IO (see the crate docs' *Why Plumtree*).
///
/// Inputs go in through `handle_*` and [`Router::publish`]; outputs come out through
/// [`Router::poll_transmit`], [`Router::poll_event`] and [`Router::poll_timeout`]. After any
/// input, drain the transmits and events and ask for the timeout again; an extra poll is
/// harmless. Transmits are queued only until drained, so they are bounded by one input's
/// fan-out (its peers, and the announcements and grafts already bounded per peer).
#[derive(Debug)]
pub struct Router {
    key: NodeKey,
    config: Config,
    /// Ordered maps, so that sends follow one order whatever the process: the same
    /// inputs give the same outputs (a seeded simulation replays exactly).
    peers: BTreeMap<NodeId, PeerState>,
    seen: Seen,
    store: Store,
    missing: BTreeMap<MessageId, Missing>,
    /// No missing deadline is earlier (it may be earlier than all of them: a spurious wake).
    missing_deadline: Option<Instant>,
    next_flush: Option<Instant>,
    transmits: VecDeque<Transmit>,
    events: VecDeque<RouterEvent>,
    /// `now` and the Unix time it stands for, given at creation: wall-clock time is derived
    /// from `now` through it, so the router needs one clock only.
    anchor: (Instant, Duration),
    last_time_ms: u64,
    stats: Stats,
}

impl Router {
    /// A router publishing as `key`'s node. `unix_now` is the wall-clock time (since the Unix
    /// epoch) at `now`; publish times are derived from the two.
    pub fn new(key: NodeKey, config: Config, now: Instant, unix_now: Duration) -> Self {
        let caches = config.caches;
        let seen_ttl = caches.seen_ttl.max(config.limits.max_clock_skew * 2);
        Self {
            key,
            peers: BTreeMap::new(),
            seen: Seen::new(seen_ttl, caches.seen_max),
            store: Store::new(caches.store_ttl, caches.store_max, caches.store_max_bytes),
            missing: BTreeMap::new(),
            missing_deadline: None,
            next_flush: None,
            transmits: VecDeque::new(),
            events: VecDeque::new(),
            anchor: (now, unix_now),
            last_time_ms: 0,
            stats: Stats::default(),
            config,
        }
    }

    /// Our node id.
    pub fn local_id(&self) -> NodeId {
        self.key.id()
    }

    /// Call when a session with `peer` that relays (both Status said so) is up. It starts
    /// eager. Calling it for a peer already up does nothing.
    pub fn handle_peer_up(&mut self, peer: NodeId, now: Instant) {
        let limits = self.config.peer;
        self.peers.entry(peer).or_insert_with(|| PeerState {
            eager: true,
            lazy: VecDeque::new(),
            graft_budget: TokenBucket::new(
                limits.graft_bytes_per_sec,
                limits.graft_bytes_burst,
                now,
            ),
            penalties: 0,
        });
    }

    /// Call when that session has ended. Its announcements are forgotten; what we were
    /// waiting for from it alone is grafted from no one. Harmless for an unknown peer.
    pub fn handle_peer_down(&mut self, peer: &NodeId) {
        self.peers.remove(peer);
        for missing in self.missing.values_mut() {
            missing.announcers.retain(|a| a != peer);
        }
        self.missing.retain(|_, m| !m.announcers.is_empty());
        self.transmits.retain(|t| t.to != *peer);
    }

    /// Publishes `data` on `topic` as our node, signed with our key, and returns its id.
    /// Every peer in the tree gets it, eagerly or announced.
    pub fn publish(
        &mut self,
        topic: &str,
        data: Bytes,
        now: Instant,
    ) -> Result<MessageId, PublishError> {
        let limits = self.config.limits;
        if topic.len() > limits.max_topic_len.min(255) {
            return Err(PublishError::TopicTooLong(topic.len()));
        }
        if data.len() > limits.max_data {
            return Err(PublishError::TooLarge(data.len()));
        }
        // Strictly increasing, so two publishes in one millisecond are two messages.
        let time_ms = self.wall_ms(now).max(self.last_time_ms + 1);
        self.last_time_ms = time_ms;
        let message = Message {
            origin: self.key.id(),
            time_ms,
            topic: topic.to_owned(),
            data,
        };
        let signed = Arc::new(Signed::sign(message, &self.key));
        let id = signed.id;
        self.stats.published += 1;
        self.accept(signed, 0, None, now);
        Ok(id)
    }

    /// Call with each gossip/1 message a relaying peer sent (codes Gossip, IHave, Graft,
    /// Prune; other codes are the owner's and are ignored here). `validate` is asked about
    /// each message not seen before whose signature holds. A malformed message is an error
    /// (peer misbehaviour: the owner ends the session); nothing else is.
    pub fn handle_message(
        &mut self,
        from: NodeId,
        code: u64,
        payload: &[u8],
        now: Instant,
        validate: &dyn Fn(&Message) -> Verdict,
    ) -> Result<(), WireError> {
        match code {
            GOSSIP => {
                let limits = GossipLimits {
                    max_topic_len: self.config.limits.max_topic_len,
                    max_data: self.config.limits.max_data,
                };
                let (signed, hops) = wire::decode_gossip(payload, limits)?;
                self.handle_gossip(from, signed, hops, now, validate);
            }
            IHAVE => {
                let entries = wire::decode_ihave(payload)?;
                self.handle_ihave(from, &entries, now);
            }
            GRAFT => {
                let ids = wire::decode_graft(payload)?;
                self.handle_graft(from, &ids, now);
            }
            PRUNE => {
                wire::decode_prune(payload)?;
                if let Some(peer) = self.peers.get_mut(&from) {
                    peer.eager = false;
                }
            }
            _ => {}
        }
        Ok(())
    }

    /// Call when a [`Transmit`] could not be queued because the peer's queue was full. A
    /// message pushed eagerly is announced to it later instead, so it can graft it once it
    /// catches up; announcements go back in its queue.
    pub fn handle_skipped(&mut self, transmit: Transmit, now: Instant) {
        self.stats.skipped += 1;
        let entries = match transmit.what {
            What::Gossip(id, hops) => vec![(id, hops)],
            What::IHave(entries) => entries,
            // A lost Graft is retried from another announcer; a lost Prune is sent again
            // at the next copy.
            What::Control => return,
        };
        for (id, hops) in entries {
            self.announce(transmit.to, id, hops, now);
        }
    }

    /// Call when [`Router::poll_timeout`]'s instant has come (earlier or again is harmless).
    /// Grafts what announcers did not send in time, announces what is queued, and forgets
    /// what has expired.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.seen.expire(now);
        self.store.expire(now);
        if self.missing_deadline.is_some_and(|d| d <= now) {
            self.graft_overdue(now);
        }
        if self.next_flush.is_some_and(|t| t <= now) {
            self.flush_lazy();
        }
    }

    /// The next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        self.transmits.pop_front()
    }

    /// The next event.
    pub fn poll_event(&mut self) -> Option<RouterEvent> {
        self.events.pop_front()
    }

    /// When [`Router::handle_timeout`] wants to be called next; `None`: not until another
    /// input. Changes with every input.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.missing_deadline, self.next_flush) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// The peers in the tree, and whether each is eager.
    pub fn peers(&self) -> Vec<(NodeId, bool)> {
        self.peers.iter().map(|(id, p)| (*id, p.eager)).collect()
    }

    /// Ids remembered as seen, and messages kept whole with their bytes.
    pub fn cache_sizes(&self) -> (usize, usize, usize) {
        (self.seen.len(), self.store.len(), self.store.bytes())
    }

    /// Wall-clock milliseconds at `now`.
    fn wall_ms(&self, now: Instant) -> u64 {
        let (at, unix) = self.anchor;
        let unix_now = unix + now.saturating_duration_since(at);
        u64::try_from(unix_now.as_millis()).unwrap_or(u64::MAX)
    }

    fn handle_gossip(
        &mut self,
        from: NodeId,
        signed: Signed,
        hops: u8,
        now: Instant,
        validate: &dyn Fn(&Message) -> Verdict,
    ) {
        self.stats.gossip_received += 1;
        if !self.peers.contains_key(&from) || hops > self.config.limits.max_hops {
            self.stats.ignored += 1;
            return;
        }
        let id = signed.id;
        if self.seen.contains(&id, now) {
            self.stats.duplicates += 1;
            // A second copy: the link it came over is not needed for whole messages.
            if let Some(peer) = self.peers.get_mut(&from).filter(|_| !self.config.flood) {
                if peer.eager {
                    peer.eager = false;
                    self.stats.prunes_sent += 1;
                    self.push(from, PRUNE, wire::encode_prune(), What::Control);
                }
            }
            return;
        }
        let skew = u64::try_from(self.config.limits.max_clock_skew.as_millis()).unwrap_or(u64::MAX);
        if self.wall_ms(now).abs_diff(signed.message.time_ms) > skew {
            // The content (time included) is what the id names: every copy is as stale.
            self.seen.insert(id, now);
            self.stats.ignored += 1;
            return;
        }
        if signed.verify().is_err() {
            // Not remembered as seen: the id covers the content, not the signature, and
            // a genuine copy may still come from another peer.
            self.stats.bad_signatures += 1;
            self.penalise(from, PenaltyReason::BadSignature);
            return;
        }
        match validate(&signed.message) {
            Verdict::Accept => {}
            Verdict::Ignore => {
                self.seen.insert(id, now);
                self.stats.ignored += 1;
                return;
            }
            Verdict::Reject => {
                self.seen.insert(id, now);
                self.stats.rejected += 1;
                self.penalise(from, PenaltyReason::Rejected(id));
                return;
            }
        }
        // New to us from this peer: the link is worth keeping eager (Plumtree: the sender
        // joins the eager set).
        if let Some(peer) = self.peers.get_mut(&from) {
            peer.eager = true;
        }
        self.missing.remove(&id);
        self.stats.delivered += 1;
        let m = &signed.message;
        self.events.push_back(RouterEvent::Deliver(Delivery {
            id,
            origin: m.origin,
            topic: m.topic.clone(),
            data: m.data.clone(),
            hops,
            from,
        }));
        self.accept(Arc::new(signed), hops, Some(from), now);
    }

    /// Remembers a new message and passes it on: whole to eager peers, announced to lazy
    /// ones, never back to `from`.
    fn accept(&mut self, signed: Arc<Signed>, hops: u8, from: Option<NodeId>, now: Instant) {
        let id = signed.id;
        self.seen.insert(id, now);
        self.store.insert(
            Stored {
                signed: signed.clone(),
                hops,
            },
            now,
        );
        if hops >= self.config.limits.max_hops {
            return;
        }
        let next = hops + 1;
        let mut payload = None;
        let targets: Vec<(NodeId, bool)> = self
            .peers
            .iter()
            .filter(|(id, _)| Some(**id) != from)
            .map(|(id, p)| (*id, p.eager))
            .collect();
        for (peer, eager) in targets {
            if eager {
                // Encoded once, shared by every eager peer.
                let payload = payload.get_or_insert_with(|| wire::encode_gossip(&signed, next));
                self.stats.gossip_sent += 1;
                self.push(peer, GOSSIP, payload.clone(), What::Gossip(id, next));
            } else {
                self.announce(peer, id, next, now);
            }
        }
    }

    fn handle_ihave(&mut self, from: NodeId, entries: &[(MessageId, u8)], now: Instant) {
        if !self.peers.contains_key(&from) {
            return;
        }
        let deadline = now + self.config.timing.graft_timeout;
        for (id, _hops) in entries {
            if self.seen.contains(id, now) {
                continue;
            }
            if let Some(missing) = self.missing.get_mut(id) {
                if !missing.announcers.contains(&from) && missing.announcers.len() < MAX_ANNOUNCERS
                {
                    missing.announcers.push_back(from);
                }
                continue;
            }
            if self.missing.len() >= self.config.caches.max_missing {
                self.stats.dropped_announcements += 1;
                continue;
            }
            self.missing.insert(
                *id,
                Missing {
                    announcers: VecDeque::from([from]),
                    deadline,
                },
            );
            self.missing_deadline =
                Some(self.missing_deadline.map_or(deadline, |d| d.min(deadline)));
        }
    }

    fn handle_graft(&mut self, from: NodeId, ids: &[MessageId], now: Instant) {
        let Some(peer) = self.peers.get_mut(&from) else {
            return;
        };
        peer.eager = true;
        for id in ids {
            let Some(stored) = self.store.get(id) else {
                self.stats.grafts_refused += 1;
                continue;
            };
            let (signed, hops) = (stored.signed.clone(), stored.hops);
            let Some(peer) = self.peers.get_mut(&from) else {
                return;
            };
            if !peer.graft_budget.try_take(signed.size() as u64, now) {
                self.stats.grafts_refused += 1;
                continue;
            }
            let next = hops.saturating_add(1);
            self.stats.grafts_answered += 1;
            self.stats.gossip_sent += 1;
            self.push(
                from,
                GOSSIP,
                wire::encode_gossip(&signed, next),
                What::Gossip(*id, next),
            );
        }
    }

    /// Grafts each overdue missing id from its next announcer.
    fn graft_overdue(&mut self, now: Instant) {
        let timeout = self.config.timing.graft_timeout;
        let mut grafts: BTreeMap<NodeId, Vec<MessageId>> = BTreeMap::new();
        let mut next_deadline: Option<Instant> = None;
        let mut done = Vec::new();
        for (id, missing) in &mut self.missing {
            if missing.deadline > now {
                next_deadline =
                    Some(next_deadline.map_or(missing.deadline, |d| d.min(missing.deadline)));
                continue;
            }
            let announcer = loop {
                match missing.announcers.pop_front() {
                    Some(a) if self.peers.contains_key(&a) => break Some(a),
                    Some(_) => {}
                    None => break None,
                }
            };
            match announcer {
                Some(a) => {
                    grafts.entry(a).or_default().push(*id);
                    missing.deadline = now + timeout;
                    next_deadline =
                        Some(next_deadline.map_or(missing.deadline, |d| d.min(missing.deadline)));
                }
                // Nobody left to ask; a later announcement starts over.
                None => done.push(*id),
            }
        }
        for id in done {
            self.missing.remove(&id);
        }
        self.missing_deadline = next_deadline;
        for (peer, ids) in grafts {
            // Grafting makes the link eager again (Plumtree: the announcer joins the eager set).
            if let Some(state) = self.peers.get_mut(&peer) {
                state.eager = true;
            }
            self.stats.grafts_sent += ids.len() as u64;
            for chunk in ids.chunks(MAX_GRAFT) {
                self.push(peer, GRAFT, wire::encode_graft(chunk), What::Control);
            }
        }
    }

    /// Queues `id` to be announced to `peer` at the next flush.
    fn announce(&mut self, peer: NodeId, id: MessageId, hops: u8, now: Instant) {
        let max = self.config.caches.max_lazy_queue.max(1);
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        state.lazy.push_back((id, hops));
        while state.lazy.len() > max {
            state.lazy.pop_front();
            self.stats.dropped_announcements += 1;
        }
        if self.next_flush.is_none() {
            self.next_flush = Some(now + self.config.timing.lazy_interval);
        }
    }

    /// Sends every queued announcement, in IHave messages of at most [`MAX_IHAVE`] ids.
    fn flush_lazy(&mut self) {
        self.next_flush = None;
        let mut out = Vec::new();
        for (id, state) in &mut self.peers {
            if !state.lazy.is_empty() {
                out.push((*id, std::mem::take(&mut state.lazy)));
            }
        }
        for (peer, entries) in out {
            let entries: Vec<(MessageId, u8)> = entries.into();
            for chunk in entries.chunks(MAX_IHAVE) {
                self.stats.ihave_sent += chunk.len() as u64;
                self.push(
                    peer,
                    IHAVE,
                    wire::encode_ihave(chunk),
                    What::IHave(chunk.to_vec()),
                );
            }
        }
    }

    fn penalise(&mut self, peer: NodeId, reason: PenaltyReason) {
        let Some(state) = self.peers.get_mut(&peer) else {
            return;
        };
        state.penalties += 1;
        self.events.push_back(RouterEvent::Penalty {
            peer,
            reason,
            count: state.penalties,
        });
    }

    fn push(&mut self, to: NodeId, code: u64, payload: Bytes, what: What) {
        self.transmits.push_back(Transmit {
            to,
            code,
            payload,
            what,
        });
    }
}
