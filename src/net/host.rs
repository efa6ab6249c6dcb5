//! The host network's TCP sockets for peer connections: the listener and outgoing
//! connections, with Nagle off, a bound on unsent bytes and, if configured, bounded kernel
//! buffers.
//!
//! Linux autotunes a busy connection's buffers up to several megabytes. Whatever sits in them
//! is ahead of every later frame, however urgent the writer deems it (a Pong, a request of
//! another protocol): at 400 MB/s, 5 MB is 13 ms. Two knobs bound it:
//! - `unsent_limit` (`TCP_NOTSENT_LOWAT`) keeps bytes the kernel has not sent yet in our
//!   own priority queues instead of its buffer, at no cost in window size;
//! - `socket_buffer` (`SO_SNDBUF`/`SO_RCVBUF`) also bounds bytes in flight and bytes the
//!   receiving side has not read yet, at the price of throughput on links whose
//!   bandwidth × delay exceeds it.

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, TcpSocket, TcpStream};

/// The options of the host network's peer connections (from the server's
/// `ConnectionConfig`); a custom network ignores them.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct SocketOptions {
    /// `SO_SNDBUF` and `SO_RCVBUF`, if bounded.
    pub(crate) buffer: Option<usize>,
    /// `TCP_NOTSENT_LOWAT`, if bounded.
    pub(crate) unsent_limit: Option<usize>,
}

/// Backlog of the listening socket: connections the kernel completes while the accept loop
/// is busy or out of pending slots. Above std's and mio's 128 so that a server holding
/// thousands of peers, restarted, is not sent into SYN retransmit backoff (1 s, 3 s, ...) by
/// all of them reconnecting at once; Linux caps it at `net.core.somaxconn` (4096 by default).
const BACKLOG: u32 = 1024;

fn socket_for(addr: SocketAddr, buffer: Option<usize>) -> io::Result<TcpSocket> {
    let socket = if addr.is_ipv4() {
        TcpSocket::new_v4()?
    } else {
        TcpSocket::new_v6()?
    };
    if let Some(size) = buffer {
        let size = u32::try_from(size).unwrap_or(u32::MAX);
        socket.set_send_buffer_size(size)?;
        socket.set_recv_buffer_size(size)?;
    }
    Ok(socket)
}

/// Listens on `addr`. Accepted connections inherit the buffer sizes, set before `listen` so
/// that the window the kernel offers in its SYN-ACK already fits the receive buffer.
pub(crate) fn listen(addr: SocketAddr, options: &SocketOptions) -> io::Result<TcpListener> {
    let socket = socket_for(addr, options.buffer)?;
    // As std's `TcpListener::bind` on Unix: a restarted node can listen again at once, while
    // the previous run's connections are in TIME_WAIT. Not on Windows, where the option
    // would let another socket bind the port we listen on.
    #[cfg(not(windows))]
    socket.set_reuseaddr(true)?;
    serve_both_families(&socket2::SockRef::from(&socket), addr)?;
    socket.bind(addr)?;
    socket.listen(BACKLOG)
}

/// Binds a UDP socket to `addr`; on `[::]` it serves IPv4 too, as [`listen`] does.
pub(crate) fn bind_udp(addr: SocketAddr) -> io::Result<tokio::net::UdpSocket> {
    udp_socket(addr, false)
}

/// A nonblocking UDP socket bound to `addr`: IPv6-only when `only_v6`, else as
/// [`serve_both_families`] has it.
fn udp_socket(addr: SocketAddr, only_v6: bool) -> io::Result<tokio::net::UdpSocket> {
    let domain = socket2::Domain::for_address(addr);
    let socket = socket2::Socket::new(domain, socket2::Type::DGRAM, Some(socket2::Protocol::UDP))?;
    if only_v6 {
        socket.set_only_v6(true)?;
    } else {
        serve_both_families(&socket2::SockRef::from(&socket), addr)?;
    }
    socket.set_nonblocking(true)?;
    socket.bind(&addr.into())?;
    tokio::net::UdpSocket::from_std(socket.into())
}

/// For `[::]:port`, two sockets on one port: IPv4 (`0.0.0.0`) and IPv6-only (`[::]`), for a
/// service that wants one socket per family (sigp's discv5 does); `None` for any other
/// address. With port 0 the IPv6 socket picks the port, and a few picks are tried if the
/// IPv4 one is taken.
pub(crate) fn bind_udp_per_family(
    addr: SocketAddr,
) -> io::Result<Option<(tokio::net::UdpSocket, tokio::net::UdpSocket)>> {
    let std::net::IpAddr::V6(ip) = addr.ip() else {
        return Ok(None);
    };
    if !ip.is_unspecified() {
        return Ok(None);
    }
    let tries = if addr.port() == 0 { 8 } else { 1 };
    let mut last = None;
    for _ in 0..tries {
        let v6 = udp_socket(addr, true)?;
        let port = v6.local_addr()?.port();
        match udp_socket((std::net::Ipv4Addr::UNSPECIFIED, port).into(), false) {
            Ok(v4) => return Ok(Some((v4, v6))),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::ErrorKind::AddrInUse.into()))
}

