//! Connection gating over loopback TCP, from several source addresses (127.0.0.x): per-address
//! pending cap, throttle, reserved slots, net_restrict, bans.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::time::Duration;

use peerwire::crypto::{NodeId, NodeKey};
use peerwire::protocol::Direction;
use peerwire::rlpx::{RlpxConfig, RlpxStream};
use peerwire::server::{BanTarget, PeerEvent, RejectReason, ServerHandle, ThrottleExempt};
use peerwire::wire::{code, Capability, DisconnectReason};
use tokio::io::AsyncReadExt;
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::{timeout, Instant};

use crate::support::*;

fn caps() -> Vec<Capability> {
    vec![Capability::new("idle", 1)]
}

fn src(last: u8) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(127, 0, 0, last))
}

/// A TCP connection to `to` from 127.0.0.`last`.
async fn tcp_from(last: u8, to: SocketAddr) -> TcpStream {
    let socket = TcpSocket::new_v4().unwrap();
    socket.bind(SocketAddr::new(src(last), 0)).unwrap();
    socket.connect(to).await.unwrap()
}

/// A peer from 127.0.0.`last` that completes RLPx and Hello with `server`, like a real one.
async fn session_from(last: u8, server: &ServerHandle, key: NodeKey) -> Hand {
    let enode = server.local_enode();
    let io = tcp_from(last, enode.tcp_addr()).await;
    let rlpx = RlpxConfig::default();
    let handshake = RlpxStream::connect(io, &key, enode.id, &rlpx);
    let stream = timeout(Duration::from_secs(5), handshake)
        .await
        .expect("handshake within 5 s")
        .expect("handshake succeeds");
    let mut peer = Hand::from_rlpx(key, stream);
    peer.hello(caps()).await;
    peer
}

/// The server closes `io` without a word (no auth-ack), within 2 s.
async fn closed_unanswered(mut io: TcpStream) {
    let mut byte = [0u8; 1];
    match timeout(Duration::from_secs(2), io.read(&mut byte)).await {
        Ok(Ok(0)) | Ok(Err(_)) => {}
        Ok(Ok(_)) => panic!("server sent bytes to a refused connection"),
        Err(_) => panic!("connection still open after 2 s"),
    }
}

type Refusal = (SocketAddr, Direction, Option<NodeId>, RejectReason);

fn refused(e: &PeerEvent) -> Option<Refusal> {
    match e {
        PeerEvent::Refused {
            remote_addr,
            direction,
            id,
            reason,
        } => Some((*remote_addr, *direction, *id, *reason)),
        _ => None,
    }
}

async fn leave(mut peer: Hand) {
    peer.send(code::DISCONNECT, &DisconnectReason::Requested.encode())
        .await;
}

#[tokio::test]
async fn silent_connections_from_one_address_do_not_lock_out_another() {
    let mut c = config(vec![idle("idle")]);
    c.gating.max_pending = 10;
    // Silent connections would hold their slots this long.
    c.connection.handshake_timeout = Duration::from_secs(10);
    let server = start(c).await;
    let mut events = server.events();
    let addr = server.local_enode().tcp_addr();
    let mut silent = Vec::new();
    for _ in 0..20 {
        silent.push(tcp_from(2, addr).await);
    }
    let started = Instant::now();
    let peer = session_from(3, &server, key()).await;
    eventually(|| server.peer_count() == 1).await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    let (from, direction, id, reason) = next_event(&mut events, refused).await;
    assert_eq!(
        (from.ip(), direction, id, reason),
        (
            src(2),
            Direction::Inbound,
            None,
            RejectReason::TooManyPendingFromIp
        )
    );
    drop((silent, peer));
    server.stop().await;
}

#[tokio::test]
async fn an_immediate_reconnect_is_throttled_unless_loopback_is_exempt() {
    for exempt in [ThrottleExempt::None, ThrottleExempt::Loopback] {
        let mut c = config(vec![idle("idle")]);
        c.gating.throttle_exempt = exempt;
        let server = start(c).await;
        let mut events = server.events();
        let k = key();
        let first = session_from(2, &server, k.clone()).await;
        eventually(|| server.peer_count() == 1).await;
        leave(first).await;
        eventually(|| server.peer_count() == 0).await;
        let _peer = if exempt == ThrottleExempt::None {
            closed_unanswered(tcp_from(2, server.local_enode().tcp_addr()).await).await;
            let (from, _, id, reason) = next_event(&mut events, refused).await;
            assert_eq!(
                (from.ip(), id, reason),
                (src(2), None, RejectReason::Throttled)
            );
            // Only that address is throttled.
            session_from(3, &server, key()).await
        } else {
            session_from(2, &server, k).await
        };
        eventually(|| server.peer_count() == 1).await;
        server.stop().await;
    }
}

#[tokio::test]
async fn a_trusted_peer_seen_before_gets_in_through_the_reserve_when_strangers_fill_the_pool() {
    let trusted = key();
    let mut c = config(vec![idle("idle")]);
    c.gating.max_pending = 4;
    c.gating.reserved_pending = 1;
    c.connection.handshake_timeout = Duration::from_secs(10);
    c.trusted_peers = vec![trusted.id()];
    let server = start(c).await;
    let addr = server.local_enode().tcp_addr();
    // Its first visit teaches the server its address.
    leave(session_from(6, &server, trusted.clone()).await).await;
    eventually(|| server.peer_count() == 0).await;

    let mut events = server.events();
    let mut strangers = Vec::new();
    for last in [2, 2, 4, 4] {
        strangers.push(tcp_from(last, addr).await);
    }
    closed_unanswered(tcp_from(5, addr).await).await;
    let (from, _, _, reason) = next_event(&mut events, refused).await;
    assert_eq!((from.ip(), reason), (src(5), RejectReason::TooManyPending));
    let _vip = session_from(6, &server, trusted).await;
    eventually(|| server.peer_count() == 1).await;
    drop(strangers);
    server.stop().await;
}

