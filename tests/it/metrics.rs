//! What the library records through the `metrics` facade, read back with `metrics-util`'s
//! in-memory recorder; and the optional per-message events.
//!
//! Each test records into its own recorder, installed for its thread only: the tests run on a
//! current-thread runtime, so the servers they start record on that thread too, and tests
//! running beside them in this process record nothing here.

use std::collections::HashMap;
use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use metrics_util::MetricKind;
use peerwire::crypto::Enode;
use peerwire::metrics as m;
use peerwire::server::{MsgDirection, PeerEvent, ServerHandle};
use peerwire::wire::Capability;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;
use tokio::sync::mpsc;

use crate::support::*;

/// A metric as the tests name it: name and sorted `label=value` pairs.
type Key = (String, Vec<(String, String)>);

/// Everything recorded so far, summed over snapshots (the debugging recorder hands out
/// changes since its last snapshot, gauges included).
struct Recorded {
    snapshotter: Snapshotter,
    totals: HashMap<Key, f64>,
}

impl Recorded {
    fn new(recorder: &DebuggingRecorder) -> Self {
        Self {
            snapshotter: recorder.snapshotter(),
            totals: HashMap::new(),
        }
    }

    /// The totals now.
    fn totals(&mut self) -> HashMap<Key, f64> {
        for (key, _, _, value) in self.snapshotter.snapshot().into_vec() {
            let (kind, key) = key.into_parts();
            let mut labels: Vec<_> = key
                .labels()
                .map(|l| (l.key().to_string(), l.value().to_string()))
                .collect();
            labels.sort();
            let value = match (kind, value) {
                (MetricKind::Counter, DebugValue::Counter(n)) => n as f64,
                (MetricKind::Gauge, DebugValue::Gauge(g)) => g.into_inner(),
                _ => continue,
            };
            *self
                .totals
                .entry((key.name().to_string(), labels))
                .or_default() += value;
        }
        self.totals.clone()
    }
}

/// What changed from `before` to now, as a lookup.
struct Delta(HashMap<Key, f64>);

impl Delta {
    fn since(recorded: &mut Recorded, before: &HashMap<Key, f64>) -> Self {
        let now = recorded.totals();
        Self(
            now.into_iter()
                .map(|(k, v)| {
                    let d = v - before.get(&k).copied().unwrap_or(0.0);
                    (k, d)
                })
                .collect(),
        )
    }

    /// The change of `name` with exactly `labels`; `None` if it was never recorded.
    fn get(&self, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
        let mut labels: Vec<_> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        labels.sort();
        self.0.get(&(name.to_string(), labels)).copied()
    }

    fn value(&self, name: &str, labels: &[(&str, &str)]) -> f64 {
        self.get(name, labels)
            .unwrap_or_else(|| panic!("{name} {labels:?} not recorded; have {:?}", self.keys()))
    }

    /// The total change of `name` over all label sets whose `label` is `value`.
    fn sum_where(&self, name: &str, label: &str, value: &str) -> f64 {
        self.0
            .iter()
            .filter(|((n, ls), _)| n == name && ls.iter().any(|(k, v)| k == label && v == value))
            .map(|(_, v)| v)
            .sum()
    }

    fn keys(&self) -> Vec<&Key> {
        let mut keys: Vec<_> = self.0.keys().collect();
        keys.sort();
        keys
    }
}

/// Two servers running foo/1: `a` echoes, `b` dials `a` and hands the test its channel.
async fn pair(
    msg_events: bool,
) -> (
    ServerHandle,
    ServerHandle,
    peerwire::protocol::MsgReadWriter,
) {
    let mut a_config = config(vec![echo("foo", 1)]);
    a_config.msg_events = msg_events;
    let a = start(a_config).await;
    let (tx, mut handed) = mpsc::unbounded_channel();
    let mut b_config = config(vec![probe("foo", 1, 2, tx)]);
    b_config.static_peers = vec![a.local_enode()];
    let b = start(b_config).await;
    let (_peer, rw) = tokio::time::timeout(Duration::from_secs(5), handed.recv())
        .await
        .expect("b connects within 5 s")
        .unwrap();
    eventually(|| a.peer_count() == 1).await;
    (a, b, rw)
}

