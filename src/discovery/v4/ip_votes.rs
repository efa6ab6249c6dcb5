//! Learning our external IP address from what other nodes say they see (the `to` endpoint of
//! their Pongs), the way go-ethereum's `netutil.IPTracker` does: each source's most recent
//! statement counts once, statements older than a window are forgotten, and the IP most
//! sources agree on wins once enough of them have spoken.
//!
//! A source is the sender's IP address, not its node id, as in current go-ethereum: keys cost
//! nothing, so ten ids on one host are one voice. For IPv6 a source is the sender's /64, as
//! one host is typically given a whole /64. IPv4 and IPv6 statements are tallied apart,
//! each family only from senders of that family: a node that reached us over IPv4 cannot
//! have seen our IPv6 address.

use std::collections::HashMap;
use std::net::{IpAddr, Ipv6Addr};
use std::time::{Duration, Instant};

use crate::util::ip::is_unusable;
use crate::util::ExpiringMap;

/// Statements remembered at once per address family (one per source); the oldest is
/// forgotten first.
pub(crate) const MAX_STATEMENTS: usize = 1024;

/// Recent statements about our IP address.
#[derive(Clone, Debug)]
pub(crate) struct IpVotes {
    window: Duration,
    min_statements: usize,
    /// Each IPv4 source's most recent statement about our IPv4 address.
    v4: ExpiringMap<IpAddr, IpAddr>,
    /// Each IPv6 source's (/64's) most recent statement about our IPv6 address.
    v6: ExpiringMap<IpAddr, IpAddr>,
}

/// Why a statement was not counted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Ignored {
    /// Unspecified, multicast or broadcast: no node has that address.
    Unusable,
    /// An IPv6 address stated by an IPv4 sender, or the reverse.
    OtherFamily,
    /// A loopback address stated by a sender that is not on loopback.
    Loopback,
}

impl IpVotes {
    /// Statements count for `window`; a prediction needs `min_statements` of them from
    /// distinct sources (go-ethereum: 5 minutes and 10).
    pub(crate) fn new(window: Duration, min_statements: usize) -> Self {
        Self {
            window,
            min_statements: min_statements.max(1),
            v4: ExpiringMap::new(MAX_STATEMENTS),
            v6: ExpiringMap::new(MAX_STATEMENTS),
        }
    }

    /// The node at `source` says it sees us at `ip`. It replaces that source's earlier
    /// statement, unless it is ignored (see [`Ignored`]).
    pub(crate) fn add(&mut self, now: Instant, source: IpAddr, ip: IpAddr) -> Result<(), Ignored> {
        let (source, ip) = (source.to_canonical(), ip.to_canonical());
        if is_unusable(ip) {
            return Err(Ignored::Unusable);
        }
        if source.is_ipv4() != ip.is_ipv4() {
            return Err(Ignored::OtherFamily);
        }
        if ip.is_loopback() && !source.is_loopback() {
            return Err(Ignored::Loopback);
        }
        let window = self.window;
        match source {
            IpAddr::V4(_) => self.v4.insert(now, source, ip, window),
            IpAddr::V6(v6) => {
                let bits = u128::from(v6) & !u128::from(u64::MAX);
                let slash64 = IpAddr::V6(Ipv6Addr::from(bits));
                self.v6.insert(now, slash64, ip, window);
            }
        }
        Ok(())
    }

    /// The IP address most recent statements agree on, if at least `min_statements` sources
    /// spoke within the window (ties: none). Statements of `current`'s family decide. The
    /// other family's count only while `current` is no address others can reach (loopback
    /// or unspecified, the fallback before anything was learned): a node with a learned or
    /// configured address never lets the other family's sources, which may be a few cheap
    /// IPv6 networks, move it.
    pub(crate) fn predict(&mut self, now: Instant, current: IpAddr) -> Option<IpAddr> {
        let min = self.min_statements;
        let (same, other) = if current.to_canonical().is_ipv4() {
            (&mut self.v4, &mut self.v6)
        } else {
            (&mut self.v6, &mut self.v4)
        };
        let unlearned = current.is_loopback() || current.is_unspecified();
        majority(same, now, min).or_else(|| {
            if unlearned {
                majority(other, now, min)
            } else {
                None
            }
        })
    }
}

impl IpVotes {
    /// The IP address most recent statements of one family agree on (IPv4 if `ipv4`), if
    /// at least `min_statements` sources of that family spoke within the window (ties:
    /// none): a dual-stack node's address in the family its record's main endpoint is not.
    pub(crate) fn predict_family(&mut self, now: Instant, ipv4: bool) -> Option<IpAddr> {
        let min = self.min_statements;
        majority(if ipv4 { &mut self.v4 } else { &mut self.v6 }, now, min)
    }
}

