//! Admission rules, static redial, Hello failures, and three servers.

use std::time::Duration;

use peerwire::protocol::Direction;
use peerwire::protocol::SessionEnd;
use peerwire::rlpx::{RlpxConfig, RlpxStream};
use peerwire::server::PeerEvent;
use peerwire::wire::{code, Capability, DisconnectReason, Hello};
use tokio::net::TcpStream;

use crate::support::*;

fn caps() -> Vec<Capability> {
    vec![Capability::new("idle", 1)]
}

fn rejected(e: &PeerEvent) -> Option<DisconnectReason> {
    match e {
        PeerEvent::Rejected { reason, .. } => Some(*reason),
        _ => None,
    }
}

#[tokio::test]
async fn inbound_slots_fill_then_too_many_peers_and_trusted_still_enter() {
    let mut c = config(vec![idle("idle")]);
    c.max_peers = 3; // dial_ratio 3: one dialed slot, two inbound
    let server = start(c).await;
    let mut first = Hand::connect(&server, key(), caps()).await;
    let _second = Hand::connect(&server, key(), caps()).await;
    eventually(|| server.peer_count() == 2).await;
    let mut third = Hand::connect(&server, key(), caps()).await;
    assert_eq!(
        third.disconnect_reason().await,
        DisconnectReason::TooManyPeers
    );

    let trusted = key();
    server.add_trusted_peer(trusted.id());
    let _vip = Hand::connect(&server, trusted, caps()).await;
    eventually(|| server.peer_count() == 3).await;

    // A slot freed by a leaving peer is available again.
    first
        .send(code::DISCONNECT, &DisconnectReason::Requested.encode())
        .await;
    eventually(|| server.peer_count() == 2).await;
    let _fourth = Hand::connect(&server, key(), caps()).await;
    eventually(|| server.peer_count() == 3).await;
    server.stop().await;
}

#[tokio::test]
async fn second_connection_from_the_same_node_gets_already_connected() {
    let server = start(config(vec![idle("idle")])).await;
    let k = key();
    let _first = Hand::connect(&server, k.clone(), caps()).await;
    eventually(|| server.peer_count() == 1).await;
    let mut second = Hand::connect(&server, k, caps()).await;
    assert_eq!(
        second.disconnect_reason().await,
        DisconnectReason::AlreadyConnected
    );
    assert_eq!(server.peer_count(), 1);
    server.stop().await;
}

#[tokio::test]
async fn dialing_ourselves_is_refused_as_self() {
    let server = start(config(vec![idle("idle")])).await;
    let mut events = server.events();
    server.add_peer(server.local_enode());
    let reason = next_event(&mut events, rejected).await;
    assert_eq!(reason, DisconnectReason::ConnectedToSelf);
    assert_eq!(server.peer_count(), 0);
    server.stop().await;
}

