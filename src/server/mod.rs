//! The devp2p server: accepts and dials connections, admits peers and runs their sessions.
//!
//! ```text
//! accept loop ─┐                      ┌─ admission (slots, duplicates, self)
//!              ├─▶ serve_connection ──┤
//! dialer ──────┘   RLPx + Hello       └─ session (peer/): reader, writer, handlers
//! ```

mod admission;
mod config;
mod dialer;
mod events;

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{broadcast, Notify, OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use self::admission::Admission;
pub use self::config::ServerConfig;
pub use self::events::PeerEvent;
use crate::crypto::{Enode, NodeId, NodeKey};
use crate::peer::setup::{self, SetupError};
use crate::peer::{Session, SessionEnd};
use crate::protocol::{Direction, Peer, PeerInfo, Protocol};
use crate::rlpx::{RlpxConfig, RlpxStream};
use crate::wire::{Capability, DisconnectReason, Hello};

/// Why a server could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StartError {
    /// The listen address could not be bound.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        /// The address asked for.
        addr: SocketAddr,
        /// Why.
        source: std::io::Error,
    },
    /// Two protocols with the same name and version.
    #[error("protocol {0} registered twice")]
    DuplicateProtocol(Capability),
    /// The protocols' message codes together overflow the 64-bit code space.
    #[error("protocol {0} does not fit the message-code space")]
    TooManyCodes(Capability),
    /// Our Hello (client id and capabilities) would exceed the 2 KiB peers accept.
    #[error(
        "our Hello is {0} bytes, above the 2 KiB limit: shorten the name or the protocol list"
    )]
    HelloTooLarge(usize),
}

/// The largest frame accepted before Hello: a Hello plus its message id.
const HELLO_FRAME_LIMIT: usize = crate::wire::MAX_HELLO_SIZE + 16;

/// Starts servers; see [`Server::start`].
#[derive(Debug)]
pub struct Server;

/// Facts about the local node.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct NodeInfo {
    /// Our node id.
    pub id: NodeId,
    /// Our enode URL.
    pub enode: Enode,
    /// Our client id.
    pub name: String,
    /// The bound listen address, if listening.
    pub listen_addr: Option<SocketAddr>,
    /// The capabilities we run.
    pub capabilities: Vec<Capability>,
}

struct State {
    admission: Admission,
    peers: HashMap<NodeId, Peer>,
    statics: HashMap<NodeId, CancellationToken>,
}

pub(crate) struct Shared {
    config: ServerConfig,
    key: NodeKey,
    info: NodeInfo,
    hello: Hello,
    local_caps: Vec<(Capability, u64)>,
    state: Mutex<State>,
    events: broadcast::Sender<PeerEvent>,
    /// Handshake slots of accepted connections.
    pending: Arc<Semaphore>,
    /// Handshake slots of dialed connections, separate so that neither direction can starve
    /// the other.
    dialing: Arc<Semaphore>,
    shutdown: CancellationToken,
    tasks: TaskTracker,
    peers_changed: Notify,
}

impl Shared {
    fn state(&self) -> MutexGuard<'_, State> {
        // No code panics while holding the lock; recover the data if it ever happens.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn is_connected(&self, id: &NodeId) -> bool {
        self.state().admission.is_connected(id)
    }

    fn emit(&self, event: PeerEvent) {
        // No subscribers is fine.
        let _ = self.events.send(event);
    }

    fn protocol_for(&self, cap: &Capability) -> Option<Protocol> {
        self.config
            .protocols
            .iter()
            .find(|p| p.capability() == *cap)
            .cloned()
    }
}