/// A socket bound to the IPv6 unspecified address `[::]` takes IPv4 traffic as well (as
/// IPv4-mapped addresses, which `net::io` turns back into IPv4 ones), whatever the host's
/// default (`net.ipv6.bindv6only` on Linux, always IPv6-only on Windows and OpenBSD): a node
/// told to listen on `[::]` is a dual-stack node. Any other address binds one family.
fn serve_both_families(socket: &socket2::SockRef<'_>, addr: SocketAddr) -> io::Result<()> {
    match addr.ip() {
        std::net::IpAddr::V6(ip) if ip.is_unspecified() => socket.set_only_v6(false),
        _ => Ok(()),
    }
}

/// Connects to `addr`, configured as [`configure`] does.
pub(crate) async fn connect(addr: SocketAddr, options: &SocketOptions) -> io::Result<TcpStream> {
    let io = socket_for(addr, options.buffer)?.connect(addr).await?;
    configure(&io, options);
    Ok(io)
}

/// The next connection on `listener`, configured as [`configure`] does.
pub(crate) async fn accept(
    listener: &TcpListener,
    options: &SocketOptions,
) -> io::Result<(TcpStream, SocketAddr)> {
    let (io, addr) = listener.accept().await?;
    configure(&io, options);
    Ok((io, addr))
}

/// Per-connection settings, for accepted connections too: Nagle off (frames are whole
/// writes already; Nagle would hold a Pong back behind an unacknowledged segment) and the
/// unsent-bytes bound.
fn configure(io: &TcpStream, options: &SocketOptions) {
    // Best effort: a connection that cannot take an option still works, only slower.
    let _ = io.set_nodelay(true);
    if let Some(limit) = options.unsent_limit {
        let _ = set_unsent_limit(io, limit);
    }
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn set_unsent_limit(io: &TcpStream, limit: usize) -> io::Result<()> {
    socket2::SockRef::from(io).set_tcp_notsent_lowat(u32::try_from(limit).unwrap_or(u32::MAX))
}

/// Elsewhere socket2 does not expose the option; the kernel's default buffering stays.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn set_unsent_limit(_io: &TcpStream, _limit: usize) -> io::Result<()> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(buffer: Option<usize>, unsent_limit: Option<usize>) -> SocketOptions {
        SocketOptions {
            buffer,
            unsent_limit,
        }
    }

    /// The receive and send buffer sizes the kernel reports for `io`.
    fn buffers(io: &TcpStream) -> (usize, usize) {
        let socket = socket2::SockRef::from(io);
        (
            socket.recv_buffer_size().unwrap(),
            socket.send_buffer_size().unwrap(),
        )
    }

    /// A dialed and an accepted connection, both configured by `config`.
    async fn pair(config: &SocketOptions) -> (TcpStream, TcpStream) {
        let listener = listen("127.0.0.1:0".parse().unwrap(), config).unwrap();
        let addr = listener.local_addr().unwrap();
        let (dialed, accepted) = tokio::join!(connect(addr, config), accept(&listener, config));
        (dialed.unwrap(), accepted.unwrap().0)
    }

    #[tokio::test]
    async fn a_buffer_bound_applies_to_dialed_and_accepted_connections() {
        let (default_dialed, _) = pair(&config(None, None)).await;
        let (default_recv, _) = buffers(&default_dialed);
        // Linux doubles the value asked for (bookkeeping overhead), so 16 KiB reads 32 KiB.
        let bound = 16 * 1024;
        let (dialed, accepted) = pair(&config(Some(bound), None)).await;
        for io in [&dialed, &accepted] {
            assert!(io.nodelay().unwrap());
            let (recv, send) = buffers(io);
            assert!(recv <= 2 * bound && send <= 2 * bound, "{recv} {send}");
            assert!(recv < default_recv, "{recv} vs default {default_recv}");
        }
    }

    #[cfg(any(target_os = "linux", target_os = "android"))]
    #[tokio::test]
    async fn the_unsent_limit_applies_to_dialed_and_accepted_connections() {
        let (dialed, accepted) = pair(&config(None, Some(48 * 1024))).await;
        for io in [&dialed, &accepted] {
            assert_eq!(
                socket2::SockRef::from(io).tcp_notsent_lowat().unwrap(),
                48 * 1024
            );
        }
        let (dialed, _) = pair(&config(None, None)).await;
        assert_ne!(
            socket2::SockRef::from(&dialed).tcp_notsent_lowat().unwrap(),
            48 * 1024
        );
    }

    #[tokio::test]
    async fn a_listener_can_bind_again_while_its_old_connections_linger() {
        let config = config(None, None);
        let (dialed, accepted) = pair(&config).await;
        let addr = accepted.local_addr().unwrap();
        // The accepting side closes first, so its port holds a connection in TIME_WAIT.
        drop(accepted);
        drop(dialed);
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        listen(addr, &config).unwrap();
    }
}
