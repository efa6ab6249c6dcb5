//! The methods: go-ethereum's `admin_*` names with results shaped as geth shapes them, and
//! peerwire's own under `peerwire_*` (bans, one-shot dials, discovery, gossip).
//!
//! Every parameter a client sends is checked here: a value that does not parse (an enode URL,
//! a node id, an IP address) is `-32602 Invalid params`, as JSON-RPC 2.0 names it; a request
//! the node cannot carry out now (discovery off, a dial refused) is `-32000` with the reason.

use std::net::IpAddr;
use std::time::Duration;

use jsonrpsee::types::error::{ErrorObjectOwned, INVALID_PARAMS_CODE};
use jsonrpsee::types::Params;
use jsonrpsee::{Extensions, RpcModule};
use peerwire::crypto::{Enode, NodeId};
use peerwire::discovery::v4::Discv4Handle;
use peerwire::server::{BanTarget, ServerHandle};
use peerwire_gossip::Gossip;
use serde_json::{json, Value};
use sha3::{Digest, Keccak256};
use tokio::runtime::Handle;

/// JSON-RPC's first implementation-defined server error: the call was understood but could
/// not be carried out now.
const SERVER_ERROR: i32 = -32000;

/// What the methods act on.
#[derive(Clone, Debug)]
pub(crate) struct Admin {
    pub(crate) server: ServerHandle,
    pub(crate) gossip: Gossip,
    /// The node's runtime. The RPC server runs on a thread of its own; whatever a method
    /// starts (a dial, a static peer's redial loop, gossip's timer) must live with the node,
    /// so sync methods enter this runtime and async ones run on it.
    pub(crate) node: Handle,
}

impl Admin {
    /// Runs `f` on the node's runtime and waits for its answer.
    async fn on_node<T: Send + 'static>(
        &self,
        f: impl std::future::Future<Output = Result<T, ErrorObjectOwned>> + Send + 'static,
    ) -> Result<T, ErrorObjectOwned> {
        self.node.spawn(f).await.map_err(|e| server_error(&e))?
    }
}

/// Every method, for the HTTP server and the unix socket alike.
pub(crate) fn module(admin: Admin) -> RpcModule<Admin> {
    let mut m = RpcModule::new(admin);
    // Each name is registered once below: `register_*` fails only on a duplicate name.
    let expect = "each method name is registered once";
    m.register_method("admin_nodeInfo", |_, a, _| node_info(&a.server))
        .expect(expect);
    m.register_method("admin_peers", |_, a, _| peers(&a.server))
        .expect(expect);
    m.register_method("admin_addPeer", |p, a, _| {
        let _node = a.node.enter();
        a.server.add_peer(one_enode(&p)?);
        Ok::<_, ErrorObjectOwned>(true)
    })
    .expect(expect);
    m.register_method("admin_removePeer", |p, a, _| {
        let _node = a.node.enter();
        a.server.remove_peer(&one_enode(&p)?.id);
        Ok::<_, ErrorObjectOwned>(true)
    })
    .expect(expect);
    m.register_method("admin_addTrustedPeer", |p, a, _| {
        let _node = a.node.enter();
        a.server.add_trusted_peer(one_enode(&p)?.id);
        Ok::<_, ErrorObjectOwned>(true)
    })
    .expect(expect);
    m.register_method("admin_removeTrustedPeer", |p, a, _| {
        let _node = a.node.enter();
        a.server.remove_trusted_peer(&one_enode(&p)?.id);
        Ok::<_, ErrorObjectOwned>(true)
    })
    .expect(expect);
    m.register_method("peerwire_ban", ban).expect(expect);
    m.register_method("peerwire_unban", |p, a, _| {
        let _node = a.node.enter();
        let target: String = p.one()?;
        Ok::<_, ErrorObjectOwned>(a.server.unban(ban_target(&target)?))
    })
    .expect(expect);
    m.register_method("peerwire_bans", |_, a, _| bans(&a.server))
        .expect(expect);
    m.register_async_method("peerwire_dial", |p, a, _| async move {
        let enode = one_enode(&p)?;
        let server = a.server.clone();
        a.on_node(async move {
            match server.dial(enode).await {
                Ok(info) => Ok(json!({
                    "id": info.id.to_string(),
                    "remoteAddress": info.remote_addr.to_string(),
                    "name": info.client_id,
                })),
                Err(e) => Err(server_error(&e)),
            }
        })
        .await
    })
    .expect(expect);
    m.register_async_method("peerwire_discoveryTable", |_, a, _| async move {
        let d = discovery(&a.server)?.clone();
        a.on_node(async move {
            let nodes = d.table().await.map_err(|e| server_error(&e))?;
            Ok(enodes(nodes))
        })
        .await
    })
    .expect(expect);
    m.register_async_method("peerwire_lookup", |p, a, _| async move {
        let target: Option<String> = p.sequence().optional_next()?;
        let target = target.map(|t| parse_id(&t)).transpose()?;
        let d = discovery(&a.server)?.clone();
        a.on_node(async move {
            let found = match target {
                Some(id) => d.lookup(*id.as_bytes()).await,
                None => d.lookup_random().await,
            }
            .map_err(|e| server_error(&e))?;
            Ok(enodes(found.iter().map(|r| r.to_enode())))
        })
        .await
    })
    .expect(expect);
    m.register_method("peerwire_publish", |p, a, _| {
        let _node = a.node.enter();
        let text: String = p.one()?;
        match a.gossip.publish(crate::gossip::TOPIC, text.into_bytes()) {
            Ok(id) => Ok(json!({ "id": id.to_string() })),
            Err(e) => Err(server_error(&e)),
        }
    })
    .expect(expect);
    m
}

