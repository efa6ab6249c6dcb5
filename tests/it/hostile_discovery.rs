//! Discovery under attack, over real UDP sockets on 127.0.0.x: an attacker socket that
//! replays other nodes' signed packets, floods a node with Pings from throwaway keys and
//! addresses, and signs packets that never expire, against a running `Discv4Handle`.
//! (What is not visible from outside is tested on the sans-IO core, in `core/tests/`.)

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use peerwire::crypto::{Enode, NodeId, NodeKey};
use peerwire::discovery::v4::{
    decode_packet, encode_packet, Discv4Handle, Endpoint, Message, Ping, ServiceConfig,
    PROTOCOL_VERSION,
};
use tokio::net::UdpSocket;

use crate::support::*;

/// Every wait for something that should happen ends within this.
const BOUND: Duration = Duration::from_secs(8);
/// Longer than the request timeout (500 ms), for what should not happen.
const SETTLE: Duration = Duration::from_millis(1500);

async fn node(ip: &str, bootnodes: Vec<Enode>) -> Discv4Handle {
    init_logs();
    let mut c = ServiceConfig::new(key(), format!("{ip}:0").parse().unwrap(), 0);
    c.driver.bootnodes = bootnodes;
    Discv4Handle::spawn(c).await.unwrap()
}

fn enode(n: &Discv4Handle) -> Enode {
    Enode::new(n.local_enode().id, n.local_addr())
}

/// Whether `n`'s table holds `id` at `at`.
async fn holds(n: &Discv4Handle, id: NodeId, at: SocketAddr) -> bool {
    let table = n.table().await.unwrap();
    table
        .iter()
        .any(|e| e.id == id && e.ip == at.ip() && e.udp_port == at.port())
}

