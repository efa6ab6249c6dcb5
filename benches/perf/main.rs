//! The performance figures of issue 12 as one table: name, value, baseline measured in the
//! same run, ratio, target, MET/MISSED.
//!
//! Run: `cargo bench --bench perf` (a few minutes). `cargo test --benches` runs a quick smoke
//! version. The table is printed as Markdown, the form README's performance section uses.

mod common;
mod idle;
mod table;
mod throughput;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if let Some(i) = args.iter().position(|a| a == "--clients") {
        let enode = args[i + 1].parse().unwrap();
        runtime.block_on(idle::clients(enode));
        return;
    }
    if args.iter().any(|a| a == "--test") {
        // `cargo test --benches` runs bench binaries with --test: keep that quick.
        throughput::smoke(&runtime);
        return;
    }
    let mut rows = Vec::new();
    // First, while the allocator holds nothing from the transfers.
    rows.extend(idle::rows(&runtime));
    rows.extend(throughput::rows(&runtime));
    println!("\n{}", table::render(&rows));
}
