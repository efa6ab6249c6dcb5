//! `peerwire node`: a server running foo/bar and gossip/1, printing peer events and
//! messages.
//!
//! A stdin line is published to the whole network over gossip/1 (`/to <id> text` goes to
//! one node, see `gossip.rs`). The main loop never waits for a peer: messages are queued
//! for each peer without waiting (a peer whose queue is full is skipped, and reported), so
//! signals, output and the other peers go on while a peer that does not read runs into its
//! write timeout.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use peerwire::crypto::{Enode, NodeId, NodeKey};
use peerwire::datadir::DataDir;
use peerwire::nat::{NatConfig, NatEvent, NatMode};
use peerwire::server::store::DEFAULT_MAX_NODES;
use peerwire::server::{DiscoveryMode, PeerEvent, Server, ServerConfig, ServerHandle};
use peerwire_foobar::{FooBar, FooBarEvent};
use peerwire_gossip::Gossip;
use serde_json::json;
use tokio::signal::unix::{signal, SignalKind};

use crate::key::KeyArgs;
use crate::output::Output;
use crate::stdin::{Line, LineReader, MAX_LINE};

/// How long a stop may take to say goodbye to the peers. A peer that does not read holds its
/// session up to the write timeout (20 s) plus the disconnect linger; the command does not
/// wait for that.
const STOP_GRACE: Duration = Duration::from_secs(3);

#[derive(clap::Args, Debug)]
pub(crate) struct NodeArgs {
    /// Read flags from a TOML file: each long flag is a key (`max-peers = 50`,
    /// `bootnodes = ["enode://…"]`, `nodiscover = true`); flags given here win.
    /// `peerwire dumpconfig` prints the effective configuration.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Address to listen on, e.g. 127.0.0.1:30303 (port 0 picks one).
    #[arg(long)]
    listen: SocketAddr,
    #[command(flatten)]
    key: KeyArgs,
    /// Keep the node's state in DIR (created if missing): the node key in DIR/nodekey
    /// (made on first start, mode 0600; --key, --keyfile and PEERWIRE_KEY still win), and
    /// in DIR/peers.redb the nodes and peers seen, static and trusted peers, bans and
    /// reputation, so that a restarted node rejoins without bootnodes. One node per DIR.
    #[arg(long, value_name = "DIR")]
    datadir: Option<PathBuf>,
    /// A peer to keep connected (repeatable). Its host may be a DNS name, resolved now and
    /// every minute: the peer is followed when its address changes.
    #[arg(long = "peer", value_name = "ENODE")]
    peers: Vec<peerwire::crypto::EnodeUrl>,
    /// Most peers.
    #[arg(long, default_value_t = 50)]
    max_peers: usize,
    /// Client id sent in Hello.
    #[arg(long)]
    name: Option<String>,
    /// One JSON object per line.
    #[arg(long)]
    json: bool,
    /// Discovery entry points: enode URLs or ENRs, comma-separated.
    #[arg(long, value_delimiter = ',', value_parser = crate::discover::parse_node)]
    bootnodes: Vec<Enode>,
    /// Run Node Discovery v5 too, on discovery's UDP port, with the same record.
    #[arg(long)]
    discv5: bool,
    /// discv5 entry points: `enr:` records, comma-separated (implies --discv5).
    #[arg(long, value_delimiter = ',', value_parser = crate::discover::parse_record)]
    v5_bootnodes: Vec<peerwire::discovery::enr::Record>,
    /// Dial nodes from DNS lists (EIP-1459): enrtree://KEY@DOMAIN URLs, comma-separated,
    /// resolved through the system's resolver and re-checked every 30 minutes.
    #[arg(long, value_delimiter = ',', value_name = "URL")]
    dns_discovery: Vec<peerwire::discovery::dns::Link>,
    /// Do not run discovery (only --peer nodes are dialed).
    #[arg(long)]
    nodiscover: bool,
    /// How to be reachable behind a router: `upnp` or `pmp` (NAT-PMP) map the listen and
    /// discovery ports on the gateway and advertise its external address, `any` tries UPnP
    /// then NAT-PMP, `extip:IP` advertises IP, `none` (the default) learns the address from
    /// other nodes.
    #[arg(long, value_parser = crate::discover::parse_nat, default_value = "none")]
    nat: NatMode,
    /// The port mapping lease asked for, in seconds (renewed at half of it).
    #[arg(long, value_name = "SECONDS", default_value_t = 1200)]
    nat_lease: u64,
    /// Serve Prometheus metrics at http://ADDR/metrics, e.g. 127.0.0.1:9100.
    #[arg(long, value_name = "ADDR")]
    metrics: Option<SocketAddr>,
    /// Serve blobs/1 from DIR: blobs are kept there named by their sha256; plain files in
    /// DIR's top level are imported (copied under their hash) at start, one `blob_added` each.
    #[arg(long, value_name = "DIR")]
    blobs: Option<PathBuf>,
    #[command(flatten)]
    rpc: crate::rpc::RpcArgs,
}

