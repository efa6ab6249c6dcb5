//! The tokio shell around a [`Driver`]: one UDP socket, the driver's timers, and a handle.
//!
//! It moves datagrams and nothing else: every decision is the driver's. Datagrams over 1280
//! bytes are dropped unread (discv4.md: *"The maximum size of any packet is 1280 bytes"*).

use std::collections::HashMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::driver::{Driver, DriverConfig, DriverEvent, LookupId, LookupStats};
use super::error::{QueryError, ServiceError};
use super::message::{Endpoint, NodeRecord, Target};
use super::packet::MAX_PACKET_SIZE;
use super::Discv4Stats;
use crate::crypto::{Enode, NodeId, NodeKey, NODE_ID_LEN};
use crate::discovery::enr::{LocalRecord, Record};
use crate::discovery::source::NodeStream;
use crate::net::{Network, UdpSocket};

/// Settings of a discovery service.
#[derive(Clone, Debug)]
pub struct ServiceConfig {
    /// Our identity.
    pub key: NodeKey,
    /// The UDP address to bind.
    pub bind: SocketAddr,
    /// The TCP (RLPx) port we advertise; 0 for none.
    pub tcp_port: u16,
    /// The IP address to advertise, always (as go-ethereum's `--nat extip`): no learning.
    pub external_ip: Option<IpAddr>,
    /// Without `external_ip`: the IP advertised until other nodes agree on what they see
    /// (`driver.learn_ip`), as go-ethereum's fallback IP. `None`: the bound IP, 127.0.0.1
    /// when that is unspecified.
    pub fallback_ip: Option<IpAddr>,
    /// Lookups, refresh, bootnodes, IP learning.
    pub driver: DriverConfig,
    /// Events kept for slow subscribers before they lag. Default 256.
    pub event_capacity: usize,
    /// The network to bind on. Default: the host's.
    pub network: Network,
    /// Seed of lookup targets and revalidation picks; `None` (the default): from the OS.
    pub rng_seed: Option<u64>,
}

impl ServiceConfig {
    /// Defaults for `key` on `bind`, advertising TCP port `tcp_port`.
    pub fn new(key: NodeKey, bind: SocketAddr, tcp_port: u16) -> Self {
        Self {
            key,
            bind,
            tcp_port,
            external_ip: None,
            fallback_ip: None,
            driver: DriverConfig::default(),
            event_capacity: 256,
            network: Network::host(),
            rng_seed: None,
        }
    }
}

impl ServiceConfig {
    /// The endpoint the first record advertises once `bound` is bound: `external_ip`, else
    /// `fallback_ip`, else the bound IP (127.0.0.1 for an unspecified one); the bound port
    /// for UDP, `tcp_port` for TCP.
    pub fn first_endpoint(&self, bound: SocketAddr) -> Endpoint {
        let ip = self
            .external_ip
            .or(self.fallback_ip)
            .unwrap_or(if bound.ip().is_unspecified() {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            } else {
                bound.ip()
            });
        Endpoint {
            ip,
            udp_port: bound.port(),
            tcp_port: self.tcp_port,
        }
    }
}

/// What the service reports.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DiscoveryEvent {
    /// A node entered the table.
    NodeFound(Enode),
    /// Our advertised endpoint changed; this is our new enode.
    EndpointChanged(Enode),
}

/// Traffic and drop counters.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceStats {
    /// Datagrams received (all, including dropped ones).
    pub packets_in: u64,
    /// Datagrams sent.
    pub packets_out: u64,
    /// Bytes received.
    pub bytes_in: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Datagrams over 1280 bytes, dropped unread.
    pub oversized: u64,
    /// The core's drop counters (invalid, unsolicited, unbonded queries).
    pub dropped: Discv4Stats,
    /// Lookup counters (hops: `depth_sum / lookups`).
    pub lookups: LookupStats,
    /// Nodes in the table.
    pub table_len: usize,
}

enum Command {
    Lookup(Target, oneshot::Sender<Result<Vec<NodeRecord>, QueryError>>),
    Table(oneshot::Sender<Vec<Enode>>),
    Stats(oneshot::Sender<ServiceStats>),
    Resolve(Enode, oneshot::Sender<Option<Record>>),
    Adopt(SocketAddr, u64),
    SetEndpoint(Endpoint),
    ReleaseEndpoint,
}

#[derive(Debug, Default)]
struct Counters {
    packets_in: AtomicU64,
    packets_out: AtomicU64,
    bytes_in: AtomicU64,
    bytes_out: AtomicU64,
    oversized: AtomicU64,
}

#[derive(Debug)]
struct Local {
    record: Record,
    enode: Enode,
}

