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
    /// The next connection, configured by `options` on the host network. Cancel-safe.
    pub(crate) async fn accept(&self, options: SocketOptions) -> Result<(Connection, SocketAddr)> {
        match self {
            Self::Host(l) => host::accept(l, &options)
                .await
                .map(|(s, a)| (Connection::Host(s), a)),
            Self::Custom(l) => l.accept().await.map(|(s, a)| (Connection::Custom(s), a)),
        }
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
    Host(tokio::net::UdpSocket),
    Custom(Box<dyn Datagrams>),
}

impl UdpSocket {
    pub(crate) async fn send_to(&self, buf: &[u8], to: SocketAddr) -> Result<usize> {
        match self {
            Self::Host(s) => s.send_to(buf, to).await,
            Self::Custom(s) => s.send_to(buf, to).await,
        }
    }

    /// Cancel-safe.
    pub(crate) async fn recv_from(&self, buf: &mut [u8]) -> Result<(usize, SocketAddr)> {
        match self {
            Self::Host(s) => s.recv_from(buf).await,
            Self::Custom(s) => s.recv_from(buf).await,
        }
    }

    pub(crate) fn local_addr(&self) -> Result<SocketAddr> {
        match self {
            Self::Host(s) => s.local_addr(),
            Self::Custom(s) => s.local_addr(),
        }
    }
}
