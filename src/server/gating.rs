//! Connection gating, sans-IO: who may even start a handshake, and which identities are
//! banned. The clock is an input (`now`); the accept loop, the dialer and admission ask here
//! before spending a handshake on a connection.
//!
//! Inbound checks, in order (cheapest and most final first):
//! 1. a banned IP address: [`RejectReason::BannedIp`];
//! 2. an address outside `net_restrict`: [`RejectReason::Restricted`];
//! 3. the per-address throttle (go-ethereum's `inboundThrottleTime`: "an inbound attempt from
//!    an IP blocks further inbound attempts from the same IP for 30 s", LAN addresses spared):
//!    [`RejectReason::Throttled`];
//! 4. the cap on handshakes in progress from one address: [`RejectReason::TooManyPendingFromIp`];
//! 5. the pending pools: `max_pending_peers` slots for anyone, then `reserved_pending_peers`
//!    for the addresses of static and trusted peers only: [`RejectReason::TooManyPending`].
//!
//! Addresses of static and trusted peers ("known" addresses: a static peer's enode address,
//! or the address a trusted or static peer last connected from) skip the throttle and the
//! per-address cap, so a flood of strangers cannot lock them out. Bans and `net_restrict`
//! apply to everyone.

use std::collections::{HashMap, VecDeque};
use std::net::IpAddr;
use std::time::{Duration, Instant};

use ipnet::IpNet;

use crate::crypto::NodeId;

/// Why a connection was refused by the gating rules.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, thiserror::Error)]
#[non_exhaustive]
pub enum RejectReason {
    /// The remote IP address is banned ([`ServerHandle::ban`](super::ServerHandle::ban)).
    #[error("IP address banned")]
    BannedIp,
    /// The node id is banned: known after the handshake, or the id we were to dial.
    #[error("node id banned")]
    BannedNode,
    /// The address is outside [`GatingConfig::net_restrict`](super::GatingConfig::net_restrict).
    #[error("address outside net_restrict")]
    Restricted,
    /// An inbound attempt came from the same address within `inbound_throttle`.
    #[error("too many attempts from this address")]
    Throttled,
    /// `max_pending_per_ip` handshakes from this address are already in progress.
    #[error("too many handshakes in progress from this address")]
    TooManyPendingFromIp,
    /// Every pending-handshake slot this connection may use is busy.
    #[error("too many handshakes in progress")]
    TooManyPending,
}

/// Which inbound addresses the per-address throttle spares.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ThrottleExempt {
    /// None: every address is throttled.
    None,
    /// Loopback addresses (127.0.0.0/8, ::1).
    Loopback,
    /// Loopback and LAN addresses (10/8, 172.16/12, 192.168/16, 169.254/16, 0/8, fc00::/7,
    /// fe80::/10), as go-ethereum does.
    #[default]
    Lan,
}

impl ThrottleExempt {
    fn spares(self, ip: IpAddr) -> bool {
        match self {
            Self::None => false,
            Self::Loopback => ip.is_loopback(),
            Self::Lan => crate::util::ip::is_lan(ip),
        }
    }
}

/// What can be banned: an address (checked before the handshake) or a node id (after it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BanTarget {
    /// Every connection from or to this address.
    Ip(IpAddr),
    /// This node, whatever its address.
    Node(NodeId),
}

impl From<IpAddr> for BanTarget {
    fn from(ip: IpAddr) -> Self {
        Self::Ip(ip.to_canonical())
    }
}

impl From<NodeId> for BanTarget {
    fn from(id: NodeId) -> Self {
        Self::Node(id)
    }
}

/// A ban in force, as [`ServerHandle::bans`](super::ServerHandle::bans) lists it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Ban {
    /// What is banned.
    pub target: BanTarget,
    /// How long the ban still lasts; `None`: until unbanned.
    pub remaining: Option<Duration>,
}

/// The gating settings, taken from [`ServerConfig`](super::ServerConfig).
#[derive(Clone, Debug)]
pub(crate) struct GateConfig {
    pub(crate) net_restrict: Option<Vec<IpNet>>,
    pub(crate) throttle: Duration,
    pub(crate) throttle_exempt: ThrottleExempt,
    pub(crate) max_pending: usize,
    pub(crate) reserved_pending: usize,
    pub(crate) max_pending_per_ip: usize,
}

