//! Round-trip latency of a small request/response on one protocol while another protocol on
//! the same connection streams 64 KiB messages the same way: what the write scheduler's
//! deficit round-robin promises, as a number.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use peerwire::protocol::Protocol;
use peerwire::server::{Server, ServerConfig};
use peerwire::wire::Capability;
use tokio::runtime::Runtime;
use tokio::sync::mpsc;

use crate::common::{config, quantile, random_bytes};
use crate::table::{Row, Target};
use crate::throughput::{counting_sink, handing_out};

/// Round trips measured after the warm-up.
const ROUND_TRIPS: usize = 5_000;
const WARM_UP: usize = 200;

/// Answers every message with its payload.
fn echo() -> Protocol {
    Protocol::new(Capability::new("echo", 1), 1, |_peer, mut rw| async move {
        loop {
            let msg = rw.read_msg().await?;
            rw.send_raw(0, msg.payload).await?;
        }
    })
}

/// Socket settings of a run, applied to both servers.
type Sockets = fn(&mut ServerConfig);

/// The settings compared: the defaults, the kernel's own buffering, and bounded buffers.
const SOCKETS: [(&str, Sockets); 3] = [
    ("default sockets", |_| {}),
    ("unsent_limit = None", |c| c.connection.unsent_limit = None),
    ("socket_buffer = 256 KiB", |c| {
        c.connection.socket_buffer = Some(256 * 1024)
    }),
];

/// Round-trip times of `rounds` 32-byte requests, while 64 KiB messages stream alongside
/// (if `bulk`); also the bulk bytes/s received meanwhile.
async fn round_trips(rounds: usize, bulk: bool, sockets: Sockets) -> (Vec<Duration>, f64) {
    let counts = Arc::new((AtomicU64::new(0), AtomicU64::new(0)));
    let mut receiver = config(vec![counting_sink("bulk", counts.clone()), echo()], true, 2);
    sockets(&mut receiver);
    let receiver = Server::start(receiver).await.unwrap();
    let (bulk_tx, mut bulk_rx) = mpsc::unbounded_channel();
    let (echo_tx, mut echo_rx) = mpsc::unbounded_channel();
    let mut sender = config(
        vec![handing_out("bulk", bulk_tx), handing_out("echo", echo_tx)],
        false,
        2,
    );
    sockets(&mut sender);
    let sender = Server::start(sender).await.unwrap();
    sender.add_peer(receiver.local_enode());
    let bulk_rw = bulk_rx.recv().await.unwrap();
    let mut echo_rw = echo_rx.recv().await.unwrap();

    let streaming = Arc::new(AtomicBool::new(bulk));
    let stream = {
        let streaming = streaming.clone();
        // Random, so that the bulk stream is not compressed away.
        let payload = Bytes::from(random_bytes(64 * 1024, 7));
        tokio::spawn(async move {
            while streaming.load(Ordering::Relaxed) {
                if bulk_rw.send_raw(0, payload.clone()).await.is_err() {
                    break;
                }
            }
            bulk_rw
        })
    };
    // Let the stream fill the queues and socket buffers first.
    tokio::time::sleep(Duration::from_millis(if bulk { 300 } else { 0 })).await;
    let bulk_before = counts.1.load(Ordering::Relaxed);
    let started = Instant::now();
    let request = Bytes::from(vec![7u8; 32]);
    let mut times = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let sent = Instant::now();
        echo_rw.send_raw(0, request.clone()).await.unwrap();
        let reply = echo_rw.read_msg().await.unwrap();
        times.push(sent.elapsed());
        assert_eq!(reply.payload, request);
    }
    let bulk_bps =
        (counts.1.load(Ordering::Relaxed) - bulk_before) as f64 / started.elapsed().as_secs_f64();
    streaming.store(false, Ordering::Relaxed);
    drop(stream.await.unwrap());
    sender.stop().await;
    receiver.stop().await;
    (times, bulk_bps)
}

/// The `q` quantile of `times` (sorted in place), in milliseconds.
fn quantile_ms(times: &mut [Duration], q: f64) -> f64 {
    quantile(times, q).as_secs_f64() * 1e3
}

/// A short run, for `cargo test --benches`.
pub(crate) fn smoke(runtime: &Runtime) {
    for (_, sockets) in SOCKETS {
        let (times, _) = runtime.block_on(round_trips(10, true, sockets));
        assert_eq!(times.len(), 10);
    }
}

pub(crate) fn rows(runtime: &Runtime) -> Vec<Row> {
    let (mut idle, _) = runtime.block_on(round_trips(ROUND_TRIPS, false, SOCKETS[0].1));
    let idle_p50 = quantile_ms(&mut idle, 0.5);
    let idle_p99 = quantile_ms(&mut idle, 0.99);
    let name = "32-byte request/response round trip while 64 KiB messages stream on another \
                protocol";
    let mut rows = Vec::new();
    for (i, (label, sockets)) in SOCKETS.into_iter().enumerate() {
        let (all, bulk_bps) = runtime.block_on(round_trips(WARM_UP + ROUND_TRIPS, true, sockets));
        let mut busy = all[WARM_UP..].to_vec();
        rows.push(
            Row::new(
                format!("{name}, {label}, p50"),
                quantile_ms(&mut busy, 0.5),
                "ms",
            )
            .against(idle_p50, "p50 with no stream"),
        );
        let p99 = Row::new(
            format!("{name}, {label}, p99"),
            quantile_ms(&mut busy, 0.99),
            "ms",
        )
        .against(idle_p99, "p99 with no stream");
        // The target is the default configuration's; the others are for comparison.
        rows.push(if i == 0 {
            p99.target(Target::AtMost(5.0))
        } else {
            p99
        });
        rows.push(Row::new(
            format!("the stream meanwhile, {label}"),
            bulk_bps / 1e6,
            "MB/s",
        ));
    }
    rows
}
