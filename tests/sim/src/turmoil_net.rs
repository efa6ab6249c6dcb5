//! peerwire's [`Transport`] on turmoil's simulated TCP and UDP, with datagram loss.
//!
//! The servers run on turmoil unchanged (`tests/turmoil.rs`), but the scenarios run on
//! [`simnet`](crate::simnet): turmoil 0.7 steps every host every tick, and each host's step
//! walks every link of the simulation (`Topology::deliver_messages`), so a step costs
//! hosts × links, about n³/2. Profiled at 200 hosts (`perf record`), 85 % of the time was in
//! that walk and its map lookups, and a minute of simulated time had not passed after ten
//! minutes of wall time; simnet ran the same 200 nodes for five simulated minutes in 25 s.
//!
//! turmoil delivers every datagram (its own loss model breaks whole links, which also
//! kills TCP streams); the internet loses single datagrams. So each host's UDP socket drops
//! outgoing datagrams itself, at the rate [`Loss`] gives for the pair of hosts, drawn from
//! the host's own seeded generator: the same seed drops the same datagrams.

use std::io::Result;
use std::net::{IpAddr, SocketAddr};
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use peerwire::net::{BoxFuture, Datagrams, Listener, Stream, Transport};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use crate::topology::Loss;

/// One host's view of the simulated network.
#[derive(Clone)]
pub struct SimNetwork {
    ip: IpAddr,
    loss: Arc<dyn Loss>,
    rng: Arc<Mutex<StdRng>>,
}

impl std::fmt::Debug for SimNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimNetwork").field("ip", &self.ip).finish()
    }
}

impl SimNetwork {
    /// The network of the host at `ip`, losing datagrams as `loss` says, drawn from `seed`.
    pub fn new(ip: IpAddr, loss: Arc<dyn Loss>, seed: u64) -> Self {
        Self {
            ip,
            loss,
            rng: Arc::new(Mutex::new(StdRng::seed_from_u64(seed))),
        }
    }

    fn lost(&self, to: IpAddr) -> bool {
        let rate = self.loss.rate(self.ip, to);
        // Only the draw happens under the lock.
        rate > 0.0
            && self
                .rng
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .gen_bool(rate)
    }
}

impl Transport for SimNetwork {
    fn listen(&self, addr: SocketAddr) -> BoxFuture<'_, Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let listener = turmoil::net::TcpListener::bind(addr).await?;
            Ok(Box::new(SimListener(listener)) as Box<dyn Listener>)
        })
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, Result<Box<dyn Stream>>> {
        Box::pin(async move {
            let stream = turmoil::net::TcpStream::connect(addr).await?;
            Ok(Box::new(SimStream(stream)) as Box<dyn Stream>)
        })
    }

    fn bind_udp(&self, addr: SocketAddr) -> BoxFuture<'_, Result<Box<dyn Datagrams>>> {
        Box::pin(async move {
            let socket = turmoil::net::UdpSocket::bind(addr).await?;
            Ok(Box::new(SimSocket {
                socket,
                network: self.clone(),
            }) as Box<dyn Datagrams>)
        })
    }

    fn unix_time(&self) -> Duration {
        // The simulation's clock from its epoch (the builder's, 1970 here); outside a
        // simulation there is nothing to run on.
        turmoil::since_epoch().unwrap_or_default()
    }
}

struct SimListener(turmoil::net::TcpListener);

impl std::fmt::Debug for SimListener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SimListener")
            .field(&self.0.local_addr())
            .finish()
    }
}

impl Listener for SimListener {
    fn accept(&self) -> BoxFuture<'_, Result<(Box<dyn Stream>, SocketAddr)>> {
        Box::pin(async move {
            let (stream, addr) = self.0.accept().await?;
            Ok((Box::new(SimStream(stream)) as Box<dyn Stream>, addr))
        })
    }

    fn local_addr(&self) -> Result<SocketAddr> {
        self.0.local_addr()
    }
}

struct SimStream(turmoil::net::TcpStream);

impl std::fmt::Debug for SimStream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SimStream")
            .field(&self.0.peer_addr())
            .finish()
    }
}

impl Stream for SimStream {
    fn local_addr(&self) -> Result<SocketAddr> {
        self.0.local_addr()
    }
}

impl AsyncRead for SimStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for SimStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}

struct SimSocket {
    socket: turmoil::net::UdpSocket,
    network: SimNetwork,
}

impl std::fmt::Debug for SimSocket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("SimSocket")
            .field(&self.socket.local_addr())
            .finish()
    }
}

impl Datagrams for SimSocket {
    fn send_to<'a>(&'a self, buf: &'a [u8], to: SocketAddr) -> BoxFuture<'a, Result<usize>> {
        Box::pin(async move {
            if self.network.lost(to.ip()) {
                // Lost on the way: the sender cannot tell.
                return Ok(buf.len());
            }
            self.socket.send_to(buf, to).await
        })
    }

    fn recv_from<'a>(&'a self, buf: &'a mut [u8]) -> BoxFuture<'a, Result<(usize, SocketAddr)>> {
        Box::pin(self.socket.recv_from(buf))
    }

    fn local_addr(&self) -> Result<SocketAddr> {
        self.socket.local_addr()
    }
}
