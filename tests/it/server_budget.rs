//! Memory bounded per server, not only per peer. It runs in its own process so that
//! the process's resident memory reflects this test only.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use peerwire::protocol::Protocol;
use peerwire::wire::{code, snappy, Capability, EMPTY_LIST};
use tokio::sync::{mpsc, watch};

use crate::support::*;

const PEERS: u8 = 8;
const PER_PEER: u8 = 4;
/// Just under 16 MiB, so two fit a 32 MiB budget.
const SIZE: usize = (16 << 20) - 1024;
const BUDGET: usize = 32 << 20;

/// `VmRSS` or `VmHWM` of this process in KiB, where `/proc` has it.
fn proc_kib(field: &str) -> Option<usize> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with(field))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

/// Starts a new peak for `VmHWM` (Linux: writing 5 to clear_refs resets it).
fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Payload `seq` of peer `tag`: mostly zeros (snappy shrinks it ~20×), tagged at both ends.
fn payload(tag: u8, seq: u8, buf: &mut [u8]) -> Vec<u8> {
    buf[0] = tag;
    buf[1] = seq;
    buf[SIZE - 1] = tag;
    snappy::compress(buf)
}

/// Eight peers each send four 16 MiB messages (about 800 KiB on the wire) to a handler that
/// does not read yet. Per peer they fit the 32 MiB peer budget; together they would hold
/// 8 × 32 MiB. The server's 32 MiB budget must hold them to 32 MiB (+ one message) — counted
/// before decompression, so nothing larger is allocated either — and once the handlers
/// read, every message arrives, in order per peer. Meanwhile another peer is served Pongs.
#[test]
fn many_peers_cannot_hold_more_than_the_server_budget() {
    in_own_process(
        module_path!(),
        "many_peers_cannot_hold_more_than_the_server_budget",
        || {
            let runtime = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(many_peers());
        },
    );
}

async fn many_peers() {
    let (gate_tx, gate) = watch::channel(false);
    let (got_tx, mut got) = mpsc::unbounded_channel();
    let stalled = Protocol::new(Capability::new("bulk", 1), 1, move |_peer, mut rw| {
        let (mut gate, got_tx) = (gate.clone(), got_tx.clone());
        async move {
            let _ = gate.wait_for(|open| *open).await;
            loop {
                let msg = rw.read_msg().await?;
                let p = &msg.payload;
                got_tx.send((p[0], p[1], p.len(), p[p.len() - 1])).ok();
            }
        }
    })
    .with_queue_capacity(1, 1);
    let mut c = config(vec![stalled]);
    c.inbound.per_peer = BUDGET;
    c.inbound.total = BUDGET;
    // All peers connect from 127.0.0.1 at once.
    c.gating.max_pending_per_ip = usize::from(PEERS) + 1;
    let server = start(c).await;

    let mut plain = vec![0u8; SIZE];
    let wire: Vec<Vec<Vec<u8>>> = (0..PEERS)
        .map(|tag| {
            (0..PER_PEER)
                .map(|seq| payload(tag, seq, &mut plain))
                .collect()
        })
        .collect();
    drop(plain);
    let baseline = proc_kib("VmRSS:");
    reset_peak_rss();

    let max_held = Arc::new(AtomicUsize::new(0));
    let sampling = Arc::new(AtomicBool::new(true));
    let sampler = {
        let (server, max_held, sampling) = (server.clone(), max_held.clone(), sampling.clone());
        tokio::spawn(async move {
            while sampling.load(Ordering::Relaxed) {
                max_held.fetch_max(server.inbound_bytes(), Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let mut senders = Vec::new();
    for messages in wire {
        let server = server.clone();
        senders.push(tokio::spawn(async move {
            let mut raw = Hand::connect(&server, key(), vec![Capability::new("bulk", 1)]).await;
            for m in &messages {
                raw.send_raw(0x10, m).await;
            }
            // Kept open until the test ends.
            raw
        }));
    }
    eventually(|| server.inbound_bytes() >= 2 * SIZE).await;
    // Give every peer time to push what it can.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let held_stalled = server.inbound_bytes();
    let (rss_stalled, peak_stalled) = (proc_kib("VmRSS:"), proc_kib("VmHWM:"));
    // The budget is spent, yet another peer connects and gets its Ping answered.
    let mut other = Hand::connect(&server, key(), vec![Capability::new("bulk", 1)]).await;
    other.send(code::PING, &EMPTY_LIST).await;
    assert_eq!(other.recv().await.map(|(c, _)| c), Some(code::PONG));

    gate_tx.send(true).unwrap();
    let mut next_seq: HashMap<u8, u8> = HashMap::new();
    for _ in 0..usize::from(PEERS) * usize::from(PER_PEER) {
        let (tag, seq, len, last) = tokio::time::timeout(Duration::from_secs(30), got.recv())
            .await
            .expect("every message arrives within 30 s")
            .unwrap();
        assert_eq!((len, last), (SIZE, tag));
        let next = next_seq.entry(tag).or_default();
        assert_eq!(seq, *next, "peer {tag}: out of order");
        *next += 1;
    }
    assert_eq!(next_seq.len(), usize::from(PEERS));
    assert!(next_seq.values().all(|n| *n == PER_PEER));
    eventually(|| server.inbound_bytes() == 0).await;
    sampling.store(false, Ordering::Relaxed);
    sampler.await.unwrap();

    let max_held = max_held.load(Ordering::Relaxed);
    eprintln!(
        "held while stalled {held_stalled} B, most seen {max_held} B (budget {BUDGET}); \
         VmRSS baseline {baseline:?} KiB, stalled {rss_stalled:?} KiB, peak {peak_stalled:?} KiB, \
         after {:?} KiB",
        proc_kib("VmRSS:")
    );
    assert!(
        held_stalled <= BUDGET,
        "{held_stalled} B held while stalled"
    );
    assert!(max_held <= BUDGET + SIZE, "{max_held} B held at most");
    for s in senders {
        drop(s.await.unwrap());
    }
    server.stop().await;
}
