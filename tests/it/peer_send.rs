//! Sending outside a handler (`Peer::send`, `ServerHandle::broadcast`), the peer's addresses
//! and enode, `running_cap`, and the protocols' info hooks.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use peerwire::crypto::NodeId;
use peerwire::protocol::pipe::{pipe, run_handler};
use peerwire::protocol::{Direction, Msg, Protocol, SendError};
use peerwire::server::{PeerEvent, ServerHandle, SessionTimeouts};
use peerwire::wire::Capability;
use serde_json::json;
use tokio::sync::mpsc;

use crate::support::*;

fn news() -> Capability {
    Capability::new("news", 1)
}

/// `news/1` (2 codes): every message received goes to `tx` with its sender.
fn relay(tx: mpsc::UnboundedSender<(NodeId, Msg)>) -> Protocol {
    Protocol::new(news(), 2, move |peer, mut rw| {
        let tx = tx.clone();
        async move {
            loop {
                let msg = rw.read_msg().await?;
                tx.send((peer.id(), msg)).ok();
            }
        }
    })
}

async fn recv(rx: &mut mpsc::UnboundedReceiver<(NodeId, Msg)>) -> (NodeId, Msg) {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("message within 5 s")
        .expect("relay alive")
}

/// The peer `id` of `server`, once its handlers run.
async fn running_peer(server: &ServerHandle, id: NodeId) -> peerwire::protocol::Peer {
    eventually(|| {
        server
            .peer(&id)
            .is_some_and(|p| p.running_cap("news", &[1]))
    })
    .await;
    server.peer(&id).unwrap()
}

#[tokio::test]
async fn peer_send_over_the_pipe_reaches_the_other_end_and_names_the_capability() {
    let (a, mut b) = pipe(news(), 2, 8);
    a.peer.send(&news(), 1, &"from outside").await.unwrap();
    a.peer.try_send(&news(), 0, &"try").unwrap();
    let first = b.rw.read_msg().await.unwrap();
    assert_eq!(
        (first.code, first.decode::<String>().unwrap()),
        (1, "from outside".into())
    );
    assert_eq!(
        b.rw.read_msg().await.unwrap().decode::<String>().unwrap(),
        "try"
    );

    // Another capability, or another version, is not running on this session.
    assert_eq!(
        a.peer.send(&Capability::new("news", 2), 0, &"x").await,
        Err(SendError::NotShared)
    );
    assert_eq!(
        a.peer.try_send(&Capability::new("other", 1), 0, &"x"),
        Err(SendError::NotShared)
    );
    assert_eq!(
        a.peer.try_send(&news(), 2, &"x"),
        Err(SendError::InvalidCode { code: 2, length: 2 })
    );
    assert!(a.peer.running_cap("news", &[2, 1]));
    assert!(!a.peer.running_cap("news", &[2]));
    assert!(!a.peer.running_cap("other", &[1]));

    a.peer
        .disconnect(peerwire::wire::DisconnectReason::Requested);
    assert!(
        !a.peer.running_cap("news", &[1]),
        "an ended session runs nothing"
    );
    assert_eq!(
        a.peer.try_send(&news(), 0, &"late"),
        Err(SendError::Disconnected)
    );
}

#[tokio::test]
async fn a_handlers_own_peer_handle_sends_on_its_protocol() {
    // The `Peer` a handler is given sends on the protocols of its session.
    let talker = Protocol::new(news(), 2, |peer, mut rw| async move {
        rw.read_msg().await?;
        peer.send(&news(), 1, &"via peer").await?;
        Ok(())
    });
    let (handler, mut remote) = run_handler(&talker);
    remote.rw.send(0, &"go").await.unwrap();
    let reply = remote.rw.read_msg().await.unwrap();
    assert_eq!(
        (reply.code, reply.decode::<String>().unwrap()),
        (1, "via peer".into())
    );
    handler.await.unwrap().unwrap();
}

