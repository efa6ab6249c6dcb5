//! The sockets the server holds, whichever network made them: the host's are matched first
//! and used directly, a custom network's through its boxed trait objects.

use std::io::{IoSlice, Result};
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::{host, Datagrams, Listener, SocketOptions, Stream};

/// A TCP connection.
#[derive(Debug)]
pub(crate) enum Connection {
    Host(tokio::net::TcpStream),
    Custom(Box<dyn Stream>),
}

impl Connection {
    pub(crate) fn local_addr(&self) -> Result<SocketAddr> {
        match self {
            Self::Host(s) => s.local_addr(),
            Self::Custom(s) => s.local_addr(),
        }
    }
}

impl AsyncRead for Connection {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<Result<()>> {
        match self.get_mut() {
            Self::Host(s) => Pin::new(s).poll_read(cx, buf),
            Self::Custom(s) => Pin::new(s).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Connection {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<Result<usize>> {
        match self.get_mut() {
            Self::Host(s) => Pin::new(s).poll_write(cx, buf),
            Self::Custom(s) => Pin::new(s).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<Result<usize>> {
        match self.get_mut() {
            Self::Host(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Self::Custom(s) => Pin::new(s).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Self::Host(s) => s.is_write_vectored(),
            Self::Custom(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match self.get_mut() {
            Self::Host(s) => Pin::new(s).poll_flush(cx),
            Self::Custom(s) => Pin::new(s).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        match self.get_mut() {
            Self::Host(s) => Pin::new(s).poll_shutdown(cx),
            Self::Custom(s) => Pin::new(s).poll_shutdown(cx),
        }
    }
}

/// A bound TCP listener.
#[derive(Debug)]
pub(crate) enum TcpListener {
    Host(tokio::net::TcpListener),
    Custom(Box<dyn Listener>),
}

impl TcpListener {
    /// The next connection, configured by `options` on the host network, and its remote
    /// address (an IPv4 peer of a dual-stack listener as IPv4, see [`canonical`]).
    /// Cancel-safe.
    pub(crate) async fn accept(&self, options: SocketOptions) -> Result<(Connection, SocketAddr)> {
        let (io, addr) = match self {
            Self::Host(l) => host::accept(l, &options)
                .await
                .map(|(s, a)| (Connection::Host(s), a))?,
            Self::Custom(l) => l.accept().await.map(|(s, a)| (Connection::Custom(s), a))?,
        };
        Ok((io, canonical(addr)))
    }

    pub(crate) fn local_addr(&self) -> Result<SocketAddr> {
        match self {
            Self::Host(l) => l.local_addr(),
            Self::Custom(l) => l.local_addr(),
        }
    }
}

/// A bound UDP socket.
#[derive(Debug)]
pub(crate) enum UdpSocket {
    /// `ipv6` says whether the socket is an IPv6 one, which reaches IPv4 peers through
    /// IPv4-mapped addresses.
    Host {
        socket: tokio::net::UdpSocket,
        ipv6: bool,
    },
    Custom(Box<dyn Datagrams>),
}

impl UdpSocket {
    pub(crate) fn host(socket: tokio::net::UdpSocket) -> Result<Self> {
        let ipv6 = socket.local_addr()?.is_ipv6();
        Ok(Self::Host { socket, ipv6 })
    }

    pub(crate) async fn send_to(&self, buf: &[u8], to: SocketAddr) -> Result<usize> {
        match self {
            Self::Host { socket, ipv6 } => {
                // Linux takes an IPv4 destination on a dual-stack socket as it is; other
                // systems want it mapped, which Linux takes too.
                let to = match to {
                    SocketAddr::V4(v4) if *ipv6 => {
                        SocketAddr::new(v4.ip().to_ipv6_mapped().into(), v4.port())
                    }
                    to => to,
                };
                socket.send_to(buf, to).await
            }
            Self::Custom(s) => s.send_to(buf, to).await,
        }
    }

    /// The next datagram and its sender (an IPv4 sender to a dual-stack socket as IPv4,
    /// see [`canonical`]). Cancel-safe.
    pub(crate) async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr)> {
        let (len, from) = match self {
            Self::Host { socket, .. } => socket.recv_from(buf).await?,
            Self::Custom(s) => s.recv_from(buf).await?,
        };
        Ok((len, canonical(from)))
    }

    pub(crate) fn local_addr(&self) -> Result<SocketAddr> {
        match self {
            Self::Host { socket, .. } => socket.local_addr(),
            Self::Custom(s) => s.local_addr(),
        }
    }
}

/// `addr` with an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`, how a dual-stack socket shows
/// an IPv4 peer) turned into the IPv4 address it stands for, so that gating, bans, subnet
/// limits, the peer store and the addresses we tell others all see one address per peer.
pub(crate) fn canonical(addr: SocketAddr) -> SocketAddr {
    SocketAddr::new(addr.ip().to_canonical(), addr.port())
}