#[derive(Debug)]
struct Inner {
    commands: mpsc::Sender<Command>,
    events: broadcast::Sender<DiscoveryEvent>,
    local: Mutex<Local>,
    counters: Counters,
    cancel: CancellationToken,
    local_addr: SocketAddr,
    /// Random lookup targets.
    targets: Mutex<StdRng>,
}

/// A running discovery service. Cheap to clone; the service stops when
/// [`Discv4Handle::stop`] is called or the last handle is dropped.
#[derive(Clone, Debug)]
pub struct Discv4Handle {
    inner: Arc<Inner>,
    _guard: Arc<DropGuard>,
}

/// Commands queued at once; senders wait when it is full.
const COMMAND_QUEUE: usize = 64;

impl Discv4Handle {
    /// Binds the socket and starts the service on the current tokio runtime.
    pub async fn spawn(config: ServiceConfig) -> Result<Self, ServiceError> {
        let socket = config
            .network
            .bind_udp(config.bind)
            .await
            .map_err(|source| ServiceError::Bind {
                addr: config.bind,
                source,
            })?;
        let local_addr = socket.local_addr().map_err(|source| ServiceError::Bind {
            addr: config.bind,
            source,
        })?;
        let endpoint = config.first_endpoint(local_addr);
        let record = LocalRecord::new(config.key.clone(), endpoint)?;
        let mut driver_config = config.driver.clone();
        driver_config.learn_ip &= config.external_ip.is_none();
        driver_config.dual_stack = matches!(local_addr.ip(), IpAddr::V6(ip) if ip.is_unspecified());
        let now = tokio::time::Instant::now().into_std();
        let unix = config.network.unix_time().as_secs();
        let local = Local {
            enode: local_enode(config.key.id(), &endpoint),
            record: record.record().clone(),
        };
        let driver = Driver::new(config.key.clone(), record, driver_config, now, unix);
        let mut seeds = match config.rng_seed {
            Some(seed) => StdRng::seed_from_u64(seed),
            None => StdRng::from_entropy(),
        };
        let (commands, rx) = mpsc::channel(COMMAND_QUEUE);
        let cancel = CancellationToken::new();
        let inner = Arc::new(Inner {
            commands,
            events: broadcast::channel(config.event_capacity.max(1)).0,
            local: Mutex::new(local),
            counters: Counters::default(),
            cancel: cancel.clone(),
            local_addr,
            targets: Mutex::new(StdRng::seed_from_u64(seeds.gen())),
        });
        let rng = StdRng::seed_from_u64(seeds.gen());
        tokio::spawn(run(inner.clone(), socket, driver, rx, rng));
        tracing::info!(addr = %local_addr, "discovery started");
        Ok(Self {
            inner,
            _guard: Arc::new(cancel.drop_guard()),
        })
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    /// Our current signed record.
    pub fn local_enr(&self) -> Record {
        self.local().record.clone()
    }

    /// Our current enode (the IP may change as it is learned).
    pub fn local_enode(&self) -> Enode {
        self.local().enode
    }

    fn local(&self) -> std::sync::MutexGuard<'_, Local> {
        // Only plain assignments happen under the lock.
        self.inner.local.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes to events from now on.
    pub fn events(&self) -> broadcast::Receiver<DiscoveryEvent> {
        self.inner.events.subscribe()
    }

    /// Runs a lookup for `target` and returns the closest nodes that answered.
    /// Cancel-safe: dropping the future abandons the answer, not the lookup.
    pub async fn lookup(&self, target: Target) -> Result<Vec<NodeRecord>, QueryError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Lookup(target, tx)).await?;
        rx.await.map_err(|_| QueryError::Stopped)?
    }

    /// Runs a lookup for a random target (what refresh and the node source do).
    pub async fn lookup_random(&self) -> Result<Vec<NodeRecord>, QueryError> {
        let mut target = [0u8; NODE_ID_LEN];
        // Only the draw happens under the lock.
        (self.inner.targets.lock().unwrap_or_else(|e| e.into_inner())).fill(&mut target[..]);
        self.lookup(target).await
    }

    /// The nodes in the table.
    pub async fn table(&self) -> Result<Vec<Enode>, QueryError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Table(tx)).await?;
        rx.await.map_err(|_| QueryError::Stopped)
    }

    /// Counters.
    pub async fn stats(&self) -> Result<ServiceStats, QueryError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Stats(tx)).await?;
        rx.await
            .map(|s| s.with_counters(&self.inner.counters))
            .map_err(|_| QueryError::Stopped)
    }

    /// Pings `enode` (bonding with it) and asks for its record (EIP-868).
    pub async fn resolve(&self, enode: Enode) -> Result<Record, QueryError> {
        let (tx, rx) = oneshot::channel();
        self.send(Command::Resolve(enode, tx)).await?;
        rx.await
            .map_err(|_| QueryError::Stopped)?
            .ok_or(QueryError::NoAnswer)
    }

    /// Advertises `addr` (IP and UDP port) at `seq` `min_seq` or above: what another
    /// discovery version sharing our key learned and signed (see
    /// [`Driver::adopt_endpoint`]). A change is announced as
    /// [`DiscoveryEvent::EndpointChanged`]. Cancel-safe.
    pub async fn adopt_endpoint(&self, addr: SocketAddr, min_seq: u64) -> Result<(), QueryError> {
        self.send(Command::Adopt(addr, min_seq)).await
    }

    /// Advertises `endpoint` (a port-mapping gateway's external address and ports) in our
    /// record and enode from now on, and stops learning the IP from Pongs; an
    /// [`DiscoveryEvent::EndpointChanged`] follows if it changed. Waits for room in the
    /// command queue; cancel-safe (dropped before queued: not applied). Does nothing once
    /// the service stopped.
    pub async fn set_external_endpoint(&self, endpoint: Endpoint) {
        let _ = self.send(Command::SetEndpoint(endpoint)).await;
    }

    /// The gateway's endpoint no longer holds (the mapping was lost, or its address is not
    /// public): learn the IP from Pongs again, unless it is configured. The record keeps the
    /// endpoint until they move it. Queued as
    /// [`set_external_endpoint`](Self::set_external_endpoint).
    pub async fn release_external_endpoint(&self) {
        let _ = self.send(Command::ReleaseEndpoint).await;
    }

    /// Stops the service (also done when the last handle is dropped).
    pub fn stop(&self) {
        self.inner.cancel.cancel();
    }

    async fn send(&self, command: Command) -> Result<(), QueryError> {
        self.inner
            .commands
            .send(command)
            .await
            .map_err(|_| QueryError::Stopped)
    }
}