/// geth's `admin_nodeInfo`: `id` is keccak256 of the public key (geth's `enode.ID`), the
/// enode URL carries the key itself.
fn node_info(server: &ServerHandle) -> Value {
    let info = server.node_info();
    let enode = server.local_enode();
    let enr = server.discovery().map(|d| d.local_enr().to_base64());
    let discovery_port = server.discovery().map_or(0, |d| d.local_addr().port());
    json!({
        "id": geth_id(&info.id),
        "name": info.name,
        "enode": enode.to_string(),
        "enr": enr,
        "ip": enode.ip.to_string(),
        "ports": { "discovery": discovery_port, "listener": enode.tcp_port },
        "listenAddr": info.listen_addr.map(|a| a.to_string()),
        "protocols": info.protocols,
    })
}

/// geth's `admin_peers`, each with peerwire's `traffic` (bytes of whole frames each way)
/// and `connectedSecs` added.
fn peers(server: &ServerHandle) -> Value {
    let reports = server.peers_info();
    let list: Vec<Value> = reports
        .into_iter()
        .map(|r| {
            let info = &r.info;
            let peer = server.peer(&info.id);
            let traffic = peer.as_ref().map(|p| p.traffic()).unwrap_or_default();
            let secs = peer.as_ref().map_or(0, |p| p.connected_for().as_secs());
            json!({
                "enode": r.enode.map(|e| e.to_string()),
                "id": geth_id(&info.id),
                "nodeId": info.id.to_string(),
                "name": info.client_id,
                "caps": info.capabilities.iter().map(|c| c.capability.to_string()).collect::<Vec<_>>(),
                "network": {
                    "localAddress": info.local_addr.to_string(),
                    "remoteAddress": info.remote_addr.to_string(),
                    "inbound": info.direction == peerwire::protocol::Direction::Inbound,
                    "trusted": server.is_trusted(&info.id),
                    "static": server.is_static(&info.id),
                },
                "protocols": r.protocols,
                "traffic": { "ingress": traffic.ingress, "egress": traffic.egress },
                "connectedSecs": secs,
            })
        })
        .collect();
    Value::Array(list)
}

/// `peerwire_ban(target, seconds?)`: a node id or an IP address; no seconds: until unbanned.
fn ban(p: Params<'_>, a: &Admin, _: &Extensions) -> Result<bool, ErrorObjectOwned> {
    let mut seq = p.sequence();
    let target: String = seq.next()?;
    let secs: Option<u64> = seq.optional_next()?;
    let target = ban_target(&target)?;
    let _node = a.node.enter();
    a.server
        .ban(target, secs.map_or(Duration::MAX, Duration::from_secs));
    Ok(true)
}

/// `peerwire_bans`: `[{ "ip" | "node": ..., "secondsLeft": n | null }]`: addresses in
/// address order, then node ids in id order.
fn bans(server: &ServerHandle) -> Value {
    let mut list: Vec<(BanKey, Value)> = server
        .bans()
        .into_iter()
        .filter_map(|b| {
            let left = b.remaining.map(|d| d.as_secs());
            Some(match b.target {
                BanTarget::Ip(ip) => (
                    BanKey::Ip(ip),
                    json!({ "ip": ip.to_string(), "secondsLeft": left }),
                ),
                BanTarget::Node(id) => (
                    BanKey::Node(id.to_string()),
                    json!({ "node": id.to_string(), "secondsLeft": left }),
                ),
                // The enum is non_exhaustive: a kind added later is not listed here.
                _ => return None,
            })
        })
        .collect();
    list.sort_by(|a, b| a.0.cmp(&b.0));
    Value::Array(list.into_iter().map(|(_, v)| v).collect())
}

/// The order bans are listed in: addresses first.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
enum BanKey {
    Ip(IpAddr),
    Node(String),
}

fn geth_id(id: &NodeId) -> String {
    hex::encode(Keccak256::digest(id.as_bytes()))
}

fn enodes(nodes: impl IntoIterator<Item = Enode>) -> Value {
    nodes.into_iter().map(|e| e.to_string()).collect()
}

fn discovery(server: &ServerHandle) -> Result<&Discv4Handle, ErrorObjectOwned> {
    server
        .discovery()
        .ok_or_else(|| ErrorObjectOwned::owned(SERVER_ERROR, "discovery is off", None::<()>))
}

/// The single parameter, an enode URL or an `enr:` record.
fn one_enode(p: &Params<'_>) -> Result<Enode, ErrorObjectOwned> {
    let text: String = p.one()?;
    crate::discover::parse_node(&text).map_err(invalid_params)
}

fn parse_id(text: &str) -> Result<NodeId, ErrorObjectOwned> {
    text.parse::<NodeId>()
        .map_err(|e| invalid_params(e.to_string()))
}

/// A node id (128 hex digits) or an IP address.
fn ban_target(text: &str) -> Result<BanTarget, ErrorObjectOwned> {
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Ok(BanTarget::from(ip));
    }
    match text.parse::<NodeId>() {
        Ok(id) => Ok(BanTarget::from(id)),
        Err(_) => Err(invalid_params(
            "expected a node id (128 hex digits) or an IP address".to_string(),
        )),
    }
}

fn invalid_params(message: String) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(INVALID_PARAMS_CODE, message, None::<()>)
}

fn server_error(e: &dyn std::error::Error) -> ErrorObjectOwned {
    ErrorObjectOwned::owned(SERVER_ERROR, e.to_string(), None::<()>)
}
