//! Reads back criterion's estimates to print each result as a ratio to its baseline from the
//! same run, which is what the targets are stated in.

use std::path::PathBuf;

/// Mean time per iteration in nanoseconds, from `target/criterion/<group>/<bench>/new`.
fn mean_ns(group: &str, bench: &str) -> Option<f64> {
    let root = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("target"));
    let path = root
        .join("criterion")
        .join(group)
        .join(bench)
        .join("new/estimates.json");
    let text = std::fs::read_to_string(path).ok()?;
    let json: serde_json::Value = serde_json::from_str(&text).ok()?;
    json["mean"]["point_estimate"].as_f64()
}

/// One line comparing `bench` with `baseline` in `group`; `None` when criterion did not
/// measure them in this run (e.g. under `--test`).
pub(crate) fn ratio(group: &str, bench: &str, baseline: &str) -> Option<(f64, f64, f64)> {
    let t = mean_ns(group, bench)?;
    let base = mean_ns(group, baseline)?;
    Some((t, base, base / t))
}

/// Prints `bench` against `baseline` with its target (if any), and whether it was met.
pub(crate) fn report(
    group: &str,
    bench: &str,
    baseline: &str,
    target: Option<f64>,
    unit: impl Fn(f64) -> String,
) {
    match ratio(group, bench, baseline) {
        Some((t, base, r)) => println!(
            "{group:>16} {bench:>10}: {:>14}  {baseline}: {:>14}  ratio {r:.3} {}",
            unit(t),
            unit(base),
            match target {
                Some(target) if r >= target => format!("(target >= {target}) MET"),
                Some(target) => format!("(target >= {target}) MISSED"),
                None => "(no target)".to_string(),
            }
        ),
        None => println!("{group:>16} {bench:>10}: no estimate in this run"),
    }
}
