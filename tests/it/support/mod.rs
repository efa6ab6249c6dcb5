//! Helpers shared by the server integration tests.
#![allow(dead_code)]

pub mod hand;
pub mod node;

use std::time::Duration;

use peerwire::protocol::Protocol;
use peerwire::server::SessionTimeouts;
use peerwire::server::{PeerEvent, Server, ServerConfig, ServerHandle};
use tokio::sync::broadcast;

/// A config on 127.0.0.1 with an OS-chosen port and short timeouts.
pub fn config(protocols: Vec<Protocol>) -> ServerConfig {
    let mut c = ServerConfig::new(NodeKey::generate(&mut rand::rngs::OsRng));
    c.listen_addr = Some("127.0.0.1:0".parse().unwrap());
    c.protocols = protocols;
    c.handshake_timeout = Duration::from_secs(2);
    c.redial_backoff = (Duration::from_millis(50), Duration::from_millis(400));
    c.session = SessionTimeouts {
        // A peer that stops reading holds up a stop() this long.
        write: Duration::from_secs(1),
        disconnect_linger: Duration::from_millis(300),
        ..SessionTimeouts::default()
    };
    c
}

/// `RUST_LOG=peerwire=debug cargo test ...` shows the library's logs.
pub fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub async fn start(config: ServerConfig) -> ServerHandle {
    init_logs();
    Server::start(config).await.expect("server starts")
}

/// The next event matching `pick`, within 5 s.
pub async fn next_event<T>(
    events: &mut broadcast::Receiver<PeerEvent>,
    mut pick: impl FnMut(&PeerEvent) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let Some(t) = pick(&e) {
                        return t;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .expect("event within 5 s")
}

/// Waits until `cond` holds, polling, within 5 s.
pub async fn eventually(mut cond: impl FnMut() -> bool) {
    let wait = async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .expect("condition within 5 s")
}

/// A protocol `name/version` whose handler does nothing until the session ends.
pub fn idle(name: &str) -> Protocol {
    Protocol::new(Capability::new(name, 1), 1, |peer, _rw| async move {
        peer.closed().await;
        Ok(())
    })
}

/// What a [`probe`] hands to the test: the peer and the handler's channel.
pub type Handed = tokio::sync::mpsc::UnboundedSender<(
    peerwire::protocol::Peer,
    peerwire::protocol::MsgReadWriter,
)>;

/// A protocol whose handler hands its peer and channel to the test, then waits for the end.
pub fn probe(name: &str, version: u32, length: u64, tx: Handed) -> Protocol {
    Protocol::new(Capability::new(name, version), length, move |peer, rw| {
        let tx = tx.clone();
        async move {
            let closed = peer.clone();
            tx.send((peer, rw)).ok();
            closed.closed().await;
            Ok(())
        }
    })
}

/// A fresh node key.
pub fn key() -> peerwire::crypto::NodeKey {
    peerwire::crypto::NodeKey::generate(&mut rand::rngs::OsRng)
}

/// A protocol `name/version` whose handler echoes every string back, uppercased, on code 0.
pub fn echo(name: &str, version: u32) -> Protocol {
    Protocol::new(
        Capability::new(name, version),
        2,
        |_peer, mut rw| async move {
            loop {
                let msg = rw.read_msg().await?;
                if msg.code == 0 {
                    let text: String = msg.decode()?;
                    rw.send(1, &text.to_uppercase()).await?;
                }
            }
        },
    )
}

use peerwire::crypto::NodeKey;
use peerwire::rlpx::{RlpxConfig, RlpxStream};
use peerwire::wire::{code, Capability, Hello};
use tokio::net::TcpStream;

/// A hand-driven peer: RLPx and Hello done by the test, then raw frames.
pub struct RawPeer {
    pub key: NodeKey,
    pub stream: RlpxStream<TcpStream>,
    /// The server's Hello.
    pub hello: Hello,
}

/// An RLPx session with `server`, handshake done, nothing else sent.
pub async fn rlpx_to(server: &ServerHandle, key: &NodeKey) -> RlpxStream<TcpStream> {
    let enode = server.local_enode();
    let io = TcpStream::connect(enode.tcp_addr()).await.unwrap();
    RlpxStream::connect(io, key, enode.id, &RlpxConfig::default())
        .await
        .unwrap()
}

impl RawPeer {
    /// Connects to `server` and exchanges Hellos advertising `caps` (version 5: snappy on).
    pub async fn connect(server: &ServerHandle, key: NodeKey, caps: Vec<Capability>) -> RawPeer {
        let stream = rlpx_to(server, &key).await;
        RawPeer::hello_over(stream, key, caps).await
    }

    /// Exchanges Hellos advertising `caps` on an RLPx session made with `key`.
    pub async fn hello_over(
        mut stream: RlpxStream<TcpStream>,
        key: NodeKey,
        caps: Vec<Capability>,
    ) -> RawPeer {
        let ours = Hello {
            protocol_version: 5,
            client_id: "raw-test-peer".into(),
            capabilities: caps,
            listen_port: 0,
            id: key.id(),
        };
        stream.send(code::HELLO, &ours.encode()).await.unwrap();
        let frame = stream.recv().await.unwrap().expect("server hello");
        assert_eq!(frame.code, code::HELLO);
        let hello = Hello::decode(&frame.payload).unwrap();
        RawPeer { key, stream, hello }
    }

    /// Sends a base-protocol or raw message, snappy-compressed.
    pub async fn send(&mut self, code: u64, plain: &[u8]) {
        let payload = peerwire::wire::snappy::compress(plain);
        self.stream.send(code, &payload).await.unwrap();
    }

    /// The next frame's code and decompressed payload; `None` when the server closed.
    pub async fn recv(&mut self) -> Option<(u64, Vec<u8>)> {
        let frame = tokio::time::timeout(Duration::from_secs(5), self.stream.recv())
            .await
            .expect("frame within 5 s")
            .ok()??;
        let plain = peerwire::wire::snappy::decompress(&frame.payload).unwrap();
        Some((frame.code, plain))
    }

    /// Reads until a Disconnect arrives and returns its reason.
    pub async fn disconnect_reason(&mut self) -> peerwire::wire::DisconnectReason {
        loop {
            match self.recv().await {
                Some((code::DISCONNECT, payload)) => {
                    return peerwire::wire::DisconnectReason::decode(&payload).unwrap()
                }
                Some(_) => continue,
                None => panic!("closed without Disconnect"),
            }
        }
    }
}
