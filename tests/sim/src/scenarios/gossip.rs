//! The gossip scenario: network-wide messages over gossip/1, its tree beside flooding.

use std::time::Duration;

use serde_json::{json, Map, Value};

use super::{round, Failure, Outcome, Params, Run};
use crate::harness::GossipMode;

/// Messages published network-wide over gossip/1: 20 once the network formed, 10 right
/// after 30 % of the nodes were replaced. Run twice on the same network (same seed, so the
/// same peers when the first message goes out): with gossip/1's tree, then flooding.
pub(super) async fn gossip(p: &Params) -> Result<Outcome, Failure> {
    let flood = gossip_run(p, GossipMode::Flood).await?;
    let mut tree = gossip_run(p, GossipMode::Tree).await?;
    let figures = &mut tree.outcome.figures;
    for (name, value) in flood.figures {
        if name.starts_with("stable_") || name.starts_with("churn_") {
            figures.insert(format!("flood_{name}"), value);
        }
    }
    let p99 = |f: &Map<String, Value>, name: &str| f[name].as_f64().unwrap_or(0.0);
    let ratio = p99(figures, "stable_latency_ms_p99")
        / p99(figures, "flood_stable_latency_ms_p99").max(1.0);
    figures.insert("stable_p99_vs_flooding".into(), json!(round(ratio)));
    Ok(tree.outcome)
}

/// What one run of the gossip scenario found.
struct GossipRun {
    figures: Map<String, Value>,
    outcome: Outcome,
}

/// Messages published and delivered with this prefix: how many, the smallest share of the
/// other running nodes one reached within `within_ms`, deliveries of a message a node
/// already had, and the latencies (ms) and hops of every delivery.
struct Phase {
    published: usize,
    worst_reach: f64,
    mean_reach: f64,
    twice: usize,
    latencies: Vec<u64>,
    hops: Vec<u8>,
}

async fn gossip_run(p: &Params, mode: GossipMode) -> Result<GossipRun, Failure> {
    let mut params = p.clone();
    params.gossip = Some(mode);
    let mut run = Run::new("gossip", &params);
    let mut all = run
        .form(p.nodes, "seconds_to_3_peers_after_last_start")
        .await?;
    let boot = all[0];
    run.h.run_for(Duration::from_secs(30)).await;

    const STABLE: usize = 20;
    const EVERY: Duration = Duration::from_secs(2);
    let copies_before = gossip_received(&run);
    let mut after_first = (0, 0);
    for k in 0..STABLE {
        run.h.publish(all[(k * 7 + 1) % all.len()], format!("s{k}"));
        run.h.run_for(EVERY).await;
        if k == 0 {
            after_first = (gossip_received(&run), run.h.tcp_bytes());
        }
    }
    run.h.run_for(Duration::from_secs(10)).await;
    let (copies_after, bytes_after) = (gossip_received(&run), run.h.tcp_bytes());
    let others = (all.len() - 1) as f64;
    let later = others * (STABLE - 1) as f64;
    let f = &mut run.figures;
    f.insert(
        "stable_copies_per_node_first_message".into(),
        json!(round((after_first.0 - copies_before) as f64 / others)),
    );
    f.insert(
        "stable_copies_per_node_per_message_after".into(),
        json!(round((copies_after - after_first.0) as f64 / later)),
    );
    f.insert(
        "stable_bytes_per_node_per_message_after".into(),
        json!(((bytes_after - after_first.1) as f64 / later).round()),
    );
    let stable = phase(&run, "s", u128::MAX);
    phase_figures(&mut run.figures, "stable", &stable);

    // 30 % replaced over a minute, then messages at once.
    let replaced = (all.len() - 1) * 3 / 10;
    let every = Duration::from_secs(60) / u32::try_from(replaced.max(1)).unwrap_or(u32::MAX);
    for k in 0..replaced {
        let old = all[1 + k];
        run.h.crash(old);
        all.retain(|&i| i != old);
        all.push(run.h.add_node(k % p.regions.max(1), &[boot], &[]));
        run.h.run_for(every).await;
    }
    let short = run.h.peer_counts().iter().filter(|(_, n)| *n < 3).count();
    run.figures.insert(
        "churn_nodes_under_3_peers_at_first_message".into(),
        json!(short),
    );
    const CHURN: usize = 10;
    for k in 0..CHURN {
        run.h
            .publish(all[(k * 11 + 1) % all.len()], format!("c{k}"));
        run.h.run_for(EVERY).await;
    }
    run.h.run_for(Duration::from_secs(10)).await;
    let churn = phase(&run, "c", 5_000);
    phase_figures(&mut run.figures, "churn", &churn);
    run.figures.insert("churn_replaced".into(), json!(replaced));

    if stable.published != STABLE || stable.worst_reach < 1.0 || stable.twice + churn.twice > 0 {
        return Err(run.fail(format!(
            "{mode:?}: {} of {STABLE} published; worst reach {:.3}; {} delivered twice",
            stable.published,
            stable.worst_reach,
            stable.twice + churn.twice
        )));
    }
    // Flooding is the baseline: its figures are reported, not held to the tree's goal.
    if churn.published != CHURN || (mode == GossipMode::Tree && churn.mean_reach < 0.99) {
        return Err(run.fail(format!(
            "{mode:?} after churn: {} of {CHURN} published; mean reach within 5 s {:.4}",
            churn.published, churn.mean_reach
        )));
    }
    let figures = run.figures.clone();
    Ok(GossipRun {
        figures,
        outcome: run.finish(),
    })
}

