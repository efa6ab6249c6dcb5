//! One connection's throughput: 64 KiB messages, random and compressible, against one core's
//! keccak-256 (the implementation the frame MAC uses in this build), and the rate of 100-byte
//! messages.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use peerwire::protocol::{MsgReadWriter, Protocol};
use peerwire::server::Server;
use peerwire::wire::{Capability, PayloadCodec};
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use crate::common::{config, cpu_time, random_bytes};
use crate::table::{Row, Target};

/// Counts what arrives for capability `name`: (messages, payload bytes).
pub(crate) fn counting_sink(name: &'static str, counts: Arc<(AtomicU64, AtomicU64)>) -> Protocol {
    Protocol::new(Capability::new(name, 1), 1, move |_peer, mut rw| {
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

/// Hands the `MsgReadWriter` of capability `name` out to the bench, for as long as the peer
/// stays connected.
pub(crate) fn handing_out(
    name: &'static str,
    tx: mpsc::UnboundedSender<MsgReadWriter>,
) -> Protocol {
    Protocol::new(Capability::new(name, 1), 1, move |peer, rw| {
        let tx = tx.clone();
        async move {
            tx.send(rw).ok();
            peer.closed().await;
            Ok(())
        }
    })
    .with_queue_capacity(1024, 1024)
}

/// What a transfer measured.
struct Transfer {
    /// Payload bytes received per second.
    bytes_per_s: f64,
    msgs_per_s: f64,
    /// Payload bytes received.
    bytes: f64,
    /// CPU seconds the process (both ends) spent meanwhile.
    cpu: f64,
}

/// Sends `count` copies of `payload` and returns what the receiver saw.
async fn transfer(payload: Bytes, count: u64) -> Transfer {
    let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let receiver = Server::start(config(
        vec![counting_sink("bench", counts.clone())],
        true,
        2,
    ))
    .await
    .unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let sender = Server::start(config(vec![handing_out("bench", tx)], false, 2))
        .await
        .unwrap();
    sender.add_peer(receiver.local_enode());
    let rw = rx.recv().await.unwrap();
    let started = Instant::now();
    let cpu_before = cpu_time().as_secs_f64();
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
    let cpu = cpu_time().as_secs_f64() - cpu_before;
    drop(send.await.unwrap());
    sender.stop().await;
    receiver.stop().await;
    let bytes = counts.1.load(Ordering::Relaxed) as f64;
    Transfer {
        bytes_per_s: bytes / elapsed,
        msgs_per_s: count as f64 / elapsed,
        bytes,
        cpu,
    }
}

/// The keccak-256 the frame MAC uses in this build, and its name.
#[cfg(not(feature = "asm-keccak"))]
mod keccak {
    pub(super) const NAME: &str = "keccak-256 (sha3, pure Rust)";
    pub(super) fn digest(data: &[u8]) -> [u8; 32] {
        use sha3::Digest;
        sha3::Keccak256::digest(data).into()
    }
}

/// The keccak-256 the frame MAC uses in this build, and its name.
#[cfg(feature = "asm-keccak")]
mod keccak {
    pub(super) const NAME: &str = "keccak-256 (keccak-asm)";
    pub(super) fn digest(data: &[u8]) -> [u8; 32] {
        keccak_asm::Keccak256::digest(data).into()
    }
}

/// One core's keccak-256 throughput over 64 KiB blocks for `time`: bytes per second, and
/// bytes per CPU second.
fn keccak_throughput(time: Duration) -> (f64, f64) {
    throughput_of(keccak::digest, time)
}

/// [`keccak_throughput`] of any hash function.
fn throughput_of(digest: fn(&[u8]) -> [u8; 32], time: Duration) -> (f64, f64) {
    let block = vec![0x5a_u8; 64 * 1024];
    let started = Instant::now();
    let cpu_before = cpu_time().as_secs_f64();
    let mut hashed = 0u64;
    while started.elapsed() < time {
        std::hint::black_box(digest(std::hint::black_box(&block)));
        hashed += block.len() as u64;
    }
    let cpu = cpu_time().as_secs_f64() - cpu_before;
    (
        hashed as f64 / started.elapsed().as_secs_f64(),
        hashed as f64 / cpu,
    )
}

/// Random (incompressible) payloads, RLP-encoded as a byte string beforehand: snappy
/// cannot shrink them, so every byte counted also crossed the wire.
fn noise(len: usize) -> Bytes {
    Bytes::from(rlp::encode(&random_bytes(len, len as u64)).to_vec())
}

/// What many devp2p messages look like: an RLP list of 32-byte hashes (here 1985 of them,
/// 64 KiB in all), drawn from 64 distinct ones, so that they repeat.
fn hash_list() -> Bytes {
    let distinct: Vec<Vec<u8>> = (0..64u64)
        .map(|i| {
            let mut h = noise(32).to_vec().split_off(1);
            h[..8].copy_from_slice(&i.to_be_bytes());
            h
        })
        .collect();
    let items: Vec<&Vec<u8>> = (0..1985).map(|i| &distinct[(i * 7) % 64]).collect();
    Bytes::from(rlp::encode_list::<Vec<u8>, _>(&items).to_vec())
}

/// A short run, for `cargo test --benches`.
pub(crate) fn smoke(runtime: &Runtime) {
    let done = runtime.block_on(transfer(Bytes::from(vec![1u8; 1024]), 100));
    assert_eq!(done.bytes, 100.0 * 1024.0);
    let payload = noise(97);
    let len = payload.len() as f64;
    let small = runtime.block_on(transfer(payload, 100));
    assert_eq!(small.bytes, 100.0 * len);
    assert!(codec_ceiling(Duration::from_millis(10)) > 0.0);
}

pub(crate) fn rows(runtime: &Runtime) -> Vec<Row> {
    // The baseline before and after the transfer, so that a change in the machine's load
    // during the run weighs on both sides of the ratio.
    let before = keccak_throughput(Duration::from_secs(1));
    let big = runtime.block_on(transfer(noise(64 * 1024 - 4), 20_000));
    let after = keccak_throughput(Duration::from_secs(1));
    let keccak = (before.0 + after.0) / 2.0;
    let keccak_per_cpu_s = (before.1 + after.1) / 2.0;
    // Both ends hash every byte once: the CPU time that takes at the baseline's speed, over
    // the CPU time both ends took. Other load on the machine barely moves it, unlike the
    // wall-clock ratio, which it equals on an idle machine whose two cores both ends keep busy.
    let keccak_share = 2.0 * big.bytes / keccak_per_cpu_s / big.cpu;

    let list = hash_list();
    let wire = PayloadCodec::Snappy.encode(list.clone()).unwrap();
    let saved = 100.0 * (1.0 - wire.len() as f64 / list.len() as f64);
    let lists = runtime.block_on(transfer(list, 20_000));

    let baseline = format!("{}, one core", keccak::NAME);
    let mut rows = vec![
        Row::new(
            format!(
                "64 KiB random messages, one connection, MAC {}",
                keccak::NAME
            ),
            big.bytes_per_s / 1e6,
            "MB/s",
        )
        .against(keccak / 1e6, baseline.clone())
        .target(Target::RatioAtLeast(0.9)),
        Row::new(
            "the same transfer: keccak's share of the CPU time both ends used",
            keccak_share,
            "",
        ),
        Row::new(
            "64 KiB RLP lists of repeated 32-byte hashes, application payload",
            lists.bytes_per_s / 1e6,
            "MB/s",
        )
        .against(keccak / 1e6, baseline),
        Row::new("wire bytes snappy saves on those lists", saved, "%"),
    ];
    if cfg!(feature = "asm-keccak") {
        // What the feature gains: the pure Rust keccak beside it, in the same run.
        let sha3 = |data: &[u8]| -> [u8; 32] {
            use sha3::Digest;
            sha3::Keccak256::digest(data).into()
        };
        let (rust, _) = throughput_of(sha3, Duration::from_secs(1));
        rows.push(
            Row::new(format!("{}, one core", keccak::NAME), keccak / 1e6, "MB/s")
                .against(rust / 1e6, "keccak-256 (sha3, pure Rust), one core"),
        );
    }
    rows
}

/// 100-byte messages on one connection, beside what the frame codec alone allows.
pub(crate) fn small_rows(runtime: &Runtime) -> Vec<Row> {
    let before = codec_ceiling(Duration::from_millis(500));
    let small = runtime.block_on(transfer(noise(97), 1_000_000));
    let after = codec_ceiling(Duration::from_millis(500));
    let ceiling = (before + after) / 2.0;
    vec![Row::new(
        format!("100-byte messages, one connection, MAC {}", keccak::NAME),
        small.msgs_per_s,
        "msgs/s",
    )
    .against(
        ceiling,
        "frame codec alone: seal on one core, open on the other",
    )
    .target(Target::AtLeast(600_000.0))]
}

/// Messages per second the frame codec alone allows for 100-byte messages when the sender
/// seals on one core and the receiver opens on the other: one over the slower of the two,
/// each timed on this thread for about `time`, in batches small enough to stay in cache. The
/// RLPx MAC costs four keccak-f permutations per such frame (two digests per MAC plus the 144
/// bytes absorbed), on both ends.
fn codec_ceiling(time: Duration) -> f64 {
    const BATCH: u32 = 1000;
    let payload = noise(97);
    let (mut a, mut b) = peerwire::testdata::session_pair(3);
    let mut wire = bytes::BytesMut::new();
    let (mut sealing, mut opening, mut frames) = (Duration::ZERO, Duration::ZERO, 0u32);
    while sealing + opening < time {
        let started = Instant::now();
        for _ in 0..BATCH {
            a.sealer().seal(0x10, &payload, &mut wire).unwrap();
        }
        sealing += started.elapsed();
        let started = Instant::now();
        for _ in 0..BATCH {
            std::hint::black_box(b.opener().open(&mut wire).unwrap().unwrap());
        }
        opening += started.elapsed();
        frames += BATCH;
    }
    let per_frame = sealing.max(opening).as_secs_f64() / f64::from(frames);
    1.0 / per_frame
}
