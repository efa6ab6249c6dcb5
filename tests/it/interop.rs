//! Interoperability with an independent devp2p stack: `@ethereumjs/devp2p` 10.0.0, driven by
//! `tests/interop/peer.mjs` (JSON lines on stdin/stdout; see tests/interop/README.md).
//! Most tests run a small recording protocol; the last one runs `peerwire-foobar` itself.
//!
//! The Node packages are installed with `npm ci` on first use. Without `node` and `npm` on
//! PATH each of these tests skips, printing one line that says what to install; with the `CI`
//! environment variable set, a missing Node.js is a failure instead.

use std::time::Duration;

use peerwire::crypto::Enode;
use peerwire::protocol::SessionEnd;
use peerwire::protocol::{MsgSender, Protocol};
use peerwire::server::PeerEvent;
use peerwire::wire::{Capability, DisconnectReason};
use peerwire_foobar::{FooBar, FooBarEvent};
use serde_json::json;
use sha2::{Digest, Sha256};
use tokio::sync::mpsc;

use crate::support::node::*;
use crate::support::*;

/// Without `node` on PATH an interop test skips with one line and passes, unless `CI` is
/// set, when it fails.
#[test]
fn without_node_on_path_an_interop_test_skips_or_fails_on_ci() {
    peerwire::testdata::tools::assert_skips_off_ci_and_fails_on_ci(
        "interop::no_shared_capability_ends_as_useless_peer_on_both_sides",
        "Node.js 20+ and npm",
    );
}

/// What the Rust side's test protocol saw: (code, payload bytes) of each message.
type Received = mpsc::UnboundedReceiver<(u64, Vec<u8>)>;

/// A protocol `name/version` of `length` codes that answers "foo" with "bar", reports
/// everything else, and hands its sender to the test.
fn recorder(
    name: &str,
    version: u32,
    length: u64,
) -> (Protocol, Received, mpsc::UnboundedReceiver<MsgSender>) {
    let (seen_tx, seen) = mpsc::unbounded_channel();
    let (senders_tx, senders) = mpsc::unbounded_channel();
    let protocol = Protocol::new(Capability::new(name, version), length, move |_peer, rw| {
        let (seen_tx, senders_tx) = (seen_tx.clone(), senders_tx.clone());
        async move {
            let (mut reader, sender) = rw.split();
            senders_tx.send(sender.clone()).ok();
            loop {
                let msg = reader.read_msg().await?;
                let bytes: Vec<u8> = msg.decode()?;
                if msg.code == 0 && bytes == b"foo" {
                    sender.send(0, &"bar").await?;
                } else {
                    seen_tx.send((msg.code, bytes)).ok();
                }
            }
        }
    })
    .with_queue_capacity(1024, 1024);
    (protocol, seen, senders)
}

async fn next<T>(rx: &mut mpsc::UnboundedReceiver<T>) -> T {
    tokio::time::timeout(WAIT, rx.recv())
        .await
        .expect("in time")
        .expect("channel open")
}

fn added(e: &PeerEvent) -> Option<std::sync::Arc<peerwire::protocol::PeerInfo>> {
    match e {
        PeerEvent::Added(info) => Some(info.clone()),
        _ => None,
    }
}

fn dropped(e: &PeerEvent) -> Option<SessionEnd> {
    match e {
        PeerEvent::Dropped { end, .. } => Some(*end),
        _ => None,
    }
}

/// The bytes ethereumjs's `send_big` sends: byte i = (i * 31 + seed) mod 256.
fn pattern(size: usize, seed: usize) -> Vec<u8> {
    (0..size).map(|i| ((i * 31 + seed) % 256) as u8).collect()
}

