//! The foo/bar protocol over the in-memory pipe (wire forms, garbage, the event bound) and
//! between two real servers.

use std::time::Duration;

use peerwire::crypto::{NodeId, NodeKey};
use peerwire::protocol::pipe::{run_handler, PipeEnd};
use peerwire::protocol::SendError;
use peerwire::rlp;
use peerwire::server::{PeerEvent, Server, ServerConfig};
use peerwire_foobar::{FooBar, FooBarError, FooBarEvent, MAX_TEXT, TEXT};
use tokio::sync::mpsc;

/// `["text"]`, the seed's form and what `FooBar::send` uses.
fn list(text: &str) -> Vec<u8> {
    rlp::encode_list::<&str, _>(&[text]).to_vec()
}

/// `"text"`, a bare RLP string.
fn bare(text: &str) -> Vec<u8> {
    rlp::encode(&text).to_vec()
}

async fn send(remote: &PipeEnd, payload: Vec<u8>) {
    remote.rw.send_raw(TEXT, payload.into()).await.unwrap();
}

async fn read(remote: &mut PipeEnd) -> Vec<u8> {
    let msg = tokio::time::timeout(Duration::from_secs(5), remote.rw.read_msg())
        .await
        .expect("a reply in time")
        .unwrap();
    assert_eq!(msg.code, TEXT);
    msg.payload.to_vec()
}

async fn event(events: &mut mpsc::Receiver<FooBarEvent>) -> (NodeId, String) {
    match tokio::time::timeout(Duration::from_secs(5), events.recv()).await {
        Ok(Some(FooBarEvent::Message { from, text })) => (from, text),
        other => panic!("expected a message event, got {other:?}"),
    }
}

#[tokio::test]
async fn foo_is_answered_with_bar_in_the_form_it_came_in() {
    let (foobar, _events) = FooBar::new();
    let (_handler, mut remote) = run_handler(&foobar.protocol());
    send(&remote, list("foo")).await;
    assert_eq!(read(&mut remote).await, list("bar"), "c4 83 'bar'");
    send(&remote, bare("foo")).await;
    assert_eq!(read(&mut remote).await, bare("bar"), "83 'bar'");
    // Alternating, to show the form is per message, not per peer.
    send(&remote, list("foo")).await;
    assert_eq!(read(&mut remote).await, list("bar"));
    assert_eq!(foobar.skipped(), 0);
}

#[tokio::test]
async fn other_text_is_surfaced_in_either_form_and_the_app_sends_lists() {
    let (foobar, mut events) = FooBar::new();
    let (_handler, mut remote) = run_handler(&foobar.protocol());
    send(&remote, list("hello there")).await;
    let (from, text) = event(&mut events).await;
    assert_eq!(text, "hello there");
    assert_eq!(foobar.peers(), vec![from]);
    send(&remote, bare("bare hello")).await;
    assert_eq!(event(&mut events).await, (from, "bare hello".into()));
    // A "bar" is an ordinary message to the application.
    send(&remote, list("bar")).await;
    assert_eq!(event(&mut events).await, (from, "bar".into()));

    // The application talks to that peer in the list form, one peer or all.
    foobar.send(&from, "from the app").await.unwrap();
    assert_eq!(read(&mut remote).await, list("from the app"));
    assert_eq!(foobar.broadcast("to all").await, 1);
    assert_eq!(read(&mut remote).await, list("to all"));
}

