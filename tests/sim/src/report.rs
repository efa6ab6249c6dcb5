//! A run's report: `report.json` (figures, digest, samples), `events.log` (the event log
//! the digest is of: diff two to find where runs part) and three SVG plots — peers per
//! node over time, the convergence curve, and the final degree histogram.

use std::path::Path;

use plotters::prelude::*;
use serde_json::json;

use crate::scenarios::{Outcome, Params};

/// Why a report could not be written.
#[derive(Debug)]
pub struct ReportError(String);

impl std::fmt::Display for ReportError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReportError {}

fn err(what: &str, e: impl std::fmt::Display) -> ReportError {
    ReportError(format!("{what}: {e}"))
}

/// Writes the report of `outcome` into `dir` (created if missing).
pub fn write(
    dir: &Path,
    params: &Params,
    outcome: &Outcome,
    wall_secs: f64,
) -> Result<(), ReportError> {
    std::fs::create_dir_all(dir).map_err(|e| err("creating the report directory", e))?;
    let report = json!({
        "scenario": outcome.scenario,
        "seed": params.seed,
        "nodes": params.nodes,
        "regions": params.regions,
        "loss": params.loss,
        "tick_ms": params.tick.as_millis() as u64,
        "max_peers": params.max_peers,
        "wall_seconds": (wall_secs * 10.0).round() / 10.0,
        "figures": outcome.figures,
        "events": outcome.events,
        "digest": outcome.digest,
        "samples": outcome.samples,
    });
    let text = serde_json::to_string_pretty(&report).map_err(|e| err("encoding the report", e))?;
    std::fs::write(dir.join("report.json"), text).map_err(|e| err("writing report.json", e))?;
    let mut log = outcome.log.join("\n");
    log.push('\n');
    std::fs::write(dir.join("events.log"), log).map_err(|e| err("writing events.log", e))?;
    peers_over_time(&dir.join("peers.svg"), outcome)?;
    convergence(&dir.join("convergence.svg"), outcome)?;
    degrees(&dir.join("degrees.svg"), outcome)?;
    Ok(())
}

/// Min, median and max peers of the running nodes at each sample.
fn peers_over_time(path: &Path, outcome: &Outcome) -> Result<(), ReportError> {
    let mut lines: [Vec<(f64, f64)>; 3] = Default::default();
    for s in &outcome.samples {
        let mut n: Vec<usize> = s.peers.iter().flatten().copied().collect();
        n.sort_unstable();
        if let (Some(&lo), Some(&hi)) = (n.first(), n.last()) {
            lines[0].push((s.t, lo as f64));
            lines[1].push((s.t, n[n.len() / 2] as f64));
            lines[2].push((s.t, hi as f64));
        }
    }
    let y_max = lines[2].iter().map(|p| p.1).fold(1.0, f64::max) + 1.0;
    let title = format!("{}: peers per node", outcome.scenario);
    plot(path, &title, "peers", y_max, outcome, |chart| {
        for (line, (label, color)) in
            lines
                .iter()
                .zip([("min", RED), ("median", BLUE), ("max", GREEN)])
        {
            chart
                .draw_series(LineSeries::new(line.iter().copied(), color))
                .map_err(|e| err("drawing", e))?
                .label(label)
                .legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color));
        }
        Ok(())
    })
}

/// Share of running nodes with at least 3 peers at each sample.
fn convergence(path: &Path, outcome: &Outcome) -> Result<(), ReportError> {
    let line: Vec<(f64, f64)> = outcome
        .samples
        .iter()
        .filter_map(|s| {
            let running: Vec<usize> = s.peers.iter().flatten().copied().collect();
            let ok = running.iter().filter(|&&n| n >= 3).count();
            (!running.is_empty()).then(|| (s.t, ok as f64 / running.len() as f64))
        })
        .collect();
    let title = format!("{}: nodes with 3+ peers", outcome.scenario);
    plot(path, &title, "share of nodes", 1.05, outcome, |chart| {
        chart
            .draw_series(LineSeries::new(line.iter().copied(), BLUE))
            .map_err(|e| err("drawing", e))?
            .label("3+ peers")
            .legend(|(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], BLUE));
        Ok(())
    })
}

type Chart<'a, 'b> = ChartContext<
    'a,
    SVGBackend<'b>,
    Cartesian2d<plotters::coord::types::RangedCoordf64, plotters::coord::types::RangedCoordf64>,
>;

fn plot(
    path: &Path,
    title: &str,
    y_label: &str,
    y_max: f64,
    outcome: &Outcome,
    draw: impl FnOnce(&mut Chart<'_, '_>) -> Result<(), ReportError>,
) -> Result<(), ReportError> {
    let t_max = outcome.samples.last().map_or(1.0, |s| s.t.max(1.0));
    let root = SVGBackend::new(path, (800, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err("drawing", e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(title, ("sans-serif", 20))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d(0.0..t_max, 0.0..y_max)
        .map_err(|e| err("drawing", e))?;
    chart
        .configure_mesh()
        .x_desc("simulated seconds")
        .y_desc(y_label)
        .draw()
        .map_err(|e| err("drawing", e))?;
    draw(&mut chart)?;
    chart
        .configure_series_labels()
        .background_style(WHITE)
        .border_style(BLACK)
        .draw()
        .map_err(|e| err("drawing", e))?;
    root.present().map_err(|e| err("writing the plot", e))
}

/// How many nodes end with each number of peers.
fn degrees(path: &Path, outcome: &Outcome) -> Result<(), ReportError> {
    let last: Vec<u32> = outcome
        .samples
        .last()
        .map(|s| s.peers.iter().flatten().map(|&n| n as u32).collect())
        .unwrap_or_default();
    let max = last.iter().copied().max().unwrap_or(1) + 1;
    let mut count = vec![0u32; max as usize + 1];
    for &d in &last {
        count[d as usize] += 1;
    }
    let y_max = count.iter().copied().max().unwrap_or(1) + 1;
    let root = SVGBackend::new(path, (800, 400)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| err("drawing", e))?;
    let mut chart = ChartBuilder::on(&root)
        .caption(
            format!("{}: peers per node at the end", outcome.scenario),
            ("sans-serif", 20),
        )
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(50)
        .build_cartesian_2d((0u32..max).into_segmented(), 0u32..y_max)
        .map_err(|e| err("drawing", e))?;
    chart
        .configure_mesh()
        .x_desc("peers")
        .y_desc("nodes")
        .draw()
        .map_err(|e| err("drawing", e))?;
    chart
        .draw_series(
            Histogram::vertical(&chart)
                .style(BLUE.filled())
                .data(last.iter().map(|&d| (d, 1))),
        )
        .map_err(|e| err("drawing", e))?;
    root.present().map_err(|e| err("writing the plot", e))
}
