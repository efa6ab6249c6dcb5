//! Two servers on loopback: handshake, Hello, capability negotiation, messages both ways.

use peerwire::server::PeerEvent;
use peerwire::wire::DisconnectReason;
use tokio::sync::mpsc;

use crate::support::*;

#[tokio::test]
async fn two_servers_exchange_messages_on_two_protocols() {
    let a = start(config(vec![echo("foo", 1), echo("bar", 2)])).await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let b = start(config(vec![
        probe("foo", 1, 2, tx.clone()),
        probe("bar", 2, 2, tx),
    ]))
    .await;
    let mut a_events = a.events();
    b.add_peer(a.local_enode());

    let added = next_event(&mut a_events, |e| match e {
        PeerEvent::Added(info) => Some(info.clone()),
        _ => None,
    })
    .await;
    assert_eq!(added.id, b.local_enode().id);
    assert_eq!(added.capabilities.len(), 2);
    // Sorted by name: bar/2 at 0x10 (length 2 on a), foo/1 at 0x12.
    assert_eq!(added.capabilities[0].capability.to_string(), "bar/2");
    assert_eq!(added.capabilities[0].offset, 0x10);
    assert_eq!(added.capabilities[1].offset, 0x12);

    let mut rws = Vec::new();
    for _ in 0..2 {
        rws.push(rx.recv().await.unwrap());
    }
    for (peer, rw) in &mut rws {
        assert_eq!(peer.id(), a.local_enode().id);
        for i in 0..20 {
            rw.send(0, &format!("hello {i}")).await.unwrap();
        }
    }
    for (_, rw) in &mut rws {
        for i in 0..20 {
            let msg = rw.read_msg().await.unwrap();
            assert_eq!(msg.code, 1);
            assert_eq!(msg.decode::<String>().unwrap(), format!("HELLO {i}"));
        }
    }
    assert_eq!(a.peer_count(), 1);
    assert_eq!(b.peer_count(), 1);
    // 40 messages each way went through, each at least one 48-byte frame plus its text.
    let on_b = b.peers()[0].traffic();
    let on_a = a.peers()[0].traffic();
    assert!(on_b.egress >= 40 * (48 + 7), "{on_b:?}");
    assert!(on_b.ingress >= 40 * (48 + 7), "{on_b:?}");
    // Both ends count the same frames; a Ping in flight may differ by one frame.
    assert!(
        on_a.ingress.abs_diff(on_b.egress) <= 64,
        "{on_a:?} {on_b:?}"
    );
    assert!(b.peers()[0].connected_for() < std::time::Duration::from_secs(60));
    b.stop().await;
    let end = next_event(&mut a_events, |e| match e {
        PeerEvent::Dropped { end, .. } => Some(*end),
        _ => None,
    })
    .await;
    assert_eq!(end.reason(), DisconnectReason::Quitting);
    a.stop().await;
}

#[tokio::test]
async fn no_shared_capability_is_useless_peer_on_both_sides() {
    let a = start(config(vec![echo("foo", 1)])).await;
    let b = start(config(vec![echo("foo", 2), echo("zzz", 1)])).await;
    let (mut ea, mut eb) = (a.events(), b.events());
    b.add_peer(a.local_enode());
    let pick = |e: &PeerEvent| match e {
        PeerEvent::Rejected { reason, .. } => Some(*reason),
        _ => None,
    };
    assert_eq!(
        next_event(&mut ea, pick).await,
        DisconnectReason::UselessPeer
    );
    assert_eq!(
        next_event(&mut eb, pick).await,
        DisconnectReason::UselessPeer
    );
    assert_eq!(a.peer_count() + b.peer_count(), 0);
    b.stop().await;
    a.stop().await;
}
