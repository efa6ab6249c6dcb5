//! `peerwire-sim SCENARIO --seed N [--nodes N] [--report DIR]`: runs one scenario (or `all`)
//! on the simulated network and prints its figures; exits 1 if a check failed, printing
//! the seed that replays it.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use clap::Parser;
use peerwire_sim::scenarios::{self, Params};

/// Runs a peerwire network scenario on a seeded simulated network.
#[derive(Debug, Parser)]
struct Args {
    /// convergence, churn, partition, bootnode-loss, lossy, gossip, or all.
    scenario: String,
    /// The seed; the same seed gives the same run.
    #[arg(long, default_value_t = 1)]
    seed: u64,
    /// Nodes at the start.
    #[arg(long, default_value_t = 200)]
    nodes: usize,
    /// Regions (10–40 ms inside one, 80–150 ms between two).
    #[arg(long, default_value_t = 5)]
    regions: usize,
    /// Datagram loss everywhere, 0 to 1.
    #[arg(long, default_value_t = 0.01)]
    loss: f64,
    /// Simulated milliseconds between checks of a scenario's conditions (the resolution of
    /// the times it reports).
    #[arg(long, default_value_t = 10)]
    tick_ms: u64,
    /// max_peers of every node.
    #[arg(long, default_value_t = 25)]
    max_peers: usize,
    /// Simulated seconds the convergence scenario runs before its lookups.
    #[arg(long, default_value_t = 300)]
    duration: u64,
    /// Write report.json and SVG plots here (a folder per scenario with `all`).
    #[arg(long)]
    report: Option<PathBuf>,
}

fn main() -> ExitCode {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_writer(std::io::stderr)
        .init();
    let names: Vec<&str> = if args.scenario == "all" {
        scenarios::ALL.to_vec()
    } else {
        vec![args.scenario.as_str()]
    };
    let params = Params {
        seed: args.seed,
        nodes: args.nodes,
        regions: args.regions,
        loss: args.loss,
        tick: Duration::from_millis(args.tick_ms.max(1)),
        max_peers: args.max_peers,
        lossy_region: None,
        duration: Duration::from_secs(args.duration),
        gossip: None,
    };
    let mut failed = false;
    for name in names {
        let started = Instant::now();
        match scenarios::run(name, &params) {
            Ok(outcome) => {
                let wall = started.elapsed().as_secs_f64();
                println!(
                    "{name}: ok in {wall:.1} s wall, digest {}\n{}",
                    &outcome.digest[..16],
                    serde_json::to_string_pretty(&outcome.figures).unwrap_or_default()
                );
                if let Some(dir) = &args.report {
                    let dir = if args.scenario == "all" {
                        dir.join(name)
                    } else {
                        dir.clone()
                    };
                    if let Err(e) = peerwire_sim::report::write(&dir, &params, &outcome, wall) {
                        eprintln!("report: {e}");
                        failed = true;
                    }
                }
            }
            Err(failure) => {
                eprintln!("{failure}");
                println!(
                    "{name}: figures until the failure\n{}",
                    serde_json::to_string_pretty(&failure.figures).unwrap_or_default()
                );
                failed = true;
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
