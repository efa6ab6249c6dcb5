//! An event-driven simulated internet for peerwire's [`Transport`]: every host of the
//! simulation in one tokio runtime on its paused clock, TCP streams and UDP datagrams
//! delivered after the latency of their pair of hosts, datagrams lost at the pair's rate,
//! links cut and repaired, hosts crashed.
//!
//! The paused clock makes it a discrete-event simulation: when no task can run, tokio
//! moves time to the next timer, so simulated time costs nothing while the network is
//! idle, and a run's cost is the work its nodes do. One thread and seeded draws make it
//! repeatable.
//!
//! What it models and what it does not:
//! - TCP: reliable, ordered byte streams with a 1 MiB window (a writer waits when its
//!   reader is that far behind); connect takes a round trip, a port without a listener
//!   refuses after one; a peer that closes or drops its end gives EOF, then broken pipe.
//!   No loss, congestion or bandwidth: bytes of a cut link wait for the repair (as TCP
//!   retransmits them), or for the session's own timeouts.
//! - UDP: each datagram arrives after its pair's latency, or is lost at the pair's rate;
//!   a socket queues at most 4,096 datagrams.
//! - A crashed host goes silent: it sends nothing, receives nothing, and its peers learn
//!   it only from their own timeouts, as on the internet.

mod tcp;
mod udp;

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Error, ErrorKind, Result};
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Waker;
use std::time::Duration;

use peerwire::net::{BoxFuture, Datagrams, Listener, Stream, Transport};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use tokio::time::Instant;

use crate::topology::{Loss, Topology};

/// First port handed out for port 0.
const EPHEMERAL: u16 = 49152;

/// The simulated network; cheap to clone.
#[derive(Clone)]
pub struct SimNet {
    world: Arc<Mutex<World>>,
}

impl std::fmt::Debug for SimNet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimNet")
            .field("hosts", &self.lock().hosts.len())
            .finish()
    }
}

struct World {
    topology: Arc<Topology>,
    seed: u64,
    /// Loss draws, in the order datagrams are sent.
    rng: StdRng,
    start: Instant,
    /// Unix time at `start`.
    epoch: Duration,
    hosts: BTreeMap<IpAddr, Host>,
    /// Cut links, as (lower, higher) address pairs.
    cut: BTreeSet<(IpAddr, IpAddr)>,
    /// Latency by pair, drawn once.
    latency: BTreeMap<(IpAddr, IpAddr), Duration>,
    /// Readers holding bytes of a cut link, woken by a repair.
    held: Vec<Waker>,
    /// TCP bytes written by every host together.
    tcp_bytes: u64,
}

#[derive(Default)]
struct Host {
    alive: bool,
    listeners: BTreeMap<u16, Arc<tcp::Backlog>>,
    sockets: BTreeMap<u16, Arc<udp::Inbox>>,
    next_port: u16,
}

impl Host {
    /// `wanted`, or for 0 a port no listener or socket of this host holds.
    fn port(&mut self, wanted: u16) -> u16 {
        if wanted != 0 {
            return wanted;
        }
        loop {
            let port = EPHEMERAL + self.next_port % (u16::MAX - EPHEMERAL);
            self.next_port = self.next_port.wrapping_add(1);
            if !self.listeners.contains_key(&port) && !self.sockets.contains_key(&port) {
                return port;
            }
        }
    }
}

fn pair(a: IpAddr, b: IpAddr) -> (IpAddr, IpAddr) {
    if a <= b {
        (a, b)
    } else {
        (b, a)
    }
}

impl SimNet {
    /// A network of `topology`, its latencies and losses drawn from `seed`. Call from
    /// inside the runtime that runs the simulation (its clock is the network's).
    pub fn new(topology: Arc<Topology>, seed: u64) -> Self {
        Self {
            world: Arc::new(Mutex::new(World {
                topology,
                seed,
                rng: StdRng::seed_from_u64(seed ^ 0x6c6f_7373),
                start: Instant::now(),
                epoch: Duration::from_secs(1_800_000_000),
                hosts: BTreeMap::new(),
                cut: BTreeSet::new(),
                latency: BTreeMap::new(),
                held: Vec::new(),
                tcp_bytes: 0,
            })),
        }
    }

    fn lock(&self) -> MutexGuard<'_, World> {
        // Nothing panics under the lock; if it ever does, the world is still consistent.
        self.world.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds a running host at `ip` and returns its view of the network.
    pub fn host(&self, ip: IpAddr) -> HostNet {
        self.lock().hosts.entry(ip).or_default().alive = true;
        HostNet {
            net: self.clone(),
            ip,
        }
    }

    /// Crashes the host at `ip`: from now on it sends and receives nothing.
    pub fn crash(&self, ip: IpAddr) {
        if let Some(h) = self.lock().hosts.get_mut(&ip) {
            h.alive = false;
        }
    }

