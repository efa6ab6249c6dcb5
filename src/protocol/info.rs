//! What a protocol tells an admin API about itself and about each peer (go-ethereum's
//! `Protocol.NodeInfo` and `Protocol.PeerInfo`), and the per-peer report built from it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;

use super::{Peer, PeerInfo, Protocol};
use crate::crypto::Enode;

type NodeInfoFn = dyn Fn() -> Value + Send + Sync;
type PeerInfoFn = dyn Fn(&Peer) -> Value + Send + Sync;

/// A protocol's optional info hooks.
#[derive(Clone, Default)]
pub(super) struct InfoHooks {
    node: Option<Arc<NodeInfoFn>>,
    peer: Option<Arc<PeerInfoFn>>,
}

/// A hook's value as JSON; a value serde cannot put in JSON (a map with non-string keys)
/// becomes `null`, with a warning.
fn to_json<T: Serialize>(protocol: &str, value: T) -> Value {
    serde_json::to_value(value).unwrap_or_else(|e| {
        tracing::warn!(protocol, error = %e, "protocol info is not JSON");
        Value::Null
    })
}

impl Protocol {
    /// Sets what [`node_info`](Self::node_info) reports: `hook` is called on every
    /// `ServerHandle::node_info()`, so it may report live state (go-ethereum's
    /// `Protocol.NodeInfo`, e.g. the chain head). Keep it quick: it runs on the caller's task.
    pub fn with_node_info<F, T>(mut self, hook: F) -> Self
    where
        F: Fn() -> T + Send + Sync + 'static,
        T: Serialize,
    {
        let name = self.capability.to_string();
        self.info.node = Some(Arc::new(move || to_json(&name, hook())));
        self
    }

    /// Sets what [`peer_info`](Self::peer_info) reports about one peer that runs this
    /// protocol (go-ethereum's `Protocol.PeerInfo`), called on every
    /// `ServerHandle::peers_info()`. Keep it quick, as for `with_node_info`.
    pub fn with_peer_info<F, T>(mut self, hook: F) -> Self
    where
        F: Fn(&Peer) -> T + Send + Sync + 'static,
        T: Serialize,
    {
        let name = self.capability.to_string();
        self.info.peer = Some(Arc::new(move |peer| to_json(&name, hook(peer))));
        self
    }

    /// What the node-info hook reports now; `None` without a hook.
    pub fn node_info(&self) -> Option<Value> {
        self.info.node.as_ref().map(|hook| hook())
    }

    /// What the peer-info hook reports about `peer` now; `None` without a hook.
    pub fn peer_info(&self, peer: &Peer) -> Option<Value> {
        self.info.peer.as_ref().map(|hook| hook(peer))
    }
}

/// The node-info hooks' reports, keyed by protocol name; when several versions of one
/// protocol have a hook, the highest version's.
pub(crate) fn node_infos(protocols: &[Protocol]) -> BTreeMap<String, Value> {
    let mut sorted: Vec<&Protocol> = protocols.iter().collect();
    sorted.sort_by_key(|p| p.capability.version);
    sorted
        .into_iter()
        .filter_map(|p| Some((p.capability.name.clone(), p.node_info()?)))
        .collect()
}

/// What an admin API shows of a connected peer (go-ethereum's `p2p.PeerInfo`), from
/// `ServerHandle::peers_info()`. Serializes as the [`PeerInfo`] fields plus `enode` and
/// `protocols`.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[non_exhaustive]
pub struct PeerReport {
    /// The facts of the connection.
    #[serde(flatten)]
    pub info: PeerInfo,
    /// Where the peer can be dialed, if known ([`Peer::enode`]).
    pub enode: Option<Enode>,
    /// Each running protocol's peer-info hook report, by protocol name (only one version of
    /// a protocol runs on a session). Protocols without a hook are left out.
    pub protocols: BTreeMap<String, Value>,
}

impl PeerReport {
    /// The report on `peer`, asking the hooks of those `protocols` it runs.
    pub(crate) fn new<'a>(peer: &Peer, protocols: impl IntoIterator<Item = &'a Protocol>) -> Self {
        let protocols = protocols
            .into_iter()
            .filter(|p| peer.sender(&p.capability).is_ok())
            .filter_map(|p| Some((p.capability.name.clone(), p.peer_info(peer)?)))
            .collect();
        PeerReport {
            info: peer.info().clone(),
            enode: peer.enode(),
            protocols,
        }
    }
}
