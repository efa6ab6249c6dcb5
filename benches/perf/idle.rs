//! Idle peers: the server's RSS growth per peer while child processes hold 1,000 and then
//! 10,000 connections, and the Ping round trip of one active peer while the 10,000 are
//! connected.
//!
//! The children are light peers (`client.rs`: handshake, Hello, answering Ping) on one
//! thread each, connecting from 127.0.0.2-9 so no source address holds more than 1/8 of the
//! connections. The server runs on this process's runtime; the active peer runs on its own
//! thread with its own runtime, so its latency includes the server's scheduling only.

use std::time::{Duration, Instant};

use peerwire::crypto::{Enode, NodeKey};
use peerwire::protocol::Protocol;
use peerwire::server::{Server, ServerHandle};
use tokio::process::Child;
use tokio::runtime::Runtime;
use tokio::sync::Semaphore;

use crate::client::{self, capability};
use crate::common::{config, quantile, raise_fd_limit, rss};
use crate::heap;
use crate::table::{Row, Target};

/// The first measurement, and the peer count of the memory target.
const FIRST: usize = 1000;
/// All idle peers held at once.
const ALL: usize = 10_000;
/// Loopback source addresses the children connect from.
const SOURCES: usize = 8;
/// Handshakes a child keeps in flight while it connects.
const CONNECTING: usize = 64;
/// Ping round trips the active peer measures.
const PINGS: usize = 2000;

/// Child process: `count` light peers connecting to `server`, then idle until killed.
pub(crate) async fn clients(server: Enode, count: usize) {
    raise_fd_limit();
    let setup = std::sync::Arc::new(Semaphore::new(CONNECTING));
    for i in 0..count {
        let permit = setup.clone().acquire_owned().await.unwrap();
        tokio::spawn(async move {
            let key = NodeKey::random();
            // A connection refused under load is tried again, as a real peer would.
            for attempt in 1..=3 {
                match client::connect(&server, client::source(i, SOURCES), &key).await {
                    Ok(peer) => {
                        drop(permit);
                        return peer.idle().await;
                    }
                    Err(e) => eprintln!("idle peer {i}, attempt {attempt}: {e}"),
                }
            }
        });
    }
    std::future::pending::<()>().await;
}

fn spawn_clients(server: &ServerHandle, count: usize) -> Child {
    tokio::process::Command::new(std::env::current_exe().unwrap())
        .arg("--idle-clients")
        .arg(server.local_enode().to_string())
        .arg(count.to_string())
        .kill_on_drop(true)
        .spawn()
        .unwrap()
}

async fn wait_for_peers(server: &ServerHandle, count: usize) {
    let started = Instant::now();
    while server.peer_count() < count {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "{} of {count} peers connected",
            server.peer_count()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let the last sessions' start-up settle before measuring the idle state.
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// One active peer on its own thread: `PINGS` Ping/Pong round trips, back to back.
fn ping_round_trips(server: Enode) -> Vec<Duration> {
    let source = client::source(SOURCES, SOURCES + 1);
    client::on_own_thread(server, source, |mut stream| async move {
        let mut rtts = Vec::with_capacity(PINGS);
        for _ in 0..PINGS {
            rtts.push(client::ping_rtt(&mut stream).await);
        }
        rtts
    })
}

struct Figures {
    per_peer_first: f64,
    per_peer_all: f64,
    /// Live heap bytes per peer, the rest of RSS being allocator slack and stacks.
    heap_first: f64,
    heap_all: f64,
    held: usize,
    p50: Duration,
    p99: Duration,
}

async fn measure() -> Figures {
    raise_fd_limit();
    let idle = Protocol::new(capability(), 1, |peer, _rw| async move {
        peer.closed().await;
        Ok(())
    });
    let mut c = config(vec![idle], true, ALL + 100);
    c.dial.enabled = false;
    c.gating.max_pending = 2 * CONNECTING;
    c.gating.max_pending_per_ip = 2 * CONNECTING;
    let server = Server::start(c).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let (before, heap_before) = (rss(), heap::snapshot());

    let mut first = spawn_clients(&server, FIRST);
    wait_for_peers(&server, FIRST).await;
    let (at_first, heap_first) = (rss(), heap::snapshot());
    eprintln!(
        "idle: live heap allocations per peer at {FIRST} by size class:{}",
        heap_first.growth_since(&heap_before, FIRST)
    );
    let mut rest = spawn_clients(&server, ALL - FIRST);
    wait_for_peers(&server, ALL).await;
    let (at_all, heap_all) = (rss(), heap::snapshot());
    let held = server.peer_count();

    let enode = server.local_enode();
    let mut rtts = tokio::task::spawn_blocking(move || ping_round_trips(enode))
        .await
        .unwrap();
    first.kill().await.ok();
    rest.kill().await.ok();
    server.stop().await;
    Figures {
        per_peer_first: at_first.saturating_sub(before) as f64 / FIRST as f64,
        per_peer_all: at_all.saturating_sub(before) as f64 / ALL as f64,
        heap_first: (heap_first.bytes - heap_before.bytes) as f64 / FIRST as f64,
        heap_all: (heap_all.bytes - heap_before.bytes) as f64 / ALL as f64,
        held,
        p50: quantile(&mut rtts, 0.5),
        p99: quantile(&mut rtts, 0.99),
    }
}

pub(crate) fn rows(runtime: &Runtime) -> Vec<Row> {
    let f = runtime.block_on(measure());
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    vec![
        Row::new(
            format!("RSS per idle peer, {FIRST} peers"),
            f.per_peer_first / 1024.0,
            "KiB",
        )
        .target(Target::AtMost(24.0)),
        Row::new(
            format!("RSS per idle peer, {ALL} peers"),
            f.per_peer_all / 1024.0,
            "KiB",
        )
        .target(Target::AtMost(24.0)),
        Row::new(
            format!("live heap per idle peer, {FIRST} peers"),
            f.heap_first / 1024.0,
            "KiB",
        ),
        Row::new(
            format!("live heap per idle peer, {ALL} peers"),
            f.heap_all / 1024.0,
            "KiB",
        ),
        Row::new("idle peers held on one server", f.held as f64, "peers")
            .target(Target::AtLeast(ALL as f64)),
        Row::new(format!("Ping RTT p50, {ALL} idle peers"), ms(f.p50), "ms"),
        Row::new(format!("Ping RTT p99, {ALL} idle peers"), ms(f.p99), "ms")
            .target(Target::AtMost(10.0)),
    ]
}
