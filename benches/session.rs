//! End-to-end figures for issue 3: two servers over loopback with one protocol.
//!
//! 1. Throughput of 64 KiB messages (MB/s) beside one core's raw keccak-256 throughput
//!    measured in the same run. Target: >= 0.7x.
//! 2. Rate of 100-byte messages. Target: >= 150,000 msgs/s.
//! 3. RSS per connected idle peer with 500 peers on one server (the peers live in a child
//!    process, so only the server's side is counted). Target: <= 64 KiB.
//!
//! Run: `cargo bench --bench session`. This is a bench binary, not criterion: each figure is
//! one long end-to-end run, printed with its baseline and target.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use peerwire::crypto::{Enode, NodeKey};
use peerwire::protocol::{MsgReadWriter, Protocol};
use peerwire::server::{Server, ServerConfig, ServerHandle};
use peerwire::wire::Capability;
use sha3::{Digest, Keccak256};
use tokio::sync::mpsc;

const PEERS: usize = 500;

fn config(protocols: Vec<Protocol>, listen: bool) -> ServerConfig {
    let mut c = ServerConfig::new(NodeKey::generate(&mut rand::rngs::OsRng));
    c.listen_addr = listen.then(|| "127.0.0.1:0".parse().unwrap());
    c.protocols = protocols;
    c.max_peers = 2 * PEERS;
    c
}

/// Counts what arrives: (messages, payload bytes).
fn counting_sink(counts: Arc<(AtomicU64, AtomicU64)>) -> Protocol {
    Protocol::new(Capability::new("bench", 1), 1, move |_peer, mut rw| {
        let counts = counts.clone();
        async move {
            loop {
                let msg = rw.read_msg().await?;
                counts.0.fetch_add(1, Ordering::Relaxed);
                counts
                    .1
                    .fetch_add(msg.payload.len() as u64, Ordering::Relaxed);
            }
        }
    })
    .with_queue_capacity(1024, 1024)
}

fn handing_out(tx: mpsc::UnboundedSender<MsgReadWriter>) -> Protocol {
    Protocol::new(Capability::new("bench", 1), 1, move |peer, rw| {
        let tx = tx.clone();
        async move {
            tx.send(rw).ok();
            peer.closed().await;
            Ok(())
        }
    })
    .with_queue_capacity(1024, 1024)
}

/// Sends `count` copies of `payload` and returns the receiver's throughput (bytes/s, msgs/s).
async fn transfer(payload: Bytes, count: u64) -> (f64, f64) {
    let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let receiver = Server::start(config(vec![counting_sink(counts.clone())], true))
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sender = Server::start(config(vec![handing_out(tx)], false))
        .await
        .unwrap();
    sender.add_peer(receiver.local_enode());
    let rw = rx.recv().await.unwrap();
    let started = Instant::now();
    let send = tokio::spawn(async move {
        for _ in 0..count {
            rw.send_raw(0, payload.clone()).await.unwrap();
        }
        rw
    });
    while counts.0.load(Ordering::Relaxed) < count {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let elapsed = started.elapsed().as_secs_f64();
    drop(send.await.unwrap());
    sender.stop().await;
    receiver.stop().await;
    let bytes = counts.1.load(Ordering::Relaxed) as f64;
    (bytes / elapsed, count as f64 / elapsed)
}

/// One core's keccak-256 throughput over 64 KiB blocks, bytes/s.
fn keccak_throughput() -> f64 {
    let block = vec![0x5a_u8; 64 * 1024];
    let started = Instant::now();
    let mut hashed = 0u64;
    while started.elapsed() < Duration::from_secs(2) {
        std::hint::black_box(Keccak256::digest(std::hint::black_box(&block)));
        hashed += block.len() as u64;
    }
    hashed as f64 / started.elapsed().as_secs_f64()
}

/// Resident set size of this process, bytes.
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// Child process: `PEERS` client nodes, each dialing the server, idle until killed.
async fn clients(enode: Enode) {
    let mut handles: Vec<ServerHandle> = Vec::new();
    for _ in 0..PEERS {
        let idle = Protocol::new(Capability::new("bench", 1), 1, |peer, _rw| async move {
            peer.closed().await;
            Ok(())
        });
        let server = Server::start(config(vec![idle], false)).await.unwrap();
        server.add_peer(enode);
        handles.push(server);
    }
    std::future::pending::<()>().await;
}

async fn idle_peer_rss() -> f64 {
    let idle = Protocol::new(Capability::new("bench", 1), 1, |peer, _rw| async move {
        peer.closed().await;
        Ok(())
    });
    let server = Server::start(config(vec![idle], true)).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss();
    let exe = std::env::current_exe().unwrap();
    let mut child = tokio::process::Command::new(exe)
        .arg("--clients")
        .arg(server.local_enode().to_string())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while server.peer_count() < PEERS {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "peers did not connect"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let start-up buffers settle, then measure the idle state.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss();
    child.kill().await.ok();
    server.stop().await;
    (after.saturating_sub(before)) as f64 / PEERS as f64
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Some(i) = args.iter().position(|a| a == "--clients") {
        let enode: Enode = args[i + 1].parse().unwrap();
        runtime.block_on(clients(enode));
        return;
    }
    if args.iter().any(|a| a == "--test") {
        // `cargo test --benches` runs bench binaries with --test: keep that quick.
        let (bps, _) = runtime.block_on(transfer(Bytes::from(vec![1u8; 1024]), 100));
        assert!(bps > 0.0);
        return;
    }

    // First, while the allocator holds nothing from the transfers below.
    let per_peer = runtime.block_on(idle_peer_rss());
    let keccak = keccak_throughput();
    // Random (incompressible) payloads, RLP-encoded as a byte string beforehand: snappy
    // cannot shrink them, so every byte counted also crossed the wire.
    let noise = |len: usize| -> Bytes {
        use rand::{RngCore, SeedableRng};
        let mut raw = vec![0u8; len];
        rand::rngs::StdRng::seed_from_u64(len as u64).fill_bytes(&mut raw);
        Bytes::from(rlp::encode(&raw).to_vec())
    };
    let (big_bps, _) = runtime.block_on(transfer(noise(64 * 1024 - 4), 20_000));
    let (_, small_rate) = runtime.block_on(transfer(noise(97), 1_000_000));

    println!("raw keccak-256, one core:      {:>10.1} MB/s", keccak / 1e6);
    let ratio = big_bps / keccak;
    println!(
        "64 KiB messages:               {:>10.1} MB/s  ratio {ratio:.3} (target >= 0.7) {}",
        big_bps / 1e6,
        verdict(ratio >= 0.7)
    );
    println!(
        "100-byte messages:             {:>10.0} msgs/s (target >= 150000) {}",
        small_rate,
        verdict(small_rate >= 150_000.0)
    );
    println!(
        "RSS per idle peer ({PEERS} peers): {:>10.1} KiB (target <= 64) {}",
        per_peer / 1024.0,
        verdict(per_peer <= 64.0 * 1024.0)
    );
}

fn verdict(met: bool) -> &'static str {
    if met {
        "MET"
    } else {
        "MISSED"
    }
}
