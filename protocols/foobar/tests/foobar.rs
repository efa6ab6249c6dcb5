//! The foo/bar protocol over the in-memory pipe and between two real servers.

use std::time::Duration;

use peerwire::crypto::NodeKey;
use peerwire::protocol::pipe::run_handler;
use peerwire::server::{PeerEvent, Server, ServerConfig};
use peerwire_foobar::{FooBar, FooBarEvent, TEXT};

#[tokio::test]
async fn foo_is_answered_with_bar_and_other_text_is_surfaced() {
    let (foobar, mut events) = FooBar::new();
    let (_handler, mut remote) = run_handler(&foobar.protocol());
    remote.rw.send(TEXT, &"foo").await.unwrap();
    let reply = remote.rw.read_msg().await.unwrap();
    assert_eq!(
        (reply.code, reply.decode::<String>().unwrap()),
        (TEXT, "bar".into())
    );
    remote.rw.send(TEXT, &"hello there").await.unwrap();
    let Some(FooBarEvent::Message { from, text }) = events.recv().await else {
        panic!("expected a message event");
    };
    assert_eq!(text, "hello there");
    assert_eq!(foobar.peers(), vec![from]);
    // The application can talk to that peer too.
    foobar.send(&from, "from the app").await.unwrap();
    let msg = remote.rw.read_msg().await.unwrap();
    assert_eq!(msg.decode::<String>().unwrap(), "from the app");
}

#[tokio::test]
async fn malformed_payload_ends_the_handler_with_an_error() {
    let (foobar, _events) = FooBar::new();
    let (handler, remote) = run_handler(&foobar.protocol());
    remote.rw.send_items(TEXT, &[1u8, 2]).await.unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(5), handler)
        .await
        .unwrap();
    assert!(outcome.unwrap().is_err());
    assert!(foobar.peers().is_empty(), "the peer is unregistered");
}

fn config(foobar: &FooBar) -> ServerConfig {
    let mut c = ServerConfig::new(NodeKey::generate(&mut rand::rngs::OsRng));
    c.listen_addr = Some("127.0.0.1:0".parse().unwrap());
    c.protocols = vec![foobar.protocol()];
    c
}

#[tokio::test]
async fn two_servers_play_foo_bar_and_broadcast() {
    let (fa, mut ea) = FooBar::new();
    let (fb, mut eb) = FooBar::new();
    let a = Server::start(config(&fa)).await.unwrap();
    let b = Server::start(config(&fb)).await.unwrap();
    let mut added = b.events();
    b.add_peer(a.local_enode());
    let wait = tokio::time::timeout(Duration::from_secs(5), async {
        while !matches!(added.recv().await, Ok(PeerEvent::Added(_))) {}
    });
    wait.await.unwrap();
    let a_id = a.local_enode().id;
    // The peer is registered with foobar once its handler ran.
    tokio::time::timeout(Duration::from_secs(5), async {
        while fb.peers().is_empty() || fa.peers().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();

    fb.send(&a_id, "foo").await.unwrap();
    let event = tokio::time::timeout(Duration::from_secs(5), eb.recv())
        .await
        .unwrap();
    assert_eq!(
        event,
        Some(FooBarEvent::Message {
            from: a_id,
            text: "bar".into()
        })
    );
    assert_eq!(fb.broadcast("to everyone").await, 1);
    let event = tokio::time::timeout(Duration::from_secs(5), ea.recv())
        .await
        .unwrap();
    assert_eq!(
        event,
        Some(FooBarEvent::Message {
            from: b.local_enode().id,
            text: "to everyone".into()
        })
    );
    assert!(matches!(
        fb.send(&NodeKey::generate(&mut rand::rngs::OsRng).id(), "x")
            .await,
        Err(peerwire_foobar::FooBarError::UnknownPeer(_))
    ));
    b.stop().await;
    a.stop().await;
}
