//! `peerwire node`'s network-wide messages: stdin lines published over gossip/1, `/to`
//! lines sent to one node anywhere, and what arrives printed as events.

use peerwire::crypto::NodeId;
use peerwire::server::ServerHandle;
use peerwire_foobar::{FooBar, FooBarError};
use peerwire_gossip::{Delivery, Gossip, GossipEvent};
use serde_json::json;

use crate::output::Output;

/// The topic stdin lines are published on.
pub(crate) const TOPIC: &str = "chat";

/// Publishes `text` to the network. Peers that run foo/1 but not gossip/1 (other
/// implementations of the foo/bar guide) get it over foo/1 as before, and "foo" goes to
/// every foo/1 peer, so that the foo → bar exchange stays as it was.
pub(crate) fn publish(gossip: &Gossip, foobar: &FooBar, out: Output, text: &str) {
    if let Err(e) = gossip.publish(TOPIC, text.as_bytes().to_vec()) {
        out.event(
            "publish_failed",
            || format!("not published: {e}"),
            json!({ "reason": e.to_string() }),
        );
    }
    let gossiping = gossip.peers();
    for id in foobar.peers() {
        if text != "foo" && gossiping.contains(&id) {
            continue;
        }
        let Err(e) = foobar.try_send(&id, text) else {
            continue;
        };
        let reason = match e {
            FooBarError::Send(peerwire::protocol::SendError::Full) => "send queue full".to_string(),
            FooBarError::UnknownPeer(_)
            | FooBarError::Send(peerwire::protocol::SendError::Disconnected) => {
                "disconnected".to_string()
            }
            other => other.to_string(),
        };
        out.event(
            "send_skipped",
            || format!("send to {id} skipped: {reason}"),
            json!({ "to": id.to_string(), "reason": reason }),
        );
    }
}

/// Prints a message published by another node.
pub(crate) fn print_delivery(out: Output, d: &Delivery) {
    let text = String::from_utf8_lossy(&d.data);
    out.event(
        "gossip",
        || format!("gossip from {} ({} hops): {text}", d.origin, d.hops),
        json!({ "origin": d.origin.to_string(), "text": text, "hops": d.hops }),
    );
}

/// Prints a direct message or a penalty.
pub(crate) fn print_event(out: Output, event: &GossipEvent) {
    match event {
        GossipEvent::Direct { from, data } => {
            let text = String::from_utf8_lossy(data);
            out.event(
                "direct",
                || format!("direct from {from}: {text}"),
                json!({ "from": from.to_string(), "text": text }),
            );
        }
        GossipEvent::Penalty {
            peer,
            reason,
            count,
        } => tracing::info!(peer = %peer.short(), %reason, count, "gossip peer penalised"),
        other => tracing::debug!(?other, "gossip event"),
    }
}

/// `/to <id or id-prefix> text`: resolves the node and sends `text` to it, on a task of
/// its own (a lookup and a dial take a while; the node goes on meanwhile). Prints
/// `direct_sent` or `direct_failed`.
pub(crate) fn send_to(gossip: &Gossip, server: &ServerHandle, out: Output, command: &str) {
    let (target, text) = command.split_once(' ').unwrap_or((command, ""));
    let (target, text) = (target.to_ascii_lowercase(), text.to_string());
    let (gossip, server) = (gossip.clone(), server.clone());
    tokio::spawn(async move {
        let failed = |reason: String| {
            out.event(
                "direct_failed",
                || format!("direct to {target} failed: {reason}"),
                json!({ "to": target, "reason": reason }),
            );
        };
        let id = match resolve(&gossip, &server, &target).await {
            Ok(id) => id,
            Err(reason) => return failed(reason),
        };
        match gossip.send_to(&server, id, text.into_bytes()).await {
            Ok(route) => {
                let route = format!("{route:?}").to_lowercase();
                out.event(
                    "direct_sent",
                    || format!("direct to {id} sent ({route})"),
                    json!({ "to": id.to_string(), "route": route }),
                );
            }
            Err(e) => failed(e.to_string()),
        }
    });
}

/// The node `target` names: a whole id, or a prefix of exactly one id we know of (peers,
/// origins of recent gossip, the discovery table).
async fn resolve(gossip: &Gossip, server: &ServerHandle, target: &str) -> Result<NodeId, String> {
    if target.is_empty() || !target.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err("usage: /to <node id or id prefix, hex> text".into());
    }
    if let Ok(id) = target.parse::<NodeId>() {
        return Ok(id);
    }
    let mut known: Vec<NodeId> = server.peers().iter().map(|p| p.id()).collect();
    known.extend(gossip.origins());
    if let Some(discovery) = server.discovery() {
        if let Ok(table) = discovery.table().await {
            known.extend(table.iter().map(|e| e.id));
        }
    }
    known.sort_by_key(|id| *id.as_bytes());
    known.dedup();
    let mut matching = known.iter().filter(|id| id.to_string().starts_with(target));
    match (matching.next(), matching.next()) {
        (Some(id), None) => Ok(*id),
        (Some(_), Some(_)) => Err(format!("{target} matches more than one known node")),
        (None, _) => Err(format!("no known node starts with {target}")),
    }
}
