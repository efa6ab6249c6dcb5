//! The sans-IO core of port mapping: when to ask the gateway, what to ask, and what the
//! answers mean (made, renewed, lost, refused, address changed).
//!
//! Calling contract (one style, as the discovery driver's): call [`Machine::handle_timeout`]
//! when [`Machine::poll_timeout`] is reached; take the round to run from
//! [`Machine::poll_request`]; run it (the shell talks to the gateway) and give its outcome
//! to [`Machine::handle_response`]; then drain [`Machine::poll_event`]. One round is in
//! flight at a time; no time or I/O inside.

use std::collections::VecDeque;
use std::net::IpAddr;
use std::time::{Duration, Instant};

use super::NatError;

/// Our ports as the gateway maps them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mapping {
    /// The gateway's external (public) address.
    pub external_ip: IpAddr,
    /// The external TCP port, mapped to our listen port.
    pub tcp_port: u16,
    /// The external UDP port, mapped to our discovery port; 0 when discovery does not run.
    pub udp_port: u16,
    /// The lease granted; `None`: permanent (removed on stop).
    pub lease: Option<Duration>,
}

impl Mapping {
    /// Whether `other` is reached at the same address and ports.
    fn same_address(&self, other: &Self) -> bool {
        (self.external_ip, self.tcp_port, self.udp_port)
            == (other.external_ip, other.tcp_port, other.udp_port)
    }
}

/// What happened to our port mappings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NatEvent {
    /// Our ports were mapped (the first time, or again after a loss).
    Mapped(Mapping),
    /// The lease was renewed; the address is unchanged.
    Renewed(Mapping),
    /// A renewal found a different external address or ports; this is the new mapping.
    AddressChanged(Mapping),
    /// A mapping we held is gone: the gateway forgot it, or failed to renew it.
    Lost(NatError),
    /// The gateway did not map our ports (we held no mapping).
    Refused(NatError),
    /// The mappings were removed from the gateway (on stop).
    Removed,
}

/// One round of requests the shell runs: map (or renew) both ports with `lease`, ask the
/// external address.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Request {
    /// The lease to ask for; zero: permanent.
    pub(crate) lease: Duration,
    /// The mapping held now, to renew (its external ports asked for again).
    pub(crate) current: Option<Mapping>,
}

/// What the gateway granted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Granted {
    /// The mapping now.
    pub(crate) mapping: Mapping,
    /// The gateway had lost the mapping we held before this round mapped it again (its
    /// epoch went back, or its table no longer listed it).
    pub(crate) forgot: bool,
}

/// The renewal state machine.
#[derive(Debug)]
pub(crate) struct Machine {
    lease: Duration,
    retry: Duration,
    permanent_only: bool,
    /// When the next round starts; `None` while one is due, in flight, or after stop.
    next: Option<Instant>,
    due: bool,
    in_flight: bool,
    current: Option<Mapping>,
    events: VecDeque<NatEvent>,
}

impl Machine {
    /// A machine that maps at once, asks for `lease` and retries after `retry`.
    pub(crate) fn new(now: Instant, lease: Duration, retry: Duration) -> Self {
        Self {
            lease,
            retry,
            permanent_only: false,
            next: Some(now),
            due: false,
            in_flight: false,
            current: None,
            events: VecDeque::new(),
        }
    }

    /// The mapping held now, if any.
    pub(crate) fn current(&self) -> Option<Mapping> {
        self.current
    }

    /// When to call [`Self::handle_timeout`] next; `None` while a round is in flight (or
    /// waiting to be taken). Changes only with the `handle_*` calls.
    pub(crate) fn poll_timeout(&self) -> Option<Instant> {
        if self.due {
            return None;
        }
        self.next
    }

    /// The clock reached [`Self::poll_timeout`]: a round becomes due. An early or extra call
    /// is harmless.
    pub(crate) fn handle_timeout(&mut self, now: Instant) {
        if self.next.is_some_and(|at| at <= now) {
            self.due = true;
        }
    }

    /// The round to run now, once per due round.
    pub(crate) fn poll_request(&mut self) -> Option<Request> {
        if !self.due {
            return None;
        }
        self.due = false;
        self.next = None;
        self.in_flight = true;
        let lease = if self.permanent_only {
            Duration::ZERO
        } else {
            self.lease
        };
        Some(Request {
            lease,
            current: self.current,
        })
    }

    /// The outcome of the round [`Self::poll_request`] gave. A response without a round in
    /// flight is ignored.
    pub(crate) fn handle_response(&mut self, now: Instant, outcome: Result<Granted, NatError>) {
        if !self.in_flight {
            return;
        }
        self.in_flight = false;
        match outcome {
            Ok(granted) => {
                let new = granted.mapping;
                let event = match self.current {
                    None => NatEvent::Mapped(new),
                    Some(_) if granted.forgot => {
                        self.events.push_back(NatEvent::Lost(NatError::Forgotten));
                        NatEvent::Mapped(new)
                    }
                    Some(old) if !old.same_address(&new) => NatEvent::AddressChanged(new),
                    Some(_) => NatEvent::Renewed(new),
                };
                self.events.push_back(event);
                self.current = Some(new);
                // A lease is renewed at half its length; a permanent one is checked as
                // often as the lease we would have asked for (the gateway may restart).
                let period = new.lease.unwrap_or(self.lease) / 2;
                self.next = Some(now + period.max(Duration::from_secs(1)));
            }
            Err(NatError::OnlyPermanentLeases) if !self.permanent_only => {
                // UPnP error 725: the same round again at once, with lease 0.
                self.permanent_only = true;
                self.next = Some(now);
            }
            Err(error) => {
                let event = match self.current.take() {
                    Some(_) => NatEvent::Lost(error),
                    None => NatEvent::Refused(error),
                };
                self.events.push_back(event);
                self.next = Some(now + self.retry);
            }
        }
    }

    /// The mappings were removed (the shell stops): no more rounds.
    pub(crate) fn handle_removed(&mut self) {
        if self.current.take().is_some() {
            self.events.push_back(NatEvent::Removed);
        }
        self.next = None;
        self.due = false;
        self.in_flight = false;
    }

    /// The next event, oldest first.
    pub(crate) fn poll_event(&mut self) -> Option<NatEvent> {
        self.events.pop_front()
    }
}

#[cfg(test)]
mod tests;
