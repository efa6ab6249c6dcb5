//! Endpoint proofs: which (node, IP) pairs answered our Ping recently, so that we answer
//! their FindNode and ENRRequest (discv4.md: "the endpoint proof procedure").
//!
//! Proofs are grouped by host (an IPv4 address, or an IPv6 /64): a host keeps at most
//! `per_host` of them, its own oldest giving way, so one machine bonding with thousands of
//! throwaway keys only churns its own proofs and never pushes out other hosts'. Loopback
//! and LAN hosts, where many honest nodes share one address, have no limit of their own.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::crypto::NodeId;
use crate::util::ip::{host, is_lan};
use crate::util::ExpiringMap;

/// The endpoint proofs we hold: at most `max_hosts` hosts, at most `per_host` proofs each.
#[derive(Debug)]
pub(super) struct Bonds {
    hosts: ExpiringMap<IpAddr, ExpiringMap<(NodeId, IpAddr), ()>>,
    per_host: usize,
    /// The limit of a loopback or LAN host.
    per_lan_host: usize,
}

impl Bonds {
    /// At most `max_hosts` hosts with `per_host` proofs each (loopback and LAN hosts up to
    /// `max_hosts` proofs).
    pub(super) fn new(max_hosts: usize, per_host: usize) -> Self {
        Self {
            hosts: ExpiringMap::new(max_hosts),
            per_host: per_host.max(1),
            per_lan_host: max_hosts.max(1),
        }
    }

    /// Whether `id` at `ip` holds a proof live at `now`.
    pub(super) fn contains(&self, now: Instant, id: &NodeId, ip: IpAddr) -> bool {
        self.hosts
            .get(now, &host(ip))
            .is_some_and(|proofs| proofs.contains(now, &(*id, ip)))
    }

    /// Records a proof of `id` at `ip` from `now`, live for `lifetime`.
    pub(super) fn insert(&mut self, now: Instant, id: NodeId, ip: IpAddr, lifetime: Duration) {
        let key = host(ip);
        let limit = if ip.is_loopback() || is_lan(ip) {
            self.per_lan_host
        } else {
            self.per_host
        };
        let mut proofs = self
            .hosts
            .remove(&key)
            .unwrap_or_else(|| ExpiringMap::new(limit));
        proofs.insert(now, (id, ip), (), lifetime);
        // The host lives as long as its newest proof.
        self.hosts.insert(now, key, proofs, lifetime);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::NodeKey;

    const LIFE: Duration = Duration::from_secs(12 * 3600);

    #[test]
    fn one_host_with_many_keys_churns_only_its_own_proofs() {
        let t0 = Instant::now();
        let mut bonds = Bonds::new(64, 16);
        let honest = NodeKey::random().id();
        let (honest_ip, attacker): (IpAddr, IpAddr) =
            ("1.2.3.4".parse().unwrap(), "6.6.6.6".parse().unwrap());
        bonds.insert(t0, honest, honest_ip, LIFE);
        let keys: Vec<NodeId> = (0..1000).map(|_| NodeKey::random().id()).collect();
        for (i, id) in keys.iter().enumerate() {
            bonds.insert(t0 + Duration::from_millis(i as u64), *id, attacker, LIFE);
        }
        let now = t0 + Duration::from_secs(2);
        assert!(
            bonds.contains(now, &honest, honest_ip),
            "the honest proof was pushed out"
        );
        let kept = keys.iter().filter(|id| bonds.contains(now, id, attacker));
        assert_eq!(kept.count(), 16);
        assert!(
            bonds.contains(now, &keys[999], attacker),
            "the newest are kept"
        );
    }

    #[test]
    fn an_ipv6_slash_64_is_one_host_and_loopback_has_no_limit_of_its_own() {
        let t0 = Instant::now();
        let mut bonds = Bonds::new(64, 4);
        for i in 0..10u16 {
            let ip = IpAddr::from([0x2a00, 0, 0, 7, 0, 0, 0, i]);
            bonds.insert(t0, NodeKey::random().id(), ip, LIFE);
        }
        assert_eq!(bonds.hosts.len(), 1);
        let local: IpAddr = "127.0.0.1".parse().unwrap();
        let keys: Vec<NodeId> = (0..40).map(|_| NodeKey::random().id()).collect();
        for id in &keys {
            bonds.insert(t0, *id, local, LIFE);
        }
        assert!(keys.iter().all(|id| bonds.contains(t0, id, local)));
    }

    #[test]
    fn proofs_expire() {
        let t0 = Instant::now();
        let mut bonds = Bonds::new(8, 2);
        let (id, ip) = (NodeKey::random().id(), "1.2.3.4".parse().unwrap());
        bonds.insert(t0, id, ip, Duration::from_secs(10));
        assert!(bonds.contains(t0 + Duration::from_secs(9), &id, ip));
        assert!(!bonds.contains(t0 + Duration::from_secs(10), &id, ip));
    }
}
