//! The Pings other nodes make us send ([`PingBacks`]), kept apart from our own requests.
//!
//! discv4.md, Ping: *"If no communication with the sender has occurred within the last 12h,
//! a ping should be sent in addition to pong in order to receive an endpoint proof."* Anyone
//! can make us send such a Ping: one packet from a throwaway key does. Were these Pings
//! tracked with the requests the node makes itself (lookups, revalidation), a flood of
//! unbonded Pings would fill that table and make every request of ours fail. So they get a
//! budget of their own, and a share of it per source IP.

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use crate::crypto::NodeId;
use crate::util::ip::host;

/// A Ping we sent because a node pinged us: the Pong must come from `key.1` and quote `hash`.
#[derive(Clone, Copy, Debug)]
pub(super) struct PingBack {
    /// The hash the Pong must quote.
    pub(super) hash: [u8; 32],
    /// The TCP port the node's Ping claimed, for its table entry.
    pub(super) tcp_port: u16,
    /// When it stops counting.
    pub(super) deadline: Instant,
}

type Key = (NodeId, SocketAddr);

/// Why a Ping-back was not tracked.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) struct IpBudgetSpent;

/// At most `max` Ping-backs in flight, at most `max_per_ip` to one IPv4 address or IPv6 /64
/// (loopback excepted).
///
/// All of them live for one request timeout, so the oldest is the one closest to its
/// deadline: a full budget forgets it (its node then cannot bond this time, as it could not
/// had its Pong been lost). An honest node is thus only crowded out by more than `max`
/// Pings from at least `max / max_per_ip` IPs within its round trip. A Ping-back's timeout
/// says nothing and costs nothing: no event, no table change.
#[derive(Debug)]
pub(super) struct PingBacks {
    max: usize,
    max_per_ip: usize,
    entries: HashMap<Key, (PingBack, u64)>,
    /// Oldest first, with the sequence number the entry had when pushed (an entry taken by
    /// its Pong, or replaced, leaves a stale item here until it is popped).
    order: VecDeque<(Key, u64)>,
    per_ip: HashMap<IpAddr, usize>,
    next_seq: u64,
}

impl PingBacks {
    pub(super) fn new(max: usize, max_per_ip: usize) -> Self {
        Self {
            max: max.max(1),
            max_per_ip: max_per_ip.max(1),
            entries: HashMap::new(),
            order: VecDeque::new(),
            per_ip: HashMap::new(),
            next_seq: 0,
        }
    }

    /// Whether a Ping-back to `id` at `to` is in flight at `now`.
    pub(super) fn contains(&self, now: Instant, id: &NodeId, to: SocketAddr) -> bool {
        self.entries
            .get(&(*id, to))
            .is_some_and(|(p, _)| p.deadline > now)
    }

    /// Whether [`insert`](Self::insert) would take a Ping-back to `id` at `to` (asked first,
    /// so that a refused one is not signed for nothing).
    pub(super) fn admits(&mut self, now: Instant, id: &NodeId, to: SocketAddr) -> bool {
        self.expire(now);
        self.entries.contains_key(&(*id, to)) || !self.ip_share_spent(to.ip())
    }

    /// Whether `ip` holds its share of the budget. Loopback has no share of its own: many
    /// nodes on one machine (a test network, a crawler beside its nodes) all use it, and a
    /// sender there is on this machine already; the whole budget still bounds it.
    fn ip_share_spent(&self, ip: IpAddr) -> bool {
        !ip.is_loopback() && self.per_ip.get(&host(ip)).copied().unwrap_or(0) >= self.max_per_ip
    }

    /// Tracks `p` to `id` at `to`, forgetting the oldest one when the budget is full.
    /// Refused when `max_per_ip` are in flight to `to`'s IP.
    pub(super) fn insert(
        &mut self,
        now: Instant,
        id: NodeId,
        to: SocketAddr,
        p: PingBack,
    ) -> Result<(), IpBudgetSpent> {
        self.expire(now);
        let key = (id, to);
        if self.remove(&key).is_none() && self.ip_share_spent(to.ip()) {
            return Err(IpBudgetSpent);
        }
        while self.entries.len() >= self.max {
            let Some((old, seq)) = self.order.pop_front() else {
                break;
            };
            if self.entries.get(&old).is_some_and(|(_, s)| *s == seq) {
                self.remove(&old);
            }
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.entries.insert(key, (p, seq));
        *self.per_ip.entry(host(to.ip())).or_default() += 1;
        self.order.push_back((key, seq));
        // Stale items (taken or replaced entries) are at most the ones pushed within one
        // timeout; compact if they outnumber the live ones.
        if self.order.len() > 2 * self.max {
            let entries = &self.entries;
            self.order
                .retain(|(k, s)| entries.get(k).is_some_and(|(_, live)| live == s));
        }
        Ok(())
    }

    /// The Ping-back a Pong from `id` at `from` quoting `hash` answers, removed.
    pub(super) fn take(
        &mut self,
        now: Instant,
        id: NodeId,
        from: SocketAddr,
        hash: &[u8; 32],
    ) -> Option<PingBack> {
        let key = (id, from);
        let (p, _) = self.entries.get(&key)?;
        if p.deadline <= now || p.hash != *hash {
            return None;
        }
        self.remove(&key)
    }

    /// Forgets the Ping-backs whose deadline has passed.
    pub(super) fn expire(&mut self, now: Instant) {
        while let Some((key, seq)) = self.order.front().copied() {
            match self.entries.get(&key) {
                Some((p, s)) if *s == seq && p.deadline > now => return,
                Some((_, s)) if *s == seq => {
                    self.remove(&key);
                }
                _ => {}
            }
            self.order.pop_front();
        }
    }

    /// Ping-backs held (live or past their deadline but not yet expired).
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }

