//! The Grafana dashboard queries only metrics the library records.

use peerwire::metrics as m;
use serde_json::Value;

/// Every name `peerwire::metrics` defines.
const NAMES: [&str; 18] = [
    m::PEERS,
    m::DIALS,
    m::HANDSHAKE_FAILURES,
    m::DISCONNECTS,
    m::REFUSED,
    m::REJECTED,
    m::INGRESS_MESSAGES,
    m::INGRESS_BYTES,
    m::EGRESS_MESSAGES,
    m::EGRESS_BYTES,
    m::INBOUND_QUEUE,
    m::OUTBOUND_QUEUE,
    m::INBOUND_BUDGET,
    m::STORE_BATCHES,
    m::STORE_CHANGES,
    m::STORE_DROPPED,
    m::REPUTATION_CHANGES,
    m::REPUTATION_BANS,
];

fn exprs(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            for (k, v) in map {
                match (k.as_str(), v) {
                    ("expr" | "definition", Value::String(e)) => out.push(e.clone()),
                    _ => exprs(v, out),
                }
            }
        }
        Value::Array(items) => items.iter().for_each(|v| exprs(v, out)),
        _ => {}
    }
}

#[test]
fn every_metric_the_dashboard_queries_is_one_the_library_records() {
    let path = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../contrib/grafana/peerwire-node.json"
    );
    let dashboard: Value = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
    let mut all = Vec::new();
    exprs(&dashboard, &mut all);
    assert!(all.len() >= 15, "only {} queries found", all.len());
    let mut used = std::collections::BTreeSet::new();
    for expr in &all {
        // Metric names: `peerwire_` and the identifier characters after it.
        let mut rest = expr.as_str();
        while let Some(i) = rest.find("peerwire_") {
            let name: String = rest[i..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            assert!(
                NAMES.contains(&name.as_str()),
                "{name} (in {expr}) is no library metric"
            );
            used.insert(name.clone());
            rest = &rest[i + name.len()..];
        }
    }
    // Every metric has a panel.
    let unused: Vec<_> = NAMES.iter().filter(|n| !used.contains(**n)).collect();
    assert!(unused.is_empty(), "no panel for {unused:?}");
}
