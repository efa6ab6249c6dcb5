//! Handshakes over TCP: a listening `Server` accepting light peers from a child process that
//! keeps 32 handshakes in flight over loopback, beside the secp256k1 work the server's side
//! of a handshake cannot avoid, measured in the same run.
//!
//! A handshake here is the whole accept path: RLPx (auth, ack), Hello both ways, admission and
//! a started session; the server's protocol handler counts it. The client closes right after
//! the server's Hello, so the server also tears every session down again.
//!
//! The floor is the recipient's share of the secp256k1 work (see `benches/handshake.rs`):
//! 4 ECDH (ECIES decryption of the auth, the static-shared secret behind the signature, the
//! ephemeral agreement, ECIES encryption of the ack), 2 public-key derivations (the ack's
//! ECIES ephemeral key and our ephemeral key) and 1 signature recovery, timed just before on
//! both cores at once, per core. Cores in use is the server process's CPU time over the
//! window divided by the window, so the ratio is handshakes per CPU-second against floors per
//! CPU-second: it does not depend on how much of the 2-core machine the server got.

use std::hint::black_box;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use peerwire::crypto::{Enode, NodeKey};
use peerwire::protocol::Protocol;
use peerwire::server::Server;
use rand::rngs::OsRng;
use secp256k1::{ecdh, Message, SecretKey, SECP256K1};
use tokio::runtime::Runtime;

use crate::client::{self, capability};
use crate::common::{config, cpu_time};
use crate::table::{Row, Target};

/// Handshakes the client keeps in flight.
const IN_FLIGHT: usize = 32;
/// Keys per in-flight slot, used in turn, so a reconnecting key's last session has ended.
const KEYS_PER_SLOT: usize = 4;
const WARM_UP: Duration = Duration::from_secs(1);
const WINDOW: Duration = Duration::from_secs(6);

/// Child process: `IN_FLIGHT` loops of connect, handshake, Hello, close, until killed.
pub(crate) async fn clients(server: Enode) {
    // A saturated server sheds load by refusing some connections (too many handshakes in
    // progress): counted, and reported once a second rather than line by line.
    let failed = Arc::new(AtomicUsize::new(0));
    let mut tasks = tokio::task::JoinSet::new();
    let counter = failed.clone();
    tasks.spawn(async move {
        let mut reported = 0;
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            let now = counter.load(Ordering::Relaxed);
            if now > reported {
                eprintln!(
                    "handshake clients: {} failed in the last second",
                    now - reported
                );
                reported = now;
            }
        }
    });
    for slot in 0..IN_FLIGHT {
        let failed = failed.clone();
        let keys: Vec<NodeKey> = (0..KEYS_PER_SLOT)
            .map(|_| NodeKey::generate(&mut OsRng))
            .collect();
        tasks.spawn(async move {
            for round in 0.. {
                let source = client::source(slot + round, 8);
                let key = &keys[round % KEYS_PER_SLOT];
                if client::connect(&server, source, key).await.is_err() {
                    failed.fetch_add(1, Ordering::Relaxed);
                }
            }
        });
    }
    tasks.join_next().await;
}

/// Server-side secp256k1 floors per second on one core while the other core works too, as
/// both do during the measurement (the client process keeps one busy): on a VM whose two
/// vCPUs may share a physical core, one thread alone would run faster than either does then.
fn floor_rate(time: Duration) -> f64 {
    let threads = 2;
    let total: f64 = std::thread::scope(|s| {
        let workers: Vec<_> = (0..threads)
            .map(|_| s.spawn(|| floor_rate_on_this_thread(time)))
            .collect();
        workers.into_iter().map(|w| w.join().unwrap()).sum()
    });
    total / threads as f64
}

/// Server-side secp256k1 floors per second on this thread, timed for about `time`.
fn floor_rate_on_this_thread(time: Duration) -> f64 {
    let point = NodeKey::generate(&mut OsRng).id().public_key();
    let scalars: Vec<SecretKey> = (0..4).map(|_| SecretKey::new(&mut OsRng)).collect();
    let message = Message::from_digest([7; 32]);
    let signature = SECP256K1.sign_ecdsa_recoverable(&message, &scalars[0]);
    let started = Instant::now();
    let mut floors = 0u64;
    while started.elapsed() < time {
        for _ in 0..100 {
            for scalar in &scalars {
                black_box(ecdh::shared_secret_point(black_box(&point), scalar));
            }
            for scalar in &scalars[..2] {
                black_box(scalar.public_key(SECP256K1));
            }
            black_box(
                SECP256K1
                    .recover_ecdsa(black_box(&message), &signature)
                    .unwrap(),
            );
        }
        floors += 100;
    }
    floors as f64 / started.elapsed().as_secs_f64()
}

struct Figures {
    floor: f64,
    rate: f64,
    cores: f64,
}

async fn measure() -> Figures {
    let floor = floor_rate(Duration::from_secs(2));
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = accepted.clone();
    let protocol = Protocol::new(capability(), 1, move |peer, _rw| {
        counted.fetch_add(1, Ordering::Relaxed);
        async move {
            peer.closed().await;
            Ok(())
        }
    });
    let mut c = config(vec![protocol], true, 4 * IN_FLIGHT * KEYS_PER_SLOT);
    c.dial.enabled = false;
    c.gating.max_pending = 2 * IN_FLIGHT;
    c.gating.max_pending_per_ip = 2 * IN_FLIGHT;
    let server = Server::start(c).await.unwrap();
    let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
        .arg("--handshake-clients")
        .arg(server.local_enode().to_string())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    tokio::time::sleep(WARM_UP).await;
    let (count0, cpu0, t0) = (accepted.load(Ordering::Relaxed), cpu_time(), Instant::now());
    tokio::time::sleep(WINDOW).await;
    let (count1, cpu1, elapsed) = (accepted.load(Ordering::Relaxed), cpu_time(), t0.elapsed());
    child.kill().await.ok();
    server.stop().await;
    let handshakes = (count1 - count0) as f64;
    let cpu = (cpu1 - cpu0).as_secs_f64();
    Figures {
        floor,
        rate: handshakes / elapsed.as_secs_f64(),
        cores: cpu / elapsed.as_secs_f64(),
    }
}

pub(crate) fn rows(runtime: &Runtime) -> Vec<Row> {
    let f = runtime.block_on(measure());
    vec![Row::new(
        format!("TCP handshakes, {IN_FLIGHT} in flight (server, RLPx + Hello + session)"),
        f.rate,
        "/s",
    )
    .against(
        f.floor * f.cores,
        format!("server floor x {:.2} cores in use", f.cores),
    )
    .target(Target::RatioAtLeast(0.9))]
}