impl Server {
    /// Binds the listen address, starts accepting, and dials the static peers.
    pub async fn start(config: ServerConfig) -> Result<ServerHandle, StartError> {
        let mut local_caps: Vec<(Capability, u64)> = Vec::new();
        let mut codes = crate::wire::BASE_PROTOCOL_LENGTH;
        for p in &config.protocols {
            if local_caps.iter().any(|(c, _)| *c == p.capability()) {
                return Err(StartError::DuplicateProtocol(p.capability()));
            }
            // Every protocol may end up shared, so all of them must fit the code space.
            codes = codes
                .checked_add(p.length())
                .ok_or(StartError::TooManyCodes(p.capability()))?;
            local_caps.push((p.capability(), p.length()));
        }
        let listener = match config.listen_addr {
            Some(addr) => Some(
                TcpListener::bind(addr)
                    .await
                    .map_err(|source| StartError::Bind { addr, source })?,
            ),
            None => None,
        };
        let bound = match &listener {
            Some(l) => Some(l.local_addr().map_err(|source| {
                StartError::Bind {
                    addr: config
                        .listen_addr
                        .unwrap_or(SocketAddr::from(([0, 0, 0, 0], 0))),
                    source,
                }
            })?),
            None => None,
        };
        let key = NodeKey::new(config.secret_key);
        let id = key.id();
        let advertised = bound.map_or(SocketAddr::from(([127, 0, 0, 1], 0)), |mut a| {
            // An unspecified address is not dialable: advertise loopback until NAT support.
            if a.ip().is_unspecified() {
                a.set_ip(IpAddr::V4(Ipv4Addr::LOCALHOST));
            }
            a
        });
        let info = NodeInfo {
            id,
            enode: Enode::new(id, advertised),
            name: config.name.clone(),
            listen_addr: bound,
            capabilities: local_caps.iter().map(|(c, _)| c.clone()).collect(),
        };
        let hello = setup::our_hello(
            &config.name,
            info.capabilities.clone(),
            advertised.port(),
            id,
        );
        let admission = Admission::new(
            id,
            config.max_peers,
            config.max_inbound(),
            config.max_dialed(),
            config.trusted_peers.iter().copied(),
        );
        let shared = Arc::new(Shared {
            key,
            info,
            hello,
            local_caps,
            state: Mutex::new(State {
                admission,
                peers: HashMap::new(),
                statics: HashMap::new(),
            }),
            events: broadcast::channel(config.event_capacity.max(1)).0,
            pending: Arc::new(Semaphore::new(config.max_pending_peers.max(1))),
            dialing: Arc::new(Semaphore::new(config.max_pending_peers.max(1))),
            shutdown: CancellationToken::new(),
            tasks: TaskTracker::new(),
            peers_changed: Notify::new(),
            config,
        });
        if let Some(listener) = listener {
            shared.tasks.spawn(accept_loop(shared.clone(), listener));
        }
        let handle = ServerHandle { shared };
        for enode in handle.shared.config.static_peers.clone() {
            handle.add_peer(enode);
        }
        tracing::info!(enode = %handle.shared.info.enode, "server started");
        Ok(handle)
    }
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        // Holding a pending slot before accepting leaves extra connections in the backlog.
        let permit = tokio::select! {
            permit = shared.pending.clone().acquire_owned() => match permit {
                Ok(p) => p,
                Err(_) => return,
            },
            _ = shared.shutdown.cancelled() => return,
        };
        let accepted = tokio::select! {
            accepted = listener.accept() => accepted,
            _ = shared.shutdown.cancelled() => return,
        };
        match accepted {
            Ok((io, addr)) => {
                let _ = io.set_nodelay(true);
                shared
                    .tasks
                    .spawn(serve_connection(shared.clone(), io, addr, None, permit));
            }
            Err(e) => {
                // E.g. out of file descriptors: pause rather than spin.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// Runs one connection from handshake to end. `dialed` is the id we dialed, if we did.
/// Returns how the session ended, or `None` if it never became a peer.
pub(crate) async fn serve_connection(
    shared: Arc<Shared>,
    io: TcpStream,
    remote_addr: SocketAddr,
    dialed: Option<NodeId>,
    permit: OwnedSemaphorePermit,
) -> Option<SessionEnd> {
    // Setup runs boxed: its state (handshake, Hello, the stream before it is split) is large
    // and short-lived, and would otherwise be reserved in every connected peer's task.
    let (info, running) = Box::pin(establish(&shared, io, remote_addr, dialed)).await?;
    let id = info.id;
    drop(permit);
    tracing::info!(peer = %id.short(), %remote_addr, direction = ?info.direction, client = %info.client_id, "peer added");
    shared.emit(PeerEvent::Added(info));

    let end = running.await;

    {
        let mut state = shared.state();
        state.admission.remove(&id);
        state.peers.remove(&id);
    }
    shared.peers_changed.notify_waiters();
    tracing::info!(peer = %id.short(), reason = %end.reason(), ?end, "peer dropped");
    shared.emit(PeerEvent::Dropped { id, end });
    Some(end)
}

/// A running session, as `serve_connection` awaits it.
type Running = std::pin::Pin<Box<dyn std::future::Future<Output = SessionEnd> + Send>>;

/// Handshake, Hello and admission; on success the peer is registered and its session runs.
async fn establish(
    shared: &Arc<Shared>,
    io: TcpStream,
    remote_addr: SocketAddr,
    dialed: Option<NodeId>,
) -> Option<(Arc<PeerInfo>, Running)> {
    let direction = if dialed.is_some() {
        Direction::Outbound
    } else {
        Direction::Inbound
    };
    let rlpx = RlpxConfig {
        handshake_timeout: shared.config.handshake_timeout,
        ..RlpxConfig::default()
    };
    let handshake = async {
        match dialed {
            Some(id) => RlpxStream::connect(io, &shared.key, id, &rlpx).await,
            None => RlpxStream::accept(io, &shared.key, &rlpx).await,
        }
    };
    let mut stream = tokio::select! {
        result = handshake => match result {
            Ok(stream) => stream,
            Err(e) => {
                tracing::debug!(%remote_addr, error = %e, "rlpx handshake failed");
                return None;
            }
        },
        _ = shared.shutdown.cancelled() => return None,
    };
    let id = stream.remote_id();
    // Until Hello is read, nothing larger than a Hello is accepted: a peer that only completed
    // the ECIES handshake cannot make us buffer a 16 MiB frame.
    stream.set_max_frame_size(HELLO_FRAME_LIMIT);
    // Not cut short by `stop`: it is bounded by the handshake timeout, and finishing it lets
    // a stopping server refuse the peer with a proper Disconnect (Quitting).
    let negotiated = setup::negotiate(
        &mut stream,
        &shared.hello,
        &shared.local_caps,
        shared.config.handshake_timeout,
    )
    .await;
    let reject = |reason| {
        shared.emit(PeerEvent::Rejected {
            id,
            remote_addr,
            direction,
            reason,
        })
    };
    let negotiated = match negotiated {
        Ok(n) => n,
        Err(e) => {
            tracing::debug!(peer = %id.short(), %remote_addr, error = %e, "session setup failed");
            let reason = match e {
                SetupError::Disconnected(reason) => Some(reason),
                other => other.disconnect_reason(),
            };
            if let Some(reason) = reason {
                reject(reason);
            }
            return None;
        }
    };
    stream.set_max_frame_size(crate::rlpx::MAX_FRAME_SIZE);
    let protocols: Vec<Protocol> = negotiated
        .shared
        .iter()
        .filter_map(|s| shared.protocol_for(&s.capability))
        .collect();
    let info = Arc::new(PeerInfo {
        id,
        remote_addr,
        direction,
        client_id: negotiated.hello.client_id.clone(),
        protocol_version: negotiated.hello.protocol_version,
        listen_port: negotiated.hello.listen_port,
        capabilities: negotiated.shared.clone(),
    });
    let session = Session {
        stream,
        info: info.clone(),
        compress: negotiated.compress,
        protocols,
        inbound_budget: shared.config.peer_inbound_budget,
    };

    // Admission and registration under one lock: two connections from the same node cannot
    // both pass, and `remove_peer` or `peers()` never miss an admitted peer.
    let admitted = {
        let mut state = shared.state();
        match state.admission.admit(id, direction) {
            Err(reason) => Err((reason, session)),
            Ok(()) => {
                let (peer, running) = session.into_running(shared.config.session);
                state.peers.insert(id, peer.clone());
                Ok((peer, running))
            }
        }
    };
    let (peer, running) = match admitted {
        Ok(admitted) => admitted,
        Err((reason, session)) => {
            let mut stream = session.stream;
            setup::send_disconnect(&mut stream, reason, negotiated.compress).await;
            tracing::debug!(peer = %id.short(), %reason, "peer refused");
            reject(reason);
            return None;
        }
    };
    // `stop` cancels before it disconnects the registered peers: either it saw this one, or
    // this check sees the cancellation.
    if shared.shutdown.is_cancelled() {
        peer.disconnect(DisconnectReason::Quitting);
    }
    Some((info, Box::pin(running)))
}

/// A running server. Cheap to clone; all clones control the same server.
#[derive(Clone)]
pub struct ServerHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ServerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerHandle")
            .field("enode", &self.shared.info.enode)
            .finish_non_exhaustive()
    }
}

impl ServerHandle {
    /// Our enode URL (an unspecified listen IP is advertised as 127.0.0.1).
    pub fn local_enode(&self) -> Enode {
        self.shared.info.enode
    }

