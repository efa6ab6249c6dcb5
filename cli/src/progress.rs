//! Progress bars on stderr, only when it is a terminal: piped or redirected output (and
//! `--json`) gets none, so scripts read the same lines as before.

use std::io::IsTerminal;
use std::time::Duration;

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// How often a bar redraws at most.
const REFRESH_HZ: u8 = 10;

/// Whether bars are drawn: stderr is a terminal and the output is not JSON.
fn wanted(json: bool) -> bool {
    !json && std::io::stderr().is_terminal()
}

fn target(json: bool) -> ProgressDrawTarget {
    if wanted(json) {
        ProgressDrawTarget::stderr_with_hz(REFRESH_HZ)
    } else {
        ProgressDrawTarget::hidden()
    }
}

/// A byte bar: bytes so far of the total, rate, time left.
pub(crate) fn bytes(json: bool) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, target(json));
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {bytes_per_sec} ETA {eta}")
            // The template is a constant that parses.
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    bar
}

/// A counter that ticks on its own: `N <what>` and the time so far.
pub(crate) fn counter(json: bool, what: &'static str) -> ProgressBar {
    let bar = ProgressBar::with_draw_target(None, target(json));
    bar.set_style(
        ProgressStyle::with_template(&format!("{{spinner}} {{pos}} {what} ({{elapsed}})"))
            .unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    if wanted(json) {
        bar.enable_steady_tick(Duration::from_millis(100));
    }
    bar
}