#[tokio::test]
async fn peer_send_between_servers_and_the_peers_addresses_and_enodes() {
    let (tx_a, _rx_a) = mpsc::unbounded_channel();
    let (tx_b, mut rx_b) = mpsc::unbounded_channel();
    let a = start(config(vec![relay(tx_a)])).await;
    let b = start(config(vec![relay(tx_b), idle("quiet")])).await;
    a.add_peer(b.local_enode());
    let b_at_a = running_peer(&a, b.local_enode().id).await;
    let a_at_b = running_peer(&b, a.local_enode().id).await;

    // From the test task, not from a handler.
    b_at_a.send(&news(), 1, &"hello b").await.unwrap();
    let (from, msg) = recv(&mut rx_b).await;
    assert_eq!(from, a.local_enode().id);
    assert_eq!(
        (msg.code, msg.decode::<String>().unwrap()),
        (1, "hello b".into())
    );
    // `quiet/1` runs on b only: not shared.
    assert_eq!(
        b_at_a.try_send(&Capability::new("quiet", 1), 0, &"x"),
        Err(SendError::NotShared)
    );
    assert!(!b_at_a.running_cap("quiet", &[1]));

    // Each side's local address is the other's remote address.
    assert_eq!(b_at_a.local_addr(), a_at_b.remote_addr());
    assert_eq!(a_at_b.local_addr(), b_at_a.remote_addr());
    // a dialed b: the enode is what it dialed. b learns a's from a's IP and Hello port.
    assert_eq!(b_at_a.direction(), Direction::Outbound);
    assert_eq!(b_at_a.enode(), Some(b.local_enode()));
    assert_eq!(a_at_b.enode(), Some(a.local_enode()));
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn an_inbound_peer_that_does_not_listen_has_no_enode() {
    let (tx, _rx) = mpsc::unbounded_channel();
    let server = start(config(vec![relay(tx)])).await;
    let raw = Hand::connect(&server, key(), vec![news()]).await; // listen_port 0
    let peer = running_peer(&server, raw.key.id()).await;
    assert_eq!(peer.direction(), Direction::Inbound);
    assert_eq!(peer.enode(), None);
    server.stop().await;
}

/// A peer that never reads fills its queue; broadcast skips it (Full) and the other peer
/// gets the message at once.
#[tokio::test]
async fn broadcast_skips_a_peer_whose_queue_is_full_and_reaches_the_others_at_once() {
    let (tx_hub, _rx_hub) = mpsc::unbounded_channel();
    let mut hub_config = config(vec![relay(tx_hub).with_queue_capacity(16, 1)]);
    // The stuck writer must not time out while the test fills the queue.
    hub_config.connection.session = SessionTimeouts {
        write: Duration::from_secs(60),
        ..hub_config.connection.session
    };
    let hub = start(hub_config).await;
    let (tx_fast, mut rx_fast) = mpsc::unbounded_channel();
    let fast = start(config(vec![relay(tx_fast)])).await;
    fast.add_peer(hub.local_enode());
    let fast_id = fast.local_enode().id;
    running_peer(&hub, fast_id).await;
    // Never reads: the hub's writer blocks once the socket buffers are full.
    let slow = Hand::connect(&hub, key(), vec![news()]).await;
    let slow_id = slow.key.id();
    let slow_peer = running_peer(&hub, slow_id).await;

    // Incompressible, so each message puts its full size on the wire.
    let big: Vec<u8> = (0..1u32 << 16)
        .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
        .collect();
    let mut queued = 0;
    loop {
        match slow_peer.try_send(&news(), 0, &big) {
            Ok(()) => queued += 1,
            Err(SendError::Full) => break,
            Err(e) => panic!("filling the slow peer: {e}"),
        }
        assert!(queued < 4_000, "the slow peer's queue never filled");
        tokio::time::sleep(Duration::from_millis(1)).await;
    }

    let started = tokio::time::Instant::now();
    let report = hub.broadcast(&news(), 1, &"extra!");
    assert!(
        started.elapsed() < Duration::from_millis(100),
        "broadcast waited"
    );
    assert_eq!(report.sent, vec![fast_id]);
    assert_eq!(report.skipped, vec![(slow_id, SendError::Full)]);
    let (from, msg) = recv(&mut rx_fast).await;
    assert_eq!(from, hub.local_enode().id);
    assert_eq!(
        (msg.code, msg.decode::<String>().unwrap()),
        (1, "extra!".into())
    );
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "the fast peer waited"
    );

    // A capability nobody runs reaches nobody and skips nobody; a bad code skips everyone.
    let none = hub.broadcast(&Capability::new("news", 9), 0, &"x");
    assert!(none.sent.is_empty() && none.skipped.is_empty());
    let bad = hub.broadcast(&news(), 7, &"x");
    assert_eq!(bad.skipped.len(), 2);
    assert!(bad
        .skipped
        .iter()
        .all(|(_, e)| *e == SendError::InvalidCode { code: 7, length: 2 }));

    drop(slow); // its socket closes, so the stuck writer fails at once
    fast.stop().await;
    hub.stop().await;
}