    /// The bound listen address, if listening.
    pub fn listen_addr(&self) -> Option<SocketAddr> {
        self.shared.info.listen_addr
    }

    /// Facts about the local node.
    pub fn node_info(&self) -> NodeInfo {
        self.shared.info.clone()
    }

    /// The connected peers.
    pub fn peers(&self) -> Vec<Peer> {
        self.shared.state().peers.values().cloned().collect()
    }

    /// The connected peer with `id`.
    pub fn peer(&self, id: &NodeId) -> Option<Peer> {
        self.shared.state().peers.get(id).cloned()
    }

    /// How many peers are connected.
    pub fn peer_count(&self) -> usize {
        self.shared.state().peers.len()
    }

    /// Subscribes to peer events from now on.
    pub fn events(&self) -> broadcast::Receiver<PeerEvent> {
        self.shared.events.subscribe()
    }

    /// Adds a static peer: dialed now and redialed with backoff whenever it is not connected.
    /// Adding one twice does nothing. Ignored when the server does not dial (`no_dial`).
    pub fn add_peer(&self, enode: Enode) {
        if self.shared.config.no_dial {
            return;
        }
        // Checked and spawned under the lock `stop` takes after cancelling: either this dialer
        // exists before `stop` looks, or it is never started.
        let mut state = self.shared.state();
        if self.shared.shutdown.is_cancelled() || state.statics.contains_key(&enode.id) {
            return;
        }
        let cancel = self.shared.shutdown.child_token();
        state.statics.insert(enode.id, cancel.clone());
        self.shared
            .tasks
            .spawn(dialer::keep_connected(self.shared.clone(), enode, cancel));
    }

