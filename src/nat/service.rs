//! The tokio shell of port mapping: runs the [`Machine`], talks to the gateway through the
//! chosen backend, and applies what it reports (discovery's endpoint, the server's enode,
//! events, metrics). On stop it removes the mappings.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::machine::{Granted, Machine, Mapping, NatEvent, Request};
use super::pmp::Pmp;
use super::upnp::Upnp;
use super::{NatConfig, NatError, NatMode};
use crate::discovery::v4::{Discv4Handle, Endpoint};
use crate::util::ip::is_public;

/// Our local ports to map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Ports {
    /// The TCP listen port.
    pub(crate) tcp: u16,
    /// The discovery UDP port, if discovery runs.
    pub(crate) udp: Option<u16>,
}

/// What the server's handle reads: the mapping held now, and the events.
#[derive(Debug)]
pub(crate) struct NatShared {
    pub(crate) events: broadcast::Sender<NatEvent>,
    current: Mutex<Option<Mapping>>,
}

impl NatShared {
    /// `capacity` events are kept for slow subscribers before they lag.
    pub(crate) fn new(capacity: usize) -> Self {
        Self {
            events: broadcast::channel(capacity.max(1)).0,
            current: Mutex::new(None),
        }
    }

    /// The mapping held now.
    pub(crate) fn current(&self) -> Option<Mapping> {
        // Only plain assignments happen under the lock.
        *self.current.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn set_current(&self, mapping: Option<Mapping>) {
        *self.current.lock().unwrap_or_else(|e| e.into_inner()) = mapping;
    }
}

/// The local address the kernel would use to reach `gateway` (no packet is sent).
pub(crate) async fn local_ip_towards(gateway: IpAddr) -> Result<IpAddr, NatError> {
    let any = match gateway {
        IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        IpAddr::V6(_) => IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED),
    };
    let io = |e: std::io::Error| NatError::Io(e.kind());
    let socket = tokio::net::UdpSocket::bind(SocketAddr::new(any, 0))
        .await
        .map_err(io)?;
    // Connecting a UDP socket only picks the route and source address.
    socket
        .connect(SocketAddr::new(gateway, 9))
        .await
        .map_err(io)?;
    Ok(socket.local_addr().map_err(io)?.ip())
}

/// The gateway protocol(s) of a [`NatMode`].
#[derive(Debug)]
enum Backend {
    Upnp(Upnp),
    Pmp(Pmp),
    /// UPnP, else NAT-PMP, until one of them maps; then that one.
    Any(Upnp, Pmp, Option<bool>),
}

impl Backend {
    fn new(config: &NatConfig) -> Self {
        let upnp = || Upnp::new(config.request_timeout / 2, config.description.clone());
        match config.mode {
            NatMode::Pmp => Self::Pmp(Pmp::new(config.gateway)),
            NatMode::Upnp => Self::Upnp(upnp()),
            _ => Self::Any(upnp(), Pmp::new(config.gateway), None),
        }
    }

    async fn map(&mut self, ports: Ports, request: Request) -> Result<Granted, NatError> {
        match self {
            Self::Upnp(u) => u.map(ports, request).await,
            Self::Pmp(p) => p.map(ports, request).await,
            Self::Any(u, _, Some(true)) => u.map(ports, request).await,
            Self::Any(_, p, Some(false)) => p.map(ports, request).await,
            Self::Any(u, p, chosen @ None) => {
                if let Ok(granted) = u.map(ports, request).await {
                    *chosen = Some(true);
                    return Ok(granted);
                }
                let granted = p.map(ports, request).await?;
                *chosen = Some(false);
                Ok(granted)
            }
        }
    }

    async fn remove(&mut self, ports: Ports, mapping: Mapping) -> Result<(), NatError> {
        match self {
            Self::Upnp(u) | Self::Any(u, _, Some(true)) => u.remove(mapping).await,
            Self::Pmp(p) | Self::Any(_, p, Some(false)) => p.remove(ports).await,
            Self::Any(_, _, None) => Ok(()),
        }
    }
}

