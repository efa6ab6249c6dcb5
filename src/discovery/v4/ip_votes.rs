//! Learning our external IP address from what other nodes say they see (the `to` endpoint of
//! their Pongs), the way go-ethereum's `netutil.IPTracker` does: each node's most recent
//! statement counts once, statements older than a window are forgotten, and the IP most
//! nodes agree on wins once enough of them have spoken.

use std::collections::HashMap;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use crate::crypto::NodeId;
use crate::util::ExpiringMap;

/// Statements remembered at once (one per node); the oldest is forgotten first.
pub(crate) const MAX_STATEMENTS: usize = 1024;

/// Recent statements about our IP address.
#[derive(Clone, Debug)]
pub(crate) struct IpVotes {
    window: Duration,
    min_statements: usize,
    /// Each node's most recent statement.
    statements: ExpiringMap<NodeId, IpAddr>,
}

impl IpVotes {
    /// Statements count for `window`; a prediction needs `min_statements` of them
    /// (go-ethereum: 5 minutes and 10).
    pub(crate) fn new(window: Duration, min_statements: usize) -> Self {
        Self {
            window,
            min_statements: min_statements.max(1),
            statements: ExpiringMap::new(MAX_STATEMENTS),
        }
    }

    /// `from` says it sees us at `ip`. Unspecified addresses say nothing and are ignored.
    pub(crate) fn add(&mut self, now: Instant, from: NodeId, ip: IpAddr) {
        if ip.is_unspecified() {
            return;
        }
        self.statements
            .insert(now, from, ip.to_canonical(), self.window);
    }

    /// The IP address most recent statements agree on, if at least `min_statements` nodes
    /// spoke within the window (ties: none).
    pub(crate) fn predict(&mut self, now: Instant) -> Option<IpAddr> {
        self.statements.expire(now);
        if self.statements.len() < self.min_statements {
            return None;
        }
        let mut counts: HashMap<IpAddr, usize> = HashMap::new();
        for (_, ip) in self.statements.iter(now) {
            *counts.entry(*ip).or_default() += 1;
        }
        let best = counts.values().copied().max()?;
        let mut winners = counts.iter().filter(|(_, n)| **n == best);
        let (ip, _) = winners.next()?;
        winners.next().is_none().then_some(*ip)
    }
}

#[cfg(test)]
mod tests {
    use rand::rngs::StdRng;
    use rand::SeedableRng;

    use super::*;
    use crate::crypto::NodeKey;

    fn ids(n: usize) -> Vec<NodeId> {
        let mut rng = StdRng::seed_from_u64(7);
        (0..n).map(|_| NodeKey::generate(&mut rng).id()).collect()
    }

    #[test]
    fn majority_of_recent_statements_wins() {
        let t0 = Instant::now();
        let mut v = IpVotes::new(Duration::from_secs(300), 3);
        let (a, b): (IpAddr, IpAddr) = ("1.2.3.4".parse().unwrap(), "5.6.7.8".parse().unwrap());
        let n = ids(5);
        v.add(t0, n[0], a);
        v.add(t0, n[1], a);
        assert_eq!(v.predict(t0), None, "two statements are not enough");
        v.add(t0, n[2], b);
        assert_eq!(v.predict(t0), Some(a));
        // One node repeating itself counts once.
        v.add(t0, n[2], b);
        v.add(t0, n[3], b);
        assert_eq!(v.predict(t0), None, "a tie predicts nothing");
        v.add(t0, n[4], b);
        assert_eq!(v.predict(t0), Some(b));
        // Old statements expire.
        let later = t0 + Duration::from_secs(301);
        assert_eq!(v.predict(later), None);
    }

    #[test]
    fn statements_are_bounded() {
        let t0 = Instant::now();
        let mut v = IpVotes::new(Duration::from_secs(300), 1);
        let mut rng = StdRng::seed_from_u64(1);
        for i in 0..MAX_STATEMENTS + 10 {
            let at = t0 + Duration::from_millis(i as u64);
            v.add(
                at,
                NodeKey::generate(&mut rng).id(),
                "9.9.9.9".parse().unwrap(),
            );
        }
        assert_eq!(v.statements.len(), MAX_STATEMENTS);
    }
}