    /// Stops keeping `id` connected and disconnects it (reason `Requested`) if connected.
    pub fn remove_peer(&self, id: &NodeId) {
        let (cancel, peer) = {
            let mut state = self.shared.state();
            (state.statics.remove(id), state.peers.get(id).cloned())
        };
        if let Some(cancel) = cancel {
            cancel.cancel();
        }
        if let Some(peer) = peer {
            peer.disconnect(DisconnectReason::Requested);
        }
    }

    /// Admits `id` even when the peer slots are full.
    pub fn add_trusted_peer(&self, id: NodeId) {
        self.shared.state().admission.trust(id);
    }

    /// Makes `id` an ordinary peer again.
    pub fn remove_trusted_peer(&self, id: &NodeId) {
        self.shared.state().admission.distrust(id);
    }

    /// Stops accepting and dialing, sends Disconnect `Quitting` to every peer, and returns
    /// once every task of the server has finished. Calling it again waits again.
    pub async fn stop(&self) {
        let peers: Vec<Peer> = {
            let mut state = self.shared.state();
            self.shared.shutdown.cancel();
            state.admission.close();
            state.peers.values().cloned().collect()
        };
        for peer in peers {
            peer.disconnect(DisconnectReason::Quitting);
        }
        self.shared.tasks.close();
        self.shared.tasks.wait().await;
        tracing::info!("server stopped");
    }
}