async fn until_holds(n: &Discv4Handle, id: NodeId, at: SocketAddr) {
    tokio::time::timeout(BOUND, async {
        while !holds(n, id, at).await {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{id} never entered the table at {at}"));
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn ping(key: &NodeKey, from: SocketAddr, to: SocketAddr, expiration: u64) -> Vec<u8> {
    let endpoint = |a: SocketAddr| Endpoint {
        ip: a.ip(),
        udp_port: a.port(),
        tcp_port: 0,
    };
    let msg = Message::Ping(Ping {
        version: PROTOCOL_VERSION,
        from: endpoint(from),
        to: endpoint(to),
        expiration,
        enr_seq: None,
    });
    encode_packet(key, &msg).unwrap().bytes
}

async fn bind(ip: &str) -> UdpSocket {
    UdpSocket::bind(format!("{ip}:0")).await.unwrap()
}

/// The next datagram on `sock` within `within`.
async fn recv(sock: &UdpSocket, within: Duration) -> Option<Vec<u8>> {
    let mut buf = vec![0u8; 1280];
    let (n, _) = tokio::time::timeout(within, sock.recv_from(&mut buf))
        .await
        .ok()?
        .ok()?;
    buf.truncate(n);
    Some(buf)
}

/// A Ping signed by the node at `target`: ping it from `sock` and keep the Ping it sends
/// back to prove our endpoint (every node hands one to anyone who pings it).
async fn capture_ping_of(sock: &UdpSocket, target: &Discv4Handle) -> Vec<u8> {
    let me = sock.local_addr().unwrap();
    let to = target.local_addr();
    sock.send_to(&ping(&key(), me, to, unix_now() + 20), to)
        .await
        .unwrap();
    loop {
        let bytes = recv(sock, BOUND).await.expect("the node pings back");
        if let Ok(p) = decode_packet(&bytes, unix_now()) {
            if matches!(p.message, Message::Ping(_)) && p.sender == target.local_enode().id {
                return bytes;
            }
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_replayed_from_another_address_does_not_evict_the_node() {
    let a = node("127.0.0.1", vec![]).await;
    let h = node("127.0.0.2", vec![enode(&a)]).await;
    let (h_id, h_at) = (h.local_enode().id, h.local_addr());
    until_holds(&a, h_id, h_at).await;

    let attacker = bind("127.0.0.5").await;
    let replay = capture_ping_of(&attacker, &h).await;
    // A answers "H" at the attacker's address, and pings it there; nobody answers as H.
    attacker.send_to(&replay, a.local_addr()).await.unwrap();
    tokio::time::sleep(SETTLE).await;
    assert!(
        holds(&a, h_id, h_at).await,
        "H left A's table after its Ping was replayed from {}: {:?}",
        attacker.local_addr().unwrap(),
        a.table().await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flood_of_unbonded_pings_leaves_room_for_lookups_and_new_nodes() {
    let a = node("127.0.0.1", vec![]).await;
    let h = node("127.0.0.2", vec![enode(&a)]).await;
    let h_id = h.local_enode().id;
    until_holds(&a, h_id, h.local_addr()).await;

    // 300 throwaway keys, each from an address of its own, pinging A every 100 ms; nobody
    // answers A's Pings back.
    let to = a.local_addr();
    let mut flood = Vec::new();
    for i in 0..300u32 {
        let sock = bind(&format!("127.0.{}.{}", 1 + i / 200, 1 + i % 200)).await;
        let bytes = ping(&key(), sock.local_addr().unwrap(), to, unix_now() + 20);
        flood.push((sock, bytes));
    }
    let flooding = tokio::spawn(async move {
        loop {
            for (sock, bytes) in &flood {
                let _ = sock.send_to(bytes, to).await;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    tokio::time::sleep(Duration::from_millis(300)).await;

    // A's own lookup still reaches H ...
    let found = tokio::time::timeout(BOUND, a.lookup(*h_id.as_bytes()))
        .await
        .expect("lookup ends")
        .unwrap();
    assert!(
        found.iter().any(|n| n.id == h_id),
        "A's lookup got no answer from H: {found:?}"
    );
    // ... and a new node bonds with it.
    let n = node("127.0.0.3", vec![enode(&a)]).await;
    until_holds(&a, n.local_enode().id, n.local_addr()).await;
    flooding.abort();
    // Each flooding packet came again and again from the same address: its signature was
    // recovered the first time only.
    let stats = a.stats().await.unwrap();
    assert!(
        stats.packets_in > 600 && stats.dropped.signatures_checked < 400,
        "{stats:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ping_that_never_expires_gets_no_answer() {
    let a = node("127.0.0.1", vec![]).await;
    let attacker = bind("127.0.0.5").await;
    let me = attacker.local_addr().unwrap();
    let forever = ping(&key(), me, a.local_addr(), 1 << 63);
    attacker.send_to(&forever, a.local_addr()).await.unwrap();
    assert!(recv(&attacker, SETTLE).await.is_none(), "answered");
    assert_eq!(a.stats().await.unwrap().dropped.far_future, 1);
    // One that expires as usual is answered.
    let usual = ping(&key(), me, a.local_addr(), unix_now() + 20);
    attacker.send_to(&usual, a.local_addr()).await.unwrap();
    assert!(recv(&attacker, BOUND).await.is_some());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_packet_replayed_from_other_addresses_costs_no_signature_check() {
    let a = node("127.0.0.1", vec![]).await;
    let first = bind("127.0.0.5").await;
    let bytes = ping(
        &key(),
        first.local_addr().unwrap(),
        a.local_addr(),
        unix_now() + 20,
    );
    first.send_to(&bytes, a.local_addr()).await.unwrap();
    assert!(
        recv(&first, BOUND).await.is_some(),
        "the original is answered"
    );
    let checked = a.stats().await.unwrap().dropped.signatures_checked;
    for i in 6..10 {
        let replayer = bind(&format!("127.0.0.{i}")).await;
        replayer.send_to(&bytes, a.local_addr()).await.unwrap();
        assert!(
            recv(&replayer, Duration::from_millis(300)).await.is_none(),
            "a replay from 127.0.0.{i} was answered"
        );
    }
    let stats = a.stats().await.unwrap().dropped;
    assert_eq!((stats.replayed, stats.signatures_checked), (4, checked));
}
