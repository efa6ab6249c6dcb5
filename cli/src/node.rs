//! `peerwire node`: a server running foo/bar, printing peer events and messages.

use std::net::SocketAddr;
use std::path::PathBuf;

use peerwire::crypto::{parse_secret_key, Enode, NodeKey};
use peerwire::server::{PeerEvent, Server, ServerConfig};
use peerwire_foobar::{FooBar, FooBarEvent};
use serde_json::json;
use tokio::io::AsyncBufReadExt;
use tokio::signal::unix::{signal, SignalKind};

use crate::output::Output;

#[derive(clap::Args, Debug)]
pub struct NodeArgs {
    /// Address to listen on, e.g. 127.0.0.1:30303 (port 0 picks one).
    #[arg(long)]
    listen: SocketAddr,
    /// Node key as 64 hex digits.
    #[arg(long, conflicts_with = "keyfile")]
    key: Option<String>,
    /// File holding the node key in hex (as written by `peerwire keygen --out`).
    #[arg(long)]
    keyfile: Option<PathBuf>,
    /// A peer to keep connected (repeatable).
    #[arg(long = "peer", value_name = "ENODE")]
    peers: Vec<Enode>,
    /// Most peers.
    #[arg(long, default_value_t = 50)]
    max_peers: usize,
    /// Client id sent in Hello.
    #[arg(long)]
    name: Option<String>,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
    /// Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9100.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
}

fn load_key(args: &NodeArgs) -> Result<NodeKey, String> {
    let secret = match (&args.key, &args.keyfile) {
        (Some(hex), _) => parse_secret_key(hex).map_err(|e| format!("bad --key: {e}"))?,
        (None, Some(path)) => {
            let text = std::fs::read_to_string(path)
                .map_err(|e| format!("cannot read key file {}: {e}", path.display()))?;
            parse_secret_key(&text).map_err(|e| format!("bad key in {}: {e}", path.display()))?
        }
        (None, None) => return Ok(NodeKey::generate(&mut rand::rngs::OsRng)),
    };
    Ok(NodeKey::new(secret))
}

pub async fn run(args: NodeArgs) -> Result<(), String> {
    let out = Output { json: args.json };
    let key = load_key(&args)?;
    let (foobar, mut messages) = FooBar::new();
    let mut config = ServerConfig::new(key.clone());
    config.listen_addr = Some(args.listen);
    config.max_peers = args.max_peers;
    config.protocols = vec![foobar.protocol()];
    if let Some(name) = args.name {
        config.name = name;
    }
    let mut sigterm =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    let mut sigint =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot watch SIGINT: {e}"))?;
    // Before the server starts, so that the library records into it from the first handle.
    let metrics = match args.metrics {
        Some(addr) => Some(crate::metrics::serve(addr).await?),
        None => None,
    };
    let server = Server::start(config).await.map_err(|e| e.to_string())?;
    let mut events = server.events();
    let enode = server.local_enode().to_string();
    out.event("listening", || enode.clone(), json!({ "enode": enode }));
    if let Some(addr) = metrics {
        let url = format!("http://{addr}/metrics");
        out.event(
            "metrics",
            || format!("metrics at {url}"),
            json!({ "url": url }),
        );
    }
    for peer in args.peers {
        server.add_peer(peer);
    }

    let mut stdin = Some(tokio::io::BufReader::new(tokio::io::stdin()).lines());
    loop {
        tokio::select! {
            _ = sigterm.recv() => break,
            _ = sigint.recv() => break,
            event = events.recv() => match event {
                Ok(event) => print_event(out, &event),
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    tracing::warn!(missed = n, "peer events dropped: output too slow");
                }
                Err(_) => break,
            },
            Some(message) = messages.recv() => match message {
                FooBarEvent::Message { from, text } => out.event(
                    "message",
                    || format!("message from {from}: {text}"),
                    json!({ "from": from.to_string(), "text": text }),
                ),
                // The enum is non_exhaustive: an event added later is logged, not printed.
                other => tracing::debug!(?other, "foo/bar event"),
            },
            line = next_line(&mut stdin) => match line {
                Some(line) if !line.trim().is_empty() => {
                    foobar.broadcast(line.trim()).await;
                }
                Some(_) => {}
                // Stdin closed: keep running until a signal.
                None => stdin = None,
            },
        }
    }
    server.stop().await;
    Ok(())
}

/// The next stdin line, or never once stdin is closed.
async fn next_line(
    stdin: &mut Option<tokio::io::Lines<tokio::io::BufReader<tokio::io::Stdin>>>,
) -> Option<String> {
    match stdin {
        Some(lines) => lines.next_line().await.ok().flatten(),
        None => std::future::pending().await,
    }
}

fn print_event(out: Output, event: &PeerEvent) {
    match event {
        PeerEvent::Added(info) => out.event(
            "peer_added",
            || {
                format!(
                    "peer added {} {} {:?} {}",
                    info.id, info.remote_addr, info.direction, info.client_id
                )
            },
            json!({
                "id": info.id.to_string(),
                "addr": info.remote_addr.to_string(),
                "direction": format!("{:?}", info.direction).to_lowercase(),
                "client": info.client_id,
            }),
        ),
        PeerEvent::Dropped { id, end } => out.event(
            "peer_dropped",
            || format!("peer dropped {id} {}", end.reason()),
            json!({
                "id": id.to_string(),
                "reason": end.reason().to_string(),
                "code": end.reason().code(),
                "by_remote": matches!(end, peerwire::protocol::SessionEnd::Remote(_)),
            }),
        ),
        PeerEvent::Rejected { id, reason, .. } => {
            tracing::debug!(peer = %id.short(), %reason, "connection refused")
        }
        other => tracing::debug!(?other, "peer event"),
    }
}
