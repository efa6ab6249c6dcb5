//! Scripted hostile peers over loopback TCP. Each test asserts the exact outcome
//! (the Disconnect reason, or a close without one) within a bound, and then that a polite peer
//! is still served. The server pings once a minute, so no test passes by a Ping's luck.
//!
//! A Hello dripped byte by byte, and the session's other timers, are tested to the instant on
//! tokio's paused clock in `src/session/tests.rs`; the write timeout is also checked here, as
//! the one real-socket test of a peer that never reads.

use std::time::{Duration, Instant};

use bytes::BytesMut;
use peerwire::protocol::Protocol;
use peerwire::protocol::SessionEnd;
use peerwire::rlpx::{AckProgress, FrameCodec, Initiator};
use peerwire::server::SessionTimeouts;
use peerwire::server::{PeerEvent, ServerConfig, ServerHandle};
use peerwire::wire::{code, Capability, DisconnectReason, Hello, EMPTY_LIST};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::support::peer::{hello, polite_peer_is_served, rlp_text, Hand, Outcome};
use crate::support::*;

const SOON: Duration = Duration::from_secs(1);

fn hostile_config(protocols: Vec<Protocol>) -> ServerConfig {
    let mut c = config(protocols);
    c.connection.handshake_timeout = Duration::from_secs(1);
    c.connection.session = SessionTimeouts {
        ping_interval: Duration::from_secs(60),
        read_idle: Duration::from_secs(60),
        write: Duration::from_millis(500),
        disconnect_linger: Duration::from_millis(300),
    };
    c
}

async fn server() -> ServerHandle {
    start(hostile_config(vec![echo("foo", 1)])).await
}

fn foo() -> Vec<Capability> {
    vec![Capability::new("foo", 1)]
}

/// Hellos exchanged (ours v5 with foo/1, the server's read): a session, compressed.
async fn session(server: &ServerHandle) -> Hand {
    let mut hand = Hand::dial(server, key()).await;
    let mut out = BytesMut::new();
    hand.seal_hello(foo(), &mut out);
    hand.write(&out).await;
    hand.server_hello().await;
    hand
}

/// Sends `frame` (sealed by `make`) on a fresh session; the server must answer `reason` at
/// once and close, and go on serving others.
async fn refused_in_session(
    server: &ServerHandle,
    reason: DisconnectReason,
    make: impl FnOnce(&mut Hand, &mut BytesMut),
) {
    let mut hand = session(server).await;
    let mut out = BytesMut::new();
    make(&mut hand, &mut out);
    hand.write(&out).await;
    assert_eq!(hand.outcome(SOON).await, Outcome::Disconnect(reason));
    hand.closes_within(SOON).await;
}

/// Writes `hello` (any payload) as the first frame; expects the server's Hello, then `expect`.
async fn hello_outcome(
    server: &ServerHandle,
    key: peerwire::crypto::NodeKey,
    hello: &[u8],
) -> Outcome {
    let mut hand = Hand::dial(server, key).await;
    let mut out = BytesMut::new();
    hand.seal(code::HELLO, hello, &mut out);
    hand.write(&out).await;
    hand.outcome(SOON).await
}