#[tokio::test]
async fn try_send_never_waits_for_a_peer_that_does_not_read() {
    let (foobar, _events) = FooBar::new();
    let (_handler, mut remote) = run_handler(&foobar.protocol().with_queue_capacity(2, 2));
    let id = foobar.peers()[0];
    // The remote reads nothing: the queues fill and try_send says so instead of waiting.
    let mut queued = 0;
    let full = loop {
        match foobar.try_send(&id, &format!("m{queued}")) {
            Ok(()) => queued += 1,
            Err(e) => break e,
        }
        assert!(queued < 100, "queues of 2 never fill");
        tokio::task::yield_now().await;
    };
    assert_eq!(full, FooBarError::Send(SendError::Full));
    // What was queued arrives in order, in the list form, and frees room.
    assert_eq!(read(&mut remote).await, list("m0"));
    tokio::time::timeout(Duration::from_secs(5), async {
        while foobar.try_send(&id, "after").is_err() {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("room again once the peer reads");
    let stranger = NodeKey::generate(&mut rand::rngs::OsRng).id();
    assert_eq!(
        foobar.try_send(&stranger, "x"),
        Err(FooBarError::UnknownPeer(stranger))
    );
}

/// Payloads that are not one UTF-8 string in either form.
fn garbage() -> Vec<(&'static str, Vec<u8>)> {
    let mut trailing = bare("foo");
    trailing.push(0);
    vec![
        ("empty payload", vec![]),
        ("not RLP: truncated string", vec![0x83, b'f', b'o']),
        (
            "not RLP: truncated list",
            vec![0xc5, 0x83, b'f', b'o', b'o'],
        ),
        (
            "not RLP: list with a cut item",
            vec![0xc5, 0x83, b'f', b'o', b'o', 0x81],
        ),
        ("not RLP: 'f' wrapped in 0x81", vec![0x81, b'f']),
        (
            "not RLP: long form for 3 bytes",
            vec![0xb8, 3, b'f', b'o', b'o'],
        ),
        ("trailing byte", trailing),
        (
            "a list of two",
            rlp::encode_list::<&str, _>(&["foo", "foo"]).to_vec(),
        ),
        ("an empty list", vec![0xc0]),
        ("a nested list", {
            let mut s = rlp::RlpStream::new_list(1);
            s.begin_list(1).append(&"foo");
            s.out().to_vec()
        }),
        ("non-UTF-8 bare", rlp::encode(&vec![0xffu8, 0xfe]).to_vec()),
        (
            "non-UTF-8 in a list",
            rlp::encode_list::<Vec<u8>, _>(&[vec![b'f', 0xc0]]).to_vec(),
        ),
        // RLP has no integer type: 1000 is the string 03 e8, which is not UTF-8.
        ("the integer 1000", rlp::encode(&1000u64).to_vec()),
        ("[1000]", rlp::encode_list::<u64, _>(&[1000u64]).to_vec()),
    ]
}

#[tokio::test]
async fn garbage_is_skipped_and_counted_and_the_session_stays_up() {
    let (foobar, mut events) = FooBar::new();
    let (handler, mut remote) = run_handler(&foobar.protocol());
    let garbage = garbage();
    for (i, (what, payload)) in garbage.iter().enumerate() {
        send(&remote, payload.clone()).await;
        // The next foo is still answered, and is the first reply: garbage got none.
        send(&remote, list("foo")).await;
        assert_eq!(read(&mut remote).await, list("bar"), "after {what}");
        assert_eq!(foobar.skipped(), i as u64 + 1, "{what} counted");
    }
    assert!(!handler.is_finished(), "the handler keeps running");
    assert!(!remote.peer.is_disconnected());
    assert_eq!(foobar.peers().len(), 1, "still registered");
    assert!(events.try_recv().is_err(), "garbage raises no event");
    // Bare form too, and ordinary text still reaches the application.
    send(&remote, bare("foo")).await;
    assert_eq!(read(&mut remote).await, bare("bar"));
    send(&remote, list("still here")).await;
    assert_eq!(event(&mut events).await.1, "still here");
    assert_eq!(foobar.skipped(), garbage.len() as u64);
}

#[tokio::test]
async fn random_payloads_never_end_the_session() {
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(11);
    let (foobar, mut events) = FooBar::new();
    let (handler, mut remote) = run_handler(&foobar.protocol());
    let sent = 500;
    for _ in 0..sent {
        let len = rng.gen_range(0..24);
        let mut payload: Vec<u8> = (0..len).map(|_| rng.gen()).collect();
        if payload == bare("foo") || payload == list("foo") {
            payload.push(0);
        }
        send(&remote, payload).await;
    }
    send(&remote, list("foo")).await;
    assert_eq!(read(&mut remote).await, list("bar"));
    let mut surfaced = 0;
    while events.try_recv().is_ok() {
        surfaced += 1;
    }
    assert_eq!(
        foobar.skipped() + surfaced,
        sent,
        "each one skipped or surfaced"
    );
    assert!(
        foobar.skipped() > sent / 2,
        "most random bytes are not a string"
    );
    assert!(!handler.is_finished());
}

#[tokio::test]
async fn long_texts_are_cut_to_max_text_on_a_character_boundary() {
    let (foobar, mut events) = FooBar::new();
    let (_handler, remote) = run_handler(&foobar.protocol());
    let exact = "a".repeat(MAX_TEXT);
    send(&remote, list(&exact)).await;
    assert_eq!(
        event(&mut events).await.1,
        exact,
        "MAX_TEXT bytes are kept whole"
    );
    assert_eq!(foobar.truncated(), 0);

    // "é" is two bytes and straddles the limit: the cut falls before it.
    let straddling = format!("{}é{}", "a".repeat(MAX_TEXT - 1), "b".repeat(10));
    send(&remote, bare(&straddling)).await;
    assert_eq!(event(&mut events).await.1, "a".repeat(MAX_TEXT - 1));
    assert_eq!(foobar.truncated(), 1);

    // A 4 MiB message leaves MAX_TEXT bytes in the queue.
    let big = "z".repeat(4 << 20);
    send(&remote, list(&big)).await;
    assert_eq!(event(&mut events).await.1.len(), MAX_TEXT);
    assert_eq!(foobar.truncated(), 2);
    assert_eq!(foobar.skipped(), 0);
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
        Err(FooBarError::UnknownPeer(_))
    ));
    b.stop().await;
    a.stop().await;
}
