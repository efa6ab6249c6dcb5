//! The machine against a scripted gateway, on a clock the test moves.

use std::net::{IpAddr, Ipv4Addr};
use std::time::{Duration, Instant};

use super::*;

const LEASE: Duration = Duration::from_secs(20 * 60);
const RETRY: Duration = Duration::from_secs(60);
const WAN: IpAddr = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7));

/// What the fake gateway does with the next round.
#[derive(Clone, Copy)]
enum Answer {
    /// Maps at the same ports, granting what was asked (lease 0: permanent).
    Grant,
    /// Grants at another external address.
    GrantAt(IpAddr),
    /// Grants, saying it had lost the previous mapping (restarted).
    GrantAfterRestart,
    /// Fails with this error, except that lease 0 is granted when it answers 725.
    Fail(NatError),
}

/// A gateway that answers each round from a script; it records the leases asked for.
struct FakeGateway {
    asked: Vec<Duration>,
}

impl FakeGateway {
    fn answer(&mut self, request: Request, answer: Answer) -> Result<Granted, NatError> {
        self.asked.push(request.lease);
        let grant = |ip, forgot| {
            Ok(Granted {
                mapping: Mapping {
                    external_ip: ip,
                    tcp_port: 30303,
                    udp_port: 30301,
                    lease: (!request.lease.is_zero()).then_some(request.lease),
                },
                forgot,
            })
        };
        match answer {
            Answer::Grant => grant(WAN, false),
            Answer::GrantAt(ip) => grant(ip, false),
            Answer::GrantAfterRestart => grant(WAN, true),
            Answer::Fail(NatError::OnlyPermanentLeases) if request.lease.is_zero() => {
                grant(WAN, false)
            }
            Answer::Fail(e) => Err(e),
        }
    }
}

/// The machine, the gateway and a clock that only the test moves.
struct Bed {
    machine: Machine,
    gateway: FakeGateway,
    now: Instant,
}

impl Bed {
    fn new() -> Self {
        let now = Instant::now();
        Self {
            machine: Machine::new(now, LEASE, RETRY),
            gateway: FakeGateway { asked: Vec::new() },
            now,
        }
    }

    /// Moves the clock to the machine's next timer and runs every round due then, each
    /// answered by `answer`; returns the events and how far the clock moved.
    fn step(&mut self, answer: Answer) -> (Vec<NatEvent>, Duration) {
        let at = self.machine.poll_timeout().expect("a timer is set");
        let waited = at.saturating_duration_since(self.now);
        self.now = self.now.max(at);
        self.machine.handle_timeout(self.now);
        while let Some(request) = self.machine.poll_request() {
            let outcome = self.gateway.answer(request, answer);
            self.machine.handle_response(self.now, outcome);
            self.machine.handle_timeout(self.now);
        }
        let events = std::iter::from_fn(|| self.machine.poll_event()).collect();
        (events, waited)
    }
}

fn mapping(ip: IpAddr, lease: Option<Duration>) -> Mapping {
    Mapping {
        external_ip: ip,
        tcp_port: 30303,
        udp_port: 30301,
        lease,
    }
}

#[test]
fn maps_at_once_then_renews_at_half_the_lease() {
    let mut bed = Bed::new();
    let (events, waited) = bed.step(Answer::Grant);
    assert_eq!(waited, Duration::ZERO);
    assert_eq!(events, [NatEvent::Mapped(mapping(WAN, Some(LEASE)))]);
    let (events, waited) = bed.step(Answer::Grant);
    assert_eq!(waited, LEASE / 2);
    assert_eq!(events, [NatEvent::Renewed(mapping(WAN, Some(LEASE)))]);
    assert_eq!(bed.gateway.asked, [LEASE, LEASE]);
    assert_eq!(bed.machine.current(), Some(mapping(WAN, Some(LEASE))));
}

#[test]
fn a_refusal_is_reported_and_retried_after_the_retry_wait() {
    let mut bed = Bed::new();
    let (events, _) = bed.step(Answer::Fail(NatError::NotAuthorized));
    assert_eq!(events, [NatEvent::Refused(NatError::NotAuthorized)]);
    assert_eq!(bed.machine.current(), None);
    let (events, waited) = bed.step(Answer::Grant);
    assert_eq!(waited, RETRY);
    assert_eq!(events, [NatEvent::Mapped(mapping(WAN, Some(LEASE)))]);
}

