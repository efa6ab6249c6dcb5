//! The hand-driven peer: a devp2p peer whose every step the test takes. It works below
//! `RlpxStream`, sealing frames into its own buffer and writing them in one call, as a real
//! peer pipelines its Hello and first messages, or writes bytes no honest peer would; and it
//! has the one-step shortcuts (`connect`, `send`, `recv`) for tests that only need a polite
//! peer.

use std::time::Duration;

use bytes::BytesMut;
use peerwire::crypto::{Enode, NodeKey};
use peerwire::rlpx::{AuthProgress, Frame, FrameCodec, Recipient, RlpxStream};
use peerwire::server::ServerHandle;
use peerwire::wire::{code, snappy, Capability, DisconnectReason, Hello};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// An established RLPx session whose frames the test seals and opens itself.
pub(crate) struct Hand {
    pub key: NodeKey,
    pub io: TcpStream,
    pub codec: FrameCodec,
    /// Bytes read from the socket and not yet opened.
    pub read_buf: BytesMut,
}

/// What the remote did next, seen from a [`Hand`].
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Next {
    Frame(Frame),
    /// EOF or reset.
    Closed,
    /// Nothing within the bound.
    Silent,
}

/// How the remote ended the connection.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Outcome {
    Disconnect(DisconnectReason),
    /// Closed without a Disconnect.
    Closed,
    /// Still open and silent at the bound.
    StillOpen,
}

impl Hand {
    /// RLPx handshake with `server` as initiator; nothing else sent or read.
    pub(crate) async fn dial(server: &ServerHandle, key: NodeKey) -> Self {
        let stream = super::rlpx_to(server, &key).await;
        Self::from_rlpx(key, stream)
    }

    /// RLPx with `server`, then Hellos exchanged, ours (version 5: snappy on) advertising
    /// `caps`.
    pub(crate) async fn connect(
        server: &ServerHandle,
        key: NodeKey,
        caps: Vec<Capability>,
    ) -> Self {
        let mut hand = Self::dial(server, key).await;
        hand.hello(caps).await;
        hand
    }

    /// Sends our Hello (version 5) advertising `caps` and reads the server's.
    pub(crate) async fn hello(&mut self, caps: Vec<Capability>) -> Hello {
        let mut out = BytesMut::new();
        self.seal_hello(caps, &mut out);
        self.write(&out).await;
        self.server_hello().await
    }

    /// Takes over an RLPx session made with `key` (from another source address, say).
    pub(crate) fn from_rlpx(key: NodeKey, stream: RlpxStream<TcpStream>) -> Self {
        let parts = stream.into_framed().into_parts();
        Self {
            key,
            io: parts.io,
            codec: parts.codec,
            read_buf: parts.read_buf,
        }
    }