/// Maps `ports` until `cancel`, then removes the mappings (within `remove_timeout`).
/// Updates `discovery`'s endpoint with the external address and ports.
pub(crate) async fn run(
    config: NatConfig,
    ports: Ports,
    discovery: Option<Discv4Handle>,
    shared: Arc<NatShared>,
    cancel: CancellationToken,
) {
    let mut backend = Backend::new(&config);
    let mut machine = Machine::new(now(), config.lease, config.retry);
    // A round cut short by the stop may have mapped ports the machine never heard of.
    let mut interrupted = false;
    'run: while let Some(at) = machine.poll_timeout() {
        tokio::select! {
            biased;
            _ = cancel.cancelled() => break,
            _ = tokio::time::sleep_until(at.into()) => machine.handle_timeout(now()),
        }
        while let Some(request) = machine.poll_request() {
            let round = tokio::time::timeout(config.request_timeout, backend.map(ports, request));
            let outcome = tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    interrupted = true;
                    break 'run;
                }
                outcome = round => outcome.unwrap_or(Err(NatError::Timeout)),
            };
            machine.handle_response(now(), outcome);
            machine.handle_timeout(now());
            while let Some(event) = machine.poll_event() {
                apply(&shared, discovery.as_ref(), event).await;
            }
        }
    }
    let held = machine.current().or(interrupted.then_some(Mapping {
        external_ip: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        tcp_port: ports.tcp,
        udp_port: ports.udp.unwrap_or(0),
        lease: None,
    }));
    if let Some(mapping) = held {
        match tokio::time::timeout(config.remove_timeout, backend.remove(ports, mapping)).await {
            Ok(Ok(())) => {}
            // After a first round cut short there may be nothing to remove.
            Ok(Err(error)) if machine.current().is_none() => {
                tracing::debug!(%error, "no port mappings removed")
            }
            Ok(Err(error)) => tracing::warn!(%error, "port mappings not removed"),
            Err(_) => {
                tracing::warn!("port mappings not removed: the gateway did not answer in time")
            }
        }
        machine.handle_removed();
        while let Some(event) = machine.poll_event() {
            apply(&shared, discovery.as_ref(), event).await;
        }
    }
}

/// The metrics of `event` ([`crate::metrics::NAT_EVENTS`], [`crate::metrics::NAT_MAPPED`]).
fn record(event: &NatEvent) {
    let (name, mapped) = match event {
        NatEvent::Mapped(_) => ("mapped", Some(1.0)),
        NatEvent::Renewed(_) => ("renewed", Some(1.0)),
        NatEvent::AddressChanged(_) => ("address_changed", Some(1.0)),
        NatEvent::Lost(_) => ("lost", Some(0.0)),
        NatEvent::Refused(_) => ("refused", None),
        NatEvent::Removed => ("removed", Some(0.0)),
    };
    metrics::counter!(crate::metrics::NAT_EVENTS, "event" => name).increment(1);
    if let Some(value) = mapped {
        metrics::gauge!(crate::metrics::NAT_MAPPED).set(value);
    }
}

fn now() -> std::time::Instant {
    tokio::time::Instant::now().into_std()
}

