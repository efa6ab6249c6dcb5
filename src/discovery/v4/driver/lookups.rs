//! Running lookups for a [`Driver`]: up to `max_active_lookups` at once, and the FindNode
//! queries they send, one per node at a time (see the [`Driver`] docs).

use std::collections::VecDeque;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use super::{Driver, DriverEvent, LookupId, LookupResult};
use crate::crypto::NodeId;
use crate::discovery::v4::lookup::{Lookup, K};
use crate::discovery::v4::message::{NodeRecord, Target};
use crate::discovery::v4::NodeHash;
use crate::util::ip::check_relay;

/// Relayed records with a UDP port up to this are dropped (go-ethereum: `rn.UDP <= 1024`).
const MAX_LOW_PORT: u16 = 1024;

#[derive(Debug)]
pub(super) struct Active {
    pub(super) id: LookupId,
    pub(super) lookup: Lookup,
}

/// The FindNode queries of running lookups to one node: the one sent, those waiting for
/// its reply (see the [`Driver`] docs). Each running lookup has at most `α` queries here; a
/// finished lookup's query in flight stays until its reply or timeout.
#[derive(Debug)]
pub(super) struct Finds {
    to: SocketAddr,
    in_flight: Option<LookupId>,
    waiting: VecDeque<LookupId>,
}

impl Driver {
    /// Starts queued lookups while fewer than `max_active_lookups` run, sends every running
    /// lookup's next queries and finishes those that are done, until nothing changes.
    pub(super) fn advance(&mut self, now: Instant) {
        loop {
            let mut changed = false;
            while self.active.len() < self.config.max_active_lookups.max(1) {
                let Some((id, target)) = self.queue.pop_front() else {
                    break;
                };
                let lookup = Lookup::new(self.local, target, self.seeds(&target));
                self.active.push(Active { id, lookup });
                changed = true;
            }
            let mut i = 0;
            while i < self.active.len() {
                let active = &mut self.active[i];
                if let Some(next) = active.lookup.next_query() {
                    let lookup = active.id;
                    self.ask(now, lookup, next);
                    changed = true;
                } else if active.lookup.is_done() {
                    let done = self.active.remove(i);
                    self.finish(done);
                    changed = true;
                } else {
                    i += 1;
                }
            }
            if !changed {
                return;
            }
        }
    }

    /// The table's closest nodes to `target`, or the bootnodes (those in `net_restrict`)
    /// while it is empty.
    fn seeds(&self, target: &Target) -> Vec<NodeRecord> {
        let seeds: Vec<NodeRecord> = self
            .disc
            .table()
            .closest(&NodeHash::of_target(target), K)
            .iter()
            .map(|e| e.record())
            .collect();
        if seeds.is_empty() {
            return self
                .config
                .bootnodes
                .iter()
                .filter(|b| self.allowed(b.ip))
                .map(NodeRecord::from_enode)
                .collect();
        }
        seeds
    }

    fn finish(&mut self, done: Active) {
        let result = LookupResult {
            id: done.id,
            target: *done.lookup.target(),
            nodes: done.lookup.result(),
            queries: done.lookup.queries(),
            depth: done.lookup.depth(),
        };
        self.stats.lookups += 1;
        self.stats.queries += result.queries as u64;
        self.stats.depth_sum += u64::from(result.depth);
        self.stats.max_depth = self.stats.max_depth.max(result.depth);
        // Its queries not sent yet are dropped (one in flight still gets its reply, which
        // then goes to nobody).
        for f in self.finds.values_mut() {
            f.waiting.retain(|l| *l != done.id);
        }
        self.finds
            .retain(|_, f| f.in_flight.is_some() || !f.waiting.is_empty());
        let finds = &self.finds;
        self.bonding.retain(|id, b| {
            b.find &= finds.contains_key(id);
            b.find || b.enr
        });
        self.events.push_back(DriverEvent::LookupDone(result));
    }

    fn lookup_mut(&mut self, id: LookupId) -> Option<&mut Lookup> {
        self.active
            .iter_mut()
            .find(|a| a.id == id)
            .map(|a| &mut a.lookup)
    }

    /// `lookup` wants to send FindNode to `node`: after the query in flight to it, if any,
    /// else once bonded.
    fn ask(&mut self, now: Instant, lookup: LookupId, node: NodeRecord) {
        let e = node.endpoint;
        let to = SocketAddr::new(e.ip, e.udp_port);
        let f = self.finds.entry(node.id).or_insert_with(|| Finds {
            to,
            in_flight: None,
            waiting: VecDeque::new(),
        });
        f.waiting.push_back(lookup);
        if f.in_flight.is_some() {
            return;
        }
        let b = self.bonding.entry(node.id).or_default();
        if b.find {
            // Bonding for an earlier query already.
            return;
        }
        b.find = true;
        b.endpoint = Some(e);
        self.bond_then_query(now, node.id, e);
    }

    /// Sends the next waiting FindNode to `id` unless one is in flight.
    pub(super) fn send_find(&mut self, now: Instant, id: NodeId) {
        loop {
            let Some(f) = self.finds.get_mut(&id) else {
                return;
            };
            if f.in_flight.is_some() {
                return;
            }
            let to = f.to;
            let Some(lookup) = f.waiting.pop_front() else {
                self.finds.remove(&id);
                return;
            };
            let Some(target) = self.lookup_mut(lookup).map(|l| *l.target()) else {
                continue;
            };
            match self.disc.find_node(now, id, to, target) {
                Ok(()) => {
                    if let Some(f) = self.finds.get_mut(&id) {
                        f.in_flight = Some(lookup);
                    }
                    return;
                }
                Err(_) => {
                    if let Some(l) = self.lookup_mut(lookup) {
                        l.on_failure(&id);
                    }
                }
            }
        }
    }

    /// `id` answered the FindNode in flight to it: the reply goes to the lookup that sent
    /// it (without the records we must not contact, see [`relayable`](Self::relayable)),
    /// and the next lookup waiting for `id` sends its own.
    pub(super) fn on_neighbors(&mut self, now: Instant, id: NodeId, nodes: &[NodeRecord]) {
        let Some(f) = self.finds.get_mut(&id) else {
            return;
        };
        let (answered, sender) = (f.in_flight.take(), f.to.ip());
        let nodes: Vec<NodeRecord> = nodes
            .iter()
            .filter(|r| self.relayable(sender, r))
            .copied()
            .collect();
        if let Some(l) = answered.and_then(|l| self.lookup_mut(l)) {
            l.on_response(&id, &nodes);
        }
        self.send_find(now, id);
    }

    /// Whether a record the node at `sender` relayed in Neighbors may be contacted, as
    /// go-ethereum's `nodeFromRPC` decides: a UDP port above 1024 (0 is no port; low ports
    /// belong to other services a relayed record could aim our packets at); an address that
    /// is not unspecified, multicast or broadcast; loopback only from a loopback sender and
    /// LAN only from a LAN sender (`util::ip::check_relay`); inside `net_restrict`.
    pub(super) fn relayable(&self, sender: IpAddr, r: &NodeRecord) -> bool {
        r.endpoint.udp_port > MAX_LOW_PORT
            && check_relay(sender, r.endpoint.ip).is_ok()
            && self.allowed(r.endpoint.ip)
    }

    /// Every query of every lookup to `id` failed.
    pub(super) fn finds_failed(&mut self, id: &NodeId) {
        let Some(f) = self.finds.remove(id) else {
            return;
        };
        for lookup in f.in_flight.into_iter().chain(f.waiting) {
            if let Some(l) = self.lookup_mut(lookup) {
                l.on_failure(id);
            }
        }
    }
}