/// One foo/bar round trip: "foo" on code 0, "FOO" back on code 1.
async fn exchange(rw: &mut peerwire::protocol::MsgReadWriter) {
    rw.send(0, &"foo").await.unwrap();
    let reply = tokio::time::timeout(Duration::from_secs(5), rw.read_msg())
        .await
        .expect("reply within 5 s")
        .unwrap();
    assert_eq!(
        (reply.code, reply.decode::<String>().unwrap()),
        (1, "FOO".into())
    );
}

#[tokio::test]
async fn each_metric_family_is_recorded_with_its_labels() {
    let recorder = DebuggingRecorder::new();
    let _local = metrics::set_default_local_recorder(&recorder);
    let mut recorded = Recorded::new(&recorder);
    let before = recorded.totals();
    let (a, b, mut rw) = pair(false).await;
    exchange(&mut rw).await;

    let d = Delta::since(&mut recorded, &before);
    assert_eq!(d.value(m::PEERS, &[("direction", "inbound")]), 1.0);
    assert_eq!(d.value(m::PEERS, &[("direction", "outbound")]), 1.0);
    assert_eq!(d.value(m::DIALS, &[("outcome", m::DIAL_CONNECTED)]), 1.0);
    let foo = |code| [("cap", "foo/1"), ("code", code)];
    // b sent code 0 and a received it; a sent code 1 back and b received it.
    assert_eq!(d.value(m::EGRESS_MESSAGES, &foo("0")), 1.0);
    assert_eq!(d.value(m::INGRESS_MESSAGES, &foo("0")), 1.0);
    assert_eq!(d.value(m::EGRESS_MESSAGES, &foo("1")), 1.0);
    assert_eq!(d.value(m::INGRESS_MESSAGES, &foo("1")), 1.0);
    for family in [m::EGRESS_BYTES, m::INGRESS_BYTES] {
        for code in ["0", "1"] {
            assert!(d.value(family, &foo(code)) > 0.0, "{family} code {code}");
        }
    }
    // Handles exist per code of the protocol (length 2), and nothing beyond.
    assert!(d.get(m::INGRESS_MESSAGES, &foo("2")).is_none());
    // Queues and the budget were used and are empty again once the reply was read.
    assert_eq!(d.value(m::INBOUND_QUEUE, &[("cap", "foo/1")]), 0.0);
    assert_eq!(d.value(m::OUTBOUND_QUEUE, &[("cap", "foo/1")]), 0.0);
    eventually(|| a.inbound_bytes() == 0 && b.inbound_bytes() == 0).await;
    assert_eq!(d.value(m::INBOUND_BUDGET, &[]), 0.0);

    // A connection that sends garbage fails the RLPx handshake.
    let mut garbage = TcpStream::connect(a.local_enode().tcp_addr())
        .await
        .unwrap();
    garbage.write_all(&[0xff; 400]).await.unwrap();
    drop(garbage);
    // A peer with no capability in common fails Hello, and is rejected as useless.
    let mut useless = Hand::connect(&a, key(), vec![Capability::new("zzz", 1)]).await;
    assert_eq!(
        useless.disconnect_reason().await,
        peerwire::wire::DisconnectReason::UselessPeer
    );
    // A server that only admits 10.0.0.0/8 refuses us before the handshake.
    let mut restricted_config = config(vec![echo("foo", 1)]);
    restricted_config.gating.net_restrict = Some(vec!["10.0.0.0/8".parse().unwrap()]);
    let restricted = start(restricted_config).await;
    let mut events = restricted.events();
    let _refused = TcpStream::connect(restricted.local_enode().tcp_addr())
        .await
        .unwrap();
    next_event(&mut events, |e| {
        matches!(e, PeerEvent::Refused { .. }).then_some(())
    })
    .await;
    // A dial to a closed port fails.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_addr = closed.local_addr().unwrap();
    drop(closed);
    b.add_peer(Enode::new(key().id(), closed_addr));
    // b drops a: b ends the session (local), a hears Disconnect (remote).
    let mut a_events = a.events();
    b.remove_peer(&a.local_enode().id);
    next_event(&mut a_events, |e| {
        matches!(e, PeerEvent::Dropped { .. }).then_some(())
    })
    .await;

    let wait = async {
        loop {
            let d = Delta::since(&mut recorded, &before);
            let failed = d.get(m::DIALS, &[("outcome", m::DIAL_FAILED)]);
            let rlpx = d.sum_where(m::HANDSHAKE_FAILURES, "stage", "rlpx");
            // The useless peer hears its Disconnect before the server counts the failure.
            let hello = d.sum_where(m::HANDSHAKE_FAILURES, "stage", "hello");
            let both_dropped = d.sum_where(m::DISCONNECTS, "reason", "requested") >= 2.0;
            if failed.is_some() && rlpx >= 1.0 && hello >= 1.0 && both_dropped {
                return d;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    };
    let d = tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .unwrap_or_else(|_| {
            panic!(
                "metrics within 5 s: {:?}",
                Delta::since(&mut recorded, &before).0
            )
        });
    assert_eq!(d.value(m::DIALS, &[("outcome", m::DIAL_FAILED)]), 1.0);
    assert_eq!(
        d.value(
            m::HANDSHAKE_FAILURES,
            &[("stage", "hello"), ("cause", "no_shared_capability")]
        ),
        1.0
    );
    assert_eq!(
        d.value(
            m::REJECTED,
            &[("reason", "useless_peer"), ("direction", "inbound")]
        ),
        1.0
    );
    assert_eq!(
        d.value(
            m::REFUSED,
            &[("reason", "restricted"), ("direction", "inbound")]
        ),
        1.0
    );
    let requested = |side| [("reason", "requested"), ("side", side)];
    assert_eq!(d.value(m::DISCONNECTS, &requested("local")), 1.0);
    assert_eq!(d.value(m::DISCONNECTS, &requested("remote")), 1.0);
    assert_eq!(d.value(m::PEERS, &[("direction", "inbound")]), 0.0);
    assert_eq!(d.value(m::PEERS, &[("direction", "outbound")]), 0.0);

    for server in [&a, &b, &restricted] {
        server.stop().await;
    }
}

/// The `Msg` events among those waiting on `events`.
fn msg_events(
    events: &mut tokio::sync::broadcast::Receiver<PeerEvent>,
) -> Vec<(Capability, u64, usize, MsgDirection)> {
    let mut msgs = Vec::new();
    while let Ok(event) = events.try_recv() {
        if let PeerEvent::Msg {
            cap,
            code,
            size,
            direction,
            ..
        } = event
        {
            msgs.push((cap, code, size, direction));
        }
    }
    msgs
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_events_report_each_message_when_enabled() {
    let (a, b, mut rw) = pair(true).await;
    let mut events = a.events();
    exchange(&mut rw).await;
    // a read code 0 before it wrote code 1, and wrote code 1 before b could read it.
    let msgs = msg_events(&mut events);
    let foo = Capability::new("foo", 1);
    assert_eq!(msgs.len(), 2, "{msgs:?}");
    assert_eq!(
        (&msgs[0].0, msgs[0].1, msgs[0].3),
        (&foo, 0, MsgDirection::Ingress)
    );
    assert_eq!(
        (&msgs[1].0, msgs[1].1, msgs[1].3),
        (&foo, 1, MsgDirection::Egress)
    );
    assert!(msgs.iter().all(|m| m.2 > 0));
    // b did not ask for them.
    let mut b_events = b.events();
    exchange(&mut rw).await;
    assert!(msg_events(&mut b_events).is_empty());
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn message_events_are_off_by_default() {
    let (a, b, mut rw) = pair(false).await;
    let mut events = a.events();
    exchange(&mut rw).await;
    exchange(&mut rw).await;
    assert!(msg_events(&mut events).is_empty());
    a.stop().await;
    b.stop().await;
}
