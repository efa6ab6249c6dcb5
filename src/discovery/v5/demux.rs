//! discv4 and discv5 on one UDP socket, as go-ethereum runs them.
//!
//! sigp's service reads the socket. A datagram that does not decode as discv5 (its masked
//! header does not unmask to the "discv5" protocol id under our node id) comes out of it as
//! [`discv5::Event::UnrecognizedFrame`]; the service task passes those to discv4 through
//! [`Frames`], a bounded queue. discv4 sends on the same socket, so the address peers see
//! (and vote on) is the same for both versions, and so is the `udp` of our one record.
//!
//! discv4 reads through [`Demuxed`], a [`Datagrams`](crate::net::Datagrams) of a
//! [`Transport`](crate::net::Transport) that can only bind this socket: the discv4 service
//! runs unchanged on it.

use std::io::{Error, ErrorKind, Result};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::mpsc;

use crate::net::{BoxFuture, Datagrams, Listener, Stream, Transport};

/// A datagram for discv4: its bytes and sender.
type Frame = (Vec<u8>, SocketAddr);

/// The discv5 side: where unrecognized frames go.
#[derive(Debug)]
pub(crate) struct Frames {
    tx: mpsc::Sender<Frame>,
    dropped: AtomicU64,
}

impl Frames {
    /// Queues a frame for discv4; drops it (and counts it) when `capacity` wait already.
    /// UDP may lose it anyway: discv4 retries its requests.
    pub(crate) fn push(&self, bytes: Vec<u8>, from: SocketAddr) {
        if self.tx.try_send((bytes, from)).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Frames dropped because discv4 did not keep up.
    pub(crate) fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// discv4's end of the shared socket.
#[derive(Debug)]
pub(crate) struct Demuxed {
    socket: Arc<tokio::net::UdpSocket>,
    /// Whether the socket is an IPv6 one (see `send_to`).
    ipv6: bool,
    /// With one socket per family (a `[::]` bind): the IPv4 one, which IPv4 destinations
    /// go out on; `socket` is then the IPv6-only one.
    v4: Option<Arc<tokio::net::UdpSocket>>,
    rx: tokio::sync::Mutex<mpsc::Receiver<Frame>>,
}

/// A queue of `capacity` frames (each at most 1280 bytes) between the two versions, whose
/// sends go out on `socket`, or on `v4` for IPv4 destinations when given.
pub(crate) fn pair(
    socket: Arc<tokio::net::UdpSocket>,
    v4: Option<Arc<tokio::net::UdpSocket>>,
    capacity: usize,
) -> (Frames, Demuxed) {
    let (tx, rx) = mpsc::channel(capacity.max(1));
    let frames = Frames {
        tx,
        dropped: AtomicU64::new(0),
    };
    let ipv6 = socket.local_addr().is_ok_and(|a| a.is_ipv6());
    let demuxed = Demuxed {
        socket,
        ipv6,
        v4,
        rx: tokio::sync::Mutex::new(rx),
    };
    (frames, demuxed)
}

impl Datagrams for Demuxed {
    fn send_to<'a>(&'a self, buf: &'a [u8], to: SocketAddr) -> BoxFuture<'a, Result<usize>> {
        // A dual-stack IPv6 socket reaches IPv4 peers through IPv4-mapped addresses (Linux
        // would take the IPv4 one as it is; other systems would not).
        let (socket, to) = match (to, &self.v4) {
            (SocketAddr::V4(_), Some(v4)) => (v4, to),
            (SocketAddr::V4(v4), None) if self.ipv6 => (
                &self.socket,
                SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port()),
            ),
            (to, _) => (&self.socket, to),
        };
        Box::pin(socket.send_to(buf, to))
    }

    /// Cancel-safe: only the discv4 task receives, so the lock is free whenever it polls,
    /// and `mpsc::Receiver::recv` loses nothing when dropped.
    fn recv_from<'a>(&'a self, buf: &'a mut [u8]) -> BoxFuture<'a, Result<(usize, SocketAddr)>> {
        Box::pin(async move {
            let mut rx = self.rx.lock().await;
            let (bytes, from) = rx
                .recv()
                .await
                .ok_or_else(|| Error::from(ErrorKind::ConnectionAborted))?;
            // Truncated to `buf` as a socket would; discv5 reads at most 1280 bytes, the
            // discv4 limit, so nothing longer arrives here.
            let len = bytes.len().min(buf.len());
            buf[..len].copy_from_slice(&bytes[..len]);
            Ok((len, from))
        })
    }

    fn local_addr(&self) -> Result<SocketAddr> {
        self.socket.local_addr()
    }
}

/// The network discv4 is started on when it shares discv5's socket: `bind_udp` hands out the
/// [`Demuxed`] end once; it has no TCP.
#[derive(Debug)]
pub(crate) struct SharedPort(pub(crate) Mutex<Option<Demuxed>>);

impl Transport for SharedPort {
    fn listen(&self, _: SocketAddr) -> BoxFuture<'_, Result<Box<dyn Listener>>> {
        Box::pin(async { Err(ErrorKind::Unsupported.into()) })
    }

