//! The scenarios at a size CI affords (the command runs them at 200 nodes and more): each
//! must hold, and a seed must replay its run exactly.

use peerwire_sim::scenarios::{self, Outcome, Params};

/// 40 nodes in 5 regions, 1 % loss.
fn params(seed: u64) -> Params {
    Params::new(seed, 40)
}

fn run(name: &str, seed: u64) -> Outcome {
    match scenarios::run(name, &params(seed)) {
        Ok(outcome) => outcome,
        Err(failure) => panic!("{failure}"),
    }
}

fn figure(outcome: &Outcome, name: &str) -> f64 {
    outcome.figures[name]
        .as_f64()
        .unwrap_or_else(|| panic!("no figure {name} in {:?}", outcome.figures))
}

#[test]
fn nodes_converge_and_lookups_find_the_closest() {
    let o = run("convergence", 1);
    assert!(figure(&o, "peers_min") >= 3.0, "{:?}", o.figures);
    assert!(
        figure(&o, "lookup_true_closest_found") >= 0.9,
        "{:?}",
        o.figures
    );
}

#[test]
fn a_network_recovers_from_churn() {
    let o = run("churn", 2);
    assert_eq!(figure(&o, "replaced"), 11.0);
    assert!(figure(&o, "peers_min") >= 3.0, "{:?}", o.figures);
}

#[test]
fn halves_reconnect_after_a_partition_heals() {
    let o = run("partition", 3);
    assert!(figure(&o, "seconds_to_reconnect_halves") >= 0.0);
}

#[test]
fn newcomers_join_through_a_second_bootnode_when_the_first_is_gone() {
    let o = run("bootnode-loss", 4);
    assert!(figure(&o, "newcomers") >= 3.0);
}

#[test]
fn a_lossy_region_stays_connected() {
    let o = run("lossy", 5);
    assert!(figure(&o, "lossy_region_nodes") >= 1.0);
}

#[test]
fn the_same_seed_replays_the_same_run() {
    for scenario in ["churn", "gossip"] {
        let a = run(scenario, 6);
        let b = run(scenario, 6);
        assert_eq!(a.events, b.events);
        assert_eq!(a.digest, b.digest, "two {scenario} runs of seed 6 differ");
        let c = run(scenario, 7);
        assert_ne!(
            a.digest, c.digest,
            "{scenario}: seeds 6 and 7 gave the same run"
        );
    }
}

#[test]
fn gossip_reaches_every_node_once_with_far_fewer_copies_than_flooding() {
    let o = run("gossip", 8);
    assert_eq!(figure(&o, "stable_worst_reach"), 1.0, "{:?}", o.figures);
    assert_eq!(figure(&o, "stable_delivered_twice"), 0.0);
    assert!(figure(&o, "churn_mean_reach") >= 0.99, "{:?}", o.figures);
    let tree = figure(&o, "stable_copies_per_node_per_message_after");
    let flood = figure(&o, "flood_stable_copies_per_node_per_message_after");
    assert!(tree <= 1.5 && tree < flood / 2.0, "{:?}", o.figures);
}
