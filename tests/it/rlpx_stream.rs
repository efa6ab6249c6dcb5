//! The tokio RLPx layer over in-memory pipes and loopback TCP.

use std::time::Duration;

use bytes::BytesMut;
use peerwire::crypto::NodeKey;
use peerwire::rlpx::{FrameError, HandshakeError, RlpxConfig, RlpxError, RlpxStream};
use rand::rngs::OsRng;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Connects as initiator and seals one frame (code 1) without sending it, so the test can
/// put whatever it likes on the wire.
async fn connect_and_seal(
    io: tokio::io::DuplexStream,
    key: &NodeKey,
    remote: peerwire::crypto::NodeId,
    payload: &[u8],
) -> (
    tokio_util::codec::Framed<tokio::io::DuplexStream, peerwire::rlpx::FrameCodec>,
    BytesMut,
) {
    let stream = RlpxStream::connect(io, key, remote, &RlpxConfig::default())
        .await
        .unwrap();
    let mut framed = stream.into_framed();
    let mut wire = BytesMut::new();
    framed
        .codec_mut()
        .sealer()
        .seal(1, payload, &mut wire)
        .unwrap();
    (framed, wire)
}

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
    let (mut framed, wire) = connect_and_seal(a, &key_a, id_b, &[7; 100]).await;
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

#[tokio::test(start_paused = true)]
async fn accept_times_out_on_a_peer_that_stops_mid_auth() {
    let (mut a, b) = tokio::io::duplex(4096);
    let (_, key_b) = keys();
    let config = RlpxConfig {
        handshake_timeout: Duration::from_millis(300),
        ..RlpxConfig::default()
    };
    let server =
        tokio::spawn(async move { RlpxStream::accept(b, &key_b, &config).await.map(|_| ()) });
    // An EIP-8 size prefix announcing 400 bytes, then only 10 of them.
    a.write_all(&[0x01, 0x90]).await.unwrap();
    a.write_all(&[0u8; 10]).await.unwrap();
    let err = server.await.unwrap().unwrap_err();
    assert!(matches!(err, RlpxError::HandshakeTimeout), "{err:?}");
}

#[tokio::test]
async fn a_frame_sent_in_the_same_write_as_the_ack_is_received() {
    use peerwire::rlpx::{AuthProgress, FrameCodec, Recipient};
    use tokio::io::AsyncReadExt;

    let (a, mut b) = tokio::io::duplex(64 * 1024);
    let (key_a, key_b) = keys();
    let id_b = key_b.id();
    let server = tokio::spawn(async move {
        let mut state = Recipient::new(&mut OsRng, &key_b);
        let mut buf = BytesMut::new();
        loop {
            b.read_buf(&mut buf).await.unwrap();
            match state.read_auth(&mut OsRng, &mut buf).unwrap() {
                AuthProgress::NeedMore(next) => state = next,
                AuthProgress::Done { ack, secrets } => {
                    let mut wire = BytesMut::from(&ack[..]);
                    let mut codec = FrameCodec::new(secrets);
                    codec
                        .sealer()
                        .seal(0x42, b"right behind the ack", &mut wire)
                        .unwrap();
                    // Ack and frame in one write: the client must find the frame in the
                    // bytes it read together with the ack.
                    b.write_all(&wire).await.unwrap();
                    return b;
                }
            }
        }
    });
    let mut c = RlpxStream::connect(a, &key_a, id_b, &RlpxConfig::default())
        .await
        .unwrap();
    let frame = c.recv().await.unwrap().unwrap();
    assert_eq!(
        (frame.code, &frame.payload[..]),
        (0x42, &b"right behind the ack"[..])
    );
    drop(server.await.unwrap());
}

#[tokio::test]
async fn after_a_receive_error_the_stream_stays_failed() {
    let (a, b) = tokio::io::duplex(64 * 1024);
    let (key_a, key_b) = keys();
    let id_b = key_b.id();
    let server = tokio::spawn(async move {
        let mut s = RlpxStream::accept(b, &key_b, &RlpxConfig::default())
            .await
            .unwrap();
        let first = s.recv().await;
        let second = s.recv().await;
        (first, second)
    });
    let (mut framed, mut wire) = connect_and_seal(a, &key_a, id_b, &[7; 10]).await;
    wire[0] ^= 1;
    let io = framed.get_mut();
    io.write_all(&wire).await.unwrap();
    io.shutdown().await.unwrap();
    let (first, second) = server.await.unwrap();
    assert!(
        matches!(first, Err(RlpxError::Frame(FrameError::HeaderMac))),
        "{first:?}"
    );
    assert!(
        matches!(second, Err(RlpxError::Frame(FrameError::Poisoned))),
        "{second:?}"
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