    /// A listener the server can dial: `(listener, enode to give to add_peer)`.
    pub(crate) async fn listener(key: &NodeKey) -> (TcpListener, Enode) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let enode = Enode::new(key.id(), listener.local_addr().unwrap());
        (listener, enode)
    }

    /// Accepts one connection and runs the recipient handshake by hand. Returns the ack to
    /// send (not sent yet: the test writes it, with whatever follows, in one call).
    pub(crate) async fn accept(listener: &TcpListener, key: NodeKey) -> (Self, Vec<u8>) {
        let (mut io, _) = tokio::time::timeout(Duration::from_secs(5), listener.accept())
            .await
            .expect("dialed within 5 s")
            .unwrap();
        let mut state = Recipient::new(&mut rand::rngs::OsRng, &key);
        let mut buf = BytesMut::with_capacity(4096);
        let (ack, secrets) = loop {
            match state.read_auth(&mut rand::rngs::OsRng, &mut buf).unwrap() {
                AuthProgress::NeedMore(next) => state = next,
                AuthProgress::Done { ack, secrets } => break (ack, secrets),
            }
            let n = io.read_buf(&mut buf).await.unwrap();
            assert_ne!(n, 0, "closed during the handshake");
        };
        let hand = Self {
            key,
            io,
            codec: FrameCodec::new(secrets),
            read_buf: buf,
        };
        (hand, ack)
    }

    /// Appends a frame of `(code, payload)` to `out`, payload as given.
    pub(crate) fn seal(&mut self, code: u64, payload: &[u8], out: &mut BytesMut) {
        self.codec.sealer().seal(code, payload, out).unwrap();
    }

    /// Appends a frame of `(code, snappy(plain))` to `out`.
    pub(crate) fn seal_snappy(&mut self, code: u64, plain: &[u8], out: &mut BytesMut) {
        self.seal(code, &snappy::compress(plain), out);
    }

    /// Appends our Hello (version 5) advertising `caps`.
    pub(crate) fn seal_hello(&mut self, caps: Vec<Capability>, out: &mut BytesMut) {
        let hello = hello(&self.key, 5, caps);
        self.seal(code::HELLO, &hello, out);
    }

    /// Writes `bytes` in one `write_all`.
    pub(crate) async fn write(&mut self, bytes: &[u8]) {
        self.io.write_all(bytes).await.unwrap();
    }

    /// Sends one message, its payload snappy-compressed.
    pub(crate) async fn send(&mut self, code: u64, plain: &[u8]) {
        self.send_raw(code, &snappy::compress(plain)).await;
    }

    /// Sends one frame with `payload` as given.
    pub(crate) async fn send_raw(&mut self, code: u64, payload: &[u8]) {
        let mut out = BytesMut::new();
        self.seal(code, payload, &mut out);
        self.write(&out).await;
    }

    /// The next frame, within `within`.
    pub(crate) async fn next(&mut self, within: Duration) -> Next {
        let read = async {
            loop {
                match self.codec.opener().open(&mut self.read_buf) {
                    Ok(Some(frame)) => return Next::Frame(frame),
                    Ok(None) => {}
                    Err(e) => panic!("the server sent a frame we cannot open: {e}"),
                }
                match self.io.read_buf(&mut self.read_buf).await {
                    Ok(0) | Err(_) => return Next::Closed,
                    Ok(_) => {}
                }
            }
        };
        tokio::time::timeout(within, read)
            .await
            .unwrap_or(Next::Silent)
    }

    /// The next frame, which must come within 5 s.
    pub(crate) async fn frame(&mut self) -> Frame {
        match self.next(Duration::from_secs(5)).await {
            Next::Frame(frame) => frame,
            other => panic!("expected a frame, got {other:?}"),
        }
    }

    /// The next message's code and decompressed payload, within 5 s; `None` when the server
    /// closed the connection.
    pub(crate) async fn recv(&mut self) -> Option<(u64, Vec<u8>)> {
        match self.next(Duration::from_secs(5)).await {
            Next::Frame(frame) => {
                let plain = snappy::decompress(&frame.payload).unwrap();
                Some((frame.code, plain))
            }
            Next::Closed => None,
            Next::Silent => panic!("no frame within 5 s"),
        }
    }

    /// Reads until a Disconnect arrives and returns its reason.
    pub(crate) async fn disconnect_reason(&mut self) -> DisconnectReason {
        loop {
            match self.recv().await {
                Some((code::DISCONNECT, payload)) => {
                    return DisconnectReason::decode(&payload).unwrap()
                }
                Some(_) => continue,
                None => panic!("closed without Disconnect"),
            }
        }
    }

    /// Reads the server's Hello (the first frame).
    pub(crate) async fn server_hello(&mut self) -> Hello {
        let frame = self.frame().await;
        assert_eq!(frame.code, code::HELLO, "the server's Hello comes first");
        Hello::decode(&frame.payload).unwrap()
    }

    /// Reads until the connection ends or `within` passes with nothing but non-Disconnect
    /// frames; a Disconnect (compressed or not) ends it with its reason.
    pub(crate) async fn outcome(&mut self, within: Duration) -> Outcome {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match self.next(left).await {
                Next::Frame(f) if f.code == code::DISCONNECT => {
                    let reason = DisconnectReason::decode_message(&f.payload)
                        .expect("a readable Disconnect");
                    return Outcome::Disconnect(reason);
                }
                Next::Frame(_) => continue,
                Next::Closed => return Outcome::Closed,
                Next::Silent => return Outcome::StillOpen,
            }
        }
    }

    /// After a Disconnect: the server closes the connection within `within`.
    pub(crate) async fn closes_within(&mut self, within: Duration) {
        loop {
            match self.next(within).await {
                Next::Closed => return,
                Next::Frame(_) => continue,
                Next::Silent => panic!("still open {within:?} after the Disconnect"),
            }
        }
    }
}

/// A Hello payload from `key`.
pub(crate) fn hello(key: &NodeKey, version: u64, caps: Vec<Capability>) -> Vec<u8> {
    Hello {
        protocol_version: version,
        client_id: "hand-driven".into(),
        capabilities: caps,
        listen_port: 0,
        id: key.id(),
    }
    .encode()
}

/// The reply the support `echo` protocol gives `text` sent on its code 0: code 1, uppercased.
pub(crate) fn rlp_text(text: &str) -> Vec<u8> {
    rlp::encode(&text).to_vec()
}

/// A polite peer can still connect to `server` (which runs `echo("foo", 1)`) and get an echo.
pub(crate) async fn polite_peer_is_served(server: &ServerHandle) {
    let check = async {
        let mut raw = Hand::connect(server, super::key(), vec![Capability::new("foo", 1)]).await;
        raw.send(0x10, &rlp_text("still here")).await;
        loop {
            let (code, payload) = raw.recv().await.expect("echo");
            if code == 0x11 {
                assert_eq!(rlp::decode::<String>(&payload).unwrap(), "STILL HERE");
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), check)
        .await
        .expect("a polite peer is served within 5 s");
}
