//! The network the server and discovery run on: the host's TCP and UDP sockets through tokio
//! by default, or any other network that implements [`Transport`] — a deterministic
//! simulation (the `peerwire-sim` crate runs servers on `turmoil`), an in-memory network in
//! tests.
//!
//! ```text
//! Network ──┬─ host (default): tokio::net, socket options in host.rs; no boxing, no dyn
//!           └─ custom: Arc<dyn Transport> ── Listener, Stream, Datagrams (boxed)
//! ```
//!
//! The server only needs six operations: listen, accept, connect, bind a UDP socket, send
//! and receive datagrams (and the local address of each), plus the wall clock discovery
//! stamps its packets with. The host network is matched first in every call, so it costs
//! a branch, not a virtual call or an allocation; a custom one pays a boxed future per
//! accept, connect and datagram.

mod host;
mod io;

use std::fmt;
use std::future::Future;
use std::io::Result;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::io::{AsyncRead, AsyncWrite};

pub(crate) use self::host::SocketOptions;
pub(crate) use self::io::{Connection, TcpListener, UdpSocket};
/// The address one remote host counts as in peerwire's per-host limits (discovery's
/// per-address budgets and bonds), for applications that limit hosts the same way.
pub use crate::util::ip::host as host_key;

/// A boxed future, as [`Transport`]'s methods return.
pub type BoxFuture<'a, T> = Pin<Box<dyn Future<Output = T> + Send + 'a>>;

/// A network other than the host's: what a simulation or an in-memory test network
/// implements. Every method is called from inside the tokio runtime the server runs on.
pub trait Transport: Send + Sync + fmt::Debug + 'static {
    /// Binds a TCP listener on `addr` (port 0: any free port).
    fn listen(&self, addr: SocketAddr) -> BoxFuture<'_, Result<Box<dyn Listener>>>;
    /// Opens a TCP connection to `addr`. The server bounds it with its dial timeout.
    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, Result<Box<dyn Stream>>>;
    /// Binds a UDP socket on `addr` (port 0: any free port).
    fn bind_udp(&self, addr: SocketAddr) -> BoxFuture<'_, Result<Box<dyn Datagrams>>>;
    /// Time since the Unix epoch on this network's clock: discovery's packet expirations.
    /// The host's wall clock unless the network keeps its own (a simulation's).
    fn unix_time(&self) -> Duration {
        host_unix_time()
    }
}

/// A bound TCP listener of a [`Transport`].
pub trait Listener: Send + Sync + fmt::Debug {
    /// The next connection and its remote address. Must be cancel-safe: the accept loop
    /// drops the future when the server stops.
    fn accept(&self) -> BoxFuture<'_, Result<(Box<dyn Stream>, SocketAddr)>>;
    /// The bound address.
    fn local_addr(&self) -> Result<SocketAddr>;
}

/// A TCP connection of a [`Transport`].
pub trait Stream: AsyncRead + AsyncWrite + Send + Unpin + fmt::Debug {
    /// Our end's address.
    fn local_addr(&self) -> Result<SocketAddr>;
}

/// A bound UDP socket of a [`Transport`].
pub trait Datagrams: Send + Sync + fmt::Debug {
    /// Sends one datagram of `buf` to `to`.
    fn send_to<'a>(&'a self, buf: &'a [u8], to: SocketAddr) -> BoxFuture<'a, Result<usize>>;
    /// Receives one datagram into `buf`: its length and sender. Must be cancel-safe: the
    /// discovery loop drops the future whenever a timer or a command comes first.
    fn recv_from<'a>(&'a self, buf: &'a mut [u8]) -> BoxFuture<'a, Result<(usize, SocketAddr)>>;
    /// The bound address.
    fn local_addr(&self) -> Result<SocketAddr>;
}

/// Which network a server or discovery service uses; cheap to clone. Default: the host's.
#[derive(Clone, Default)]
pub struct Network {
    custom: Option<Arc<dyn Transport>>,
}

impl fmt::Debug for Network {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.custom {
            None => f.write_str("Network::host"),
            Some(t) => f.debug_tuple("Network::custom").field(t).finish(),
        }
    }
}

impl Network {
    /// The host's sockets, through tokio.
    pub fn host() -> Self {
        Self::default()
    }

    /// Another network.
    pub fn custom(transport: impl Transport) -> Self {
        Self {
            custom: Some(Arc::new(transport)),
        }
    }

    /// Whether this is the host's network.
    pub fn is_host(&self) -> bool {
        self.custom.is_none()
    }

    /// Time since the Unix epoch on this network's clock.
    pub fn unix_time(&self) -> Duration {
        match &self.custom {
            None => host_unix_time(),
            Some(t) => t.unix_time(),
        }
    }

    pub(crate) async fn listen(
        &self,
        addr: SocketAddr,
        options: SocketOptions,
    ) -> Result<TcpListener> {
        match &self.custom {
            None => host::listen(addr, &options).map(TcpListener::Host),
            Some(t) => t.listen(addr).await.map(TcpListener::Custom),
        }
    }

    pub(crate) async fn connect(
        &self,
        addr: SocketAddr,
        options: SocketOptions,
    ) -> Result<Connection> {
        match &self.custom {
            None => host::connect(addr, &options).await.map(Connection::Host),
            Some(t) => t.connect(addr).await.map(Connection::Custom),
        }
    }

    pub(crate) async fn bind_udp(&self, addr: SocketAddr) -> Result<UdpSocket> {
        match &self.custom {
            None => host::bind_udp(addr).and_then(UdpSocket::host),
            Some(t) => t.bind_udp(addr).await.map(UdpSocket::Custom),
        }
    }
}

/// A UDP socket on the host network bound to `addr` (on `[::]`, serving IPv4 too), for a
/// component that runs only there (discv5, on sigp's crate, reads its socket itself).
pub(crate) fn bind_host_udp(addr: SocketAddr) -> Result<tokio::net::UdpSocket> {
    host::bind_udp(addr)
}

/// For `[::]:port`, an IPv4 and an IPv6-only socket on one port (see
/// `host::bind_udp_per_family`); `None` for any other address.
pub(crate) fn bind_host_udp_per_family(
    addr: SocketAddr,
) -> Result<Option<(tokio::net::UdpSocket, tokio::net::UdpSocket)>> {
    host::bind_udp_per_family(addr)
}

fn host_unix_time() -> Duration {
    // A clock before 1970 reads as the epoch: packets then expire at once, nothing worse.
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default()
}