/// Most addresses remembered by the throttle. Past it the oldest entry is forgotten early:
/// a flood from many addresses then loses its throttle, never our memory.
const THROTTLE_CAPACITY: usize = 16 * 1024;

/// A pending-handshake slot taken by [`Gate::open_inbound`]; give it back with
/// [`Gate::close`]. Not `Clone`: one slot, one release.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Pending {
    ip: IpAddr,
    reserved: bool,
}

/// Bans, the throttle, the pending-slot accounting and the known addresses.
#[derive(Debug)]
pub(crate) struct Gate {
    config: GateConfig,
    /// Ban expiry by target; `None`: until unbanned.
    bans: HashMap<BanTarget, Option<Instant>>,
    /// Throttled addresses until when, and the same in expiry order (the throttle time is
    /// one constant, so insertion order is expiry order).
    throttled: HashMap<IpAddr, Instant>,
    throttle_queue: VecDeque<(IpAddr, Instant)>,
    /// Handshakes in progress by address; only addresses with at least one.
    pending_by_ip: HashMap<IpAddr, usize>,
    pending: usize,
    reserved_in_use: usize,
    /// The last known address of each static or trusted peer.
    known: HashMap<NodeId, IpAddr>,
}

impl Gate {
    pub(crate) fn new(config: GateConfig) -> Self {
        Self {
            config,
            bans: HashMap::new(),
            throttled: HashMap::new(),
            throttle_queue: VecDeque::new(),
            pending_by_ip: HashMap::new(),
            pending: 0,
            reserved_in_use: 0,
            known: HashMap::new(),
        }
    }

    /// Whether some inbound connection could get a slot now (else leave them in the backlog).
    pub(crate) fn has_room(&self) -> bool {
        self.pending < self.config.max_pending
            || self.reserved_in_use < self.config.reserved_pending
    }

    /// Checks an accepted connection from `ip` and, if it may proceed, takes a slot.
    pub(crate) fn open_inbound(
        &mut self,
        ip: IpAddr,
        now: Instant,
    ) -> Result<Pending, RejectReason> {
        let ip = ip.to_canonical();
        if self.is_banned(&BanTarget::Ip(ip), now) {
            return Err(RejectReason::BannedIp);
        }
        self.check_restrict(ip)?;
        let known = self.is_known(ip);
        let throttled = !known && self.throttles(ip);
        if throttled {
            self.expire_throttle(now);
            if self.throttled.contains_key(&ip) {
                return Err(RejectReason::Throttled);
            }
        }
        let from_ip = self.pending_by_ip.get(&ip).copied().unwrap_or(0);
        if !known && from_ip >= self.config.max_pending_per_ip {
            return Err(RejectReason::TooManyPendingFromIp);
        }
        let reserved = if self.pending < self.config.max_pending {
            false
        } else if known && self.reserved_in_use < self.config.reserved_pending {
            true
        } else {
            return Err(RejectReason::TooManyPending);
        };
        // Only an attempt that got a slot starts the throttle: one refused for lack of
        // room may retry as soon as room is made.
        if throttled {
            self.record_throttle(ip, now);
        }
        if reserved {
            self.reserved_in_use += 1;
        } else {
            self.pending += 1;
        }
        *self.pending_by_ip.entry(ip).or_insert(0) += 1;
        Ok(Pending { ip, reserved })
    }

    /// Gives back the slot of a handshake that finished, failed or was refused.
    pub(crate) fn close(&mut self, slot: Pending) {
        if slot.reserved {
            self.reserved_in_use = self.reserved_in_use.saturating_sub(1);
        } else {
            self.pending = self.pending.saturating_sub(1);
        }
        if let Some(n) = self.pending_by_ip.get_mut(&slot.ip) {
            *n -= 1;
            if *n == 0 {
                self.pending_by_ip.remove(&slot.ip);
            }
        }
    }

