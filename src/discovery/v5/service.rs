//! The tokio side: sigp's service on a socket we bind, discv4 beside it on the same socket
//! (optional), the task that passes frames and keeps our one record in step, and the handle.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use discv5::enr::NodeId as Discv5NodeId;
use discv5::{ConfigBuilder, ListenConfig};
use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::{CancellationToken, DropGuard};

use super::config::Discv5Config;
use super::demux::{self, Frames, SharedPort};
use super::error::{Discv5Error, Discv5QueryError, Unusable};
use super::record::{combined_key, dialable, from_v5, to_v5};
use crate::crypto::Enode;
use crate::discovery::enr::{self, Record};
use crate::discovery::source::NodeStream;
use crate::discovery::v4::{DiscoveryEvent, Discv4Handle, ServiceConfig};
use crate::net::Network;

/// Counters of a discv5 service.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Discv5Stats {
    /// Records in the table.
    pub table_len: usize,
    /// Records found but not dialed: identity scheme other than "v4".
    pub unusable_scheme: u64,
    /// Records found but not dialed: no IP address.
    pub unusable_no_address: u64,
    /// Records found but not dialed: no TCP port.
    pub unusable_no_tcp: u64,
    /// Datagrams for discv4 dropped because its queue was full.
    pub v4_frames_dropped: u64,
}

#[derive(Debug, Default)]
struct Counters {
    scheme: AtomicU64,
    no_address: AtomicU64,
    no_tcp: AtomicU64,
}

impl Counters {
    fn count(&self, reason: Unusable) {
        let counter = match reason {
            Unusable::IdentityScheme => &self.scheme,
            Unusable::NoAddress => &self.no_address,
            Unusable::NoTcpPort => &self.no_tcp,
        };
        counter.fetch_add(1, Ordering::Relaxed);
    }
}

struct Inner {
    discv5: Mutex<discv5::Discv5>,
    /// The channel of sigp's service, for requests without the lock held across awaits.
    local_addr: SocketAddr,
    v4: Option<Discv4Handle>,
    frames: Option<Frames>,
    counters: Counters,
    cancel: CancellationToken,
    lookup_interval: std::time::Duration,
}

impl std::fmt::Debug for Inner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Discv5")
            .field("local_addr", &self.local_addr)
            .field("with_v4", &self.v4.is_some())
            .finish()
    }
}

/// A running discv5 service. Cheap to clone; it stops when [`Discv5Handle::stop`] is called
/// or the last handle is dropped (and so does the discv4 started with it).
#[derive(Clone, Debug)]
pub struct Discv5Handle {
    inner: Arc<Inner>,
    _guard: Arc<DropGuard>,
}

impl Discv5Handle {
    /// Starts discv5 alone on `service.bind` (what `peerwire discover --v5` and `crawl --v5`
    /// use). Only `key`, `bind`, `tcp_port`, `external_ip`, `fallback_ip`, `network` (the
    /// host's) and `driver.learn_ip` of `service` are read.
    pub async fn spawn(service: ServiceConfig, v5: Discv5Config) -> Result<Self, Discv5Error> {
        Ok(start(service, v5, false).await?.0)
    }

    /// Starts discv5 and discv4 on one UDP socket, with one record: discv5 reads the socket
    /// and passes what is not discv5 to discv4 (see `demux.rs`); an endpoint change either
    /// learns is signed once, at the same `seq`, into both.
    pub async fn spawn_with_v4(
        service: ServiceConfig,
        v5: Discv5Config,
    ) -> Result<(Self, Discv4Handle), Discv5Error> {
        let (handle, v4) = start(service, v5, true).await?;
        match v4 {
            Some(v4) => Ok((handle, v4)),
            // `start` with `true` always starts discv4.
            None => Err(Discv5Error::Setup("discv4 did not start")),
        }
    }

    /// The bound UDP address.
    pub fn local_addr(&self) -> SocketAddr {
        self.inner.local_addr
    }

