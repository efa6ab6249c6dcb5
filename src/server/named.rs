//! Static peers given by host name (`enode://ID@node.example.org:30303`): resolved when
//! added and again on a timer, and redialed at the new address when the name moves.

use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast;
use tokio::time::Instant;

use super::handle::ServerHandle;
use super::PeerEvent;
use crate::crypto::{EnodeUrl, Host};

/// How often a static peer's host name is resolved again by default.
pub const NAME_RECHECK: Duration = Duration::from_secs(60);

/// The shortest time between two lookups of one name: a peer that drops is looked up again
/// at once, but a flapping one not more often than this.
const MIN_LOOKUP_GAP: Duration = Duration::from_secs(1);

/// How long one lookup may take; one that takes longer counts as failed.
const LOOKUP_TIMEOUT: Duration = Duration::from_secs(10);

/// A boxed lookup of a host name's addresses.
pub type HostLookup<'a> = Pin<Box<dyn Future<Output = io::Result<Vec<IpAddr>>> + Send + 'a>>;

/// Resolves host names to addresses.
pub trait HostResolver: Send + Sync + 'static {
    /// The addresses of `host`. Cancel-safe.
    fn lookup<'a>(&'a self, host: &'a str) -> HostLookup<'a>;
}

/// The operating system's resolver (`getaddrinfo` on a blocking thread, through tokio).
#[derive(Clone, Copy, Debug, Default)]
pub struct SystemResolver;

impl HostResolver for SystemResolver {
    fn lookup<'a>(&'a self, host: &'a str) -> HostLookup<'a> {
        Box::pin(async move {
            Ok(tokio::net::lookup_host((host, 0))
                .await?
                .map(|addr| addr.ip())
                .collect())
        })
    }
}

impl ServerHandle {
    /// Keeps the peer at `url` connected like [`add_peer`](Self::add_peer), also when its
    /// host is a DNS name: the name is resolved now, every `recheck` (default
    /// [`NAME_RECHECK`]) and when the peer's session ends (at most once a second), so the
    /// redial after a drop goes where the name points then. When it resolves to another
    /// address, the peer is redialed there (a session at the old address is left to run).
    /// The first address is used, IPv4 preferred. A lookup that fails keeps the last
    /// address. Not remembered in the store (the name is, in effect, the configuration). A
    /// `recheck` under a second counts as a second. Watching the name ends when the server
    /// stops, when [`remove_peer`](Self::remove_peer) removes the peer, or when the same id
    /// is added by name again.
    pub fn add_peer_url(&self, url: EnodeUrl, resolver: Arc<dyn HostResolver>, recheck: Duration) {
        let name = match (&url.host, url.to_enode()) {
            (_, Some(enode)) => return self.add_peer(enode),
            (Host::Name(name), None) => name.clone(),
            // `to_enode` is `None` only for a name.
            (Host::Ip(_), None) => return,
        };
        let recheck = recheck.max(MIN_LOOKUP_GAP);
        let watch = self.shared.shutdown.child_token();
        if let Some(old) = self.shared.state().names.insert(url.id, watch.clone()) {
            old.cancel();
        }
        let handle = self.clone();
        let mut events = self.events();
        self.shared.tasks.spawn(async move {
            let mut current: Option<IpAddr> = None;
            loop {
                let looked_up = Instant::now();
                let lookup = tokio::select! {
                    result = tokio::time::timeout(LOOKUP_TIMEOUT, resolver.lookup(&name)) => result,
                    _ = watch.cancelled() => return,
                };
                match lookup.unwrap_or_else(|_| Err(io::ErrorKind::TimedOut.into())) {
                    Ok(ips) => match pick(&ips) {
                        Some(ip) if current != Some(ip) => {
                            tracing::info!(peer = %url.id.short(), %name, %ip, "static peer's name resolved");
                            handle.retarget(url.at(ip), &watch);
                            current = Some(ip);
                        }
                        Some(_) => {}
                        None => tracing::warn!(%name, "static peer's name has no address"),
                    },
                    Err(error) => tracing::warn!(%name, %error, "static peer's name not resolved"),
                }
                // Until the recheck, or until a session with the peer ends.
                loop {
                    tokio::select! {
                        _ = tokio::time::sleep_until(looked_up + recheck) => break,
                        event = events.recv() => match event {
                            Ok(PeerEvent::Dropped { id, .. }) if id == url.id => {}
                            // Missed events may have held the drop.
                            Err(broadcast::error::RecvError::Lagged(_)) => {}
                            Ok(_) => continue,
                            Err(broadcast::error::RecvError::Closed) => return,
                        },
                        _ = watch.cancelled() => return,
                    }
                    tokio::select! {
                        _ = tokio::time::sleep_until(looked_up + MIN_LOOKUP_GAP) => break,
                        _ = watch.cancelled() => return,
                    }
                }
            }
        });
    }
}

/// The address to dial: the first IPv4 one, else the first.
fn pick(ips: &[IpAddr]) -> Option<IpAddr> {
    ips.iter()
        .find(|ip| ip.is_ipv4())
        .or_else(|| ips.first())
        .copied()
}