#[tokio::test]
async fn net_restrict_refuses_addresses_outside_it_inbound_and_dialed() {
    let outside = {
        let mut c = config(vec![idle("idle")]);
        c.listen_addr = Some("127.0.0.4:0".parse().unwrap());
        start(c).await
    };
    let mut c = config(vec![idle("idle")]);
    c.gating.net_restrict = Some(vec!["127.0.0.2/32".parse().unwrap()]);
    let server = start(c).await;
    let mut events = server.events();

    closed_unanswered(tcp_from(3, server.local_enode().tcp_addr()).await).await;
    let (from, direction, id, reason) = next_event(&mut events, refused).await;
    assert_eq!(
        (from.ip(), direction, id, reason),
        (src(3), Direction::Inbound, None, RejectReason::Restricted)
    );
    let _inside = session_from(2, &server, key()).await;
    eventually(|| server.peer_count() == 1).await;

    server.add_peer(outside.local_enode());
    let refusal = next_event(&mut events, refused).await;
    assert_eq!(
        refusal,
        (
            outside.local_enode().tcp_addr(),
            Direction::Outbound,
            Some(outside.local_enode().id),
            RejectReason::Restricted
        )
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(outside.peer_count(), 0, "the dial was made");
    server.stop().await;
    outside.stop().await;
}

#[tokio::test]
async fn ban_by_ip_disconnects_refuses_before_the_handshake_and_unban_lets_it_back() {
    let server = start(config(vec![idle("idle")])).await;
    let mut events = server.events();
    let mut connected = session_from(2, &server, key()).await;
    let _bystander = session_from(3, &server, key()).await;
    eventually(|| server.peer_count() == 2).await;

    server.ban(src(2), Duration::from_secs(60));
    let bans = server.bans();
    assert_eq!(bans.len(), 1);
    assert_eq!(bans[0].target, BanTarget::Ip(src(2)));
    assert!(bans[0]
        .remaining
        .is_some_and(|d| d <= Duration::from_secs(60)));
    assert_eq!(
        connected.disconnect_reason().await,
        DisconnectReason::Requested
    );
    eventually(|| server.peer_count() == 1).await;
    closed_unanswered(tcp_from(2, server.local_enode().tcp_addr()).await).await;
    let (from, _, id, reason) = next_event(&mut events, refused).await;
    assert_eq!(
        (from.ip(), id, reason),
        (src(2), None, RejectReason::BannedIp)
    );

    assert!(server.unban(BanTarget::Ip(src(2))));
    assert!(server.bans().is_empty());
    let _back = session_from(2, &server, key()).await;
    eventually(|| server.peer_count() == 2).await;

    // A ban that expires lets the address back by itself.
    server.ban(src(4), Duration::from_millis(300));
    closed_unanswered(tcp_from(4, server.local_enode().tcp_addr()).await).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let _later = session_from(4, &server, key()).await;
    eventually(|| server.peer_count() == 3).await;
    server.stop().await;
}

#[tokio::test]
async fn ban_by_id_refuses_after_the_handshake_and_disconnects_a_connected_peer() {
    let server = start(config(vec![idle("idle")])).await;
    let mut events = server.events();
    let banned = key();
    let mut connected = session_from(2, &server, banned.clone()).await;
    eventually(|| server.peer_count() == 1).await;

    server.ban(banned.id(), Duration::from_secs(60));
    assert_eq!(
        connected.disconnect_reason().await,
        DisconnectReason::Requested
    );
    eventually(|| server.peer_count() == 0).await;

    // The handshake proves who it is; then it is refused, whatever its address.
    let mut again = session_from(3, &server, banned.clone()).await;
    assert_eq!(again.disconnect_reason().await, DisconnectReason::Requested);
    let (from, direction, id, reason) = next_event(&mut events, refused).await;
    assert_eq!(
        (from.ip(), direction, id, reason),
        (
            src(3),
            Direction::Inbound,
            Some(banned.id()),
            RejectReason::BannedNode
        )
    );
    // Others from the same address are welcome.
    let _other = session_from(3, &server, key()).await;
    eventually(|| server.peer_count() == 1).await;

    assert!(server.unban(banned.id()));
    let _back = session_from(2, &server, banned).await;
    eventually(|| server.peer_count() == 2).await;
    server.stop().await;
}

#[tokio::test]
async fn a_banned_static_peer_is_not_dialed_until_unbanned() {
    let remote = start(config(vec![idle("idle")])).await;
    let server = start(config(vec![idle("idle")])).await;
    let mut events = server.events();
    server.add_peer(remote.local_enode());
    eventually(|| server.peer_count() == 1).await;

    server.ban(remote.local_enode().id, Duration::from_secs(60));
    eventually(|| server.peer_count() == 0 && remote.peer_count() == 0).await;
    let refusal = next_event(&mut events, refused).await;
    assert_eq!(
        refusal,
        (
            remote.local_enode().tcp_addr(),
            Direction::Outbound,
            Some(remote.local_enode().id),
            RejectReason::BannedNode
        )
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(remote.peer_count(), 0, "a banned static peer was dialed");

    assert!(server.unban(remote.local_enode().id));
    eventually(|| server.peer_count() == 1).await;
    server.stop().await;
    remote.stop().await;
}
