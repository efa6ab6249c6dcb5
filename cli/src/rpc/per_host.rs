//! How many RPC connections one remote host holds at once, so that a single host cannot
//! take every slot of a non-loopback listener by opening connections and sending nothing.
//!
//! A host is an IPv4 address or an IPv6 /64 (what one customer is usually given), as the
//! library counts hosts ([`host_key`]). Loopback is not limited: whoever is on the machine
//! already has the unix socket and the CPU, and a local tool may well hold a thousand
//! connections.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError};

use peerwire::net::host_key;

/// Connections one host may hold at once on a listener.
pub(crate) const MAX_PER_HOST: usize = 64;

/// The open connections by host, for one listener.
#[derive(Debug)]
pub(crate) struct PerHost {
    limit: usize,
    /// Counts loopback too: only tests, which have no other address to connect from.
    counts_loopback: bool,
    /// Keyed by [`host_key`].
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// A connection's place in its host's count, given back when dropped.
#[derive(Debug)]
pub(crate) struct Held {
    table: Arc<PerHost>,
    host: Option<IpAddr>,
}

impl PerHost {
    pub(crate) fn new(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            counts_loopback: false,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A table that limits loopback hosts too, for tests on 127.0.0.1.
    #[cfg(test)]
    pub(crate) fn counting_loopback(limit: usize) -> Arc<Self> {
        Arc::new(Self {
            limit,
            counts_loopback: true,
            open: Mutex::new(HashMap::new()),
        })
    }

    /// A place for a connection from `ip`, or `None` when its host holds `limit` already.
    pub(crate) fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<Held> {
        let host = self.counted(ip);
        if let Some(host) = host {
            let mut open = self.open.lock().unwrap_or_else(PoisonError::into_inner);
            // Checked before an entry is made, so a refused host leaves none behind.
            if open.get(&host).copied().unwrap_or(0) >= self.limit {
                return None;
            }
            *open.entry(host).or_default() += 1;
        }
        Some(Held {
            table: self.clone(),
            host,
        })
    }

    /// The host `ip` counts as, or `None` for loopback, which is not counted unless
    /// `counts_loopback`.
    fn counted(&self, ip: IpAddr) -> Option<IpAddr> {
        let loopback = ip.to_canonical().is_loopback();
        (!loopback || self.counts_loopback).then(|| host_key(ip))
    }

    /// Hosts with a connection open (the table holds no others).
    #[cfg(test)]
    fn hosts(&self) -> usize {
        self.open
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        let Some(host) = self.host else { return };
        let mut open = self
            .table
            .open
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = open.get_mut(&host) {
            *count -= 1;
            if *count == 0 {
                open.remove(&host);
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
    fn a_host_holds_at_most_the_limit_and_a_closed_connection_frees_its_place() {
        let table = PerHost::new(2);
        let a = table.admit(ip("203.0.113.7")).unwrap();
        let _b = table.admit(ip("203.0.113.7")).unwrap();
        assert!(table.admit(ip("203.0.113.7")).is_none());
        // The same host written as an IPv4-mapped IPv6 address counts as itself.
        assert!(table.admit(ip("::ffff:203.0.113.7")).is_none());
        // Another host is not affected.
        let _c = table.admit(ip("203.0.113.8")).unwrap();
        drop(a);
        let _d = table.admit(ip("203.0.113.7")).unwrap();
    }

    #[test]
    fn an_ipv6_host_is_its_slash_64() {
        let table = PerHost::new(1);
        let _a = table.admit(ip("2001:db8:1:2::1")).unwrap();
        assert!(table.admit(ip("2001:db8:1:2:ffff::9")).is_none());
        let _b = table.admit(ip("2001:db8:1:3::1")).unwrap();
    }

    #[test]
    fn a_refused_host_leaves_no_entry() {
        let table = PerHost::new(0);
        assert!(table.admit(ip("203.0.113.7")).is_none());
        assert_eq!(table.hosts(), 0);
    }

    #[test]
    fn loopback_is_not_limited() {
        let table = PerHost::new(1);
        let held: Vec<Held> = ["127.0.0.1", "127.0.0.1", "127.0.0.2", "::1", "::1"]
            .into_iter()
            .map(|s| table.admit(ip(s)).unwrap())
            .collect();
        assert_eq!(held.len(), 5);
        assert_eq!(table.hosts(), 0);
    }

    #[test]
    fn the_table_forgets_a_host_whose_connections_all_closed() {
        let table = PerHost::new(4);
        let held: Vec<Held> = (0..100u8)
            .map(|i| table.admit(IpAddr::from([198, 51, 100, i])).unwrap())
            .collect();
        assert_eq!(table.hosts(), 100);
        drop(held);
        assert_eq!(table.hosts(), 0);
    }
}