fn phase_figures(f: &mut Map<String, Value>, name: &str, phase: &Phase) {
    let mut latencies = phase.latencies.clone();
    let mut hops = phase.hops.clone();
    latencies.sort_unstable();
    hops.sort_unstable();
    let pct = |q: f64| {
        let i = ((latencies.len().max(1) - 1) as f64 * q) as usize;
        latencies.get(i).copied().unwrap_or(0)
    };
    f.insert(format!("{name}_messages"), json!(phase.published));
    f.insert(
        format!("{name}_worst_reach"),
        json!(round(phase.worst_reach)),
    );
    f.insert(format!("{name}_mean_reach"), json!(round(phase.mean_reach)));
    f.insert(format!("{name}_delivered_twice"), json!(phase.twice));
    f.insert(format!("{name}_latency_ms_p50"), json!(pct(0.5)));
    f.insert(format!("{name}_latency_ms_p99"), json!(pct(0.99)));
    f.insert(
        format!("{name}_hops_max"),
        json!(hops.last().copied().unwrap_or(0)),
    );
}

/// Whole gossip messages received by every node together (copies included), as of each
/// node's last counter update (every simulated second).
fn gossip_received(run: &Run) -> u64 {
    let r = run.h.census().lock();
    r.nodes
        .iter()
        .filter_map(|n| n.gossip.as_ref())
        .map(|s| s.gossip_received)
        .sum()
}

fn phase(run: &Run, prefix: &str, within_ms: u128) -> Phase {
    let r = run.h.census().lock();
    let others = r
        .nodes
        .iter()
        .filter(|n| n.running)
        .count()
        .saturating_sub(1);
    let mut p = Phase {
        published: 0,
        worst_reach: 1.0,
        mean_reach: 0.0,
        twice: 0,
        latencies: Vec::new(),
        hops: Vec::new(),
    };
    for (text, (origin, at)) in r.published.iter().filter(|(t, _)| t.starts_with(prefix)) {
        p.published += 1;
        let mut reached = Vec::new();
        for (_, node, ms, h) in r
            .delivered
            .iter()
            .filter(|d| &d.0 == text && d.1 != *origin)
        {
            let latency = ms - at;
            p.latencies.push(u64::try_from(latency).unwrap_or(u64::MAX));
            p.hops.push(*h);
            if latency <= within_ms && r.nodes[*node].running {
                reached.push(*node);
            }
        }
        let copies = reached.len();
        reached.sort_unstable();
        reached.dedup();
        p.twice += copies - reached.len();
        let reach = reached.len() as f64 / others.max(1) as f64;
        p.worst_reach = p.worst_reach.min(reach);
        p.mean_reach += reach;
    }
    p.mean_reach /= p.published.max(1) as f64;
    p
}