pub(crate) async fn run(args: NodeArgs) -> Result<(), String> {
    let out = Output { json: args.json };
    let rpc_secret = crate::rpc::check(&args.rpc)?;
    // Held until the node exits: the directory's lock.
    let datadir = match &args.datadir {
        Some(dir) => Some(DataDir::open(dir).map_err(|e| e.to_string())?),
        None => None,
    };
    let key = match (args.key.given()?, &datadir) {
        (Some(key), _) => key,
        (None, Some(dir)) => dir.node_key().map_err(|e| e.to_string())?,
        (None, None) => NodeKey::random(),
    };
    let (foobar, mut messages) = FooBar::new();
    let (gossip, mut gossip_events) = Gossip::new(key.clone(), peerwire_gossip::Config::default());
    let mut published = gossip.subscribe(crate::gossip::TOPIC);
    let mut config = ServerConfig::new(key.clone());
    config.listen_addr = Some(args.listen);
    config.max_peers = args.max_peers;
    config.protocols = vec![foobar.protocol(), gossip.protocol()];
    if let Some(dir) = &datadir {
        let opened = dir
            .open_store(DEFAULT_MAX_NODES)
            .map_err(|e| e.to_string())?;
        if let Some((aside, why)) = &opened.moved_aside {
            eprintln!(
                "peerwire: warning: the peer store was unreadable ({why}); moved to {} and \
                 started with an empty one",
                aside.display()
            );
        }
        config.store.backend = Some(opened.backend());
    }
    let blobs = match &args.blobs {
        Some(dir) => {
            let blobs = crate::blobs::open(dir)?;
            config.protocols.push(blobs.protocol());
            Some(blobs)
        }
        None => None,
    };
    if let Some(name) = args.name {
        config.name = name;
    }
    config.discovery.bootnodes = args.bootnodes;
    config.discovery.mode = if args.nodiscover {
        DiscoveryMode::Never
    } else {
        DiscoveryMode::Always
    };
    config.discovery.v5.enabled = args.discv5 || !args.v5_bootnodes.is_empty();
    config.discovery.v5.bootnodes = args.v5_bootnodes;
    config.nat = NatConfig::new(args.nat);
    config.nat.lease = Duration::from_secs(args.nat_lease.max(1));
    // A short lease is for tests and demos: retry as soon as it would renew.
    config.nat.retry = config.nat.retry.min(config.nat.lease / 2);
    let mut sigterm =
        signal(SignalKind::terminate()).map_err(|e| format!("cannot watch SIGTERM: {e}"))?;
    let mut sigint =
        signal(SignalKind::interrupt()).map_err(|e| format!("cannot watch SIGINT: {e}"))?;
    // Before the server starts, so that the library records into it from the first handle.
    let metrics = match args.metrics {
        Some(addr) => Some(crate::metrics::serve(addr).await?),
        None => None,
    };
    let dns_sources = crate::dns::sources(&args.dns_discovery)?;
    let server = Server::start(config).await.map_err(|e| e.to_string())?;
    for source in dns_sources {
        if !server.add_node_source(source) {
            return Err("--dns-discovery: this node does not dial (no dialed slots)".into());
        }
    }
    let mut events = server.events();
    let enode = server.local_enode().to_string();
    out.event("listening", || enode.clone(), json!({ "enode": enode }));
    if let Some(discovery) = server.discovery() {
        crate::discover::print_found_nodes(out, discovery);
    }
    if let Some(v5) = server.discv5() {
        let enr = v5.local_enr().to_base64();
        out.event(
            "discv5",
            || format!("discv5 on udp {}: {enr}", v5.local_addr()),
            json!({ "enr": enr, "udp": v5.local_addr().to_string() }),
        );
    }
    if let Some(nat) = server.nat_events() {
        print_nat_events(out, server.clone(), nat);
    }
    if let Some(addr) = metrics {
        let url = format!("http://{addr}/metrics");
        out.event(
            "metrics",
            || format!("metrics at {url}"),
            json!({ "url": url }),
        );
    }
    let admin = crate::rpc::Admin {
        server: server.clone(),
        gossip: gossip.clone(),
        node: tokio::runtime::Handle::current(),
    };
    let rpc = crate::rpc::start(&args.rpc, rpc_secret, admin)?;
    if let Some(addr) = rpc.http {
        let url = format!("http://{addr}/");
        out.event(
            "rpc",
            || format!("RPC and status page at {url}"),
            json!({ "url": url }),
        );
    }
    if let Some(path) = rpc.ipc {
        let path = path.display().to_string();
        out.event(
            "ipc",
            || format!("RPC on the unix socket {path}"),
            json!({ "path": path }),
        );
    }
    if let (Some(blobs), Some(dir)) = (&blobs, &args.blobs) {
        crate::blobs::import(blobs, dir, out).await?;
    }
    for peer in args.peers {
        let resolver = std::sync::Arc::new(peerwire::server::SystemResolver);
        server.add_peer_url(peer, resolver, peerwire::server::NAME_RECHECK);
    }

    let mut stdin = Some(LineReader::new(tokio::io::BufReader::new(
        tokio::io::stdin(),
    )));
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
            Some(delivery) = published.recv() => crate::gossip::print_delivery(out, &delivery),
            Some(event) = gossip_events.recv() => crate::gossip::print_event(out, &event),
            line = next_line(&mut stdin) => match line {
                Some(Line::Text(line)) if !line.trim().is_empty() => {
                    let line = line.trim();
                    if let Some(rest) = line.strip_prefix("/to ") {
                        crate::gossip::send_to(&gossip, &server, out, rest.trim());
                    } else if let Some(rest) = line.strip_prefix("/ban ") {
                        ban(&server, out, rest.trim());
                    } else if let Some(rest) = line.strip_prefix("/unban ") {
                        unban(&server, out, rest.trim());
                    } else {
                        crate::gossip::publish(&gossip, &foobar, out, line);
                    }
                }
                Some(Line::Text(_)) => {}
                Some(Line::TooLong(len)) => eprintln!(
                    "peerwire: warning: a stdin line of {len} bytes was not sent \
                     (the limit is {MAX_LINE})"
                ),
                // Stdin closed: keep running until a signal.
                None => stdin = None,
            },
        }
    }
    if tokio::time::timeout(STOP_GRACE, server.stop())
        .await
        .is_err()
    {
        tracing::warn!(grace = ?STOP_GRACE, "peers still connected after the grace time; exiting");
    }
    Ok(())
}