/// Reads a raw socket until EOF or reset; false if it is still open after `within`.
async fn closes(io: &mut TcpStream, within: Duration) -> bool {
    let drain = async {
        let mut buf = [0u8; 4096];
        loop {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(within, drain).await.is_ok()
}

// ---------------------------------------------------------------------------------------------
// Before and during the RLPx handshake

#[tokio::test]
async fn garbage_before_auth_is_closed_at_once() {
    let server = server().await;
    // A size prefix above the 2 KiB packet limit; then a plausible prefix with junk behind it.
    let mut plausible = vec![0x01, 0x00];
    plausible.extend((0..256u32).map(|i| (i * 151 + 7) as u8));
    for garbage in [vec![0xff; 600], plausible] {
        let mut io = TcpStream::connect(server.local_enode().tcp_addr())
            .await
            .unwrap();
        io.write_all(&garbage).await.unwrap();
        assert!(closes(&mut io, SOON).await, "still open after garbage");
    }
    polite_peer_is_served(&server).await;
    server.stop().await;
}

/// Writes `bytes` one per second; returns how long until the server closed, if it did before
/// they ran out.
async fn drip(io: &mut TcpStream, bytes: &[u8]) -> Option<Duration> {
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    for b in bytes {
        if io.write_all(&[*b]).await.is_err() {
            return Some(started.elapsed());
        }
        let read = tokio::time::timeout(Duration::from_secs(1), io.read(&mut buf)).await;
        if let Ok(Ok(0) | Err(_)) = read {
            return Some(started.elapsed());
        }
    }
    None
}

#[tokio::test]
async fn auth_at_one_byte_per_second_is_cut_by_the_handshake_timeout() {
    let server = server().await;
    let auth = Initiator::new(&mut rand::rngs::OsRng, &key(), server.local_enode().id)
        .auth_packet()
        .to_vec();
    let mut io = TcpStream::connect(server.local_enode().tcp_addr())
        .await
        .unwrap();
    let closed = drip(&mut io, &auth).await.expect("closed mid-auth");
    assert!(
        closed >= Duration::from_millis(900) && closed < Duration::from_millis(2500),
        "closed after {closed:?}; handshake timeout is 1 s"
    );
    polite_peer_is_served(&server).await;
    server.stop().await;
}

/// The initiator side of a handshake run by hand, so the test knows every byte it wrote.
async fn hand_initiated(server: &ServerHandle, key: peerwire::crypto::NodeKey) -> (Hand, Vec<u8>) {
    let enode = server.local_enode();
    let mut io = TcpStream::connect(enode.tcp_addr()).await.unwrap();
    let mut state = Initiator::new(&mut rand::rngs::OsRng, &key, enode.id);
    let auth = state.auth_packet().to_vec();
    io.write_all(&auth).await.unwrap();
    let mut buf = BytesMut::with_capacity(4096);
    let secrets = loop {
        match state.read_ack(&mut buf).unwrap() {
            AckProgress::NeedMore(next) => state = next,
            AckProgress::Done(secrets) => break secrets,
        }
        assert_ne!(
            io.read_buf(&mut buf).await.unwrap(),
            0,
            "closed in handshake"
        );
    };
    let hand = Hand {
        key,
        io,
        codec: FrameCodec::new(secrets),
        read_buf: buf,
    };
    (hand, auth)
}

#[tokio::test]
async fn replayed_auth_and_hello_do_not_make_a_session() {
    let server = server().await;
    let mut events = server.events();
    let victim = key();
    // The victim's real session, recorded byte for byte.
    let (mut real, auth) = hand_initiated(&server, victim.clone()).await;
    let mut hello_bytes = BytesMut::new();
    real.seal_hello(foo(), &mut hello_bytes);
    real.write(&hello_bytes).await;
    real.server_hello().await;
    let added = next_event(&mut events, |e| match e {
        PeerEvent::Added(info) => Some(info.id),
        _ => None,
    })
    .await;
    assert_eq!(added, victim.id());
    drop(real);
    eventually(|| server.peer_count() == 0).await;

    // The replayer sends the same auth and Hello frame. The server's ack carries a fresh
    // ephemeral key and nonce, so the recorded frame does not open under the new secrets.
    let mut io = TcpStream::connect(server.local_enode().tcp_addr())
        .await
        .unwrap();
    let mut replay = auth.clone();
    replay.extend_from_slice(&hello_bytes);
    io.write_all(&replay).await.unwrap();
    assert!(closes(&mut io, SOON).await, "replayed session still open");
    assert_eq!(server.peer_count(), 0);
    tokio::time::sleep(Duration::from_millis(100)).await;
    while let Ok(e) = events.try_recv() {
        assert!(
            !matches!(&e, PeerEvent::Added(info) if info.id == victim.id()),
            "the replay became a session: {e:?}"
        );
    }
    polite_peer_is_served(&server).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// Before Hello, and Hello itself

#[tokio::test]
async fn frame_before_hello_over_2_kib_is_closed_unread() {
    let server = server().await;
    let mut hand = Hand::dial(&server, key()).await;
    let mut out = BytesMut::new();
    hand.seal(0x10, &[0u8; 4096], &mut out);
    hand.write(&out).await;
    // Refused on its header: no Disconnect, the connection is dropped.
    assert_eq!(hand.outcome(SOON).await, Outcome::Closed);
    polite_peer_is_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn other_message_in_place_of_hello_is_a_protocol_error() {
    let server = server().await;
    let mut hand = Hand::dial(&server, key()).await;
    let mut out = BytesMut::new();
    hand.seal(code::PING, &EMPTY_LIST, &mut out);
    hand.write(&out).await;
    assert_eq!(
        hand.outcome(SOON).await,
        Outcome::Disconnect(DisconnectReason::ProtocolError)
    );
    polite_peer_is_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn oversize_hello_is_a_protocol_error() {
    let server = server().await;
    let k = key();
    // Above MAX_HELLO_SIZE (2048) but inside the pre-Hello frame limit: read, then refused.
    let mut big = Hello::decode(&hello(&k, 5, foo())).unwrap();
    while big.encode().len() <= 2048 + 8 {
        big.client_id.push('x');
    }
    let payload = big.encode();
    assert!((2049..2060).contains(&payload.len()), "{}", payload.len());
    assert_eq!(
        hello_outcome(&server, k, &payload).await,
        Outcome::Disconnect(DisconnectReason::ProtocolError)
    );
    polite_peer_is_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn hello_with_a_63_byte_id_is_invalid_identity() {
    let server = server().await;
    let mut s = rlp::RlpStream::new_list(5);
    s.append(&5u64);
    s.append(&"short-id");
    s.append_list(&foo());
    s.append(&0u16);
    s.append(&vec![0x11u8; 63]);
    assert_eq!(
        hello_outcome(&server, key(), &s.out()).await,
        Outcome::Disconnect(DisconnectReason::InvalidIdentity)
    );
    polite_peer_is_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn hello_with_a_foreign_id_is_unexpected_identity() {
    let server = server().await;
    // Handshake with one key, Hello with another's id.
    let payload = hello(&key(), 5, foo());
    assert_eq!(
        hello_outcome(&server, key(), &payload).await,
        Outcome::Disconnect(DisconnectReason::UnexpectedIdentity)
    );
    polite_peer_is_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn hello_without_a_shared_capability_is_useless_peer() {
    let server = server().await;
    let k = key();
    let payload = hello(
        &k,
        5,
        vec![Capability::new("foo", 2), Capability::new("bar", 1)],
    );
    assert_eq!(
        hello_outcome(&server, k, &payload).await,
        Outcome::Disconnect(DisconnectReason::UselessPeer)
    );
    polite_peer_is_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn p2p_v4_hello_works_uncompressed() {
    let server = server().await;
    let k = key();
    let mut hand = Hand::dial(&server, k.clone()).await;
    let mut out = BytesMut::new();
    hand.seal(code::HELLO, &hello(&k, 4, foo()), &mut out);
    // Uncompressed from here on: a v4 peer does not speak snappy.
    hand.seal(0x10, &rlp_text("old"), &mut out);
    hand.seal(code::PING, &EMPTY_LIST, &mut out);
    hand.write(&out).await;
    hand.server_hello().await;
    let mut got = Vec::new();
    while got.len() < 2 {
        let frame = hand.frame().await;
        got.push((frame.code, frame.payload.to_vec()));
    }
    got.sort();
    assert_eq!(
        got,
        [(code::PONG, EMPTY_LIST.to_vec()), (0x11, rlp_text("OLD"))]
    );
    polite_peer_is_served(&server).await;
    server.stop().await;
}

// ---------------------------------------------------------------------------------------------
// After Hello

#[tokio::test]
async fn bad_header_or_frame_mac_after_hello_is_a_protocol_error() {
    let server = server().await;
    // Byte 20 is in the header MAC; the last byte is in the frame MAC.
    for spoil in [Some(20), None] {
        refused_in_session(&server, DisconnectReason::ProtocolError, |hand, out| {
            hand.seal_snappy(0x10, &rlp_text("spoilt"), out);
            let at = spoil.unwrap_or(out.len() - 1);
            out[at] ^= 0x80;
        })
        .await;
    }
    polite_peer_is_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn snappy_declaring_2_pow_24_bytes_is_a_protocol_error() {
    let server = server().await;
    refused_in_session(&server, DisconnectReason::ProtocolError, |hand, out| {
        hand.seal(0x10, &[0x80, 0x80, 0x80, 0x08, 0x00], out);
    })
    .await;
    polite_peer_is_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn snappy_literal_shorter_than_declared_is_a_protocol_error() {
    let server = server().await;
    refused_in_session(&server, DisconnectReason::ProtocolError, |hand, out| {
        // Declares 10 bytes, one literal of 10 bytes (tag (10 - 1) << 2), carries 3.
        hand.seal(0x10, &[0x0a, 0x24, b'a', b'b', b'c'], out);
    })
    .await;
    polite_peer_is_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn ping_or_pong_with_a_payload_other_than_the_empty_list_is_a_protocol_error() {
    let server = server().await;
    // A megabyte that compresses to a few KiB; a non-empty list; an empty payload.
    let bodies: [Vec<u8>; 3] = [vec![0; 1 << 20], vec![0xc1, 0x80], vec![]];
    for code in [code::PING, code::PONG] {
        for body in &bodies {
            refused_in_session(&server, DisconnectReason::ProtocolError, |hand, out| {
                hand.seal_snappy(code, body, out);
            })
            .await;
        }
    }
    polite_peer_is_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn codes_beyond_every_capability_are_a_protocol_error() {
    let server = server().await;
    // foo/1 has two codes, 0x10 and 0x11.
    for code in [0x12, 0xff, 1 << 40] {
        refused_in_session(&server, DisconnectReason::ProtocolError, |hand, out| {
            hand.seal_snappy(code, &rlp_text("where"), out);
        })
        .await;
    }
    polite_peer_is_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_second_hello_is_a_protocol_error() {
    let server = server().await;
    refused_in_session(&server, DisconnectReason::ProtocolError, |hand, out| {
        let again = hello(&hand.key, 5, foo());
        hand.seal_snappy(code::HELLO, &again, out);
    })
    .await;
    polite_peer_is_served(&server).await;
    server.stop().await;
}

#[tokio::test]
async fn a_garbage_disconnect_ends_the_session_quietly() {
    let server = server().await;
    let mut events = server.events();
    let mut hand = session(&server).await;
    let mut out = BytesMut::new();
    hand.seal(code::DISCONNECT, &[0xff, 0xff, 0xff], &mut out);
    hand.write(&out).await;
    // The peer said it leaves; the server does not answer, it closes.
    assert_eq!(hand.outcome(SOON).await, Outcome::Closed);
    let end = next_event(&mut events, |e| match e {
        PeerEvent::Dropped { id, end } if *id == hand.key.id() => Some(*end),
        _ => None,
    })
    .await;
    assert_eq!(end, SessionEnd::Remote(DisconnectReason::ProtocolError));
    polite_peer_is_served(&server).await;
    server.stop().await;
}

/// A protocol that sends 256 KiB of incompressible bytes on code 0 as fast as it may.
fn flood() -> Protocol {
    let mut x: u32 = 0x9e37_79b9;
    let blob: Vec<u8> = (0..256 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let blob = std::sync::Arc::new(blob);
    Protocol::new(Capability::new("flood", 1), 1, move |_peer, rw| {
        let blob = blob.clone();
        async move {
            loop {
                rw.send(0, &*blob).await?;
            }
        }
    })
}

#[tokio::test]
async fn a_peer_that_never_reads_is_dropped_by_the_write_timeout() {
    let server = start(hostile_config(vec![echo("foo", 1), flood()])).await;
    let mut events = server.events();
    // A small receive window, so the server's writes block soon.
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.set_recv_buffer_size(4096).unwrap();
    let io = socket
        .connect(server.local_enode().tcp_addr())
        .await
        .unwrap();
    let k = key();
    let stream = peerwire::rlpx::RlpxStream::connect(
        io,
        &k,
        server.local_enode().id,
        &peerwire::rlpx::RlpxConfig::default(),
    )
    .await
    .unwrap();
    let mut hand = Hand::from_rlpx(k.clone(), stream);
    let mut out = BytesMut::new();
    hand.seal_hello(vec![Capability::new("flood", 1)], &mut out);
    hand.write(&out).await;
    hand.server_hello().await;
    let started = Instant::now();
    // From here on we read nothing. Others are served meanwhile.
    polite_peer_is_served(&server).await;
    let end = next_event(&mut events, |e| match e {
        PeerEvent::Dropped { id, end } if *id == k.id() => Some(*end),
        _ => None,
    })
    .await;
    let elapsed = started.elapsed();
    assert_eq!(
        end,
        SessionEnd::Closed,
        "a write timeout closes without a word"
    );
    assert!(
        elapsed < Duration::from_secs(4),
        "dropped after {elapsed:?}"
    );
    assert!(server.peer(&k.id()).is_none());
    polite_peer_is_served(&server).await;
    server.stop().await;
}
