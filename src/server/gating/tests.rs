use std::net::Ipv4Addr;

use super::*;
use crate::crypto::NodeKey;

fn config() -> GateConfig {
    GateConfig {
        net_restrict: None,
        throttle: Duration::from_secs(30),
        throttle_exempt: ThrottleExempt::None,
        max_pending: 4,
        reserved_pending: 1,
        max_pending_per_ip: 2,
    }
}

fn ip(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(203, 0, 113, last))
}

fn id() -> NodeId {
    NodeKey::random().id()
}

#[test]
fn a_second_attempt_within_the_throttle_time_is_refused_until_it_expires() {
    let mut g = Gate::new(config());
    let t0 = Instant::now();
    let slot = g.open_inbound(ip(1), t0).unwrap();
    g.close(slot);
    assert_eq!(
        g.open_inbound(ip(1), t0 + Duration::from_secs(29)),
        Err(RejectReason::Throttled)
    );
    // Another address is not affected.
    assert!(g.open_inbound(ip(2), t0).is_ok());
    // A refused attempt does not extend the throttle.
    assert!(g.open_inbound(ip(1), t0 + Duration::from_secs(30)).is_ok());
}

#[test]
fn exemptions_spare_loopback_or_lan_as_configured() {
    let loopback = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    let lan = IpAddr::V4(Ipv4Addr::new(192, 168, 1, 7));
    let t0 = Instant::now();
    for (exempt, spared) in [
        (ThrottleExempt::None, [false, false, false]),
        (ThrottleExempt::Loopback, [true, false, false]),
        (ThrottleExempt::Lan, [true, true, false]),
    ] {
        let mut g = Gate::new(GateConfig {
            throttle_exempt: exempt,
            ..config()
        });
        for (addr, spared) in [loopback, lan, ip(1)].into_iter().zip(spared) {
            let first = g.open_inbound(addr, t0).unwrap();
            g.close(first);
            let again = g.open_inbound(addr, t0 + Duration::from_secs(1));
            assert_eq!(again.is_ok(), spared, "{exempt:?} {addr}");
            if let Ok(slot) = again {
                g.close(slot);
            }
        }
    }
}

#[test]
fn a_zero_throttle_time_turns_the_throttle_off() {
    let mut g = Gate::new(GateConfig {
        throttle: Duration::ZERO,
        ..config()
    });
    let t0 = Instant::now();
    for _ in 0..10 {
        let slot = g.open_inbound(ip(1), t0).unwrap();
        g.close(slot);
    }
}

#[test]
fn one_address_holds_at_most_max_pending_per_ip_slots() {
    let mut g = Gate::new(GateConfig {
        throttle: Duration::ZERO,
        ..config()
    });
    let t0 = Instant::now();
    let a = g.open_inbound(ip(1), t0).unwrap();
    let _b = g.open_inbound(ip(1), t0).unwrap();
    assert_eq!(
        g.open_inbound(ip(1), t0),
        Err(RejectReason::TooManyPendingFromIp)
    );
    assert!(g.open_inbound(ip(2), t0).is_ok());
    g.close(a);
    assert!(g.open_inbound(ip(1), t0).is_ok());
}

#[test]
fn the_reserve_is_for_known_addresses_once_the_pool_is_full() {
    let mut g = Gate::new(GateConfig {
        throttle: Duration::ZERO,
        ..config()
    });
    let t0 = Instant::now();
    let strangers: Vec<_> = (1..=4)
        .map(|i| g.open_inbound(ip(i), t0).unwrap())
        .collect();
    assert!(g.has_room(), "the reserve is still free");
    assert_eq!(g.open_inbound(ip(9), t0), Err(RejectReason::TooManyPending));
    let static_peer = id();
    g.know(static_peer, ip(100));
    let reserved = g.open_inbound(ip(100), t0).unwrap();
    assert!(!g.has_room());
    assert_eq!(
        g.open_inbound(ip(100), t0),
        Err(RejectReason::TooManyPending)
    );
    // A freed ordinary slot is used before the reserve.
    g.close(reserved);
    for s in strangers {
        g.close(s);
    }
    let slot = g.open_inbound(ip(100), t0).unwrap();
    assert!(!slot.reserved);
    g.forget(&static_peer);
    assert!(!g.is_known(ip(100)));
}

