//! What an IP address is (LAN, special-purpose), which network it belongs to for diversity
//! limits, and whether a relayed address may be contacted: the checks go-ethereum keeps in
//! `p2p/netutil`, shared by discovery (table, Neighbors, IP votes) and the dial scheduler.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Whether `ip` is a loopback or local-network address: 127.0.0.0/8, ::1, 0.0.0.0/8,
/// 10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16, 169.254.0.0/16, fc00::/7 and fe80::/10
/// (go-ethereum's `IsLAN`, plus IPv4 link-local). IPv4-mapped IPv6 addresses count as IPv4.
pub(crate) fn is_lan(ip: IpAddr) -> bool {
    match ip.to_canonical() {
        IpAddr::V4(v4) => {
            v4.is_loopback() || v4.is_private() || v4.is_link_local() || v4.octets()[0] == 0
        }
        IpAddr::V6(v6) => v6.is_loopback() || v6.is_unique_local() || v6.is_unicast_link_local(),
    }
}

/// Whether `ip` is reachable from the internet at large, as far as its form tells: not a
/// LAN or unusable address, and not in the carrier-grade NAT range 100.64.0.0/10 (RFC 6598).
/// A home router behind a second NAT reports such an address as its external one.
pub(crate) fn is_public(ip: IpAddr) -> bool {
    let shared = match ip.to_canonical() {
        IpAddr::V4(v4) => {
            let [a, b, ..] = v4.octets();
            a == 100 && (64..128).contains(&b)
        }
        IpAddr::V6(_) => false,
    };
    !(is_lan(ip) || is_unusable(ip) || shared)
}

/// Whether `ip` can never be a node's address: unspecified, multicast, or the IPv4 limited
/// broadcast address.
pub(crate) fn is_unusable(ip: IpAddr) -> bool {
    let ip = ip.to_canonical();
    ip.is_unspecified() || ip.is_multicast() || ip == IpAddr::V4(Ipv4Addr::BROADCAST)
}

/// Why an address relayed by another node (a Neighbors record) is not contacted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum RelayRefusal {
    /// Unspecified, multicast or broadcast.
    Unusable,
    /// A loopback address named by a sender that is not on loopback itself.
    Loopback,
    /// A LAN address named by a sender that is not on a LAN itself.
    Lan,
}

/// Whether `addr`, relayed by the node at `sender`, may be contacted (go-ethereum's
/// `CheckRelayIP`): never an unusable address; a loopback address only from a loopback
/// sender; a LAN address only from a LAN (or loopback) sender; any other address from anyone.
/// Without these rules any node could make us send packets into our own host or network.
pub(crate) fn check_relay(sender: IpAddr, addr: IpAddr) -> Result<(), RelayRefusal> {
    let (sender, addr) = (sender.to_canonical(), addr.to_canonical());
    if is_unusable(addr) {
        return Err(RelayRefusal::Unusable);
    }
    if addr.is_loopback() && !sender.is_loopback() {
        return Err(RelayRefusal::Loopback);
    }
    if is_lan(addr) && !is_lan(sender) {
        return Err(RelayRefusal::Lan);
    }
    Ok(())
}

/// The network an address counts in for diversity limits: its /24 for IPv4, its /64 for
/// IPv6 (what one customer or one host is typically given).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum Subnet {
    /// The first three octets.
    V4([u8; 3]),
    /// The first eight bytes.
    V6([u8; 8]),
}

impl Subnet {
    /// The /24 or /64 of `ip` (IPv4-mapped IPv6 addresses count as IPv4).
    pub(crate) fn of(ip: IpAddr) -> Self {
        match ip.to_canonical() {
            IpAddr::V4(v4) => {
                let [a, b, c, _] = v4.octets();
                Self::V4([a, b, c])
            }
            IpAddr::V6(v6) => Self::V6(prefix64(&v6)),
        }
    }
}

/// The address one host counts as for per-host limits: an IPv4 address itself, an IPv6
/// address's /64 (its first eight bytes, the rest zero), which one host commonly holds
/// whole. IPv4-mapped IPv6 addresses count as IPv4.
pub fn host(ip: IpAddr) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) => {
            let mut octets = [0u8; 16];
            octets[..8].copy_from_slice(&prefix64(&v6));
            IpAddr::from(octets)
        }
        v4 => v4,
    }
}

fn prefix64(v6: &Ipv6Addr) -> [u8; 8] {
    let o = v6.octets();
    [o[0], o[1], o[2], o[3], o[4], o[5], o[6], o[7]]
}

/// How many tracked addresses fall in each [`Subnet`], at most `limit` per subnet
/// (go-ethereum's `DistinctNetSet`). Memory: one map entry per subnet in use.
#[derive(Clone, Debug)]
pub(crate) struct SubnetCounts {
    limit: usize,
    counts: HashMap<Subnet, usize>,
}