/// Bytes snappy cannot compress.
fn random_bytes(size: usize) -> Vec<u8> {
    use rand::{RngCore, SeedableRng};
    let mut out = vec![0u8; size];
    rand::rngs::StdRng::seed_from_u64(size as u64).fill_bytes(&mut out);
    out
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// foo from either side is answered bar by the other.
async fn foo_bar_both_ways(js: &mut JsPeer, seen: &mut Received, sender: &MsgSender) {
    js.cmd(json!({"cmd": "send", "cap": "foo", "code": 0, "text": "foo"}))
        .await;
    let reply = js.event("message").await;
    assert_eq!(
        (reply["cap"].as_str(), reply["code"].as_u64()),
        (Some("foo"), Some(0))
    );
    assert_eq!(reply["text"], "bar");
    assert_eq!(reply["form"], "bare", "the recorder answers bare");

    sender.send(0, &"foo").await.unwrap();
    assert_eq!(next(seen).await, (0, b"bar".to_vec()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethereumjs_dials_peerwire_and_they_play_foo_bar() {
    if skip_without_node() {
        return;
    }
    let (foo, mut seen, mut senders) = recorder("foo", 1, 1);
    let server = start(config(vec![foo])).await;
    let mut events = server.events();
    let mut js = JsPeer::dial(&server, "foo/1").await;
    let info = next_event(&mut events, added).await;
    assert_eq!(info.id, js.id());
    assert_eq!(
        info.protocol_version, 5,
        "ethereumjs speaks p2p v5: snappy on"
    );
    let js_added = js.event("peer_added").await;
    assert_eq!(js_added["caps"], json!(["foo/1"]));
    assert_eq!(js_added["protocol_version"], 5);
    let sender = next(&mut senders).await;
    foo_bar_both_ways(&mut js, &mut seen, &sender).await;
    js.exit().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peerwire_dials_ethereumjs_and_they_play_foo_bar() {
    if skip_without_node() {
        return;
    }
    let (mut js, enode) = JsPeer::listen("foo/1").await;
    let (foo, mut seen, mut senders) = recorder("foo", 1, 1);
    let server = start(config(vec![foo])).await;
    let mut events = server.events();
    server.add_peer(enode);
    let info = next_event(&mut events, added).await;
    assert_eq!(info.id, enode.id);
    assert!(
        info.client_id.starts_with("ethereumjs-devp2p"),
        "{}",
        info.client_id
    );
    js.event("peer_added").await;
    let sender = next(&mut senders).await;
    foo_bar_both_ways(&mut js, &mut seen, &sender).await;
    server.stop().await;
    js.exit().await;
}

/// Pipelining against ethereumjs: its first foo message leaves in the same tick as the Hello
/// exchange completes. Neither side pings for 15 s or more, so "bar" within 5 s means the
/// message was not left waiting behind the Hello.
async fn foo_sent_on_added_gets_bar(js: &mut JsPeer) {
    let wait = async {
        loop {
            let event = js.message("foo").await;
            if event["text"] == "bar" {
                return;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .expect("bar within 5 s of the pipelined foo");
}

/// A server whose own Pings cannot unstick a stalled session during the test.
fn quiet_config(protocols: Vec<Protocol>) -> peerwire::server::ServerConfig {
    let mut c = config(protocols);
    c.connection.session.ping_interval = Duration::from_secs(60);
    c.connection.session.read_idle = Duration::from_secs(60);
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethereumjs_dialing_sends_foo_on_added_and_gets_bar_at_once() {
    let (foo, _seen, _senders) = recorder("foo", 1, 1);
    let server = start(quiet_config(vec![foo])).await;
    let enode = server.local_enode().to_string();
    let mut js = JsPeer::spawn(&[
        "--dial",
        &enode,
        "--caps",
        "foo/1",
        "--send-on-added",
        "foo",
    ])
    .await;
    js.event("peer_added").await;
    foo_sent_on_added_gets_bar(&mut js).await;
    js.exit().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ethereumjs_dialed_sends_foo_on_added_and_gets_bar_at_once() {
    let mut js = JsPeer::spawn(&["--listen", "--caps", "foo/1", "--send-on-added", "foo"]).await;
    let listening = js.event("listening").await;
    let enode: Enode = format!(
        "enode://{}@127.0.0.1:{}",
        listening["id"].as_str().unwrap(),
        listening["port"].as_u64().unwrap()
    )
    .parse()
    .unwrap();
    let (foo, _seen, _senders) = recorder("foo", 1, 1);
    let server = start(quiet_config(vec![foo])).await;
    server.add_peer(enode);
    js.event("peer_added").await;
    foo_sent_on_added_gets_bar(&mut js).await;
    server.stop().await;
    js.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offsets_agree_beyond_the_first_protocol() {
    if skip_without_node() {
        return;
    }
    // ethereumjs: eth/68 (17 codes), foo/1, zzz/2. peerwire: eth/68, foo/1, zzz/2 and qqq/1,
    // which ethereumjs lacks. Shared and sorted: eth 0x10-0x20, foo 0x21, zzz 0x22.
    let (mut js, enode) = JsPeer::listen("eth/68,foo/1,zzz/2").await;
    let (eth, _eth_seen, _) = recorder("eth", 68, 17);
    let (foo, mut foo_seen, mut foo_senders) = recorder("foo", 1, 1);
    let (zzz, mut zzz_seen, mut zzz_senders) = recorder("zzz", 2, 1);
    let (qqq, _, _) = recorder("qqq", 1, 3);
    let server = start(config(vec![qqq, zzz, foo, eth])).await;
    let mut events = server.events();
    server.add_peer(enode);
    let info = next_event(&mut events, added).await;
    let ranges: Vec<String> = info
        .capabilities
        .iter()
        .map(|c| format!("{}@{:#x}", c.capability, c.offset))
        .collect();
    assert_eq!(ranges, ["eth/68@0x10", "foo/1@0x21", "zzz/2@0x22"]);
    let js_added = js.event("peer_added").await;
    assert_eq!(js_added["caps"], json!(["eth/68", "foo/1", "zzz/2"]));

    let foo_sender = next(&mut foo_senders).await;
    foo_bar_both_ways(&mut js, &mut foo_seen, &foo_sender).await;
    let zzz_sender = next(&mut zzz_senders).await;
    zzz_sender.send(0, &"to zzz").await.unwrap();
    // ethereumjs reports the "foo" it answered above as a message too; skip to zzz's.
    let got = js.message("zzz").await;
    assert_eq!(got["text"].as_str(), Some("to zzz"));
    js.cmd(json!({"cmd": "send", "cap": "zzz", "code": 0, "text": "from zzz"}))
        .await;
    assert_eq!(next(&mut zzz_seen).await, (0, b"from zzz".to_vec()));
    server.stop().await;
    js.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disconnect_reasons_cross_in_both_directions() {
    if skip_without_node() {
        return;
    }
    // ethereumjs -> peerwire: a bare-integer Disconnect (TooManyPeers).
    let (foo, _seen, _senders) = recorder("foo", 1, 1);
    let server = start(config(vec![foo])).await;
    let mut events = server.events();
    let mut js = JsPeer::dial(&server, "foo/1").await;
    next_event(&mut events, added).await;
    js.event("peer_added").await;
    js.cmd(json!({"cmd": "disconnect", "reason": 4})).await;
    let end = next_event(&mut events, dropped).await;
    assert_eq!(end, SessionEnd::Remote(DisconnectReason::TooManyPeers));
    js.exit().await;

    // peerwire -> ethereumjs: a chosen reason, then a graceful stop (Quitting).
    let mut js = JsPeer::dial(&server, "foo/1").await;
    next_event(&mut events, added).await;
    js.event("peer_added").await;
    server
        .peer(&js.id())
        .unwrap()
        .disconnect(DisconnectReason::SubprotocolError);
    let removed = js.event("peer_removed").await;
    assert_eq!(
        (removed["reason"].as_u64(), removed["by_us"].as_bool()),
        (Some(0x10), Some(false))
    );
    js.exit().await;

    let mut js = JsPeer::dial(&server, "foo/1").await;
    next_event(&mut events, added).await;
    js.event("peer_added").await;
    server.stop().await;
    let removed = js.event("peer_removed").await;
    assert_eq!(
        (removed["reason"].as_u64(), removed["by_us"].as_bool()),
        (Some(8), Some(false))
    );
    js.exit().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn large_and_many_messages_cross_intact_both_ways() {
    if skip_without_node() {
        return;
    }
    let (foo, mut seen, mut senders) = recorder("foo", 1, 1);
    let server = start(config(vec![foo])).await;
    let mut js = JsPeer::dial(&server, "foo/1").await;
    js.event("peer_added").await;
    let sender = next(&mut senders).await;

    for (size, seed) in [(1 << 20, 7), (15 << 20, 11)] {
        // ethereumjs -> peerwire
        js.cmd(json!({"cmd": "send_big", "cap": "foo", "size": size, "seed": seed}))
            .await;
        let sent = js.event("sent").await;
        let (code, bytes) = next(&mut seen).await;
        assert_eq!((code, bytes.len()), (0, size));
        assert_eq!(sha256_hex(&bytes), sent["sha256"].as_str().unwrap());
        // peerwire -> ethereumjs
        let ours = pattern(size, seed + 1);
        sender.send(0, &ours).await.unwrap();
        let got = js.event("message").await;
        assert_eq!(
            got["len"].as_u64(),
            Some(size as u64 + if size < 56 { 1 } else { 4 })
        );
        assert_eq!(got["sha256"].as_str().unwrap(), sha256_hex(&ours));
    }

    // Random payloads go out as one snappy literal, uncompressed: ethereumjs's decoder must
    // read every form of literal header (length in the tag, or in 1, 2 or 3 more bytes).
    for size in [40, 200, 40_000, 1 << 20] {
        let ours = random_bytes(size);
        sender.send(0, &ours).await.unwrap();
        let got = js.event("message").await;
        assert_eq!(got["len"].as_u64(), Some(rlp::encode(&ours).len() as u64));
        assert_eq!(got["sha256"].as_str().unwrap(), sha256_hex(&ours));
    }

    // 10,000 small messages each way, complete and in order.
    js.cmd(json!({"cmd": "send_many", "cap": "foo", "count": 10_000}))
        .await;
    for i in 0..10_000 {
        let (_, bytes) = next(&mut seen).await;
        assert_eq!(bytes, format!("m{i}").into_bytes(), "message {i}");
    }
    for i in 0..10_000 {
        sender.send(0, &format!("n{i}")).await.unwrap();
    }
    for i in 0..10_000 {
        let got = js.event("message").await;
        assert_eq!(
            got["text"].as_str(),
            Some(format!("n{i}").as_str()),
            "message {i}"
        );
    }
    js.exit().await;
    server.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_shared_capability_ends_as_useless_peer_on_both_sides() {
    if skip_without_node() {
        return;
    }
    let (foo, _seen, _senders) = recorder("foo", 1, 1);
    let server = start(config(vec![foo])).await;
    let mut events = server.events();
    let mut js = JsPeer::dial(&server, "zzz/2").await;
    let reason = next_event(&mut events, |e| match e {
        PeerEvent::Rejected { reason, .. } => Some(*reason),
        _ => None,
    })
    .await;
    assert_eq!(reason, DisconnectReason::UselessPeer);
    let closed = js.event("connection_closed").await;
    assert_eq!(closed["reason"].as_u64(), Some(3), "{closed}");
    assert_eq!(server.peer_count(), 0);
    js.exit().await;
    server.stop().await;
}

/// The next foobar event, within [`WAIT`].
async fn foobar_event(events: &mut mpsc::Receiver<FooBarEvent>) -> FooBarEvent {
    tokio::time::timeout(WAIT, events.recv())
        .await
        .expect("a foobar event in time")
        .expect("foobar events open")
}

/// Payloads (hex) that are not one UTF-8 string in either form; peerwire-foobar skips them.
const GARBAGE: [(&str, &str); 10] = [
    ("empty payload", ""),
    ("truncated string", "83666f"),
    ("'f' wrapped in 0x81 (not canonical)", "8166"),
    ("trailing byte", "83666f6f00"),
    ("a list of two", "c883666f6f83666f6f"),
    ("an empty list", "c0"),
    ("a nested list", "c5c483666f6f"),
    ("non-UTF-8 string", "82fffe"),
    ("the integer 1000 (string 03 e8)", "8203e8"),
    ("[1000]", "c38203e8"),
];

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn foobar_answers_ethereumjs_in_its_form_and_skips_garbage() {
    let (foobar, mut messages) = FooBar::new();
    let server = start(config(vec![foobar.protocol()])).await;
    let mut js = JsPeer::dial(&server, "foo/1").await;
    js.event("peer_added").await;
    let js_id = js.id();
    eventually(|| foobar.peers().contains(&js_id)).await;

    // ethereumjs -> peerwire: ["foo"] gets ["bar"] (c4 83 'bar'), "foo" gets "bar" (83 'bar').
    for (form, len) in [("list", 5), ("bare", 4), ("list", 5)] {
        js.cmd(json!({"cmd": "send", "cap": "foo", "code": 0, "text": "foo", "form": form}))
            .await;
        let reply = js.message("foo").await;
        assert_eq!(
            (
                reply["form"].as_str(),
                reply["text"].as_str(),
                reply["len"].as_u64()
            ),
            (Some(form), Some("bar"), Some(len)),
            "{reply}"
        );
    }

    // Garbage is skipped and counted; the session stays up and the next foo is answered (it is
    // the first reply ethereumjs sees: garbage got none).
    for (_, hex) in GARBAGE {
        js.cmd(json!({"cmd": "send_raw", "cap": "foo", "code": 0, "hex": hex}))
            .await;
    }
    js.cmd(json!({"cmd": "send", "cap": "foo", "code": 0, "text": "foo", "form": "list"}))
        .await;
    let reply = js.message("foo").await;
    assert_eq!(
        (reply["form"].as_str(), reply["text"].as_str()),
        (Some("list"), Some("bar")),
        "{reply}"
    );
    assert_eq!(foobar.skipped(), GARBAGE.len() as u64, "{GARBAGE:?}");
    assert!(server.peer(&js_id).is_some(), "still connected");

    // Other text, in either form, reaches the application.
    for (form, text) in [("list", "hello as a list"), ("bare", "hello bare")] {
        js.cmd(json!({"cmd": "send", "cap": "foo", "code": 0, "text": text, "form": form}))
            .await;
        let event = foobar_event(&mut messages).await;
        assert_eq!(
            event,
            FooBarEvent::Message {
                from: js_id,
                text: text.into()
            }
        );
    }

    // peerwire -> ethereumjs: FooBar::send uses the list form; ethereumjs answers in kind, and
    // its ["bar"] reaches the application.
    foobar.send(&js_id, "foo").await.unwrap();
    let got = js.message("foo").await;
    assert_eq!(
        (
            got["form"].as_str(),
            got["text"].as_str(),
            got["len"].as_u64()
        ),
        (Some("list"), Some("foo"), Some(5)),
        "{got}"
    );
    let event = foobar_event(&mut messages).await;
    assert_eq!(
        event,
        FooBarEvent::Message {
            from: js_id,
            text: "bar".into()
        }
    );
    assert_eq!(foobar.broadcast("to all").await, 1);
    let got = js.message("foo").await;
    assert_eq!(
        (got["form"].as_str(), got["text"].as_str()),
        (Some("list"), Some("to all"))
    );
    assert_eq!(foobar.skipped(), GARBAGE.len() as u64);
    js.exit().await;
    server.stop().await;
}
