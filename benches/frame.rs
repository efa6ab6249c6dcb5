//! Frame seal and open throughput beside raw keccak-256 over the same bytes.
//!
//! Targets: 64 KiB payloads seal and open at >= 0.9x keccak throughput; 512 B
//! payloads at >= 0.4x. Run: `cargo bench --bench frame`.

mod support;

use std::time::Duration;

use bytes::BytesMut;
use criterion::{black_box, BatchSize, Criterion, Throughput};
use peerwire::testdata::session_pair;
use sha3::{Digest, Keccak256};

const SIZES: [(usize, &str, Option<f64>); 4] = [
    (64, "64B", None),
    (512, "512B", Some(0.4)),
    (64 * 1024, "64KiB", Some(0.9)),
    (1024 * 1024, "1MiB", None),
];

fn group_name(label: &str) -> String {
    format!("frame_{label}")
}

fn bench_frames(c: &mut Criterion) {
    for (size, label, _) in SIZES {
        let payload = vec![0x5a; size];
        let mut group = c.benchmark_group(group_name(label));
        group.throughput(Throughput::Bytes(size as u64));

        group.bench_function("keccak256", |b| {
            b.iter(|| Keccak256::digest(black_box(&payload)))
        });

        let (mut a, _) = session_pair(1);
        let mut out = BytesMut::with_capacity(size + 64);
        group.bench_function("seal", |b| {
            b.iter(|| {
                out.clear();
                a.sealer()
                    .seal(0x10, black_box(&payload), &mut out)
                    .unwrap();
            })
        });

        // Each open needs the opener in the state the frame was sealed for: clone both per
        // iteration, outside the timed part.
        let (mut a, mut b_end) = session_pair(2);
        let mut frame = BytesMut::new();
        a.sealer().seal(0x10, &payload, &mut frame).unwrap();
        let opener = b_end.opener().clone();
        group.bench_function("open", |b| {
            b.iter_batched(
                || (opener.clone(), frame.clone()),
                |(mut opener, mut wire)| opener.open(&mut wire).unwrap().unwrap(),
                BatchSize::LargeInput,
            )
        });
        group.finish();
    }
}

fn main() {
    let mut c = Criterion::default()
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    bench_frames(&mut c);
    c.final_summary();

    println!("\nframe throughput relative to raw keccak-256 over the same bytes:");
    for (size, label, target) in SIZES {
        let mbps = move |ns: f64| format!("{:.0} MB/s", size as f64 / ns * 1e3);
        for bench in ["seal", "open"] {
            support::report(&group_name(label), bench, "keccak256", target, mbps);
        }
    }
}
