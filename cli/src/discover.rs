//! `peerwire discover` (resolve one node: ping, ask its ENR) and `peerwire crawl` (walk the
//! DHT from bootnodes), the counterparts of go-ethereum's `devp2p discv4 resolve/crawl` (and
//! `discv5 resolve/crawl` with `--v5`); and the discovery flags of `peerwire node`.

use std::collections::HashSet;
use std::str::FromStr;
use std::time::Duration;

use peerwire::crypto::{Enode, NodeKey};
use peerwire::discovery::enr::{self, Record};
use peerwire::discovery::v4::{DiscoveryEvent, Discv4Handle, QueryError, ServiceConfig};
use peerwire::discovery::v5::{Discv5Config, Discv5Handle};
use peerwire::nat::{NatMode, ParseNatError};
use serde_json::json;

use crate::output::Output;

/// `--nat any|upnp|pmp|extip:IP|none`, as go-ethereum spells it.
pub(crate) fn parse_nat(text: &str) -> Result<NatMode, String> {
    text.parse().map_err(|e: ParseNatError| e.to_string())
}

/// An enode URL or an `enr:` record.
pub(crate) fn parse_node(text: &str) -> Result<Enode, String> {
    if text.starts_with("enr:") {
        let record = Record::from_str(text).map_err(|e| format!("bad ENR: {e}"))?;
        return enr::to_enode(&record).ok_or_else(|| "ENR has no IP address or port".into());
    }
    Enode::from_str(text).map_err(|e| e.to_string())
}

/// A node given on the command line: an enode URL, or an `enr:` record (which discv5 needs).
#[derive(Clone, Debug)]
pub(crate) struct NodeArg {
    pub(crate) enode: Enode,
    pub(crate) record: Option<Record>,
}

/// An enode URL or an `enr:` record, keeping the record.
pub(crate) fn parse_node_arg(text: &str) -> Result<NodeArg, String> {
    let record = if text.starts_with("enr:") {
        Some(Record::from_str(text).map_err(|e| format!("bad ENR: {e}"))?)
    } else {
        None
    };
    Ok(NodeArg {
        enode: parse_node(text)?,
        record,
    })
}

/// An `enr:` record (discv5 bootnodes).
pub(crate) fn parse_record(text: &str) -> Result<Record, String> {
    Record::from_str(text).map_err(|e| format!("bad ENR: {e}"))
}

/// The records of `nodes`, or which one is not a record.
fn records(nodes: &[NodeArg]) -> Result<Vec<Record>, String> {
    nodes
        .iter()
        .map(|n| {
            n.record
                .clone()
                .ok_or_else(|| format!("--v5 needs an enr: record, not {}", n.enode))
        })
        .collect()
}

/// Prints `node_found` lines for nodes discovery adds to the table, until it stops.
pub(crate) fn print_found_nodes(out: Output, discovery: &Discv4Handle) {
    let mut events = discovery.events();
    tokio::spawn(async move {
        loop {
            match events.recv().await {
                Ok(DiscoveryEvent::NodeFound(enode)) => node_line(out, "node_found", &enode),
                Ok(DiscoveryEvent::EndpointChanged(enode)) => out.event(
                    "endpoint_changed",
                    || format!("our address is now {enode}"),
                    json!({ "enode": enode.to_string() }),
                ),
                Ok(_) => {}
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
                Err(_) => return,
            }
        }
    });
}

fn node_line(out: Output, event: &str, enode: &Enode) {
    out.event(
        event,
        || format!("{event} {enode}"),
        json!({
            "id": enode.id.to_string(),
            "enode": enode.to_string(),
            "ip": enode.ip.to_string(),
            "tcp": enode.tcp_port,
            "udp": enode.udp_port,
        }),
    );
}

async fn service(bootnodes: Vec<Enode>) -> Result<Discv4Handle, String> {
    let key = NodeKey::random();
    let mut config = ServiceConfig::new(
        key,
        "0.0.0.0:0".parse().unwrap_or_else(|_| unreachable!()),
        0,
    );
    config.driver.bootnodes = bootnodes;
    Discv4Handle::spawn(config).await.map_err(|e| e.to_string())
}

async fn service_v5(bootnodes: Vec<Record>) -> Result<Discv5Handle, String> {
    let config = ServiceConfig::new(
        NodeKey::random(),
        "0.0.0.0:0".parse().unwrap_or_else(|_| unreachable!()),
        0,
    );
    let mut v5 = Discv5Config::default();
    v5.bootnodes = bootnodes;
    Discv5Handle::spawn(config, v5)
        .await
        .map_err(|e| e.to_string())
}