#[test]
fn known_addresses_skip_the_throttle_and_the_per_address_cap() {
    let mut g = Gate::new(config());
    let t0 = Instant::now();
    g.know(id(), ip(7));
    let slots: Vec<_> = (0..3).map(|_| g.open_inbound(ip(7), t0).unwrap()).collect();
    assert_eq!(slots.len(), 3);
}

#[test]
fn net_restrict_applies_to_inbound_and_dials() {
    let mut g = Gate::new(GateConfig {
        net_restrict: Some(vec![
            "203.0.113.0/28".parse().unwrap(),
            "::1/128".parse().unwrap(),
        ]),
        ..config()
    });
    let t0 = Instant::now();
    assert!(g.open_inbound(ip(15), t0).is_ok());
    assert_eq!(g.open_inbound(ip(16), t0), Err(RejectReason::Restricted));
    assert_eq!(
        g.check_dial(id(), ip(16), t0),
        Err(RejectReason::Restricted)
    );
    assert_eq!(g.check_dial(id(), ip(1), t0), Ok(()));
    // An IPv4-mapped IPv6 address (a dual-stack listener) is the IPv4 address.
    let mapped = IpAddr::V6(Ipv4Addr::new(203, 0, 113, 2).to_ipv6_mapped());
    assert!(g.open_inbound(mapped, t0).is_ok());
}

#[test]
fn bans_expire_and_unban_lifts_them() {
    let mut g = Gate::new(GateConfig {
        throttle: Duration::ZERO,
        ..config()
    });
    let t0 = Instant::now();
    let node = id();
    g.ban(BanTarget::Ip(ip(1)), Duration::from_secs(60), t0);
    g.ban(node.into(), Duration::MAX, t0);
    assert_eq!(g.open_inbound(ip(1), t0), Err(RejectReason::BannedIp));
    assert_eq!(g.check_dial(id(), ip(1), t0), Err(RejectReason::BannedIp));
    assert_eq!(g.check_dial(node, ip(2), t0), Err(RejectReason::BannedNode));
    assert_eq!(g.check_node(node, t0), Err(RejectReason::BannedNode));
    let mut listed = g.bans(t0 + Duration::from_secs(10));
    listed.sort_by_key(|b| b.remaining);
    assert_eq!(
        listed,
        [
            Ban {
                target: BanTarget::Node(node),
                remaining: None
            },
            Ban {
                target: BanTarget::Ip(ip(1)),
                remaining: Some(Duration::from_secs(50))
            },
        ]
    );
    let later = t0 + Duration::from_secs(61);
    // An expired ban is no longer listed.
    assert_eq!(
        g.bans(later),
        [Ban {
            target: BanTarget::Node(node),
            remaining: None
        }]
    );
    assert!(g.open_inbound(ip(1), later).is_ok());
    // Duration::MAX does not fit the clock: banned until unbanned.
    assert_eq!(g.check_node(node, later), Err(RejectReason::BannedNode));
    assert!(g.unban(&BanTarget::Node(node)));
    assert!(!g.unban(&BanTarget::Node(node)));
    assert_eq!(g.check_node(node, later), Ok(()));
}

#[test]
fn a_ban_beats_net_restrict_and_known_addresses() {
    let mut g = Gate::new(config());
    let t0 = Instant::now();
    g.know(id(), ip(3));
    g.ban(
        IpAddr::V6(Ipv4Addr::new(203, 0, 113, 3).to_ipv6_mapped()).into(),
        Duration::from_secs(5),
        t0,
    );
    assert_eq!(g.open_inbound(ip(3), t0), Err(RejectReason::BannedIp));
}

#[test]
fn the_throttle_forgets_the_oldest_address_when_full() {
    let mut g = Gate::new(GateConfig {
        max_pending: usize::MAX,
        max_pending_per_ip: usize::MAX,
        ..config()
    });
    let t0 = Instant::now();
    for i in 0..=THROTTLE_CAPACITY as u32 {
        let addr = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
        let slot = g.open_inbound(addr, t0).unwrap();
        g.close(slot);
    }
    assert_eq!(g.throttled.len(), THROTTLE_CAPACITY);
    assert_eq!(g.throttle_queue.len(), THROTTLE_CAPACITY);
    assert!(g.pending_by_ip.is_empty());
    // The first address was forgotten; the last is still throttled.
    assert!(g
        .open_inbound(IpAddr::V4(Ipv4Addr::from(0x0a00_0000)), t0)
        .is_ok());
    let last = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + THROTTLE_CAPACITY as u32));
    assert_eq!(g.open_inbound(last, t0), Err(RejectReason::Throttled));
}