fn majority(
    statements: &mut ExpiringMap<IpAddr, IpAddr>,
    now: Instant,
    min_statements: usize,
) -> Option<IpAddr> {
    statements.expire(now);
    if statements.len() < min_statements {
        return None;
    }
    let mut counts: HashMap<IpAddr, usize> = HashMap::new();
    for (_, ip) in statements.iter(now) {
        *counts.entry(*ip).or_default() += 1;
    }
    let best = counts.values().copied().max()?;
    let mut winners = counts.iter().filter(|(_, n)| **n == best);
    let (ip, _) = winners.next()?;
    winners.next().is_none().then_some(*ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    /// The `i`-th of many public IPv4 sources.
    fn source(i: usize) -> IpAddr {
        IpAddr::V4(std::net::Ipv4Addr::from(0x0900_0000 + i as u32))
    }

    #[test]
    fn majority_of_recent_statements_wins() {
        let t0 = Instant::now();
        let mut v = IpVotes::new(Duration::from_secs(300), 3);
        let (a, b) = (ip("1.2.3.4"), ip("5.6.7.8"));
        let cur = ip("1.1.1.1");
        v.add(t0, source(0), a).unwrap();
        v.add(t0, source(1), a).unwrap();
        assert_eq!(v.predict(t0, cur), None, "two statements are not enough");
        v.add(t0, source(2), b).unwrap();
        assert_eq!(v.predict(t0, cur), Some(a));
        // One source repeating itself counts once.
        v.add(t0, source(2), b).unwrap();
        v.add(t0, source(3), b).unwrap();
        assert_eq!(v.predict(t0, cur), None, "a tie predicts nothing");
        v.add(t0, source(4), b).unwrap();
        assert_eq!(v.predict(t0, cur), Some(b));
        // Old statements expire.
        let later = t0 + Duration::from_secs(301);
        assert_eq!(v.predict(later, cur), None);
    }

    #[test]
    fn many_statements_from_one_address_count_once() {
        let t0 = Instant::now();
        let mut v = IpVotes::new(Duration::from_secs(300), 3);
        for _ in 0..10 {
            v.add(t0, ip("7.7.7.7"), ip("6.6.6.6")).unwrap();
        }
        assert_eq!(v.predict(t0, ip("1.1.1.1")), None);
        // One IPv6 /64 is one source too.
        for i in 0..10u16 {
            let from = IpAddr::V6(Ipv6Addr::new(0x2a00, 1, 2, 3, i, 0, 0, 1));
            v.add(t0, from, ip("2a00:9::1")).unwrap();
        }
        assert_eq!(v.predict(t0, ip("2a00:5::1")), None);
    }

    #[test]
    fn useless_and_misleading_statements_are_ignored() {
        let t0 = Instant::now();
        let mut v = IpVotes::new(Duration::from_secs(300), 1);
        let public = ip("9.9.9.9");
        assert_eq!(v.add(t0, public, ip("0.0.0.0")), Err(Ignored::Unusable));
        assert_eq!(v.add(t0, public, ip("224.0.0.1")), Err(Ignored::Unusable));
        assert_eq!(
            v.add(t0, public, ip("255.255.255.255")),
            Err(Ignored::Unusable)
        );
        assert_eq!(v.add(t0, public, ip("2a00::1")), Err(Ignored::OtherFamily));
        assert_eq!(
            v.add(t0, ip("2a00::9"), ip("1.2.3.4")),
            Err(Ignored::OtherFamily)
        );
        assert_eq!(v.add(t0, public, ip("127.0.0.1")), Err(Ignored::Loopback));
        assert_eq!(v.predict(t0, ip("1.1.1.1")), None);
        // Loopback from loopback is what a node on one host sees.
        assert_eq!(v.add(t0, ip("127.0.0.2"), ip("127.0.0.1")), Ok(()));
        assert_eq!(v.predict(t0, ip("1.1.1.1")), Some(ip("127.0.0.1")));
    }

    #[test]
    fn the_families_are_tallied_apart() {
        let t0 = Instant::now();
        let mut v = IpVotes::new(Duration::from_secs(300), 2);
        let (v4, v6) = (ip("6.6.6.6"), ip("2a00:6::6"));
        for i in 0..2u16 {
            v.add(t0, source(i.into()), v4).unwrap();
        }
        for i in 0..3u16 {
            let from = IpAddr::V6(Ipv6Addr::new(0x2a00, 9, i, 0, 0, 0, 0, 1));
            v.add(t0, from, v6).unwrap();
        }
        // Three IPv6 sources do not outvote two IPv4 ones about our IPv4 address.
        assert_eq!(v.predict(t0, ip("1.1.1.1")), Some(v4));
        assert_eq!(v.predict(t0, ip("2a00:1::1")), Some(v6));
    }

    #[test]
    fn the_other_family_moves_only_an_unlearned_address() {
        let t0 = Instant::now();
        let mut v = IpVotes::new(Duration::from_secs(300), 2);
        let v6 = ip("2a00:6::6");
        for i in 0..3u16 {
            let from = IpAddr::V6(Ipv6Addr::new(0x2a00, 9, i, 0, 0, 0, 0, 1));
            v.add(t0, from, v6).unwrap();
        }
        // A node with a real IPv4 address keeps it, whatever IPv6 sources say.
        assert_eq!(v.predict(t0, ip("1.1.1.1")), None);
        // One still on its loopback fallback learns where it is reached.
        assert_eq!(v.predict(t0, ip("127.0.0.1")), Some(v6));
    }

    #[test]
    fn statements_are_bounded() {
        let t0 = Instant::now();
        let mut v = IpVotes::new(Duration::from_secs(300), 1);
        for i in 0..MAX_STATEMENTS + 10 {
            let at = t0 + Duration::from_millis(i as u64);
            v.add(at, source(i), ip("9.9.9.9")).unwrap();
        }
        assert_eq!(v.v4.len(), MAX_STATEMENTS);
    }
}