pub(crate) async fn discover(
    node: NodeArg,
    v5: bool,
    timeout: u64,
    json: bool,
) -> Result<(), String> {
    let limit = Duration::from_secs(timeout.max(1));
    let no_answer = || format!("no answer within {} s", limit.as_secs());
    let record = if v5 {
        let target = records(std::slice::from_ref(&node))?.remove(0);
        let disc = service_v5(Vec::new()).await?;
        let record = tokio::time::timeout(limit, disc.resolve(&target)).await;
        disc.stop();
        record
            .map_err(|_| no_answer())?
            .map_err(|e| e.to_string())?
    } else {
        let disc = service(Vec::new()).await?;
        let record = tokio::time::timeout(limit, disc.resolve(node.enode)).await;
        disc.stop();
        record
            .map_err(|_| no_answer())?
            .map_err(|e| e.to_string())?
    };
    print_record(Output { json }, &record);
    Ok(())
}

fn print_record(out: Output, record: &Record) {
    let enode = enr::to_enode(record);
    let text = record.to_base64();
    out.event(
        "node",
        || {
            let enode = enode.map_or_else(|| "-".to_string(), |e| e.to_string());
            format!("enr:    {text}\nseq:    {}\nenode:  {enode}", record.seq())
        },
        json!({
            "id": enr::node_id(record).to_string(),
            "enr": text,
            "seq": record.seq(),
            "enode": enode.map(|e| e.to_string()),
            "ip": record.ip4().map(|ip| ip.to_string()).or(record.ip6().map(|ip| ip.to_string())),
            "tcp": record.tcp4().or(record.tcp6()),
            "udp": record.udp4().or(record.udp6()),
        }),
    );
}

/// How long `crawl` waits before asking again when the service's lookup queue is full.
const BUSY_RETRY: Duration = Duration::from_millis(100);

pub(crate) async fn crawl(
    bootnodes: Vec<NodeArg>,
    v5: bool,
    timeout: u64,
    json: bool,
) -> Result<(), String> {
    if bootnodes.is_empty() {
        return Err("crawl needs --bootnodes".into());
    }
    let out = Output { json };
    if v5 {
        return crawl_v5(records(&bootnodes)?, timeout, out).await;
    }
    let disc = service(bootnodes.into_iter().map(|n| n.enode).collect()).await?;
    let mut events = disc.events();
    let mut seen = HashSet::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout.max(1));
    let bar = crate::progress::counter(json, "nodes found");
    let mut report = |enode: Enode| {
        if seen.insert(enode.id) {
            // The bar is taken off the terminal while the line is printed.
            bar.suspend(|| node_line(out, "node", &enode));
            bar.inc(1);
        }
    };
    // One lookup at a time, kept across events: dropping it on each event would leave its
    // lookup queued in the service and start another, until the queue is full.
    let mut lookup = Box::pin(disc.lookup_random());
    loop {
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break,
            found = &mut lookup => {
                match found {
                    Ok(nodes) => nodes.iter().for_each(|node| report(node.to_enode())),
                    // Refresh and the dial source run lookups too; ours waits its turn.
                    Err(QueryError::Busy) => tokio::time::sleep(BUSY_RETRY).await,
                    Err(e) => return Err(e.to_string()),
                }
                lookup = Box::pin(disc.lookup_random());
            }
            Ok(event) = events.recv() => {
                if let DiscoveryEvent::NodeFound(enode) = event {
                    report(enode);
                }
            }
        }
    }
    drop(lookup);
    bar.finish_and_clear();
    let stats = disc.stats().await.map_err(|e| e.to_string())?;
    out.event(
        "done",
        || {
            format!(
                "{} nodes, {} lookups",
                stats.table_len, stats.lookups.lookups
            )
        },
        json!({
            "table": stats.table_len,
            "lookups": stats.lookups.lookups,
            "packets_in": stats.packets_in,
            "packets_out": stats.packets_out,
        }),
    );
    disc.stop();
    Ok(())
}

/// `crawl --v5`: random discv5 lookups until the deadline, one line per new node (records
/// without an address are printed without one).
async fn crawl_v5(bootnodes: Vec<Record>, timeout: u64, out: Output) -> Result<(), String> {
    let disc = service_v5(bootnodes).await?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(timeout.max(1));
    let (mut seen, mut lookups) = (HashSet::new(), 0u64);
    while let Ok(found) = tokio::time::timeout_at(deadline, disc.lookup_random()).await {
        lookups += 1;
        for record in found.map_err(|e| e.to_string())? {
            if seen.insert(enr::node_id(&record)) {
                match enr::to_enode(&record) {
                    Some(enode) => node_line(out, "node", &enode),
                    None => out.event(
                        "node",
                        || format!("node {} (no address)", record.to_base64()),
                        json!({ "id": enr::node_id(&record).to_string(), "enr": record.to_base64() }),
                    ),
                }
            }
        }
        // A lookup that found nobody new at once (a lone bootnode) is not retried in a spin.
        tokio::time::sleep_until(deadline.min(tokio::time::Instant::now() + BUSY_RETRY)).await;
    }
    let stats = disc.stats();
    out.event(
        "done",
        || format!("{} nodes, {lookups} lookups", stats.table_len),
        json!({
            "table": stats.table_len,
            "lookups": lookups,
            "seen": seen.len(),
        }),
    );
    disc.stop();
    Ok(())
}
