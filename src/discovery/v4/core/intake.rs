//! The way in: each datagram passes the cheap checks before the expensive one.
//!
//! In order of cost: length, hash and packet type (`packet::Unverified::parse`); for a
//! reply that can only answer a request to its source address, whether we sent one; the RLP
//! and the expiration; whether the very same packet came before; and only then the
//! signature, recovered once per packet. A flood of replays, stale or far-future packets, or
//! replies nobody asked for, costs a hash each.
//!
//! A packet seen before is a replay when it comes from another address than the first
//! time: anyone a node pings holds a Ping signed by it, and may send it on from anywhere.
//! From the same address it is handled again, without recovering the signature (the hash
//! covers the signature, so the signer is the one found the first time): the sender may
//! have retransmitted it, and two requests sent within one second are byte for byte the
//! same (the expiration counts whole seconds and signatures are deterministic), which a
//! node that answered the first must answer again.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use super::{Discv4, Discv4Event, RequestKind};
use crate::crypto::NodeId;
use crate::discovery::v4::message::Message;
use crate::discovery::v4::packet::{self, Unverified};

const NEIGHBORS: u8 = 0x04;
const ENR_RESPONSE: u8 = 0x06;

impl Discv4 {
    /// Handles one datagram received from `from` (the source address the socket reports),
    /// then drain the queues. Invalid, expired and far-future packets, replays of a query
    /// seen before, unsolicited replies and queries of unbonded nodes are counted in
    /// [`stats`](Self::stats) and otherwise ignored.
    pub fn handle_packet(&mut self, now: Instant, from: SocketAddr, bytes: &[u8]) {
        let Ok(unverified) = Unverified::parse(bytes) else {
            self.stats.invalid += 1;
            return;
        };
        if !self.may_answer_us(from, &unverified) {
            self.stats.unsolicited += 1;
            return;
        }
        let Ok(message) = unverified.message() else {
            self.stats.invalid += 1;
            return;
        };
        let hash = unverified.hash;
        let expiration = message.expiration();
        if let Some(expiration) = expiration {
            if !self.fresh(now, expiration) {
                return;
            }
        }
        let id = match self.seen.get(now, &hash) {
            Some((first, id)) if first == from => id,
            Some(_) => {
                self.stats.replayed += 1;
                return;
            }
            None => {
                self.stats.signatures_checked += 1;
                let Ok(id) = unverified.sender() else {
                    self.stats.invalid += 1;
                    return;
                };
                if packet::check_enr_sender(&message, &id).is_err() {
                    self.stats.invalid += 1;
                    return;
                }
                if let Some(expiration) = expiration {
                    self.remember(now, hash, expiration, from, id);
                }
                id
            }
        };
        match message {
            Message::Ping(ping) => self.on_ping(now, from, id, hash, &ping),
            Message::Pong(pong) => self.on_pong(now, from, id, &pong),
            Message::FindNode(find) => self.on_find_node(now, from, id, &find),
            Message::Neighbors(n) => self.on_neighbors(id, from, n.nodes),
            Message::EnrRequest(_) => self.on_enr_request(now, from, id, hash),
            Message::EnrResponse(r) => {
                let key = (id, from, RequestKind::EnrRequest);
                match self.pending.get(&key) {
                    Some(p) if p.hash == r.request_hash => {
                        self.pending.remove(&key);
                        self.events
                            .push_back(Discv4Event::Record(id, Box::new(r.record)));
                    }
                    _ => self.stats.unsolicited += 1,
                }
            }
        }
    }

    /// Neighbors and ENRResponse only answer a request of ours to their source address (and
    /// an ENRResponse quotes its hash), which is known before the signature is recovered;
    /// the other types pass. An ENRResponse nobody asked for is thus dropped before its
    /// packet's signature, and its record's, are checked.
    fn may_answer_us(&self, from: SocketAddr, p: &Unverified<'_>) -> bool {
        let asked = |kind: RequestKind| {
            self.pending
                .iter()
                .filter(move |((_, to, k), _)| *k == kind && *to == from)
        };
        match p.ptype {
            NEIGHBORS => asked(RequestKind::FindNode).next().is_some(),
            ENR_RESPONSE => match p.quoted_request() {
                Some(hash) => asked(RequestKind::EnrRequest).any(|(_, q)| q.hash == hash),
                None => false,
            },
            _ => true,
        }
    }

    /// Whether `expiration` (UNIX seconds) lies between now and `max_expiration_ahead`
    /// from now; counts the packet as invalid if not.
    fn fresh(&mut self, now: Instant, expiration: u64) -> bool {
        let unix = self.unix(now);
        // discv4.md, Ping: "Packets containing a time stamp that lies in the past are
        // expired may not be processed."
        if expiration < unix {
            self.stats.invalid += 1;
            return false;
        }
        // The spec sets no upper bound, but a packet valid for ever can be replayed for
        // ever; senders put now + 20 s (go-ethereum) or now + 60 s (ethereumjs) there.
        if expiration - unix > self.config.max_expiration_ahead.as_secs() {
            self.stats.invalid += 1;
            self.stats.far_future += 1;
            return false;
        }
        true
    }

    /// Remembers who sent packet `hash` from where, until it expires (after that,
    /// [`fresh`](Self::fresh) refuses it anyway). The cache is bounded: when full it forgets
    /// the oldest entry, so a replay may then cost a signature again, never more.
    fn remember(
        &mut self,
        now: Instant,
        hash: [u8; 32],
        expiration: u64,
        from: SocketAddr,
        id: NodeId,
    ) {
        // `fresh` bounded `expiration - unix`; one second more covers the rounding of `unix`.
        let ttl = Duration::from_secs(expiration.saturating_sub(self.unix(now)) + 1);
        self.seen.insert(now, hash, from, id, now + ttl);
    }
}