/// A hook's report as JSON, as an admin API would write it.
fn as_json(value: Option<&peerwire::protocol::InfoValue>) -> Option<serde_json::Value> {
    value.map(|v| serde_json::to_value(v).unwrap())
}

#[tokio::test]
async fn info_hooks_feed_node_info_and_peers_info_as_json() {
    let head = Arc::new(AtomicU64::new(5));
    let (tx, _rx) = mpsc::unbounded_channel();
    let reported = head.clone();
    let with_hooks = relay(tx)
        .with_node_info(move || json!({ "head": reported.load(Ordering::Relaxed) }))
        .with_peer_info(|peer| json!({ "client": peer.client_id() }));
    let mut ca = config(vec![with_hooks, idle("plain")]);
    ca.name = "alice".into();
    let a = start(ca).await;
    let (tx_b, _rx_b) = mpsc::unbounded_channel();
    let mut cb = config(vec![relay(tx_b), idle("plain")]);
    cb.name = "bob".into();
    let b = start(cb).await;
    let mut events = a.events();
    a.add_peer(b.local_enode());
    next_event(&mut events, |e| {
        matches!(e, PeerEvent::Added(_)).then_some(())
    })
    .await;

    let node = a.node_info();
    assert_eq!(
        as_json(node.protocols.get("news")),
        Some(json!({ "head": 5 }))
    );
    assert!(!node.protocols.contains_key("plain"), "no hook, no entry");
    // Asked on every call.
    head.store(6, Ordering::Relaxed);
    let json = serde_json::to_value(a.node_info()).unwrap();
    assert_eq!(json["protocols"]["news"]["head"], 6);
    assert_eq!(json["id"], a.local_enode().id.to_string());
    assert_eq!(json["enode"], a.local_enode().to_string());
    assert_eq!(json["name"], "alice");
    assert_eq!(json["capabilities"], json!(["news/1", "plain/1"]));

    let peers = a.peers_info();
    assert_eq!(peers.len(), 1);
    assert_eq!(
        as_json(peers[0].protocols.get("news")),
        Some(json!({ "client": "bob" }))
    );
    let json = serde_json::to_value(&peers[0]).unwrap();
    assert_eq!(json["id"], b.local_enode().id.to_string());
    assert_eq!(json["enode"], b.local_enode().to_string());
    assert_eq!(json["client_id"], "bob");
    assert_eq!(json["direction"], "outbound");
    assert_eq!(json["remote_addr"], b.local_enode().tcp_addr().to_string());
    assert!(json["local_addr"].is_string());
    assert_eq!(json["capabilities"][0]["capability"], "news/1");
    assert_eq!(json["protocols"], json!({ "news": { "client": "bob" } }));
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn info_hooks_are_callable_on_their_own_for_pipe_tests() {
    let protocol = Protocol::new(news(), 1, |_peer, _rw| async { Ok(()) })
        .with_peer_info(|peer| peer.direction());
    let (a, _b) = pipe(news(), 1, 1);
    assert_eq!(
        as_json(protocol.peer_info(&a.peer).as_ref()),
        Some(json!("outbound"))
    );
    assert!(protocol.node_info().is_none());
}
