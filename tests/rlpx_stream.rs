//! The tokio RLPx layer over in-memory pipes and loopback TCP.

use std::time::Duration;

use bytes::BytesMut;
use peerwire::crypto::NodeKey;
use peerwire::rlpx::{FrameError, HandshakeError, RlpxConfig, RlpxError, RlpxStream};
use rand::rngs::OsRng;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

fn keys() -> (NodeKey, NodeKey) {
    (NodeKey::generate(&mut OsRng), NodeKey::generate(&mut OsRng))
}

/// Both ends exchange `rounds` frames of growing size in each direction.
async fn exchange<S>(client: S, server: S, rounds: usize)
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (key_a, key_b) = keys();
    let id_a = key_a.id();
    let id_b = key_b.id();
    let server = tokio::spawn(async move {
        let mut s = RlpxStream::accept(server, &key_b, &RlpxConfig::default())
            .await
            .unwrap();
        assert_eq!(s.remote_id(), id_a);
        // Sent before reading anything: it may reach the client in the same read as the ack.
        s.send(0x10, b"hello from b").await.unwrap();
        for _ in 0..rounds {
            let frame = s.recv().await.unwrap().expect("frame");
            s.send(frame.code + 1, &frame.payload).await.unwrap();
        }
        assert!(s.recv().await.unwrap().is_none(), "clean close");
    });
    let mut c = RlpxStream::connect(client, &key_a, id_b, &RlpxConfig::default())
        .await
        .unwrap();
    assert_eq!(c.remote_id(), id_b);
    let hello = c.recv().await.unwrap().unwrap();
    assert_eq!(
        (hello.code, &hello.payload[..]),
        (0x10, &b"hello from b"[..])
    );
    for i in 0..rounds {
        let body: Vec<u8> = (0..i * 977).map(|j| j as u8).collect();
        c.send(2 * i as u64, &body).await.unwrap();
        let echo = c.recv().await.unwrap().unwrap();
        assert_eq!(echo.code, 2 * i as u64 + 1);
        assert_eq!(&echo.payload[..], &body[..]);
    }
    c.into_framed().into_inner().shutdown().await.unwrap();
    server.await.unwrap();
}

#[tokio::test]
async fn handshake_and_frames_over_duplex() {
    let (a, b) = tokio::io::duplex(4096);
    exchange(a, b, 40).await;
}

#[tokio::test]
async fn handshake_and_frames_over_loopback_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (client, accepted) = tokio::join!(TcpStream::connect(addr), listener.accept());
    exchange(client.unwrap(), accepted.unwrap().0, 40).await;
}

#[tokio::test]
async fn one_mebibyte_frames_cross_loopback_tcp() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (key_a, key_b) = keys();
    let id_b = key_b.id();
    let server = tokio::spawn(async move {
        let (io, _) = listener.accept().await.unwrap();
        let mut s = RlpxStream::accept(io, &key_b, &RlpxConfig::default())
            .await
            .unwrap();
        let mut total = 0;
        while let Some(frame) = s.recv().await.unwrap() {
            assert!(frame.payload.iter().all(|b| *b == frame.code as u8));
            total += frame.payload.len();
        }
        total
    });
    let io = TcpStream::connect(addr).await.unwrap();
    let mut c = RlpxStream::connect(io, &key_a, id_b, &RlpxConfig::default())
        .await
        .unwrap();
    for code in 0..8u64 {
        c.send(code, &vec![code as u8; 1 << 20]).await.unwrap();
    }
    c.into_framed().into_inner().shutdown().await.unwrap();
    assert_eq!(server.await.unwrap(), 8 << 20);
}

#[tokio::test]
async fn stream_ending_inside_a_frame_is_truncated() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (key_a, key_b) = keys();
    let id_b = key_b.id();
    let server = tokio::spawn(async move {
        let mut s = RlpxStream::accept(b, &key_b, &RlpxConfig::default())
            .await
            .unwrap();
        s.recv().await
    });
    let c = RlpxStream::connect(a, &key_a, id_b, &RlpxConfig::default())
        .await
        .unwrap();
    let mut framed = c.into_framed();
    let mut wire = BytesMut::new();
    framed
        .codec_mut()
        .sealer()
        .seal(1, &[7; 100], &mut wire)
        .unwrap();
    let io = framed.get_mut();
    io.write_all(&wire[..60]).await.unwrap();
    io.shutdown().await.unwrap();
    let err = server.await.unwrap().unwrap_err();
    assert!(
        matches!(err, RlpxError::Frame(FrameError::Truncated)),
        "{err:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn silent_peer_hits_the_handshake_timeout() {
    let (a, _b) = tokio::io::duplex(4096);
    let (key_a, key_b) = keys();
    let config = RlpxConfig {
        handshake_timeout: Duration::from_millis(300),
        ..RlpxConfig::default()
    };
    let err = RlpxStream::connect(a, &key_a, key_b.id(), &config)
        .await
        .unwrap_err();
    assert!(matches!(err, RlpxError::HandshakeTimeout), "{err:?}");
}

#[tokio::test]
async fn default_handshake_timeout_is_five_seconds() {
    assert_eq!(
        RlpxConfig::default().handshake_timeout,
        Duration::from_secs(5)
    );
}

#[tokio::test]
async fn dialing_the_wrong_identity_fails_on_both_sides() {
    let (a, b) = tokio::io::duplex(4096);
    let (key_a, key_b) = keys();
    let someone_else = NodeKey::generate(&mut OsRng).id();
    let server = tokio::spawn(async move {
        RlpxStream::accept(b, &key_b, &RlpxConfig::default())
            .await
            .map(|_| ())
    });
    let client = RlpxStream::connect(a, &key_a, someone_else, &RlpxConfig::default()).await;
    let server_err = server.await.unwrap().unwrap_err();
    assert!(
        matches!(server_err, RlpxError::Handshake(HandshakeError::Ecies(_))),
        "{server_err:?}"
    );
    assert!(
        matches!(client, Err(RlpxError::ClosedDuringHandshake)),
        "{client:?}"
    );
}
