//! The simulated network's promises, on the paused clock.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use peerwire::net::{Stream, Transport};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::Instant;

use super::{HostNet, SimNet};
use crate::harness::simulate;
use crate::topology::Topology;

fn net(loss: f64) -> SimNet {
    SimNet::new(Arc::new(Topology::internet(2, loss)), 1)
}

fn ip(region: usize, index: usize) -> IpAddr {
    Topology::address(region, index)
}

/// A connection from `a` to `b`'s listener on port 30303, accepted: a's end, b's end and
/// the address b saw it come from.
async fn connected(
    a: &HostNet,
    b: &HostNet,
    b_ip: IpAddr,
) -> (Box<dyn Stream>, Box<dyn Stream>, SocketAddr) {
    let to = SocketAddr::new(b_ip, 30303);
    let listener = b.listen(to).await.unwrap();
    let (client, (server, from)) = tokio::join!(async { a.connect(to).await.unwrap() }, async {
        listener.accept().await.unwrap()
    });
    (client, server, from)
}

#[test]
fn tcp_bytes_arrive_in_order_one_latency_later() {
    simulate(async {
        let net = net(0.0);
        let (a, b) = (net.host(ip(0, 1)), net.host(ip(1, 2)));
        let latency = net.latency(ip(0, 1), ip(1, 2));
        let start = Instant::now();
        let (mut client, mut server, from) = connected(&a, &b, ip(1, 2)).await;
        assert_eq!(start.elapsed(), 2 * latency, "connect takes a round trip");
        assert_eq!(from.ip(), ip(0, 1));
        client.write_all(b"one ").await.unwrap();
        client.write_all(b"two").await.unwrap();
        client.shutdown().await.unwrap();
        let sent = Instant::now();
        let mut got = Vec::new();
        server.read_to_end(&mut got).await.unwrap();
        assert_eq!(got, b"one two");
        assert_eq!(
            sent.elapsed(),
            latency,
            "bytes and FIN arrive one latency later"
        );
    });
}

#[test]
fn a_port_without_listener_refuses_after_a_round_trip() {
    simulate(async {
        let net = net(0.0);
        let (a, _b) = (net.host(ip(0, 1)), net.host(ip(0, 2)));
        let start = Instant::now();
        let err = a.connect(SocketAddr::new(ip(0, 2), 1)).await.unwrap_err();
        assert_eq!(err.kind(), std::io::ErrorKind::ConnectionRefused);
        assert_eq!(start.elapsed(), 2 * net.latency(ip(0, 1), ip(0, 2)));
    });
}

#[test]
fn a_cut_link_holds_bytes_until_repaired_and_drops_connects() {
    simulate(async {
        let net = net(0.0);
        let (a, b) = (net.host(ip(0, 1)), net.host(ip(0, 2)));
        let (mut client, mut server, _) = connected(&a, &b, ip(0, 2)).await;
        net.cut(ip(0, 1), ip(0, 2));
        client.write_all(b"held").await.unwrap();
        let mut buf = [0u8; 4];
        let early =
            tokio::time::timeout(Duration::from_secs(60), server.read_exact(&mut buf)).await;
        assert!(early.is_err(), "bytes crossed a cut link");
        let connect = tokio::time::timeout(
            Duration::from_secs(60),
            a.connect(SocketAddr::new(ip(0, 2), 30303)),
        )
        .await;
        assert!(connect.is_err(), "a connect crossed a cut link");
        net.repair(ip(0, 1), ip(0, 2));
        server.read_exact(&mut buf).await.unwrap();
        assert_eq!(&buf, b"held");
    });
}

#[test]
fn a_crashed_host_goes_silent() {
    simulate(async {
        let net = net(0.0);
        let (a, b) = (net.host(ip(0, 1)), net.host(ip(0, 2)));
        let (mut client, accepted, _) = connected(&a, &b, ip(0, 2)).await;
        net.crash(ip(0, 2));
        // Its end is dropped as its software dies: no FIN, no reset reaches the peer.
        drop(accepted);
        let mut buf = [0u8; 1];
        let read = tokio::time::timeout(Duration::from_secs(60), client.read(&mut buf)).await;
        assert!(read.is_err(), "a crashed host's connection ended: {read:?}");
        client.write_all(b"into the void").await.unwrap();
    });
}

#[test]
fn datagrams_arrive_after_their_latency_and_are_lost_at_the_set_rate() {
    simulate(async {
        let net = net(0.1);
        let (a, b) = (net.host(ip(0, 1)), net.host(ip(1, 2)));
        let to = SocketAddr::new(ip(1, 2), 30303);
        let (sa, sb) = (
            a.bind_udp(SocketAddr::new(ip(0, 1), 30303)).await.unwrap(),
            b.bind_udp(to).await.unwrap(),
        );
        let start = Instant::now();
        for i in 0..1000u32 {
            sa.send_to(&i.to_be_bytes(), to).await.unwrap();
        }
        let mut received = 0;
        let mut buf = [0u8; 16];
        while let Ok(Ok((n, from))) =
            tokio::time::timeout(Duration::from_secs(1), sb.recv_from(&mut buf)).await
        {
            assert_eq!((n, from.ip()), (4, ip(0, 1)));
            if received == 0 {
                assert_eq!(start.elapsed(), net.latency(ip(0, 1), ip(1, 2)));
            }
            received += 1;
        }
        assert!(
            (850..=950).contains(&received),
            "{received} of 1000 arrived at 10 % loss"
        );
    });
}

#[test]
fn the_clock_is_the_simulations() {
    simulate(async {
        let net = net(0.0);
        let host = net.host(ip(0, 1));
        let before = host.unix_time();
        tokio::time::sleep(Duration::from_secs(3600)).await;
        assert_eq!(host.unix_time() - before, Duration::from_secs(3600));
    });
}
