//! What a protocol tells an admin API about itself and about each peer (go-ethereum's
//! `Protocol.NodeInfo` and `Protocol.PeerInfo`), and the per-peer report built from it.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Serialize, Serializer};

use super::{Peer, PeerInfo, Protocol};
use crate::crypto::Enode;

type NodeInfoFn = dyn Fn() -> InfoValue + Send + Sync;
type PeerInfoFn = dyn Fn(&Peer) -> InfoValue + Send + Sync;

/// What an info hook reported: any serde-serializable value, written out by whichever format
/// the admin API uses (JSON, CBOR, ...).
#[derive(Clone)]
pub struct InfoValue(Arc<dyn erased_serde::Serialize + Send + Sync>);

impl InfoValue {
    fn new<T: Serialize + Send + Sync + 'static>(value: T) -> Self {
        Self(Arc::new(value))
    }
}

impl Serialize for InfoValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        erased_serde::serialize(&*self.0, serializer)
    }
}

impl std::fmt::Debug for InfoValue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InfoValue(..)")
    }
}

/// A protocol's optional info hooks.
#[derive(Clone, Default)]
pub(super) struct InfoHooks {
    node: Option<Arc<NodeInfoFn>>,
    peer: Option<Arc<PeerInfoFn>>,
}

impl Protocol {
    /// Sets what [`node_info`](Self::node_info) reports: `hook` is called on every
    /// `ServerHandle::node_info()`, so it may report live state (go-ethereum's
    /// `Protocol.NodeInfo`, e.g. the chain head). Keep it quick: it runs on the caller's task.
    pub fn with_node_info<F, T>(mut self, hook: F) -> Self
    where
        F: Fn() -> T + Send + Sync + 'static,
        T: Serialize + Send + Sync + 'static,
    {
        self.info.node = Some(Arc::new(move || InfoValue::new(hook())));
        self
    }

    /// Sets what [`peer_info`](Self::peer_info) reports about one peer that runs this
    /// protocol (go-ethereum's `Protocol.PeerInfo`), called on every
    /// `ServerHandle::peers_info()`. Keep it quick, as for `with_node_info`.
    pub fn with_peer_info<F, T>(mut self, hook: F) -> Self
    where
        F: Fn(&Peer) -> T + Send + Sync + 'static,
        T: Serialize + Send + Sync + 'static,
    {
        self.info.peer = Some(Arc::new(move |peer| InfoValue::new(hook(peer))));
        self
    }

    /// What the node-info hook reports now; `None` without a hook.
    pub fn node_info(&self) -> Option<InfoValue> {
        self.info.node.as_ref().map(|hook| hook())
    }

    /// What the peer-info hook reports about `peer` now; `None` without a hook.
    pub fn peer_info(&self, peer: &Peer) -> Option<InfoValue> {
        self.info.peer.as_ref().map(|hook| hook(peer))
    }
}

/// The node-info hooks' reports, keyed by protocol name; when several versions of one
/// protocol have a hook, the highest version's.
pub(crate) fn node_infos(protocols: &[Protocol]) -> BTreeMap<String, InfoValue> {
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
#[derive(Clone, Debug, Serialize)]
#[non_exhaustive]
pub struct PeerReport {
    /// The facts of the connection.
    #[serde(flatten)]
    pub info: PeerInfo,
    /// Where the peer can be dialed, if known ([`Peer::enode`]).
    pub enode: Option<Enode>,
    /// Each running protocol's peer-info hook report, by protocol name (only one version of
    /// a protocol runs on a session). Protocols without a hook are left out.
    pub protocols: BTreeMap<String, InfoValue>,
}

impl PeerReport {
    /// The report on `peer`, asking the hooks of those `protocols` it runs.
    pub(crate) fn new<'a>(peer: &Peer, protocols: impl IntoIterator<Item = &'a Protocol>) -> Self {
        let protocols = protocols
            .into_iter()
            .filter(|p| peer.sender(&p.capability).is_ok())
            .filter_map(|p| Some((p.capability.name.clone(), p.peer_info(peer)?)))
            .collect();
        Self {
            info: peer.info().clone(),
            enode: peer.enode(),
            protocols,
        }
    }
}
