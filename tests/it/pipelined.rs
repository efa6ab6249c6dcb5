//! What a peer writes right behind its Hello, in the same TCP write, is handled
//! at once, not when the next bytes happen to arrive. Each remote here writes everything in
//! one `write_all` and then only reads, so nothing later can unstick a stalled session; the
//! server's Ping interval and idle timeout are a minute, so no Ping can either.

use std::time::Duration;

use bytes::BytesMut;
use peerwire::server::ServerConfig;
use peerwire::server::SessionTimeouts;
use peerwire::wire::{code, Capability, DisconnectReason};

use crate::support::peer::{rlp_text, Hand, Next, Outcome};
use crate::support::*;

/// Far beyond every bound below: a stall is not resolved by the server's own timers.
fn quiet_config() -> ServerConfig {
    let mut c = config(vec![echo("foo", 1)]);
    c.connection.session = SessionTimeouts {
        ping_interval: Duration::from_secs(60),
        read_idle: Duration::from_secs(60),
        write: Duration::from_secs(1),
        disconnect_linger: Duration::from_millis(300),
    };
    c
}

fn foo() -> Vec<Capability> {
    vec![Capability::new("foo", 1)]
}

/// The echo of "first" (code 0x11, "FIRST") comes within 2 s of the one write.
async fn echo_arrives(hand: &mut Hand) {
    hand.server_hello().await;
    let frame = match hand.next(Duration::from_secs(2)).await {
        Next::Frame(frame) => frame,
        other => panic!("no echo of the pipelined message within 2 s: {other:?}"),
    };
    assert_eq!(frame.code, 0x11);
    let plain = peerwire::wire::snappy::decompress(&frame.payload).unwrap();
    assert_eq!(rlp::decode::<String>(&plain).unwrap(), "FIRST");
}

#[tokio::test]
async fn message_in_the_same_write_as_hello_is_answered_when_dialed() {
    let server = start(quiet_config()).await;
    let mut hand = Hand::dial(&server, key()).await;
    let mut out = BytesMut::new();
    hand.seal_hello(foo(), &mut out);
    hand.seal_snappy(0x10, &rlp_text("first"), &mut out);
    hand.write(&out).await;
    echo_arrives(&mut hand).await;
    server.stop().await;
}

#[tokio::test]
async fn message_in_the_same_write_as_ack_and_hello_is_answered_when_dialing() {
    let server = start(quiet_config()).await;
    let k = key();
    let (listener, enode) = Hand::listener(&k).await;
    server.add_peer(enode);
    let (mut hand, ack) = Hand::accept(&listener, k).await;
    let mut out = BytesMut::from(&ack[..]);
    hand.seal_hello(foo(), &mut out);
    hand.seal_snappy(0x10, &rlp_text("first"), &mut out);
    hand.write(&out).await;
    echo_arrives(&mut hand).await;
    server.stop().await;
}

/// Hello, then a frame `spoil` made bad, in one write: ProtocolError within 1 s.
async fn bad_frame_behind_hello_is_refused_at_once(spoil: impl FnOnce(&mut Hand, &mut BytesMut)) {
    let server = start(quiet_config()).await;
    let mut hand = Hand::dial(&server, key()).await;
    let mut out = BytesMut::new();
    hand.seal_hello(foo(), &mut out);
    spoil(&mut hand, &mut out);
    hand.write(&out).await;
    hand.server_hello().await;
    assert_eq!(
        hand.outcome(Duration::from_secs(1)).await,
        Outcome::Disconnect(DisconnectReason::ProtocolError)
    );
    hand.closes_within(Duration::from_secs(2)).await;
    server.stop().await;
}

#[tokio::test]
async fn bad_mac_in_the_same_write_as_hello_is_refused_at_once() {
    bad_frame_behind_hello_is_refused_at_once(|hand, out| {
        hand.seal_snappy(0x10, &rlp_text("first"), out);
        let last = out.len() - 1;
        out[last] ^= 1; // the frame MAC
    })
    .await;
}

#[tokio::test]
async fn snappy_bomb_in_the_same_write_as_hello_is_refused_at_once() {
    bad_frame_behind_hello_is_refused_at_once(|hand, out| {
        // A snappy block declaring 2^24 bytes, one more than a frame may carry.
        hand.seal(0x10, &[0x80, 0x80, 0x80, 0x08, 0x00], out);
    })
    .await;
}

#[tokio::test]
async fn ping_in_the_same_write_as_hello_is_answered() {
    let server = start(quiet_config()).await;
    let mut hand = Hand::dial(&server, key()).await;
    let mut out = BytesMut::new();
    hand.seal_hello(foo(), &mut out);
    hand.seal_snappy(code::PING, &peerwire::wire::EMPTY_LIST, &mut out);
    hand.write(&out).await;
    hand.server_hello().await;
    match hand.next(Duration::from_secs(2)).await {
        Next::Frame(f) => assert_eq!(f.code, code::PONG),
        other => panic!("no Pong within 2 s: {other:?}"),
    }
    server.stop().await;
}
