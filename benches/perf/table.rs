//! The one results table: every figure with its baseline, ratio, target and verdict.

use std::fmt::Write as _;

/// What a row's figure must reach.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Target {
    /// The ratio to the baseline must be at least this.
    RatioAtLeast(f64),
    /// The value itself must be at least this.
    AtLeast(f64),
    /// The value itself must be at most this.
    AtMost(f64),
    /// Reported for information only.
    None,
}

/// One measured figure.
#[derive(Clone, Debug)]
pub(crate) struct Row {
    pub name: String,
    pub value: f64,
    pub unit: &'static str,
    /// The figure measured in the same run that `value` is compared with, and its name.
    pub baseline: Option<(f64, String)>,
    pub target: Target,
}

impl Row {
    pub(crate) fn new(name: impl Into<String>, value: f64, unit: &'static str) -> Self {
        Self {
            name: name.into(),
            value,
            unit,
            baseline: None,
            target: Target::None,
        }
    }

    pub(crate) fn against(mut self, baseline: f64, what: impl Into<String>) -> Self {
        self.baseline = Some((baseline, what.into()));
        self
    }

    pub(crate) fn target(mut self, target: Target) -> Self {
        self.target = target;
        self
    }

    pub(crate) fn ratio(&self) -> Option<f64> {
        self.baseline.as_ref().map(|(b, _)| self.value / b)
    }

    /// `Some(true)` for MET, `Some(false)` for MISSED, `None` without a target.
    pub(crate) fn met(&self) -> Option<bool> {
        match self.target {
            Target::RatioAtLeast(t) => self.ratio().map(|r| r >= t),
            Target::AtLeast(t) => Some(self.value >= t),
            Target::AtMost(t) => Some(self.value <= t),
            Target::None => None,
        }
    }
}

fn number(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

/// The table as Markdown, so the same text goes into the README.
pub(crate) fn render(rows: &[Row]) -> String {
    let mut out = String::new();
    out.push_str("| figure | value | baseline | ratio | target | verdict |\n");
    out.push_str("|---|---:|---|---:|---|---|\n");
    for row in rows {
        let baseline = match &row.baseline {
            Some((b, what)) => format!("{} {} ({what})", number(*b), row.unit),
            None => "-".into(),
        };
        let ratio = row.ratio().map_or("-".into(), |r| format!("{r:.3}"));
        let target = match row.target {
            Target::RatioAtLeast(t) => format!("ratio >= {t}"),
            Target::AtLeast(t) => format!(">= {} {}", number(t), row.unit),
            Target::AtMost(t) => format!("<= {} {}", number(t), row.unit),
            Target::None => "-".into(),
        };
        let verdict = match row.met() {
            Some(true) => "MET",
            Some(false) => "MISSED",
            None => "-",
        };
        let _ = writeln!(
            out,
            "| {} | {} {} | {baseline} | {ratio} | {target} | {verdict} |",
            row.name,
            number(row.value),
            row.unit
        );
    }
    out
}