/// The next stdin line, or never once stdin is closed. Cancel-safe.
async fn next_line(
    stdin: &mut Option<LineReader<tokio::io::BufReader<tokio::io::Stdin>>>,
) -> Option<Line> {
    match stdin {
        Some(lines) => lines.next_line().await,
        None => std::future::pending().await,
    }
}

/// `/ban <node id> [seconds]`: bans a node (default: until unbanned), disconnecting it.
fn ban(server: &ServerHandle, out: Output, args: &str) {
    let mut words = args.split_whitespace();
    let id = words.next().map(str::parse::<NodeId>);
    let secs = words.next().map(str::parse::<u64>).transpose();
    match (id, secs) {
        (Some(Ok(id)), Ok(secs)) => {
            let duration = secs.map_or(Duration::MAX, Duration::from_secs);
            server.ban(id, duration);
            out.event(
                "banned",
                || format!("banned {id}"),
                json!({ "id": id.to_string(), "seconds": secs }),
            );
        }
        _ => eprintln!("peerwire: usage: /ban <node id, 128 hex digits> [seconds]"),
    }
}

/// `/unban <node id>`.
fn unban(server: &ServerHandle, out: Output, args: &str) {
    match args.parse::<NodeId>() {
        Ok(id) => {
            let was = server.unban(id);
            out.event(
                "unbanned",
                || format!("unbanned {id} (was banned: {was})"),
                json!({ "id": id.to_string(), "was_banned": was }),
            );
        }
        Err(_) => eprintln!("peerwire: usage: /unban <node id, 128 hex digits>"),
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
        PeerEvent::Banned {
            id,
            score,
            duration,
        } => out.event(
            "banned",
            || format!("banned {id} for its reputation ({score}) for {duration:?}"),
            json!({ "id": id.to_string(), "score": score, "seconds": duration.as_secs() }),
        ),
        PeerEvent::Rejected { id, reason, .. } => {
            tracing::debug!(peer = %id.short(), %reason, "connection refused")
        }
        other => tracing::debug!(?other, "peer event"),
    }
}

/// Prints a line for each port mapping event until the server stops: `nat_mapped`,
/// `nat_renewed`, `nat_address_changed` carry our enode as the gateway maps it.
fn print_nat_events(
    out: Output,
    server: ServerHandle,
    mut events: tokio::sync::broadcast::Receiver<NatEvent>,
) {
    tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return,
            };
            let (name, mapping, error) = match event {
                NatEvent::Mapped(m) => ("nat_mapped", Some(m), None),
                NatEvent::Renewed(m) => ("nat_renewed", Some(m), None),
                NatEvent::AddressChanged(m) => ("nat_address_changed", Some(m), None),
                NatEvent::Lost(e) => ("nat_lost", None, Some(e)),
                NatEvent::Refused(e) => ("nat_refused", None, Some(e)),
                NatEvent::Removed => ("nat_removed", None, None),
                // The enum is non_exhaustive: an event added later is logged, not printed.
                other => {
                    tracing::debug!(?other, "port mapping event");
                    continue;
                }
            };
            let enode = mapping.map(|_| server.local_enode().to_string());
            let lease = mapping.map(|m| m.lease.map_or(0, |l| l.as_secs()));
            let error = error.map(|e| e.to_string());
            out.event(
                name,
                || match (&enode, &error) {
                    (Some(enode), _) => format!("{name} {enode}"),
                    (None, Some(error)) => format!("{name}: {error}"),
                    (None, None) => name.to_string(),
                },
                json!({ "enode": enode, "lease": lease, "error": error }),
            );
        }
    });
}
