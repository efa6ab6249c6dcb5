//! Keepalive end to end over loopback TCP, with short real timers: Pong, PingTimeout for a
//! silent peer, and two quiet servers kept connected by their Pings.
//!
//! The exact timing (Ping interval, idle timeout, write timeout, linger, slow handlers) is
//! tested on tokio's paused clock over an in-memory duplex, in `src/session/tests.rs`.

use std::time::{Duration, Instant};

use peerwire::protocol::SessionEnd;
use peerwire::server::PeerEvent;
use peerwire::server::SessionTimeouts;
use peerwire::wire::{code, Capability, DisconnectReason, EMPTY_LIST};

use crate::support::*;

fn timeouts(ping_ms: u64, idle_ms: u64) -> SessionTimeouts {
    SessionTimeouts {
        ping_interval: Duration::from_millis(ping_ms),
        read_idle: Duration::from_millis(idle_ms),
        write: Duration::from_secs(2),
        disconnect_linger: Duration::from_millis(300),
    }
}

#[tokio::test]
async fn ping_is_answered_with_pong() {
    let server = start(config(vec![idle("idle")])).await;
    let mut raw = Hand::connect(&server, key(), vec![Capability::new("idle", 1)]).await;
    for _ in 0..3 {
        raw.send(code::PING, &EMPTY_LIST).await;
        let (code, payload) = raw.recv().await.unwrap();
        assert_eq!(code, code::PONG);
        assert_eq!(payload, EMPTY_LIST);
    }
    server.stop().await;
    assert_eq!(raw.disconnect_reason().await, DisconnectReason::Quitting);
}

#[tokio::test]
async fn silent_peer_is_dropped_with_ping_timeout() {
    let mut c = config(vec![idle("idle")]);
    c.connection.session = timeouts(10_000, 300);
    let server = start(c).await;
    let mut events = server.events();
    let mut raw = Hand::connect(&server, key(), vec![Capability::new("idle", 1)]).await;
    let started = Instant::now();
    assert_eq!(raw.disconnect_reason().await, DisconnectReason::PingTimeout);
    assert!(started.elapsed() >= Duration::from_millis(250));
    let end = next_event(&mut events, |e| match e {
        PeerEvent::Dropped { end, .. } => Some(*end),
        _ => None,
    })
    .await;
    assert_eq!(end, SessionEnd::Local(DisconnectReason::PingTimeout));
    server.stop().await;
}

#[tokio::test]
async fn pings_keep_two_quiet_servers_connected() {
    let mut ca = config(vec![idle("idle")]);
    ca.connection.session = timeouts(100, 600);
    let mut cb = config(vec![idle("idle")]);
    cb.connection.session = timeouts(100, 600);
    let (a, b) = (start(ca).await, start(cb).await);
    let mut events = a.events();
    b.add_peer(a.local_enode());
    next_event(&mut events, |e| {
        matches!(e, PeerEvent::Added(_)).then_some(())
    })
    .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!((a.peer_count(), b.peer_count()), (1, 1));
    assert!(
        !std::iter::from_fn(|| events.try_recv().ok())
            .any(|e| matches!(e, PeerEvent::Dropped { .. })),
        "dropped despite pings"
    );
    b.stop().await;
    a.stop().await;
}