    fn connect(&self, _: SocketAddr) -> BoxFuture<'_, Result<Box<dyn Stream>>> {
        Box::pin(async { Err(ErrorKind::Unsupported.into()) })
    }

    fn bind_udp(&self, _: SocketAddr) -> BoxFuture<'_, Result<Box<dyn Datagrams>>> {
        // Only plain moves happen under the lock.
        let taken = self.0.lock().unwrap_or_else(|e| e.into_inner()).take();
        Box::pin(async move {
            match taken {
                Some(d) => Ok(Box::new(d) as Box<dyn Datagrams>),
                None => Err(ErrorKind::AddrInUse.into()),
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn frames_reach_discv4_and_a_full_queue_drops() {
        let socket = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let (frames, demuxed) = pair(socket, None, 2);
        let from: SocketAddr = "127.0.0.1:9".parse().unwrap();
        for i in 0..3u8 {
            frames.push(vec![i; 4], from);
        }
        assert_eq!(frames.dropped(), 1);
        let mut buf = [0u8; 8];
        assert_eq!(demuxed.recv_from(&mut buf).await.unwrap(), (4, from));
        assert_eq!(buf[..4], [0; 4]);
        assert_eq!(demuxed.recv_from(&mut buf).await.unwrap(), (4, from));
        assert_eq!(buf[..4], [1; 4]);
    }

    #[tokio::test]
    async fn a_long_frame_is_truncated_to_the_buffer() {
        let socket = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let (frames, demuxed) = pair(socket, None, 2);
        frames.push(vec![7; 10], "127.0.0.1:9".parse().unwrap());
        let mut buf = [0u8; 4];
        let (len, _) = demuxed.recv_from(&mut buf).await.unwrap();
        assert_eq!((len, buf), (4, [7; 4]));
    }

    #[tokio::test]
    async fn with_a_socket_per_family_ipv4_destinations_leave_on_the_ipv4_one() {
        let (v4, v6) = crate::net::bind_host_udp_per_family("[::]:0".parse().unwrap())
            .unwrap()
            .unwrap();
        let port = v6.local_addr().unwrap().port();
        assert_eq!(v4.local_addr().unwrap().port(), port);
        let (_frames, demuxed) = pair(Arc::new(v6), Some(Arc::new(v4)), 1);
        let peer = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
        demuxed
            .send_to(b"v4", peer.local_addr().unwrap())
            .await
            .unwrap();
        let mut buf = [0u8; 4];
        let (len, from) = peer.recv_from(&mut buf).await.unwrap();
        assert_eq!((&buf[..len], from.port()), (&b"v4"[..], port));
        // IPv6 ones leave on the IPv6-only socket.
        let peer6 = tokio::net::UdpSocket::bind("[::1]:0").await.unwrap();
        demuxed
            .send_to(b"v6", peer6.local_addr().unwrap())
            .await
            .unwrap();
        let (len, from) = peer6.recv_from(&mut buf).await.unwrap();
        assert_eq!(
            (&buf[..len], from),
            (&b"v6"[..], format!("[::1]:{port}").parse().unwrap())
        );
    }

    #[tokio::test]
    async fn the_port_is_bound_once() {
        let socket = Arc::new(tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap());
        let addr = socket.local_addr().unwrap();
        let (_frames, demuxed) = pair(socket, None, 1);
        let port = SharedPort(Mutex::new(Some(demuxed)));
        let bound = port.bind_udp(addr).await.unwrap();
        assert_eq!(bound.local_addr().unwrap(), addr);
        assert!(port.bind_udp(addr).await.is_err());
    }
}
