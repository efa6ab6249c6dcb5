//! `ServerHandle::dial` over real sockets on loopback: each outcome, typed.

use std::io::ErrorKind;
use std::time::{Duration, Instant};

use peerwire::crypto::Enode;
use peerwire::protocol::Direction;
use peerwire::server::{DialError, ONESHOT_SLOTS};

use crate::support::*;

/// Every dial here ends well within this.
const BOUND: Duration = Duration::from_secs(5);

async fn dial(
    server: &peerwire::server::ServerHandle,
    enode: Enode,
) -> Result<std::sync::Arc<peerwire::protocol::PeerInfo>, DialError> {
    tokio::time::timeout(BOUND, server.dial(enode))
        .await
        .expect("the dial ends")
}

/// A loopback port nothing listens on (bound, then closed).
fn closed_port() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap()
}

#[tokio::test]
async fn a_dial_to_a_listening_node_makes_it_a_peer_and_a_second_dial_is_already_connected() {
    let a = start(config(vec![idle("foo")])).await;
    let b = start(config(vec![idle("foo")])).await;
    let info = dial(&a, b.local_enode()).await.expect("dial succeeds");
    assert_eq!(info.id, b.local_enode().id);
    assert_eq!(a.peer(&info.id).unwrap().direction(), Direction::Outbound);
    assert!(matches!(
        dial(&a, b.local_enode()).await,
        Err(DialError::AlreadyConnected)
    ));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn a_dial_to_a_closed_port_is_connection_refused() {
    let a = start(config(vec![idle("foo")])).await;
    let enode = Enode::new(key().id(), closed_port());
    match dial(&a, enode).await {
        Err(DialError::Connect(e)) => assert_eq!(e.kind(), ErrorKind::ConnectionRefused),
        other => panic!("want Connect(ConnectionRefused), got {other:?}"),
    }
    a.stop().await;
}

/// Our auth is encrypted to the id we dialed; the node at the address cannot decrypt it and
/// closes the connection.
#[tokio::test]
async fn a_dial_to_the_wrong_node_id_fails_the_handshake() {
    let a = start(config(vec![idle("foo")])).await;
    let b = start(config(vec![idle("foo")])).await;
    let wrong = Enode {
        id: key().id(),
        ..b.local_enode()
    };
    assert!(matches!(dial(&a, wrong).await, Err(DialError::Handshake)));
    assert_eq!((a.peer_count(), b.peer_count()), (0, 0));
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn dialing_ourselves_is_refused_before_connecting() {
    let a = start(config(vec![idle("foo")])).await;
    assert!(matches!(
        dial(&a, a.local_enode()).await,
        Err(DialError::SelfDial)
    ));
    a.stop().await;
}

/// A listener that accepts the TCP connection and then says nothing: the dial fails when the
/// handshake timeout runs out, not before, and not much later.
#[tokio::test]
async fn a_listener_that_never_answers_times_the_handshake_out() {
    let mut c = config(vec![idle("foo")]);
    c.connection.handshake_timeout = Duration::from_millis(300);
    let a = start(c).await;
    let silent = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let enode = Enode::new(key().id(), silent.local_addr().unwrap());
    let hold = tokio::spawn(async move {
        let (io, _) = silent.accept().await.unwrap();
        // Held open, never read or written, until the test ends.
        std::future::pending::<()>().await;
        drop(io);
    });
    let t0 = Instant::now();
    assert!(matches!(dial(&a, enode).await, Err(DialError::Handshake)));
    assert!(
        t0.elapsed() >= Duration::from_millis(300),
        "ended by the handshake timeout: {:?}",
        t0.elapsed()
    );
    hold.abort();
    a.stop().await;
}

/// `max_peers` 1 leaves one dialed slot. With it taken, a dial is refused before any TCP
/// connect: the target's listener has nothing to accept.
#[tokio::test]
async fn a_dial_with_every_dialed_slot_taken_is_refused_before_connecting() {
    let mut c = config(vec![idle("foo")]);
    c.max_peers = 1;
    let a = start(c).await;
    let b = start(config(vec![idle("foo")])).await;
    dial(&a, b.local_enode()).await.expect("the one slot");

    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    target.set_nonblocking(true).unwrap();
    let enode = Enode::new(key().id(), target.local_addr().unwrap());
    assert!(matches!(dial(&a, enode).await, Err(DialError::NoSlot)));
    assert_eq!(
        target.accept().map(|_| ()).unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "no connection was made"
    );
    a.stop().await;
    b.stop().await;
}

/// With the one dialed slot taken, a one-shot dial still gets through, and takes no
/// ordinary slot: the node can still accept an inbound peer. Once its session ends, its
/// one-shot slot is free again; with every one-shot slot taken, the next is refused before
/// connecting.
#[tokio::test]
async fn a_oneshot_dial_takes_no_dialed_slot_and_its_slots_are_bounded() {
    let mut c = config(vec![idle("foo")]);
    c.max_peers = 2;
    let a = start(c).await;
    let b = start(config(vec![idle("foo")])).await;
    dial(&a, b.local_enode())
        .await
        .expect("the one dialed slot");

    let c = start(config(vec![idle("foo")])).await;
    assert!(matches!(
        dial(&a, c.local_enode()).await,
        Err(DialError::NoSlot)
    ));
    let info = tokio::time::timeout(BOUND, a.dial_oneshot(c.local_enode()))
        .await
        .unwrap()
        .expect("a one-shot slot");
    assert_eq!(info.id, c.local_enode().id);
    assert!(matches!(
        tokio::time::timeout(BOUND, a.dial_oneshot(c.local_enode()))
            .await
            .unwrap(),
        Err(DialError::AlreadyConnected)
    ));
    // The inbound slot is still free for another node.
    let d = start(config(vec![idle("foo")])).await;
    dial(&d, a.local_enode())
        .await
        .expect("a's inbound slot is free");
    // d's dial resolves once d admitted a; a admits d on its own time.
    eventually(|| a.peer_count() == 3).await;

    // The one-shot peer leaves; its slot is free again.
    a.remove_peer(&info.id);
    eventually(|| a.peer(&info.id).is_none()).await;
    let others: Vec<_> = (0..ONESHOT_SLOTS)
        .map(|_| config(vec![idle("foo")]))
        .collect();
    let mut nodes = Vec::new();
    for c in others {
        nodes.push(start(c).await);
    }
    for node in &nodes {
        tokio::time::timeout(BOUND, a.dial_oneshot(node.local_enode()))
            .await
            .unwrap()
            .expect("one of the one-shot slots");
    }
    let target = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    target.set_nonblocking(true).unwrap();
    let enode = Enode::new(key().id(), target.local_addr().unwrap());
    assert!(matches!(
        a.dial_oneshot(enode).await,
        Err(DialError::NoSlot)
    ));
    assert_eq!(
        target.accept().map(|_| ()).unwrap_err().kind(),
        ErrorKind::WouldBlock,
        "no connection was made"
    );
    for node in nodes.iter().chain([&b, &c, &d]) {
        node.stop().await;
    }
    a.stop().await;
}