#[tokio::test]
async fn handshakes_beyond_max_pending_wait_for_a_free_slot() {
    let mut c = config(vec![idle("idle")]);
    c.gating.max_pending = 2;
    // With no reserve for static and trusted peers, a full pool leaves connections waiting in
    // the backlog (with a reserve, strangers are refused: tests/it/server_gating.rs).
    c.gating.reserved_pending = 0;
    let server = start(c).await;
    let addr = server.local_enode().tcp_addr();
    // Two connections that never send auth hold both pending slots.
    let silent = [
        TcpStream::connect(addr).await.unwrap(),
        TcpStream::connect(addr).await.unwrap(),
    ];
    let enode = server.local_enode();
    let k = key();
    let attempt = tokio::spawn(async move {
        let io = TcpStream::connect(enode.tcp_addr()).await.unwrap();
        let started = tokio::time::Instant::now();
        RlpxStream::connect(io, &k, enode.id, &RlpxConfig::default())
            .await
            .unwrap();
        started.elapsed()
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !attempt.is_finished(),
        "third handshake ran despite max_pending_peers = 2"
    );
    drop(silent);
    let waited = tokio::time::timeout(Duration::from_secs(5), attempt)
        .await
        .unwrap()
        .unwrap();
    assert!(waited >= Duration::from_millis(250), "{waited:?}");
    server.stop().await;
}

#[tokio::test]
async fn disconnect_in_place_of_hello_is_understood() {
    let server = start(config(vec![idle("idle")])).await;
    let mut events = server.events();
    let mut stream = rlpx_to(&server, &key()).await;
    stream
        .send(code::DISCONNECT, &DisconnectReason::TooManyPeers.encode())
        .await
        .unwrap();
    assert_eq!(
        next_event(&mut events, rejected).await,
        DisconnectReason::TooManyPeers
    );
    server.stop().await;
}

#[tokio::test]
async fn hello_with_another_node_id_is_unexpected_identity() {
    let server = start(config(vec![idle("idle")])).await;
    let mut stream = rlpx_to(&server, &key()).await;
    let hello = Hello {
        protocol_version: 5,
        client_id: "impostor".into(),
        capabilities: caps(),
        listen_port: 0,
        id: key().id(),
    };
    stream.send(code::HELLO, &hello.encode()).await.unwrap();
    let theirs = stream.recv().await.unwrap().unwrap();
    assert_eq!(theirs.code, code::HELLO);
    let frame = stream.recv().await.unwrap().unwrap();
    assert_eq!(frame.code, code::DISCONNECT);
    // Hello went both ways with version 5, so the Disconnect is compressed.
    let plain = peerwire::wire::snappy::decompress(&frame.payload).unwrap();
    assert_eq!(
        DisconnectReason::decode(&plain),
        Ok(DisconnectReason::UnexpectedIdentity)
    );
    server.stop().await;
}

#[tokio::test]
async fn static_peer_is_redialed_after_the_remote_restarts() {
    let b_key = key();
    let mut cb = config(vec![idle("idle")]);
    cb.key = b_key.clone();
    let b = start(cb.clone()).await;
    let b_enode = b.local_enode();
    let a = start(config(vec![idle("idle")])).await;
    let mut events = a.events();
    a.add_peer(b_enode);
    let added = |e: &PeerEvent| match e {
        PeerEvent::Added(info) => Some(info.direction),
        _ => None,
    };
    assert_eq!(next_event(&mut events, added).await, Direction::Outbound);
    b.stop().await;
    let end = next_event(&mut events, |e| match e {
        PeerEvent::Dropped { end, .. } => Some(*end),
        _ => None,
    })
    .await;
    assert_eq!(end, SessionEnd::Remote(DisconnectReason::Quitting));
    // Same key, same port: a restart.
    cb.listen_addr = Some(b_enode.tcp_addr());
    let b2 = start(cb).await;
    assert_eq!(next_event(&mut events, added).await, Direction::Outbound);
    assert_eq!(a.peer(&b_key.id()).map(|p| p.id()), Some(b_key.id()));
    // Removing the static peer disconnects it and stops redialing.
    a.remove_peer(&b_key.id());
    eventually(|| a.peer_count() == 0).await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    assert_eq!(a.peer_count(), 0, "redialed after remove_peer");
    a.stop().await;
    b2.stop().await;
}

#[tokio::test]
async fn three_servers_negotiate_their_own_capability_sets() {
    // a: foo/1 foo/2 bar/1   b: foo/2 bar/1   c: foo/1 (and bar/2, which nobody else has)
    let a = start(config(vec![echo("foo", 1), echo("foo", 2), echo("bar", 1)])).await;
    let b = start(config(vec![echo("foo", 2), echo("bar", 1)])).await;
    let c = start(config(vec![echo("foo", 1), echo("bar", 2)])).await;
    let mut events = a.events();
    b.add_peer(a.local_enode());
    c.add_peer(a.local_enode());
    let mut seen = Vec::new();
    for _ in 0..2 {
        let info = next_event(&mut events, |e| match e {
            PeerEvent::Added(info) => Some(info.clone()),
            _ => None,
        })
        .await;
        let caps: Vec<String> = info
            .capabilities
            .iter()
            .map(|s| format!("{}@{:#x}", s.capability, s.offset))
            .collect();
        seen.push((info.id, caps));
    }
    let of = |id| {
        seen.iter()
            .find(|(i, _)| *i == id)
            .map(|(_, c)| c.clone())
            .unwrap()
    };
    assert_eq!(of(b.local_enode().id), ["bar/1@0x10", "foo/2@0x12"]);
    assert_eq!(of(c.local_enode().id), ["foo/1@0x10"]);
    for s in [&a, &b, &c] {
        s.stop().await;
    }
}

#[tokio::test]
async fn dialed_slots_are_limited_by_dial_ratio() {
    let mut c = config(vec![idle("idle")]);
    c.max_peers = 3; // dial_ratio 3: one dialed slot
    let dialer = start(c).await;
    let info = dialer.node_info();
    assert_eq!(info.id, dialer.local_enode().id);
    assert_eq!(info.listen_addr, Some(dialer.local_enode().tcp_addr()));
    assert_eq!(info.capabilities, caps());
    let targets = [
        start(config(vec![idle("idle")])).await,
        start(config(vec![idle("idle")])).await,
    ];
    let mut events = dialer.events();
    dialer.add_peer(targets[0].local_enode());
    eventually(|| dialer.peer_count() == 1).await;
    dialer.add_peer(targets[1].local_enode());
    assert_eq!(
        next_event(&mut events, rejected).await,
        DisconnectReason::TooManyPeers
    );
    assert_eq!(dialer.peer_count(), 1);
    dialer.stop().await;
    for t in &targets {
        t.stop().await;
    }
}

#[tokio::test]
async fn a_frame_larger_than_a_hello_before_hello_is_refused_unread() {
    let server = start(config(vec![idle("idle")])).await;
    let mut stream = rlpx_to(&server, &key()).await;
    // 1 MiB where a Hello (at most 2 KiB) belongs.
    let _ = stream.send(code::HELLO, &vec![0u8; 1 << 20]).await;
    let theirs = stream.recv().await.unwrap().unwrap();
    assert_eq!(
        theirs.code,
        code::HELLO,
        "the server's own Hello comes first"
    );
    let next = tokio::time::timeout(Duration::from_secs(5), stream.recv())
        .await
        .unwrap();
    assert!(
        !matches!(next, Ok(Some(_))),
        "connection should end, got {next:?}"
    );
    assert_eq!(server.peer_count(), 0);
    server.stop().await;
}

#[tokio::test]
async fn bare_integer_disconnect_in_a_compressed_session_is_understood() {
    let server = start(config(vec![idle("idle")])).await;
    let mut events = server.events();
    let mut raw = Hand::connect(&server, key(), caps()).await;
    // Neither compressed nor a list, as some implementations send it.
    raw.send_raw(code::DISCONNECT, &[0x04]).await;
    let end = next_event(&mut events, |e| match e {
        PeerEvent::Dropped { end, .. } => Some(*end),
        _ => None,
    })
    .await;
    assert_eq!(end, SessionEnd::Remote(DisconnectReason::TooManyPeers));
    server.stop().await;
}
