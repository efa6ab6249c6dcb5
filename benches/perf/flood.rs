//! A UDP flood at a discovery-enabled server: a child process sends N signed Pings per
//! second, each one distinct (so each needs its signature recovered), from 1,000 keys and
//! 200 loopback addresses, while one RLPx peer pings the server every 2 ms. Figures: the
//! server process's CPU time the flood adds, per packet and as a share of a core, and the
//! RLPx Ping round trip p99 during the flood beside the same p99 without it.
//!
//! The child signs every packet before it starts sending, so the flood's cost to the
//! machine is the sending only; the measuring peer runs on its own thread with its own
//! runtime, as in `idle.rs`.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use peerwire::crypto::{Enode, NodeKey};
use peerwire::discovery::v4::{encode_packet, Endpoint, Message, Ping, PROTOCOL_VERSION};
use peerwire::protocol::Protocol;
use peerwire::server::{DiscoveryMode, Server, ServerHandle};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::UdpSocket;
use tokio::runtime::Runtime;

use crate::client::{self, capability};
use crate::common::{config, cpu_time, quantile};
use crate::table::{Row, Target};

/// Flood rates measured, Pings per second.
const RATES: [u64; 2] = [2_000, 10_000];
/// How long each flood (and the run without one) lasts.
const WINDOW: Duration = Duration::from_secs(3);
/// Keys the child signs with; each signs many Pings that differ in their `from` TCP port.
const KEYS: usize = 1000;
/// Loopback addresses the child sends from: 127.0.3.1 onwards.
const SOURCES: usize = 200;
/// How often the RLPx peer pings.
const PING_EVERY: Duration = Duration::from_millis(2);
/// How often the child sends a batch.
const TICK: Duration = Duration::from_millis(5);

/// Child process: `rate` distinct signed Pings per second to `to` for `millis` ms. Prints
/// `ready` once every packet is signed, then sends.
pub(crate) async fn pings(to: SocketAddr, rate: u64, millis: u64) {
    let total = (rate * millis / 1000) as usize;
    let keys: Vec<NodeKey> = (0..KEYS.min(total.max(1)))
        .map(|_| NodeKey::random())
        .collect();
    let mut sockets = Vec::new();
    for i in 0..SOURCES {
        let ip = IpAddr::V4(Ipv4Addr::new(127, 0, 3, 1 + i as u8));
        sockets.push(UdpSocket::bind(SocketAddr::new(ip, 0)).await.unwrap());
    }
    let unix = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let packets: Vec<(usize, Vec<u8>)> = (0..total)
        .map(|i| {
            let source = i % SOURCES;
            let from = sockets[source].local_addr().unwrap();
            let msg = Message::Ping(Ping {
                version: PROTOCOL_VERSION,
                from: Endpoint {
                    ip: from.ip(),
                    udp_port: from.port(),
                    // Makes every packet of one key distinct.
                    tcp_port: (i / keys.len()) as u16,
                },
                to: Endpoint {
                    ip: to.ip(),
                    udp_port: to.port(),
                    tcp_port: 0,
                },
                expiration: unix + 20,
                enr_seq: None,
            });
            let bytes = encode_packet(&keys[i % keys.len()], &msg).unwrap().bytes;
            (source, bytes)
        })
        .collect();
    println!("ready");
    let per_tick = (rate as f64 * TICK.as_secs_f64()).ceil() as usize;
    let mut tick = tokio::time::interval(TICK);
    for batch in packets.chunks(per_tick.max(1)) {
        tick.tick().await;
        for (source, bytes) in batch {
            let _ = sockets[*source].send_to(bytes, to).await;
        }
    }
}

/// One RLPx peer on its own thread: a Ping/Pong round trip every [`PING_EVERY`] for
/// `window` (paced, so that its own CPU time stays small and the same in every window).
fn ping_round_trips(server: Enode, window: Duration) -> Vec<Duration> {
    let source = IpAddr::V4(Ipv4Addr::new(127, 0, 0, 2));
    client::on_own_thread(server, source, move |mut stream| async move {
        let mut rtts = Vec::new();
        let started = Instant::now();
        let mut tick = tokio::time::interval(PING_EVERY);
        while started.elapsed() < window {
            tick.tick().await;
            rtts.push(client::ping_rtt(&mut stream).await);
        }
        rtts
    })
}

async fn server() -> ServerHandle {
    let idle = Protocol::new(capability(), 1, |peer, _rw| async move {
        peer.closed().await;
        Ok(())
    });
    let mut c = config(vec![idle], true, 16);
    c.dial.enabled = false;
    c.discovery.mode = DiscoveryMode::Always;
    Server::start(c).await.unwrap()
}

/// What one window measured.
struct Window {
    rtts: Vec<Duration>,
    cpu: Duration,
    /// Discovery packets received and signatures recovered meanwhile.
    packets_in: u64,
    signatures: u64,
}