/// Tells the rest of the node what `event` means, and the subscribers.
async fn apply(shared: &NatShared, discovery: Option<&Discv4Handle>, event: NatEvent) {
    record(&event);
    match event {
        NatEvent::Mapped(m) | NatEvent::Renewed(m) | NatEvent::AddressChanged(m) => {
            if !matches!(event, NatEvent::Renewed(_)) {
                tracing::info!(
                    ip = %m.external_ip, tcp = m.tcp_port, udp = m.udp_port,
                    lease = ?m.lease, "ports mapped"
                );
            }
            shared.set_current(Some(m));
            if let Some(d) = discovery {
                if is_public(m.external_ip) {
                    let endpoint = Endpoint {
                        ip: m.external_ip,
                        udp_port: m.udp_port,
                        tcp_port: m.tcp_port,
                    };
                    d.set_external_endpoint(endpoint).await;
                } else {
                    if !matches!(event, NatEvent::Renewed(_)) {
                        tracing::warn!(
                            ip = %m.external_ip,
                            "the gateway's external address is not public (another NAT in \
                             front of it?): not advertised, learned from Pongs instead"
                        );
                    }
                    d.release_external_endpoint().await;
                }
            }
        }
        NatEvent::Lost(error) => {
            tracing::warn!(%error, "port mapping lost");
            shared.set_current(None);
            if let Some(d) = discovery {
                d.release_external_endpoint().await;
            }
        }
        NatEvent::Refused(error) => tracing::warn!(%error, "port mapping refused"),
        NatEvent::Removed => {
            tracing::info!("port mappings removed");
            shared.set_current(None);
        }
    }
    // No subscribers is fine.
    let _ = shared.events.send(event);
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;
    use std::time::Duration;

    use metrics_util::debugging::{DebugValue, DebuggingRecorder};

    use super::*;

    #[tokio::test]
    async fn only_a_public_external_address_is_advertised() {
        use crate::crypto::NodeKey;
        use crate::discovery::v4::ServiceConfig;

        let key = NodeKey::generate(&mut rand::thread_rng());
        let bind = "127.0.0.1:0".parse().unwrap();
        let discovery = Discv4Handle::spawn(ServiceConfig::new(key, bind, 30303))
            .await
            .unwrap();
        let shared = NatShared::new(8);
        let mapping = |ip: [u8; 4]| Mapping {
            external_ip: IpAddr::from(ip),
            tcp_port: 30303,
            udp_port: 30303,
            lease: Some(Duration::from_secs(1200)),
        };
        // A router behind a carrier's NAT: its "external" address reaches nobody.
        apply(
            &shared,
            Some(&discovery),
            NatEvent::Mapped(mapping([100, 64, 1, 2])),
        )
        .await;
        // A public one, queued after it, is what the record ends up with.
        let public = mapping([198, 51, 100, 7]);
        apply(&shared, Some(&discovery), NatEvent::AddressChanged(public)).await;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while discovery.local_enode().ip != public.external_ip {
            assert!(tokio::time::Instant::now() < deadline, "never advertised");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        // The record went from 127.0.0.1 straight to the public address (seq 1 to 2).
        assert_eq!(discovery.local_enr().seq(), 2);
        assert_eq!(shared.current(), Some(public));
        discovery.stop();
    }

    #[test]
    fn each_event_is_counted_by_kind_and_the_gauge_follows_the_mapping() {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        let _local = metrics::set_default_local_recorder(&recorder);
        let m = Mapping {
            external_ip: IpAddr::V4(Ipv4Addr::new(198, 51, 100, 7)),
            tcp_port: 30303,
            udp_port: 30303,
            lease: Some(Duration::from_secs(1200)),
        };
        let events = [
            NatEvent::Refused(NatError::Timeout),
            NatEvent::Mapped(m),
            NatEvent::Renewed(m),
            NatEvent::Renewed(m),
            NatEvent::Lost(NatError::Forgotten),
            NatEvent::Mapped(m),
        ];
        for event in &events {
            record(event);
        }
        let mut counts = HashMap::new();
        let mut mapped = None;
        for (key, _, _, value) in snapshotter.snapshot().into_vec() {
            let key = key.key().clone();
            match value {
                DebugValue::Counter(n) if key.name() == crate::metrics::NAT_EVENTS => {
                    let label = key.labels().next().map(|l| l.value().to_string());
                    counts.insert(label.unwrap_or_default(), n);
                }
                DebugValue::Gauge(g) if key.name() == crate::metrics::NAT_MAPPED => {
                    mapped = Some(g.into_inner());
                }
                _ => {}
            }
        }
        let expected: HashMap<String, u64> =
            [("refused", 1), ("mapped", 2), ("renewed", 2), ("lost", 1)]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect();
        assert_eq!(counts, expected);
        assert_eq!(mapped, Some(1.0));
        record(&NatEvent::Removed);
        let after: Vec<_> = snapshotter.snapshot().into_vec();
        let gauge = after.iter().find_map(|(key, _, _, value)| match value {
            DebugValue::Gauge(g) if key.key().name() == crate::metrics::NAT_MAPPED => {
                Some(g.into_inner())
            }
            _ => None,
        });
        assert_eq!(gauge, Some(0.0));
    }
}