    fn with<T>(&self, f: impl FnOnce(&discv5::Discv5) -> T) -> T {
        // No call into the crate under the lock panics or awaits.
        f(&self.inner.discv5.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Our current signed record (the one discv4 serves too when they share the socket).
    pub fn local_enr(&self) -> Record {
        let enr = self.with(discv5::Discv5::local_enr);
        // Only our key signs it, and it is a secp256k1 ("v4") key.
        from_v5(&enr).expect("our record has the v4 identity scheme")
    }

    /// Adds a node's record to the table (a bootnode, or one learned elsewhere).
    pub fn add_enr(&self, record: &Record) -> Result<(), Discv5QueryError> {
        let enr = to_v5(record).ok_or(Discv5QueryError::Uncontactable)?;
        self.with(|d| d.add_enr(enr))
            .map_err(|_| Discv5QueryError::Uncontactable)
    }

    /// The records in the table ("v4" identity scheme only).
    pub fn table(&self) -> Vec<Record> {
        let enrs = self.with(discv5::Discv5::table_entries_enr);
        enrs.iter().filter_map(|e| from_v5(e).ok()).collect()
    }

    /// Counters.
    pub fn stats(&self) -> Discv5Stats {
        let c = &self.inner.counters;
        Discv5Stats {
            table_len: self.with(|d| d.table_entries_id().len()),
            unusable_scheme: c.scheme.load(Ordering::Relaxed),
            unusable_no_address: c.no_address.load(Ordering::Relaxed),
            unusable_no_tcp: c.no_tcp.load(Ordering::Relaxed),
            v4_frames_dropped: self.inner.frames.as_ref().map_or(0, Frames::dropped),
        }
    }

    /// Runs an iterative FINDNODE lookup for `target` (a discv5 node id: the keccak-256 of a
    /// public key, as [`NodeHash`](crate::discovery::v4::NodeHash)) and returns the closest nodes that
    /// answered ("v4" identity scheme only; the others are counted in
    /// [`Discv5Stats::unusable_scheme`]). Cancel-safe.
    pub async fn lookup(&self, target: [u8; 32]) -> Result<Vec<Record>, Discv5QueryError> {
        let query = self.with(|d| d.find_node(Discv5NodeId::new(&target)));
        let found = query.await.map_err(|e| match e {
            discv5::QueryError::ServiceNotStarted | discv5::QueryError::ChannelFailed(_) => {
                Discv5QueryError::Stopped
            }
            _ => Discv5QueryError::NoAnswer,
        })?;
        let mut records = Vec::with_capacity(found.len());
        for enr in &found {
            match from_v5(enr) {
                Ok(record) => records.push(record),
                Err(reason) => self.inner.counters.count(reason),
            }
        }
        Ok(records)
    }

    /// A lookup for a random target.
    pub async fn lookup_random(&self) -> Result<Vec<Record>, Discv5QueryError> {
        let target: [u8; 32] = rand::random();
        self.lookup(target).await
    }

    /// Asks the node of `record` for its current record (FINDNODE at distance 0), as
    /// go-ethereum's `devp2p discv5 resolve`. Cancel-safe.
    pub async fn resolve(&self, record: &Record) -> Result<Record, Discv5QueryError> {
        let enr = to_v5(record).ok_or(Discv5QueryError::Uncontactable)?;
        let request = self.with(|d| d.find_node_designated_peer(enr, vec![0]));
        let found = request.await.map_err(|e| match e {
            discv5::RequestError::ServiceNotStarted | discv5::RequestError::ChannelFailed(_) => {
                Discv5QueryError::Stopped
            }
            _ => Discv5QueryError::NoAnswer,
        })?;
        let id = enr::node_id(record);
        found
            .iter()
            .filter_map(|e| from_v5(e).ok())
            .find(|r| enr::node_id(r) == id)
            .ok_or(Discv5QueryError::NoAnswer)
    }

    /// Advertises `addr` as our UDP endpoint (IP and port), as an operator who knows it
    /// would; re-signs once, and discv4 adopts the same record when it shares the socket.
    /// Returns whether the record changed. Cancel-safe.
    pub async fn set_endpoint(&self, addr: SocketAddr) -> Result<bool, Discv5QueryError> {
        let changed = self.with(|d| d.update_local_enr_socket(addr, false));
        if changed {
            adopt_into_v4(&self.inner, addr).await?;
        }
        Ok(changed)
    }

    /// A node source (see [`crate::discovery::source`]) of random-walk lookup results that
    /// can be dialed: records without a TCP port, without an address or with another
    /// identity scheme are left out, counted by reason in [`Discv5Stats`]. Lookups run only
    /// while the consumer asks for more, at most one each
    /// [`Discv5Config::lookup_interval`]. Ends when the service stops.
    pub fn random_nodes(&self) -> NodeStream {
        let state = (self.clone(), VecDeque::<Enode>::new(), None);
        Box::pin(futures_util::stream::unfold(
            state,
            |(handle, mut buffer, mut last): (Self, _, Option<tokio::time::Instant>)| async move {
                loop {
                    if let Some(enode) = buffer.pop_front() {
                        return Some((enode, (handle, buffer, last)));
                    }
                    if let Some(at) = last {
                        tokio::time::sleep_until(at + handle.inner.lookup_interval).await;
                    }
                    last = Some(tokio::time::Instant::now());
                    let target: [u8; 32] = rand::random();
                    let query = handle.with(|d| d.find_node(Discv5NodeId::new(&target)));
                    match query.await {
                        Ok(found) => {
                            for enr in &found {
                                match dialable(enr) {
                                    Ok(enode) => buffer.push_back(enode),
                                    Err(reason) => {
                                        tracing::debug!(id = %enr.node_id(), %reason, "discv5 record not dialed");
                                        handle.inner.counters.count(reason);
                                    }
                                }
                            }
                        }
                        Err(
                            discv5::QueryError::ServiceNotStarted
                            | discv5::QueryError::ChannelFailed(_),
                        ) => return None,
                        Err(_) => {}
                    }
                }
            },
        ))
    }

    /// Stops the service, and discv4 if it shares the socket (also done when the last
    /// handle is dropped).
    pub fn stop(&self) {
        self.inner.cancel.cancel();
    }
}

async fn start(
    service: ServiceConfig,
    v5: Discv5Config,
    with_v4: bool,
) -> Result<(Discv5Handle, Option<Discv4Handle>), Discv5Error> {
    if !service.network.is_host() {
        return Err(Discv5Error::NeedsHostNetwork);
    }
    let bind_error = |source| Discv5Error::Bind {
        addr: service.bind,
        source,
    };
    // sigp's crate takes a socket per family: on `[::]` an IPv4 one and an IPv6-only one on
    // the same port (discv4 sends on both through the demultiplexer); any other address is
    // one socket of its family.
    let (socket, v4_socket) =
        match crate::net::bind_host_udp_per_family(service.bind).map_err(bind_error)? {
            Some((v4, v6)) => (Arc::new(v6), Some(Arc::new(v4))),
            None => (
                Arc::new(crate::net::bind_host_udp(service.bind).map_err(bind_error)?),
                None,
            ),
        };
    let local_addr = socket.local_addr().map_err(bind_error)?;
    // As discv4 chooses it, so that both start from the same content.
    let record = enr::build(&service.key, 1, &service.first_endpoint(local_addr))?;
    let enr = to_v5(&record).ok_or(Discv5Error::Setup("our record does not decode"))?;
    let listen = match local_addr {
        SocketAddr::V4(_) => ListenConfig::FromSockets {
            ipv4: Some(socket.clone()),
            ipv6: None,
        },
        SocketAddr::V6(_) => ListenConfig::FromSockets {
            ipv4: v4_socket.clone(),
            ipv6: Some(socket.clone()),
        },
    };
    let mut builder = ConfigBuilder::new(listen);
    // Found nodes come from our own lookups' results; as events they would only compete
    // with discv4's frames for room in the crate's event queue.
    builder.disable_report_discovered_peers();
    if service.external_ip.is_some() || !service.driver.learn_ip || !v5.learn_ip {
        builder.disable_enr_update();
    }
    let mut discv5 = discv5::Discv5::new(enr, combined_key(&service.key), builder.build())
        .map_err(Discv5Error::Setup)?;
    discv5.start().await.map_err(Discv5Error::Start)?;
    let events = discv5.event_stream().await.map_err(Discv5Error::Start)?;
    let (frames, v4) = if with_v4 {
        let (frames, demuxed) = demux::pair(socket, v4_socket, v5.v4_queue);
        let mut v4_config = service.clone();
        v4_config.network = Network::custom(SharedPort(Mutex::new(Some(demuxed))));
        let v4 = Discv4Handle::spawn(v4_config)
            .await
            .map_err(Discv5Error::Discv4)?;
        (Some(frames), Some(v4))
    } else {
        (None, None)
    };
    for boot in &v5.bootnodes {
        match to_v5(boot).map(|e| discv5.add_enr(e)) {
            Some(Ok(())) => {}
            _ => tracing::warn!(id = %enr::node_id(boot), "discv5 bootnode not added"),
        }
    }
    let cancel = CancellationToken::new();
    let v4_events = v4.as_ref().map(Discv4Handle::events);
    let inner = Arc::new(Inner {
        discv5: Mutex::new(discv5),
        local_addr,
        v4: v4.clone(),
        frames,
        counters: Counters::default(),
        cancel: cancel.clone(),
        lookup_interval: v5.lookup_interval,
    });
    // discv4 signed its first record itself: serve those bytes.
    follow_v4(&inner);
    tokio::spawn(run(inner.clone(), events, v4_events));
    tracing::info!(addr = %local_addr, with_v4, "discv5 started");
    let handle = Discv5Handle {
        inner,
        _guard: Arc::new(cancel.drop_guard()),
    };
    Ok((handle, v4))
}

/// Passes frames to discv4 and keeps the record in step, until stopped.
async fn run(
    inner: Arc<Inner>,
    mut events: mpsc::Receiver<discv5::Event>,
    mut v4_events: Option<broadcast::Receiver<DiscoveryEvent>>,
) {
    loop {
        let v4_event = async {
            match v4_events.as_mut() {
                Some(rx) => rx.recv().await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            _ = inner.cancel.cancelled() => break,
            event = events.recv() => match event {
                Some(discv5::Event::UnrecognizedFrame(frame)) => {
                    if let Some(frames) = &inner.frames {
                        frames.push(frame.packet, frame.src_address);
                    }
                }
                Some(discv5::Event::SocketUpdated(addr)) => {
                    tracing::info!(%addr, "discv5 learned our address");
                    if adopt_into_v4(&inner, addr).await.is_err() {
                        break;
                    }
                }
                Some(_) => {}
                None => break,
            },
            event = v4_event => match event {
                Ok(DiscoveryEvent::EndpointChanged(_))
                | Err(broadcast::error::RecvError::Lagged(_)) => follow_v4(&inner),
                Ok(_) => {}
                Err(broadcast::error::RecvError::Closed) => break,
            },
        }
    }
    if let Some(v4) = &inner.v4 {
        v4.stop();
    }
    inner
        .discv5
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .shutdown();
    tracing::info!("discv5 stopped");
}

/// discv5 changed our record (to `addr`, at its new `seq`): discv4 signs the same.
async fn adopt_into_v4(inner: &Inner, addr: SocketAddr) -> Result<(), Discv5QueryError> {
    let Some(v4) = &inner.v4 else {
        return Ok(());
    };
    let seq = inner
        .discv5
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .local_enr()
        .seq();
    v4.adopt_endpoint(addr, seq)
        .await
        .map_err(|_| Discv5QueryError::Stopped)
}

/// discv4 changed (or re-signed) our record: discv5 takes the signed record as it is,
/// unless its own is newer (then discv4 is about to adopt that one).
fn follow_v4(inner: &Inner) {
    let Some(v4) = &inner.v4 else {
        return;
    };
    let record = v4.local_enr();
    let Some(enr) = to_v5(&record) else {
        return;
    };
    let discv5 = inner.discv5.lock().unwrap_or_else(|e| e.into_inner());
    let shared = discv5.external_enr();
    let mut local = shared.write();
    if enr.seq() >= local.seq() && *local != enr {
        tracing::debug!(seq = enr.seq(), "discv5 takes discv4's record");
        *local = enr;
    }
}