#[test]
fn a_permanent_only_gateway_gets_lease_zero_at_once_and_is_still_checked() {
    let mut bed = Bed::new();
    let (events, waited) = bed.step(Answer::Fail(NatError::OnlyPermanentLeases));
    // The 725 answer is not a refusal: the same round is asked again with lease 0.
    assert_eq!(waited, Duration::ZERO);
    assert_eq!(events, [NatEvent::Mapped(mapping(WAN, None))]);
    assert_eq!(bed.gateway.asked, [LEASE, Duration::ZERO]);
    let (events, waited) = bed.step(Answer::Fail(NatError::OnlyPermanentLeases));
    assert_eq!(waited, LEASE / 2, "a permanent mapping is checked as often");
    assert_eq!(events, [NatEvent::Renewed(mapping(WAN, None))]);
    assert_eq!(bed.gateway.asked, [LEASE, Duration::ZERO, Duration::ZERO]);
    bed.machine.handle_removed();
    assert_eq!(bed.machine.poll_event(), Some(NatEvent::Removed));
}

#[test]
fn a_failed_renewal_is_a_lost_mapping_and_is_mapped_again_later() {
    let mut bed = Bed::new();
    bed.step(Answer::Grant);
    let (events, _) = bed.step(Answer::Fail(NatError::Timeout));
    assert_eq!(events, [NatEvent::Lost(NatError::Timeout)]);
    assert_eq!(bed.machine.current(), None);
    let (events, waited) = bed.step(Answer::Grant);
    assert_eq!(waited, RETRY);
    assert_eq!(events, [NatEvent::Mapped(mapping(WAN, Some(LEASE)))]);
}

#[test]
fn a_gateway_that_forgot_the_mapping_is_a_loss_then_a_new_mapping() {
    let mut bed = Bed::new();
    bed.step(Answer::Grant);
    let (events, waited) = bed.step(Answer::GrantAfterRestart);
    assert_eq!(waited, LEASE / 2);
    assert_eq!(
        events,
        [
            NatEvent::Lost(NatError::Forgotten),
            NatEvent::Mapped(mapping(WAN, Some(LEASE)))
        ]
    );
}

#[test]
fn a_new_external_address_at_renewal_is_reported() {
    let mut bed = Bed::new();
    bed.step(Answer::Grant);
    let other = IpAddr::V4(Ipv4Addr::new(198, 51, 100, 99));
    let (events, _) = bed.step(Answer::GrantAt(other));
    assert_eq!(
        events,
        [NatEvent::AddressChanged(mapping(other, Some(LEASE)))]
    );
    assert_eq!(bed.machine.current().map(|m| m.external_ip), Some(other));
}

#[test]
fn after_removal_no_round_runs_and_a_late_answer_is_ignored() {
    let mut bed = Bed::new();
    bed.step(Answer::Grant);
    bed.machine.handle_timeout(bed.now + LEASE);
    let request = bed.machine.poll_request().expect("renewal due");
    bed.machine.handle_removed();
    assert_eq!(bed.machine.poll_event(), Some(NatEvent::Removed));
    let late = bed.gateway.answer(request, Answer::Grant);
    bed.machine.handle_response(bed.now + LEASE, late);
    assert_eq!(bed.machine.poll_event(), None);
    assert_eq!(bed.machine.poll_timeout(), None);
    assert_eq!(bed.machine.current(), None);
}

#[test]
fn timeouts_before_the_timer_and_extra_calls_are_harmless() {
    let mut bed = Bed::new();
    bed.step(Answer::Grant);
    let at = bed.machine.poll_timeout().unwrap();
    bed.machine.handle_timeout(bed.now);
    assert_eq!(bed.machine.poll_request(), None, "not due yet");
    bed.machine.handle_timeout(at);
    bed.machine.handle_timeout(at);
    assert!(bed.machine.poll_request().is_some());
    assert_eq!(bed.machine.poll_request(), None, "one round per due timer");
}
