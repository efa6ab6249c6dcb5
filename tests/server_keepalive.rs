//! Ping/Pong, the read idle timeout, and a slow handler that must not stall either.

mod support;

use std::time::{Duration, Instant};

use peerwire::protocol::Protocol;
use peerwire::protocol::SessionEnd;
use peerwire::server::PeerEvent;
use peerwire::server::SessionTimeouts;
use peerwire::wire::{code, Capability, DisconnectReason, EMPTY_LIST};
use support::*;

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
    let mut raw = RawPeer::connect(&server, key(), vec![Capability::new("idle", 1)]).await;
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
async fn server_pings_on_its_interval() {
    let mut c = config(vec![idle("idle")]);
    c.session = timeouts(100, 5_000);
    let server = start(c).await;
    let mut raw = RawPeer::connect(&server, key(), vec![Capability::new("idle", 1)]).await;
    let started = Instant::now();
    for _ in 0..3 {
        let (code, _) = raw.recv().await.unwrap();
        assert_eq!(code, code::PING);
        raw.send(code::PONG, &EMPTY_LIST).await;
    }
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(250),
        "three pings in {elapsed:?}"
    );
    server.stop().await;
}

#[tokio::test]
async fn silent_peer_is_dropped_with_ping_timeout() {
    let mut c = config(vec![idle("idle")]);
    c.session = timeouts(10_000, 300);
    let server = start(c).await;
    let mut events = server.events();
    let mut raw = RawPeer::connect(&server, key(), vec![Capability::new("idle", 1)]).await;
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
    ca.session = timeouts(100, 600);
    let mut cb = config(vec![idle("idle")]);
    cb.session = timeouts(100, 600);
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

/// A slow protocol (each message takes 300 ms, inbound queue of one) beside a fast echo
/// protocol: the slow one's full queue must delay neither the echo nor the keepalive. With
/// the reader blocked on the full queue, the first echo would wait about 2.7 s.
#[tokio::test]
async fn slow_handler_delays_neither_other_protocols_nor_pongs() {
    let slow = Protocol::new(Capability::new("slow", 1), 1, |_peer, mut rw| async move {
        loop {
            rw.read_msg().await?;
            tokio::time::sleep(Duration::from_millis(300)).await;
        }
    })
    .with_queue_capacity(1, 1);
    let mut c = config(vec![slow, echo("fast", 1)]);
    c.session = timeouts(10_000, 600);
    let server = start(c).await;
    let caps = vec![Capability::new("fast", 1), Capability::new("slow", 1)];
    let mut raw = RawPeer::connect(&server, key(), caps).await;
    // Offsets: fast/1 at 0x10 (2 codes), slow/1 at 0x12.
    for _ in 0..10 {
        raw.send(0x12, &rlp::encode(&"work")).await;
    }
    // Three seconds of slow work queued, nine messages of it parked. Echo and Ping round
    // trips stay fast meanwhile, and the session outlives the 600 ms idle timeout.
    let started = Instant::now();
    let mut i = 0;
    while started.elapsed() < Duration::from_millis(2500) {
        let sent = Instant::now();
        raw.send(0x10, &rlp::encode(&format!("ping {i}"))).await;
        let (code, payload) = raw.recv().await.unwrap();
        assert_eq!(code, 0x11);
        assert_eq!(
            rlp::decode::<String>(&payload).unwrap(),
            format!("PING {i}")
        );
        raw.send(code::PING, &EMPTY_LIST).await;
        assert_eq!(raw.recv().await.unwrap().0, code::PONG);
        let rtt = sent.elapsed();
        assert!(rtt < Duration::from_secs(1), "round trip {i} took {rtt:?}");
        i += 1;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    assert_eq!(server.peer_count(), 1);
    server.stop().await;
}
