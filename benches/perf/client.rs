//! A light RLPx peer for the child processes: TCP connect from a chosen source address, the
//! RLPx handshake and Hello, then answering Ping. Far cheaper than a `Server` per peer, so
//! one child can hold thousands of connections.

use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use peerwire::crypto::{Enode, NodeKey};
use peerwire::rlpx::{RlpxConfig, RlpxStream};
use peerwire::wire::{code, Capability, Hello, PayloadCodec, EMPTY_LIST, P2P_VERSION};
use tokio::net::{TcpSocket, TcpStream};

/// The capability every bench server runs.
pub(crate) fn capability() -> Capability {
    Capability::new("bench", 1)
}

/// A peer past Hello.
pub(crate) struct Connected {
    pub stream: RlpxStream<TcpStream>,
}

/// Connects to `server` from `source` (port chosen by the kernel), runs the handshake with
/// `key` and exchanges Hellos. Fails if the server sends anything but Hello first.
pub(crate) async fn connect(
    server: &Enode,
    source: IpAddr,
    key: &NodeKey,
) -> Result<Connected, Box<dyn std::error::Error + Send + Sync>> {
    let socket = TcpSocket::new_v4()?;
    socket.bind(SocketAddr::new(source, 0))?;
    let io = socket.connect(server.tcp_addr()).await?;
    io.set_nodelay(true)?;
    let mut stream = RlpxStream::connect(io, key, server.id, &RlpxConfig::default()).await?;
    let hello = Hello {
        protocol_version: P2P_VERSION,
        client_id: "perf-client".into(),
        capabilities: vec![capability()],
        listen_port: 0,
        id: key.id(),
    };
    stream.send(code::HELLO, &hello.encode()).await?;
    match stream.recv().await? {
        Some(frame) if frame.code == code::HELLO => Ok(Connected { stream }),
        _ => Err("server did not answer with Hello".into()),
    }
}

/// Ping or Pong as both sides encode it after a version-5 Hello.
pub(crate) fn empty_list() -> Bytes {
    PayloadCodec::Snappy
        .encode(Bytes::from_static(&EMPTY_LIST))
        .expect("one byte fits")
}

impl Connected {
    /// Answers the server's Pings until the connection ends.
    pub(crate) async fn idle(mut self) {
        let pong = empty_list();
        while let Ok(Some(frame)) = self.stream.recv().await {
            if frame.code == code::PING && self.stream.send(code::PONG, &pong).await.is_err() {
                return;
            }
        }
    }
}

/// The `index`-th of `count` loopback source addresses, 127.0.0.2 onwards.
/// One devp2p Ping's round trip on `stream`: sends Ping, answers the server's own Pings
/// meanwhile, and returns the time until the Pong.
pub(crate) async fn ping_rtt(stream: &mut RlpxStream<TcpStream>) -> std::time::Duration {
    let ping = empty_list();
    let sent = std::time::Instant::now();
    stream.send(code::PING, &ping).await.unwrap();
    loop {
        let frame = stream.recv().await.unwrap().expect("server closed");
        match frame.code {
            code::PONG => return sent.elapsed(),
            code::PING => stream.send(code::PONG, &ping).await.unwrap(),
            _ => {}
        }
    }
}

/// Connects to `server` from `source` with a fresh key on a thread and runtime of its own
/// (so the peer's work is not counted in the server's runtime), runs `f` on the stream and
/// returns what it returns.
pub(crate) fn on_own_thread<T, F, Fut>(server: Enode, source: IpAddr, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce(RlpxStream<TcpStream>) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = T>,
{
    std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let key = NodeKey::random();
            let stream = connect(&server, source, &key).await.unwrap().stream;
            f(stream).await
        })
    })
    .join()
    .unwrap()
}

pub(crate) fn source(index: usize, count: usize) -> IpAddr {
    IpAddr::from([127, 0, 0, 2 + (index % count) as u8])
}