fn local_enode(id: NodeId, e: &Endpoint) -> Enode {
    NodeRecord { endpoint: *e, id }.to_enode()
}

/// The service loop's state besides the driver.
#[derive(Default)]
struct Waiting {
    lookups: HashMap<LookupId, oneshot::Sender<Result<Vec<NodeRecord>, QueryError>>>,
    resolves: HashMap<NodeId, Vec<oneshot::Sender<Option<Record>>>>,
}

/// Resolves waiting at once; more are answered with `None` at once.
const MAX_RESOLVES: usize = 256;

async fn run(
    inner: Arc<Inner>,
    socket: UdpSocket,
    mut driver: Driver,
    mut commands: mpsc::Receiver<Command>,
    mut rng: StdRng,
) {
    let mut buf = vec![0u8; MAX_PACKET_SIZE + 1];
    let mut waiting = Waiting::default();
    let c = &inner.counters;
    // The driver's calling contract: feed one input, take every datagram and event it
    // produced, then sleep until its next timer (or the next input).
    loop {
        let deadline = tokio::time::Instant::from_std(driver.poll_timeout());
        // Biased, in this order: timers are never starved by a flood of datagrams, and the
        // same inputs at the same instant are handled in the same order (a seeded
        // simulation replays exactly).
        tokio::select! {
            biased;
            _ = inner.cancel.cancelled() => break,
            _ = tokio::time::sleep_until(deadline) => driver.handle_timeout(now(), &mut rng),
            command = commands.recv() => match command {
                Some(command) => on_command(&mut driver, &mut waiting, command),
                None => break,
            },
            received = socket.recv_from(&mut buf) => {
                let (len, from) = match received {
                    Ok(r) => r,
                    // ICMP errors of earlier sends surface here on some systems.
                    Err(e) => {
                        tracing::trace!(error = %e, "discovery recv failed");
                        continue;
                    }
                };
                c.packets_in.fetch_add(1, Ordering::Relaxed);
                c.bytes_in.fetch_add(len as u64, Ordering::Relaxed);
                if len > MAX_PACKET_SIZE {
                    c.oversized.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                driver.handle_packet(now(), from, &buf[..len]);
            }
        }
        while let Some(t) = driver.poll_transmit() {
            match socket.send_to(&t.bytes, t.to).await {
                Ok(n) => {
                    c.packets_out.fetch_add(1, Ordering::Relaxed);
                    c.bytes_out.fetch_add(n as u64, Ordering::Relaxed);
                }
                Err(e) => tracing::trace!(to = %t.to, error = %e, "discovery send failed"),
            }
        }
        while let Some(event) = driver.poll_event() {
            on_event(&inner, &driver, &mut waiting, event);
        }
    }
    tracing::info!("discovery stopped");
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Feeds a command from a handle into the driver (or answers it from the driver's state).
fn on_command(driver: &mut Driver, waiting: &mut Waiting, command: Command) {
    match command {
        Command::Lookup(target, reply) => match driver.start_lookup(now(), target) {
            Some(id) => {
                waiting.lookups.insert(id, reply);
            }
            None => {
                let _ = reply.send(Err(QueryError::Busy));
            }
        },
        Command::Table(reply) => {
            let table = driver.core().table();
            let _ = reply.send(table.iter().map(|e| e.record().to_enode()).collect());
        }
        Command::Stats(reply) => {
            let _ = reply.send(ServiceStats {
                dropped: driver.core().stats(),
                lookups: driver.lookup_stats(),
                table_len: driver.core().table().len(),
                ..ServiceStats::default()
            });
        }
        Command::Adopt(addr, min_seq) => driver.adopt_endpoint(addr, min_seq),
        Command::Resolve(enode, reply) => {
            let queued: usize = waiting.resolves.values().map(Vec::len).sum();
            if queued >= MAX_RESOLVES {
                let _ = reply.send(None);
                return;
            }
            waiting.resolves.entry(enode.id).or_default().push(reply);
            let endpoint = Endpoint {
                ip: enode.ip,
                udp_port: enode.udp_port,
                tcp_port: enode.tcp_port,
            };
            driver.resolve(now(), enode.id, endpoint);
        }
        Command::SetEndpoint(endpoint) => driver.set_external_endpoint(endpoint),
        Command::ReleaseEndpoint => driver.release_external_endpoint(),
    }
}

fn on_event(inner: &Inner, driver: &Driver, waiting: &mut Waiting, event: DriverEvent) {
    match event {
        DriverEvent::NodeAdded(record) => {
            let _ = inner
                .events
                .send(DiscoveryEvent::NodeFound(record.to_enode()));
        }
        DriverEvent::LookupDone(result) => {
            tracing::debug!(
                queries = result.queries,
                depth = result.depth,
                found = result.nodes.len(),
                "lookup done"
            );
            if let Some(reply) = waiting.lookups.remove(&result.id) {
                let _ = reply.send(Ok(result.nodes));
            }
        }
        DriverEvent::EndpointChanged(endpoint) => {
            let id = driver.core().local_record().record().clone();
            let enode = local_enode(crate::discovery::enr::node_id(&id), &endpoint);
            {
                let mut local = inner.local.lock().unwrap_or_else(|e| e.into_inner());
                local.record = id;
                local.enode = enode;
            }
            tracing::info!(%enode, "external address learned");
            let _ = inner.events.send(DiscoveryEvent::EndpointChanged(enode));
        }
        DriverEvent::Record(id, record) => {
            for reply in waiting.resolves.remove(&id).unwrap_or_default() {
                let _ = reply.send(Some((*record).clone()));
            }
        }
        DriverEvent::ResolveFailed(id) => {
            for reply in waiting.resolves.remove(&id).unwrap_or_default() {
                let _ = reply.send(None);
            }
        }
    }
}

impl ServiceStats {
    fn with_counters(mut self, c: &Counters) -> Self {
        self.packets_in = c.packets_in.load(Ordering::Relaxed);
        self.packets_out = c.packets_out.load(Ordering::Relaxed);
        self.bytes_in = c.bytes_in.load(Ordering::Relaxed);
        self.bytes_out = c.bytes_out.load(Ordering::Relaxed);
        self.oversized = c.oversized.load(Ordering::Relaxed);
        self
    }
}

/// Lookups of one [`Discv4Handle::random_nodes`] source start at most this often.
const MIN_LOOKUP_INTERVAL: Duration = Duration::from_secs(1);

impl Discv4Handle {
    /// A node source (see [`crate::discovery::source`]) of random-walk lookup results: nodes
    /// that answered lookups for random targets, as go-ethereum's `RandomNodes`. Lookups run
    /// only while the consumer asks for more, at most one a second. Ends when the service
    /// stops.
    pub fn random_nodes(&self) -> NodeStream {
        let handle = self.clone();
        let state = (handle, std::collections::VecDeque::<Enode>::new(), None);
        Box::pin(futures_util::stream::unfold(
            state,
            |(handle, mut buffer, mut last): (_, _, Option<tokio::time::Instant>)| async move {
                loop {
                    if let Some(enode) = buffer.pop_front() {
                        return Some((enode, (handle, buffer, last)));
                    }
                    if let Some(at) = last {
                        tokio::time::sleep_until(at + MIN_LOOKUP_INTERVAL).await;
                    }
                    last = Some(tokio::time::Instant::now());
                    match handle.lookup_random().await {
                        Ok(nodes) => buffer.extend(nodes.iter().map(NodeRecord::to_enode)),
                        Err(QueryError::Busy) => {}
                        Err(_) => return None,
                    }
                }
            },
        ))
    }
}
