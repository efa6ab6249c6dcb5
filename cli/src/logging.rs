//! The library's and the command's `tracing` logs, on stderr only: stdout carries the events.

use std::io::IsTerminal;

use tracing_subscriber::filter::{EnvFilter, LevelFilter};

/// Logs what `RUST_LOG` asks for when it is set (its full syntax, e.g.
/// `peerwire::server=debug`); otherwise at the level `-v` asks for: none, then info, debug,
/// trace with each `-v`. With neither, nothing is logged.
pub(crate) fn init(verbose: u8) {
    let level = match verbose {
        0 => LevelFilter::OFF,
        1 => LevelFilter::INFO,
        2 => LevelFilter::DEBUG,
        _ => LevelFilter::TRACE,
    };
    let filter = EnvFilter::builder()
        .with_default_directive(level.into())
        .from_env_lossy();
    // Fails only if a subscriber is set already, which nothing else in the command does.
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .try_init();
}
