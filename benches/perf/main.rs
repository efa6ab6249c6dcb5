//! The performance figures of issue 12 as one table: name, value, baseline measured in the
//! same run, ratio, target, MET/MISSED.
//!
//! Run: `cargo bench --bench perf` (a few minutes); `cargo bench --bench perf -- NAME` runs
//! only the groups whose name contains NAME (`idle`, `throughput`, `latency`). `cargo test --benches`
//! runs a quick smoke version. The table is printed as Markdown, the form README's performance section uses.

mod common;
mod idle;
mod latency;
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
    if !args.iter().any(|a| a == "--bench") {
        // `cargo bench` passes --bench; `cargo test --benches` passes nothing: keep that quick.
        throughput::smoke(&runtime);
        latency::smoke(&runtime);
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
    if wanted("throughput") {
        rows.extend(throughput::rows(&runtime));
    }
    if wanted("latency") {
        rows.extend(latency::rows(&runtime));
    }
    println!("\n{}", table::render(&rows));
}