impl SubnetCounts {
    /// An empty set allowing `limit` addresses per subnet.
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            counts: HashMap::new(),
        }
    }

    /// Whether one more address in `ip`'s subnet stays within the limit.
    pub(crate) fn has_room(&self, ip: IpAddr) -> bool {
        self.count(ip) < self.limit
    }

    /// Addresses tracked in `ip`'s subnet.
    pub(crate) fn count(&self, ip: IpAddr) -> usize {
        self.counts.get(&Subnet::of(ip)).copied().unwrap_or(0)
    }

    /// Tracks `ip` if its subnet has room; returns whether it did.
    pub(crate) fn add(&mut self, ip: IpAddr) -> bool {
        if !self.has_room(ip) {
            return false;
        }
        *self.counts.entry(Subnet::of(ip)).or_default() += 1;
        true
    }

    /// Stops tracking one address in `ip`'s subnet.
    pub(crate) fn remove(&mut self, ip: IpAddr) {
        let key = Subnet::of(ip);
        if let Some(n) = self.counts.get_mut(&key) {
            *n -= 1;
            if *n == 0 {
                self.counts.remove(&key);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn lan_and_unusable_addresses() {
        for lan in [
            "127.0.0.7",
            "10.1.2.3",
            "172.16.0.1",
            "192.168.1.1",
            "169.254.1.1",
        ] {
            assert!(is_lan(ip(lan)), "{lan}");
        }
        for lan in ["::1", "fd00::1", "fe80::1", "::ffff:10.0.0.1"] {
            assert!(is_lan(ip(lan)), "{lan}");
        }
        for public in ["1.2.3.4", "172.32.0.1", "2a00::1"] {
            assert!(!is_lan(ip(public)), "{public}");
        }
        for bad in ["0.0.0.0", "::", "224.0.0.1", "ff02::1", "255.255.255.255"] {
            assert!(is_unusable(ip(bad)), "{bad}");
        }
        assert!(!is_unusable(ip("1.2.3.4")));
    }

    #[test]
    fn public_addresses_are_neither_lan_nor_unusable_nor_carrier_grade_nat() {
        for public in [
            "1.2.3.4",
            "11.0.0.1",
            "100.63.255.255",
            "100.128.0.0",
            "2a00::1",
        ] {
            assert!(is_public(ip(public)), "{public}");
        }
        for not in [
            "100.64.0.1",
            "100.127.255.254",
            "::ffff:100.100.1.1",
            "192.168.1.1",
            "10.0.0.1",
            "127.0.0.1",
            "0.0.0.0",
            "fd00::1",
        ] {
            assert!(!is_public(ip(not)), "{not}");
        }
    }

    #[test]
    fn relayed_addresses_follow_the_senders_scope() {
        let public = ip("1.2.3.4");
        let lan = ip("10.0.0.1");
        let lo = ip("127.0.0.2");
        assert_eq!(check_relay(public, ip("5.6.7.8")), Ok(()));
        assert_eq!(check_relay(public, lo), Err(RelayRefusal::Loopback));
        assert_eq!(check_relay(public, lan), Err(RelayRefusal::Lan));
        assert_eq!(check_relay(lan, lo), Err(RelayRefusal::Loopback));
        assert_eq!(check_relay(lan, ip("10.9.9.9")), Ok(()));
        assert_eq!(check_relay(lo, ip("127.0.0.7")), Ok(()));
        assert_eq!(check_relay(lo, lan), Ok(()), "loopback is a LAN too");
        assert_eq!(
            check_relay(lo, ip("224.0.0.1")),
            Err(RelayRefusal::Unusable)
        );
        assert_eq!(check_relay(lo, ip("0.0.0.0")), Err(RelayRefusal::Unusable));
    }

    #[test]
    fn subnets_are_slash_24_and_slash_64() {
        assert_eq!(Subnet::of(ip("1.2.3.4")), Subnet::of(ip("1.2.3.200")));
        assert_ne!(Subnet::of(ip("1.2.3.4")), Subnet::of(ip("1.2.4.4")));
        assert_eq!(Subnet::of(ip("::ffff:1.2.3.4")), Subnet::of(ip("1.2.3.9")));
        assert_eq!(
            Subnet::of(ip("2a00:1:2:3::1")),
            Subnet::of(ip("2a00:1:2:3:ffff::9"))
        );
        assert_ne!(
            Subnet::of(ip("2a00:1:2:3::1")),
            Subnet::of(ip("2a00:1:2:4::1"))
        );
        let mut s = SubnetCounts::new(2);
        assert!(s.add(ip("1.2.3.4")) && s.add(ip("1.2.3.5")));
        assert!(!s.add(ip("1.2.3.6")), "a third in one /24");
        assert!(s.add(ip("1.2.4.6")));
        s.remove(ip("1.2.3.4"));
        assert!(s.add(ip("1.2.3.6")));
        assert_eq!(s.count(ip("1.2.3.0")), 2);
    }
}
