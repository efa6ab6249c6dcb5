//! Static peers given by host name: resolved through a resolver the test controls, and
//! redialed at the new address when the name moves. The timer's recheck is set to an hour,
//! so what follows the move here is the lookup made when the session at the old address
//! ends.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peerwire::crypto::{EnodeUrl, NodeKey};
use peerwire::server::{HostLookup, HostResolver, PeerEvent, ServerHandle};
use tokio::sync::broadcast;

use crate::support::*;

/// Answers every name with the addresses the test set.
struct Names(Mutex<Vec<IpAddr>>);

impl HostResolver for Names {
    fn lookup<'a>(&'a self, _host: &'a str) -> HostLookup<'a> {
        let ips = self.0.lock().unwrap().clone();
        Box::pin(async move { Ok(ips) })
    }
}

/// A server with `key`, listening at `listen` (or the default address).
async fn node_with(key: &NodeKey, listen: Option<SocketAddr>) -> ServerHandle {
    let mut c = config(vec![idle("x")]);
    c.key = key.clone();
    if let Some(listen) = listen {
        c.listen_addr = Some(listen);
    }
    start(c).await
}

/// A server that keeps the node of `key` connected as `peer.test:port`, a name the returned
/// resolver answers with `ip`; the events are subscribed to before the peer is added.
async fn dialer_by_name(
    key: &NodeKey,
    port: u16,
    ip: Ipv4Addr,
) -> (ServerHandle, Arc<Names>, broadcast::Receiver<PeerEvent>) {
    let names = Arc::new(Names(Mutex::new(vec![ip.into()])));
    let dialer = start(config(vec![idle("x")])).await;
    let events = dialer.events();
    let url: EnodeUrl = format!("enode://{}@peer.test:{port}", key.id())
        .parse()
        .unwrap();
    dialer.add_peer_url(url, names.clone(), Duration::from_secs(3600));
    (dialer, names, events)
}

#[tokio::test]
async fn a_static_peer_whose_name_moves_is_redialed_at_the_new_address() {
    let key = key();
    let (old_ip, new_ip) = (Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 2));
    let first = node_with(&key, None).await;
    let port = first.listen_addr().unwrap().port();

    let (dialer, names, mut events) = dialer_by_name(&key, port, old_ip).await;
    let added_at = |e: &PeerEvent| match e {
        PeerEvent::Added(info) if info.id == key.id() => Some(info.remote_addr),
        _ => None,
    };
    assert_eq!(next_event(&mut events, added_at).await.ip(), old_ip);

    // The node moves: the old address goes away, the name points at the new one.
    first.stop().await;
    *names.0.lock().unwrap() = vec![new_ip.into()];
    let second = node_with(&key, Some(SocketAddr::new(new_ip.into(), port))).await;
    assert_eq!(
        next_event(&mut events, added_at).await,
        SocketAddr::new(new_ip.into(), port)
    );
    dialer.stop().await;
    second.stop().await;
}

#[tokio::test]
async fn a_static_peer_removed_is_not_redialed_when_its_name_moves() {
    let key = key();
    let (old_ip, new_ip) = (Ipv4Addr::new(127, 0, 0, 1), Ipv4Addr::new(127, 0, 0, 3));
    let first = node_with(&key, None).await;
    let port = first.listen_addr().unwrap().port();
    // The node is also at the new address, so a redial there would succeed.
    let second = node_with(&key, Some(SocketAddr::new(new_ip.into(), port))).await;

    let (dialer, names, mut events) = dialer_by_name(&key, port, old_ip).await;
    next_event(&mut events, |e| match e {
        PeerEvent::Added(info) if info.id == key.id() => Some(()),
        _ => None,
    })
    .await;

    // The name moves as the operator removes the peer; the drop that follows the removal is
    // what makes a watcher look the name up again.
    *names.0.lock().unwrap() = vec![new_ip.into()];
    dialer.remove_peer(&key.id());
    // Watching the name ends: the watcher held the only other reference to the resolver.
    eventually(|| Arc::strong_count(&names) == 1).await;
    assert!(!dialer.is_static(&key.id()));
    assert_eq!(second.peer_count(), 0);
    dialer.stop().await;
    first.stop().await;
    second.stop().await;
}