/// Measures `window` with a flood of `rate` Pings/s (0: none).
async fn measure(rate: u64, window: Duration) -> Window {
    let server = server().await;
    let disc = server.discovery().expect("discovery runs").clone();
    let mut child = None;
    if rate > 0 {
        let mut c = tokio::process::Command::new(std::env::current_exe().unwrap())
            .arg("--flood-pings")
            .arg(disc.local_addr().to_string())
            .arg(rate.to_string())
            .arg(window.as_millis().to_string())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let mut lines = BufReader::new(c.stdout.take().unwrap()).lines();
        while let Some(line) = lines.next_line().await.unwrap() {
            if line == "ready" {
                break;
            }
        }
        child = Some(c);
    }
    let before = disc.stats().await.unwrap();
    let cpu_before = cpu_time();
    let enode = server.local_enode();
    let rtts = tokio::task::spawn_blocking(move || ping_round_trips(enode, window))
        .await
        .unwrap();
    let cpu = cpu_time().saturating_sub(cpu_before);
    let after = disc.stats().await.unwrap();
    if let Some(mut c) = child {
        c.wait().await.ok();
    }
    server.stop().await;
    Window {
        rtts,
        cpu,
        packets_in: after.packets_in - before.packets_in,
        signatures: after.dropped.signatures_checked - before.dropped.signatures_checked,
    }
}

/// CPU time of the sans-IO core per unique signed Ping from an unbonded sender (what the
/// flood costs discovery without the sockets), and of one signature recovery alone (the
/// baseline), in microseconds; over `n` packets.
fn core_cost(n: usize) -> (f64, f64) {
    use peerwire::discovery::enr::LocalRecord;
    use peerwire::discovery::v4::{decode_packet, Discv4, Discv4Config};
    let key = NodeKey::random();
    let at: SocketAddr = "127.0.0.1:30303".parse().unwrap();
    let endpoint = Endpoint {
        ip: at.ip(),
        udp_port: at.port(),
        tcp_port: 0,
    };
    let unix = 1_700_000_000;
    let t0 = Instant::now();
    let local = LocalRecord::new(key.clone(), endpoint).unwrap();
    let mut core = Discv4::new(key, local, Discv4Config::default(), t0, unix);
    let keys: Vec<NodeKey> = (0..KEYS.min(n)).map(|_| NodeKey::random()).collect();
    let packets: Vec<(SocketAddr, Vec<u8>)> = (0..n)
        .map(|i| {
            let from = SocketAddr::new(
                IpAddr::V4(Ipv4Addr::new(10, 3, (i / 250) as u8, 1 + (i % 250) as u8)),
                30303,
            );
            let msg = Message::Ping(Ping {
                version: PROTOCOL_VERSION,
                from: Endpoint {
                    ip: from.ip(),
                    udp_port: 30303,
                    tcp_port: (i / keys.len()) as u16,
                },
                to: endpoint,
                expiration: unix + 20,
                enr_seq: None,
            });
            (
                from,
                encode_packet(&keys[i % keys.len()], &msg).unwrap().bytes,
            )
        })
        .collect();
    let started = Instant::now();
    for (from, bytes) in &packets {
        core.handle_packet(t0, *from, bytes);
        while core.poll_transmit().is_some() {}
        while core.poll_event().is_some() {}
    }
    let per_packet = started.elapsed().as_secs_f64() * 1e6 / n as f64;
    let started = Instant::now();
    for (_, bytes) in &packets {
        std::hint::black_box(decode_packet(bytes, unix).unwrap());
    }
    let recovery = started.elapsed().as_secs_f64() * 1e6 / n as f64;
    (per_packet, recovery)
}

/// A short run, for `cargo test --benches`.
pub(crate) fn smoke(runtime: &Runtime) {
    let w = runtime.block_on(measure(500, Duration::from_millis(200)));
    assert!(!w.rtts.is_empty());
    let (per_packet, recovery) = core_cost(20);
    assert!(per_packet > 0.0 && recovery > 0.0);
}

pub(crate) fn rows(runtime: &Runtime) -> Vec<Row> {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    let (per_packet, recovery) = core_cost(20_000);
    let mut rows = vec![Row::new(
        "sans-IO core CPU per unique signed Ping from an unbonded sender",
        per_packet,
        "us",
    )
    .against(recovery, "one signature recovery")];
    let mut quiet = runtime.block_on(measure(0, WINDOW));
    let quiet_p99 = ms(quantile(&mut quiet.rtts, 0.99));
    let quiet_cpu = quiet.cpu.as_secs_f64();
    rows.push(Row::new(
        "RLPx Ping RTT p99, no discovery flood",
        quiet_p99,
        "ms",
    ));
    for rate in RATES {
        let mut w = runtime.block_on(measure(rate, WINDOW));
        let extra = (w.cpu.as_secs_f64() - quiet_cpu).max(0.0);
        eprintln!(
            "flood {rate}/s: {} discovery packets in, {} signatures recovered, CPU {:?} \
             (quiet {:?}), {} RLPx pings",
            w.packets_in,
            w.signatures,
            w.cpu,
            quiet.cpu,
            w.rtts.len()
        );
        rows.push(Row::new(
            format!("discovery CPU per flooding Ping, {rate} signed Pings/s"),
            extra * 1e6 / w.packets_in.max(1) as f64,
            "us",
        ));
        rows.push(Row::new(
            format!("discovery CPU share, {rate} signed Pings/s"),
            extra / WINDOW.as_secs_f64() * 100.0,
            "% core",
        ));
        rows.push(
            Row::new(
                format!("RLPx Ping RTT p99 during {rate} signed Pings/s"),
                ms(quantile(&mut w.rtts, 0.99)),
                "ms",
            )
            .against(quiet_p99, "p99 with no flood")
            .target(Target::AtMost(10.0)),
        );
    }
    rows
}