    fn remove(&mut self, key: &Key) -> Option<PingBack> {
        let (p, _) = self.entries.remove(key)?;
        let ip = host(key.1.ip());
        if let Some(n) = self.per_ip.get_mut(&ip) {
            *n -= 1;
            if *n == 0 {
                self.per_ip.remove(&ip);
            }
        }
        Some(p)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    fn id(i: u8) -> NodeId {
        use rand::SeedableRng;
        crate::crypto::NodeKey::generate(&mut rand::rngs::StdRng::seed_from_u64(i.into())).id()
    }

    fn ping(deadline: Instant) -> PingBack {
        PingBack {
            hash: [1; 32],
            tcp_port: 0,
            deadline,
        }
    }

    #[test]
    fn one_ip_gets_at_most_its_share_and_a_full_budget_forgets_the_oldest() {
        let t0 = Instant::now();
        let d = t0 + Duration::from_millis(500);
        let mut b = PingBacks::new(4, 2);
        let ip = |i: u8| SocketAddr::from(([10, 0, 0, i], 30303));
        assert_eq!(b.insert(t0, id(1), ip(1), ping(d)), Ok(()));
        assert_eq!(b.insert(t0, id(2), ip(1), ping(d)), Ok(()));
        assert_eq!(b.insert(t0, id(3), ip(1), ping(d)), Err(IpBudgetSpent));
        for i in 4..8 {
            assert_eq!(b.insert(t0, id(i), ip(i), ping(d)), Ok(()));
        }
        assert_eq!(b.len(), 4);
        assert!(!b.contains(t0, &id(1), ip(1)) && b.contains(t0, &id(7), ip(7)));
        // Taking needs the right hash, and frees the IP's share.
        assert!(b.take(t0, id(7), ip(7), &[2; 32]).is_none());
        assert!(b.take(t0, id(7), ip(7), &[1; 32]).is_some());
        assert_eq!(b.len(), 3);
        // Past the deadline nothing matches, and everything goes.
        assert!(b.take(d, id(6), ip(6), &[1; 32]).is_none());
        b.expire(d);
        assert_eq!(b.len(), 0);
        assert!(b.per_ip.is_empty() && b.order.is_empty());
    }

    #[test]
    fn loopback_shares_only_the_whole_budget() {
        let t0 = Instant::now();
        let d = t0 + Duration::from_millis(500);
        let mut b = PingBacks::new(8, 2);
        let local = |port: u16| SocketAddr::from(([127, 0, 0, 1], port));
        for i in 0..8 {
            assert!(b.admits(t0, &id(i), local(30000 + u16::from(i))));
            assert_eq!(
                b.insert(t0, id(i), local(30000 + u16::from(i)), ping(d)),
                Ok(())
            );
        }
        // Full: the oldest is forgotten, as for any sender.
        assert_eq!(b.insert(t0, id(8), local(30008), ping(d)), Ok(()));
        assert_eq!(b.len(), 8);
        assert!(!b.contains(t0, &id(0), local(30000)));
    }

    #[test]
    fn one_ipv6_slash_64_gets_one_share() {
        let t0 = Instant::now();
        let d = t0 + Duration::from_millis(500);
        let mut b = PingBacks::new(16, 2);
        let addr = |last: u16| SocketAddr::from(([0x2a00, 0, 0, 7, 0, 0, 0, last], 30303));
        assert_eq!(b.insert(t0, id(1), addr(1), ping(d)), Ok(()));
        assert_eq!(b.insert(t0, id(2), addr(2), ping(d)), Ok(()));
        assert_eq!(b.insert(t0, id(3), addr(3), ping(d)), Err(IpBudgetSpent));
        let other = SocketAddr::from(([0x2a00, 0, 0, 8, 0, 0, 0, 1], 30303));
        assert_eq!(b.insert(t0, id(4), other, ping(d)), Ok(()));
    }
}
