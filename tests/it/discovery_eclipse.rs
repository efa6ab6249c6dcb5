//! One host against a node's discovery, over real UDP sockets on 127.0.0.x: what it can make
//! the node believe about its own address, and whom `net_restrict` lets discovery contact.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use peerwire::crypto::{Enode, NodeKey};
use peerwire::discovery::v4::{
    decode_packet, encode_packet, Discv4Handle, Endpoint, Message, Ping, Pong, QueryError,
    ServiceConfig, PROTOCOL_VERSION,
};
use peerwire::server::DiscoveryMode;
use tokio::net::UdpSocket;

use crate::support::*;

/// Every wait here ends within this.
const BOUND: Duration = Duration::from_secs(8);

fn unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn endpoint(a: SocketAddr) -> Endpoint {
    Endpoint {
        ip: a.ip(),
        udp_port: a.port(),
        tcp_port: 0,
    }
}

/// `key` bonds with the node at `to` from `socket` as any node would (Ping, then a Pong to
/// its ping-back) and says, in that Pong, that it sees the node at `claim`.
async fn bond_claiming(socket: &UdpSocket, key: &NodeKey, to: SocketAddr, claim: SocketAddr) {
    let from = socket.local_addr().unwrap();
    let ping = Message::Ping(Ping {
        version: PROTOCOL_VERSION,
        from: endpoint(from),
        to: endpoint(to),
        expiration: unix() + 20,
        enr_seq: None,
    });
    socket
        .send_to(&encode_packet(key, &ping).unwrap().bytes, to)
        .await
        .unwrap();
    let mut buf = [0u8; 1280];
    let hash = tokio::time::timeout(BOUND, async {
        loop {
            let (n, _) = socket.recv_from(&mut buf).await.unwrap();
            if let Ok(p) = decode_packet(&buf[..n], unix()) {
                if matches!(p.message, Message::Ping(_)) {
                    return p.hash;
                }
            }
        }
    })
    .await
    .expect("the node pings back");
    let pong = Message::Pong(Pong {
        to: endpoint(claim),
        ping_hash: hash,
        expiration: unix() + 20,
        enr_seq: None,
    });
    socket
        .send_to(&encode_packet(key, &pong).unwrap().bytes, to)
        .await
        .unwrap();
}

/// Ten keys on 127.0.0.2, each bonding with a Pong that says the node is at 127.0.0.9, are
/// one voice: the node's record stays where it is. (On one host loopback statements count,
/// so only the one-voice-per-address rule stands in the way.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_keys_on_one_address_do_not_move_our_record() {
    init_logs();
    let ours = Discv4Handle::spawn(ServiceConfig::new(key(), "127.0.0.1:0".parse().unwrap(), 0))
        .await
        .unwrap();
    let before = ours.local_enode();
    let claim: SocketAddr = format!("127.0.0.9:{}", before.udp_port).parse().unwrap();
    for _ in 0..10 {
        let socket = UdpSocket::bind("127.0.0.2:0").await.unwrap();
        bond_claiming(&socket, &key(), ours.local_addr(), claim).await;
    }
    // Let the last Pong arrive and be counted.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let table = ours.table().await.unwrap();
    assert_eq!(table.len(), 10, "all ten bonded: {table:?}");
    assert_eq!(
        ours.local_enode(),
        before,
        "ten keys on one address moved our record"
    );
    assert_eq!(ours.local_enr().ip4().map(IpAddr::V4), Some(before.ip));
}

/// A server's `net_restrict` bounds its discovery too: a node outside it gets no answer,
/// and a node inside it that names one outside in Neighbors does not lead us there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn net_restrict_applies_to_discovery() {
    init_logs();
    let disc = |ip: &str, bootnodes: Vec<Enode>| {
        let mut c = ServiceConfig::new(key(), format!("{ip}:0").parse().unwrap(), 0);
        c.driver.bootnodes = bootnodes;
        Discv4Handle::spawn(c)
    };
    let mut c = config(vec![]);
    c.discovery.mode = DiscoveryMode::Always;
    c.gating.net_restrict = Some(vec![
        "127.0.0.1/32".parse().unwrap(),
        "127.0.0.2/32".parse().unwrap(),
    ]);
    let server = start(c).await;
    let ours = server.discovery().unwrap();
    let reach = Enode::new(ours.local_enode().id, ours.local_addr());

    // Inside and outside the restriction, both knowing each other.
    let inside = disc("127.0.0.2", vec![]).await.unwrap();
    let outside = disc("127.0.0.3", vec![]).await.unwrap();
    let inside_enode = Enode::new(inside.local_enode().id, inside.local_addr());
    let outside_enode = Enode::new(outside.local_enode().id, outside.local_addr());
    tokio::time::timeout(BOUND, outside.resolve(inside_enode))
        .await
        .unwrap()
        .expect("the two bond");
    assert!(inside
        .table()
        .await
        .unwrap()
        .iter()
        .any(|e| e.id == outside_enode.id));

    let refused = tokio::time::timeout(BOUND, outside.resolve(reach))
        .await
        .expect("resolve ends");
    assert!(
        matches!(refused, Err(QueryError::NoAnswer)),
        "a node outside net_restrict got an answer: {refused:?}"
    );
    tokio::time::timeout(BOUND, inside.resolve(reach))
        .await
        .unwrap()
        .expect("a node inside net_restrict is answered");

    // Our lookup asks `inside`, which names `outside`: we neither ping nor keep it.
    let found = tokio::time::timeout(BOUND, ours.lookup(*outside_enode.id.as_bytes()))
        .await
        .unwrap()
        .unwrap();
    assert!(found.iter().any(|n| n.id == inside_enode.id), "{found:?}");
    assert!(
        found.iter().all(|n| n.id != outside_enode.id),
        "the lookup returned a node outside net_restrict: {found:?}"
    );
    let table = ours.table().await.unwrap();
    assert!(table.iter().all(|e| e.ip != outside_enode.ip), "{table:?}");
    server.stop().await;
}