    /// Checks a dial to `id` at `ip` before connecting: bans and `net_restrict`.
    pub(crate) fn check_dial(
        &mut self,
        id: NodeId,
        ip: IpAddr,
        now: Instant,
    ) -> Result<(), RejectReason> {
        let ip = ip.to_canonical();
        if self.is_banned(&BanTarget::Node(id), now) {
            return Err(RejectReason::BannedNode);
        }
        if self.is_banned(&BanTarget::Ip(ip), now) {
            return Err(RejectReason::BannedIp);
        }
        self.check_restrict(ip)
    }

    /// Checks an identity proven by the handshake.
    pub(crate) fn check_node(&mut self, id: NodeId, now: Instant) -> Result<(), RejectReason> {
        if self.is_banned(&BanTarget::Node(id), now) {
            return Err(RejectReason::BannedNode);
        }
        Ok(())
    }

    /// Bans `target` for `duration` (a duration too long for the clock: until unbanned).
    /// Banning again replaces the expiry.
    pub(crate) fn ban(&mut self, target: BanTarget, duration: Duration, now: Instant) {
        self.bans.retain(|_, until| until.is_none_or(|t| t > now));
        self.bans
            .insert(target.canonical(), now.checked_add(duration));
    }

    /// Lifts a ban; says whether there was one (expired or not).
    pub(crate) fn unban(&mut self, target: &BanTarget) -> bool {
        self.bans.remove(&target.canonical()).is_some()
    }

    /// The bans in force at `now`, in no particular order (expired ones are left out).
    pub(crate) fn bans(&self, now: Instant) -> Vec<Ban> {
        self.bans
            .iter()
            .filter_map(|(target, until)| match until {
                None => Some(Ban {
                    target: *target,
                    remaining: None,
                }),
                Some(t) if *t > now => Some(Ban {
                    target: *target,
                    remaining: Some(*t - now),
                }),
                Some(_) => None,
            })
            .collect()
    }

    pub(crate) fn is_banned(&mut self, target: &BanTarget, now: Instant) -> bool {
        match self.bans.get(target) {
            Some(None) => true,
            Some(Some(until)) if *until > now => true,
            Some(Some(_)) => {
                self.bans.remove(target);
                false
            }
            None => false,
        }
    }

    /// Remembers `ip` as the address of static or trusted peer `id`.
    pub(crate) fn know(&mut self, id: NodeId, ip: IpAddr) {
        self.known.insert(id, ip.to_canonical());
    }

    /// Forgets the address of `id` (no longer static nor trusted).
    pub(crate) fn forget(&mut self, id: &NodeId) {
        self.known.remove(id);
    }

    fn is_known(&self, ip: IpAddr) -> bool {
        self.known.values().any(|k| *k == ip)
    }

    fn check_restrict(&self, ip: IpAddr) -> Result<(), RejectReason> {
        match &self.config.net_restrict {
            Some(nets) if !nets.iter().any(|n| n.contains(&ip)) => Err(RejectReason::Restricted),
            _ => Ok(()),
        }
    }

    fn throttles(&self, ip: IpAddr) -> bool {
        !self.config.throttle.is_zero() && !self.config.throttle_exempt.spares(ip)
    }

    fn expire_throttle(&mut self, now: Instant) {
        while let Some(&(ip, until)) = self.throttle_queue.front() {
            if until > now {
                break;
            }
            self.throttle_queue.pop_front();
            if self.throttled.get(&ip) == Some(&until) {
                self.throttled.remove(&ip);
            }
        }
    }

    fn record_throttle(&mut self, ip: IpAddr, now: Instant) {
        let Some(until) = now.checked_add(self.config.throttle) else {
            return;
        };
        while self.throttle_queue.len() >= THROTTLE_CAPACITY {
            if let Some((old, old_until)) = self.throttle_queue.pop_front() {
                if self.throttled.get(&old) == Some(&old_until) {
                    self.throttled.remove(&old);
                }
            }
        }
        self.throttled.insert(ip, until);
        self.throttle_queue.push_back((ip, until));
    }
}

impl BanTarget {
    /// An IPv4-mapped IPv6 address (seen on dual-stack sockets) as the IPv4 address.
    pub(crate) fn canonical(self) -> Self {
        match self {
            Self::Ip(ip) => Self::Ip(ip.to_canonical()),
            other => other,
        }
    }
}

#[cfg(test)]
mod tests;
