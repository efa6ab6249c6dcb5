//! One connection's throughput: 64 KiB messages against one core's keccak-256, and the
//! rate of 100-byte messages.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use peerwire::protocol::{MsgReadWriter, Protocol};
use peerwire::server::Server;
use peerwire::wire::Capability;
use sha3::{Digest, Keccak256};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use crate::common::config;
use crate::table::{Row, Target};

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
    let receiver = Server::start(config(vec![counting_sink(counts.clone())], true, 2))
        .await
        .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sender = Server::start(config(vec![handing_out(tx)], false, 2))
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

/// Random (incompressible) payloads, RLP-encoded as a byte string beforehand: snappy
/// cannot shrink them, so every byte counted also crossed the wire.
fn noise(len: usize) -> Bytes {
    use rand::{RngCore, SeedableRng};
    let mut raw = vec![0u8; len];
    rand::rngs::StdRng::seed_from_u64(len as u64).fill_bytes(&mut raw);
    Bytes::from(rlp::encode(&raw).to_vec())
}

/// A short run, for `cargo test --benches`.
pub fn smoke(runtime: &Runtime) {
    let (bps, _) = runtime.block_on(transfer(Bytes::from(vec![1u8; 1024]), 100));
    assert!(bps > 0.0);
}

pub fn rows(runtime: &Runtime) -> Vec<Row> {
    let keccak = keccak_throughput();
    let (big_bps, _) = runtime.block_on(transfer(noise(64 * 1024 - 4), 20_000));
    let (_, small_rate) = runtime.block_on(transfer(noise(97), 1_000_000));
    vec![
        Row::new(
            "64 KiB random messages, one connection",
            big_bps / 1e6,
            "MB/s",
        )
        .against(keccak / 1e6, "keccak-256, one core")
        .target(Target::RatioAtLeast(0.9)),
        Row::new("100-byte messages, one connection", small_rate, "msgs/s")
            .target(Target::AtLeast(600_000.0)),
    ]
}
