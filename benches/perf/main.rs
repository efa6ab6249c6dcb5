//! The performance figures as one table: name, value, baseline measured in the
//! same run, ratio, target, MET/MISSED.
//!
//! Run: `cargo bench --bench perf` (a few minutes); `cargo bench --bench perf -- NAME...`
//! runs only the groups whose name contains a NAME (`idle`, `handshake`, `throughput`,
//! `small`, `latency`, `flood`). `cargo test --benches` runs a quick smoke version. The table is printed as
//! Markdown, the form README's performance section uses. The bench binary is also its own
//! child process: `--idle-clients`, `--handshake-clients` and `--flood-pings` run the remote
//! peers of `idle.rs`, `handshake_tcp.rs` and `flood.rs`.
#![expect(
    clippy::disallowed_methods,
    reason = "the benchmarks' own drivers collect replies; the benchmark bounds what is sent"
)]

mod client;
mod common;
mod flood;
mod handshake_tcp;
mod heap;
mod idle;
mod latency;
mod table;
mod throughput;

/// Counts live heap bytes, for the idle bench's heap figure; off after the idle group.
#[global_allocator]
static ALLOC: heap::Counting = heap::Counting;

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let arg = |i: usize| args[i].as_str();
    // The children run on one thread: they stand for remote machines, not for the server.
    let child = || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
    };
    if let Some(i) = args.iter().position(|a| a == "--idle-clients") {
        let (enode, count) = (arg(i + 1).parse().unwrap(), arg(i + 2).parse().unwrap());
        child().unwrap().block_on(idle::clients(enode, count));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--flood-pings") {
        let to = arg(i + 1).parse().unwrap();
        let (rate, millis) = (arg(i + 2).parse().unwrap(), arg(i + 3).parse().unwrap());
        child().unwrap().block_on(flood::pings(to, rate, millis));
        return;
    }
    if let Some(i) = args.iter().position(|a| a == "--handshake-clients") {
        let enode = arg(i + 1).parse().unwrap();
        child().unwrap().block_on(handshake_tcp::clients(enode));
        return;
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    if !args.iter().any(|a| a == "--bench") {
        // `cargo bench` passes --bench; `cargo test --benches` passes nothing: keep that quick.
        throughput::smoke(&runtime);
        latency::smoke(&runtime);
        flood::smoke(&runtime);
        return;
    }
    // Arguments that are not flags select groups by name; none selects all.
    let filters: Vec<&str> = args[1..]
        .iter()
        .filter(|a| !a.starts_with("--"))
        .map(String::as_str)
        .collect();
    let wanted = |group: &str| filters.is_empty() || filters.iter().any(|f| group.contains(f));
    let mut rows = Vec::new();
    // First, while the allocator holds nothing from the transfers.
    if wanted("idle") {
        rows.extend(idle::rows(&runtime));
    }
    // The counters are shared cache lines every allocation writes: keep them out of the
    // timed groups.
    heap::stop_counting();
    if wanted("handshake") {
        rows.extend(handshake_tcp::rows(&runtime));
    }
    if wanted("throughput") {
        rows.extend(throughput::rows(&runtime));
    }
    if wanted("small") {
        rows.extend(throughput::small_rows(&runtime));
    }
    if wanted("latency") {
        rows.extend(latency::rows(&runtime));
    }
    if wanted("flood") {
        rows.extend(flood::rows(&runtime));
    }
    println!("\n{}", table::render(&rows));
}