    /// Cuts the link between `a` and `b`, both ways.
    pub fn cut(&self, a: IpAddr, b: IpAddr) {
        self.lock().cut.insert(pair(a, b));
    }

    /// Repairs the link between `a` and `b`; bytes held on it flow again.
    pub fn repair(&self, a: IpAddr, b: IpAddr) {
        let held = {
            let mut w = self.lock();
            w.cut.remove(&pair(a, b));
            std::mem::take(&mut w.held)
        };
        held.into_iter().for_each(Waker::wake);
    }

    /// Whether bytes from `from` can reach `to` now.
    fn open(&self, from: IpAddr, to: IpAddr) -> bool {
        let w = self.lock();
        w.open(from, to)
    }

    /// A port for an outgoing connection of `ip`.
    fn ephemeral_port(&self, ip: IpAddr) -> u16 {
        self.lock().hosts.entry(ip).or_default().port(0)
    }

    /// Registers `waker` to be woken at the next repair.
    fn wait_for_repair(&self, waker: &Waker) {
        self.lock().held.push(waker.clone());
    }

    fn latency(&self, a: IpAddr, b: IpAddr) -> Duration {
        self.lock().latency(a, b)
    }

    /// TCP bytes written so far by every host together (RLPx frames: what peers send each
    /// other, encrypted).
    pub fn tcp_bytes(&self) -> u64 {
        self.lock().tcp_bytes
    }

    fn count_tcp(&self, n: usize) {
        self.lock().tcp_bytes += n as u64;
    }

    /// Time since the Unix epoch on the simulation's clock.
    pub fn unix_time(&self) -> Duration {
        let w = self.lock();
        w.epoch + w.start.elapsed()
    }
}

impl World {
    fn open(&self, from: IpAddr, to: IpAddr) -> bool {
        let alive = |ip| self.hosts.get(&ip).is_some_and(|h| h.alive);
        alive(from) && alive(to) && !self.cut.contains(&pair(from, to))
    }

    fn latency(&mut self, a: IpAddr, b: IpAddr) -> Duration {
        let (topology, seed) = (&self.topology, self.seed);
        *self
            .latency
            .entry(pair(a, b))
            .or_insert_with(|| topology.latency(seed, a, b))
    }

    /// Whether a datagram from `from` to `to` is lost on the way.
    fn lost(&mut self, from: IpAddr, to: IpAddr) -> bool {
        let rate = self.topology.rate(from, to);
        rate > 0.0 && self.rng.gen_bool(rate.min(1.0))
    }
}

/// One host's view of the network: what its server is given as its [`Transport`].
#[derive(Clone, Debug)]
pub struct HostNet {
    net: SimNet,
    ip: IpAddr,
}

impl HostNet {
    fn bind(&self, addr: SocketAddr, tcp: bool) -> Result<(SocketAddr, MutexGuard<'_, World>)> {
        let mut w = self.net.lock();
        let host = w.hosts.entry(self.ip).or_default();
        let port = host.port(addr.port());
        let taken = if tcp {
            host.listeners.contains_key(&port)
        } else {
            host.sockets.contains_key(&port)
        };
        if taken {
            return Err(Error::from(ErrorKind::AddrInUse));
        }
        Ok((SocketAddr::new(self.ip, port), w))
    }
}

impl Transport for HostNet {
    fn listen(&self, addr: SocketAddr) -> BoxFuture<'_, Result<Box<dyn Listener>>> {
        Box::pin(async move {
            let (local, mut w) = self.bind(addr, true)?;
            let backlog = Arc::new(tcp::Backlog::default());
            if let Some(h) = w.hosts.get_mut(&self.ip) {
                h.listeners.insert(local.port(), backlog.clone());
            }
            Ok(
                Box::new(tcp::SimListener::new(self.net.clone(), local, backlog))
                    as Box<dyn Listener>,
            )
        })
    }

    fn connect(&self, addr: SocketAddr) -> BoxFuture<'_, Result<Box<dyn Stream>>> {
        Box::pin(async move {
            let stream = tcp::connect(&self.net, self.ip, addr).await?;
            Ok(Box::new(stream) as Box<dyn Stream>)
        })
    }

    fn bind_udp(&self, addr: SocketAddr) -> BoxFuture<'_, Result<Box<dyn Datagrams>>> {
        Box::pin(async move {
            let (local, mut w) = self.bind(addr, false)?;
            let inbox = Arc::new(udp::Inbox::default());
            if let Some(h) = w.hosts.get_mut(&self.ip) {
                h.sockets.insert(local.port(), inbox.clone());
            }
            Ok(Box::new(udp::SimSocket::new(self.net.clone(), local, inbox)) as Box<dyn Datagrams>)
        })
    }

    fn unix_time(&self) -> Duration {
        self.net.unix_time()
    }
}

#[cfg(test)]
mod tests;
