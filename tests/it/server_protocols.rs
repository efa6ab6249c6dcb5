//! Handler outcomes, queues, priorities, message-code ranges, compression and shutdown.

use std::sync::Arc;
use std::time::{Duration, Instant};

use peerwire::protocol::SessionEnd;
use peerwire::protocol::{Protocol, SendError};
use peerwire::server::PeerEvent;
use peerwire::wire::{code, Capability, DisconnectReason};
use tokio::sync::mpsc;

use crate::support::*;

fn dropped(e: &PeerEvent) -> Option<SessionEnd> {
    match e {
        PeerEvent::Dropped { end, .. } => Some(*end),
        _ => None,
    }
}

#[tokio::test]
async fn handler_outcomes_map_to_disconnect_reasons() {
    let quits = Protocol::new(Capability::new("quit", 1), 1, |_peer, mut rw| async move {
        rw.read_msg().await?;
        Ok(())
    });
    let fails = Protocol::new(Capability::new("fail", 1), 1, |_peer, mut rw| async move {
        rw.read_msg().await?;
        Err("handler gave up".into())
    });
    let server = start(config(vec![quits, fails])).await;
    for (cap, want) in [
        ("quit", DisconnectReason::Quitting),
        ("fail", DisconnectReason::SubprotocolError),
    ] {
        let mut raw = Hand::connect(&server, key(), vec![Capability::new(cap, 1)]).await;
        raw.send(0x10, &rlp::encode(&"go")).await;
        assert_eq!(raw.disconnect_reason().await, want, "{cap}");
    }
    server.stop().await;
}

#[tokio::test]
async fn a_panicking_handler_takes_down_only_its_peer() {
    let panics = Protocol::new(Capability::new("boom", 1), 1, |_peer, mut rw| async move {
        let msg = rw.read_msg().await?;
        if msg.decode::<String>()? == "panic" {
            panic!("handler bug");
        }
        rw.send(0, &"still here").await?;
        Ok(())
    });
    let server = start(config(vec![panics])).await;
    let mut events = server.events();
    let mut healthy = Hand::connect(&server, key(), vec![Capability::new("boom", 1)]).await;
    let mut victim = Hand::connect(&server, key(), vec![Capability::new("boom", 1)]).await;
    eventually(|| server.peer_count() == 2).await;
    victim.send(0x10, &rlp::encode(&"panic")).await;
    assert_eq!(
        victim.disconnect_reason().await,
        DisconnectReason::SubprotocolError
    );
    assert_eq!(
        next_event(&mut events, dropped).await,
        SessionEnd::Local(DisconnectReason::SubprotocolError)
    );
    // The other peer is served as before.
    healthy.send(0x10, &rlp::encode(&"hello")).await;
    let (code, payload) = healthy.recv().await.unwrap();
    assert_eq!(
        (code, rlp::decode::<String>(&payload).unwrap()),
        (0x10, "still here".into())
    );
    let _ = Hand::connect(&server, key(), vec![Capability::new("boom", 1)]).await;
    server.stop().await;
}

#[tokio::test]
async fn try_send_reports_full_and_send_rejects_codes_outside_the_protocol() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    // The server's handler never reads: its queue fills, then its inbound budget, then our
    // writes back up.
    let sink = Protocol::new(Capability::new("sink", 1), 2, |peer, rw| async move {
        let _never_read = rw;
        peer.closed().await;
        Ok(())
    })
    .with_queue_capacity(2, 2);
    // A small inbound budget: once 2 MiB wait for the handler, the server stops reading,
    // and the backlog reaches our queue.
    let mut ca = config(vec![sink]);
    ca.inbound.per_peer = 2 << 20;
    let a = start(ca).await;
    // Our writer stalls for the rest of the test: its write timeout must not end the session
    // (and make `send` return `Disconnected`) however slowly a loaded machine runs the test.
    let mut cb = config(vec![probe("sink", 1, 2, tx).with_queue_capacity(4, 4)]);
    cb.connection.session.write = Duration::from_secs(60);
    let b = start(cb).await;
    b.add_peer(a.local_enode());
    let (_peer, rw) = rx.recv().await.unwrap();
    assert_eq!(
        rw.try_send(2, &"x"),
        Err(SendError::InvalidCode { code: 2, length: 2 })
    );
    // Incompressible, so every message puts its full size on the wire.
    let big: Vec<u8> = (0..1u32 << 18)
        .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
        .collect();
    // Fill until the queue has stayed full for 500 ms: until then the writer may still be
    // draining into the socket buffers, and a momentary `Full` proves nothing about `send`.
    let mut accepted = 0;
    let mut full_since: Option<Instant> = None;
    while full_since.is_none_or(|t| t.elapsed() < Duration::from_millis(500)) {
        match rw.try_send(0, &big) {
            Ok(()) => {
                accepted += 1;
                full_since = None;
            }
            Err(e) => {
                assert_eq!(e, SendError::Full);
                full_since.get_or_insert_with(Instant::now);
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
        assert!(accepted < 10_000, "never full");
    }
    // `send` waits rather than failing: it does not finish while everything is backed up.
    let blocked = tokio::time::timeout(Duration::from_millis(200), rw.send(0, &big)).await;
    assert!(
        blocked.is_err(),
        "send returned although the queue is full: {blocked:?}"
    );
    // The stalled side goes last: once the other has closed, its writer fails at once
    // instead of waiting out its write timeout.
    a.stop().await;
    b.stop().await;
}

#[tokio::test]
async fn message_code_outside_every_range_is_a_protocol_error() {
    let server = start(config(vec![echo("foo", 1)])).await;
    let mut raw = Hand::connect(&server, key(), vec![Capability::new("foo", 1)]).await;
    raw.send(0x12, &rlp::encode(&"beyond foo's two codes"))
        .await;
    assert_eq!(
        raw.disconnect_reason().await,
        DisconnectReason::ProtocolError
    );
    server.stop().await;
}

#[tokio::test]
async fn snappy_bomb_is_a_protocol_error() {
    let server = start(config(vec![echo("foo", 1)])).await;
    let mut raw = Hand::connect(&server, key(), vec![Capability::new("foo", 1)]).await;
    // A snappy header claiming 2^24 bytes: refused before anything is allocated for it.
    raw.send_raw(0x10, &[0x80, 0x80, 0x80, 0x08, 0x00]).await;
    assert_eq!(
        raw.disconnect_reason().await,
        DisconnectReason::ProtocolError
    );
    server.stop().await;
}

#[tokio::test]
async fn version_4_peer_gets_uncompressed_messages() {
    use peerwire::wire::Hello;
    let server = start(config(vec![echo("foo", 1)])).await;
    let k = key();
    let mut stream = rlpx_to(&server, &k).await;
    let hello = Hello {
        protocol_version: 4,
        client_id: "old".into(),
        capabilities: vec![Capability::new("foo", 1)],
        listen_port: 0,
        id: k.id(),
    };
    stream.send(code::HELLO, &hello.encode()).await.unwrap();
    assert_eq!(stream.recv().await.unwrap().unwrap().code, code::HELLO);
    stream.send(0x10, &rlp::encode(&"plain")).await.unwrap();
    let reply = stream.recv().await.unwrap().unwrap();
    assert_eq!(reply.code, 0x11);
    assert_eq!(rlp::decode::<String>(&reply.payload).unwrap(), "PLAIN");
    server.stop().await;
}

#[tokio::test]
async fn messages_sent_before_a_handler_returns_are_delivered_before_disconnect() {
    let last_words = Protocol::new(Capability::new("bye", 1), 1, |_peer, rw| async move {
        for i in 0..50u32 {
            rw.send(0, &i).await?;
        }
        Ok(())
    });
    let server = start(config(vec![last_words])).await;
    let mut raw = Hand::connect(&server, key(), vec![Capability::new("bye", 1)]).await;
    for i in 0..50u32 {
        let (code, payload) = raw.recv().await.unwrap();
        assert_eq!((code, rlp::decode::<u32>(&payload).unwrap()), (0x10, i));
    }
    assert_eq!(raw.disconnect_reason().await, DisconnectReason::Quitting);
    server.stop().await;
}

/// Bulk transfer on one protocol, latency probes on another: the write scheduler must not
/// make the probe wait behind the bulk backlog.
///
/// The receiver's bulk handler starts gated, so the connection backs up and the sender's bulk
/// queue fills (128 MiB). A probe is queued behind that backlog, then the gate opens. FIFO
/// would deliver the probe after the whole backlog; we require a fifth of that at most.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bulk_sender_does_not_starve_a_latency_sensitive_protocol() {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tokio::sync::Notify;
    const BULK: usize = 2048;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let received = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(Notify::new());
    let bulk_sink = {
        let (received, gate) = (received.clone(), gate.clone());
        Protocol::new(Capability::new("bulk", 1), 1, move |_peer, mut rw| {
            let (received, gate) = (received.clone(), gate.clone());
            async move {
                gate.notified().await;
                loop {
                    rw.read_msg().await?;
                    received.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
        .with_queue_capacity(1, 1)
    };
    // The sender's writes stall while the gate is shut: allow for it.
    let patient = |mut c: peerwire::server::ServerConfig| {
        c.connection.session.write = Duration::from_secs(20);
        c
    };
    // The receiver parks little (1 MiB): the backlog must build up in the sender's queues,
    // where the write scheduler decides the order.
    let mut ca = patient(config(vec![bulk_sink, echo("ping", 1)]));
    ca.inbound.per_peer = 1 << 20;
    let a = start(ca).await;
    let b = start(patient(config(vec![
        // The whole backlog fits the queue, in messages and in bytes.
        probe("bulk", 1, 1, tx.clone())
            .with_queue_capacity(BULK, BULK)
            .with_outbound_bytes(BULK * 65 * 1024),
        probe("ping", 1, 2, tx),
    ])))
    .await;
    b.add_peer(a.local_enode());
    let mut handed = vec![rx.recv().await.unwrap(), rx.recv().await.unwrap()];
    handed.sort_by_key(|(_, rw)| rw.length());
    let (_, bulk) = handed.remove(0);
    let (_, mut ping) = handed.remove(0);
    // Incompressible 64 KiB blocks.
    let block: Vec<u8> = (0..16 * 1024u32)
        .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
        .collect();
    let mut queued = 0;
    while queued < BULK {
        match bulk.try_send(0, &block) {
            Ok(()) => queued += 1,
            Err(e) => panic!("bulk queue refused message {queued}: {e}"),
        }
    }
    ping.send(0, &"probe").await.unwrap();
    let released = Instant::now();
    gate.notify_one();
    let reply = ping.read_msg().await.unwrap();
    let probe_latency = released.elapsed();
    let bulk_at_probe = received.load(Ordering::Relaxed);
    assert_eq!(reply.decode::<String>().unwrap(), "PROBE");
    eventually(|| received.load(Ordering::Relaxed) == BULK).await;
    let backlog = released.elapsed();
    assert!(
        bulk_at_probe < BULK / 2,
        "probe arrived after {bulk_at_probe} of {BULK} bulk messages"
    );
    assert!(
        probe_latency * 5 < backlog,
        "probe took {probe_latency:?}; the whole backlog {backlog:?}"
    );
    b.stop().await;
    a.stop().await;
}

#[tokio::test]
async fn stop_leaves_no_task_behind() {
    let metrics = tokio::runtime::Handle::current().metrics();
    let before = metrics.num_alive_tasks();
    let guard = Arc::new(());
    let holder = {
        let guard = guard.clone();
        Protocol::new(Capability::new("hold", 1), 1, move |peer, _rw| {
            let guard = guard.clone();
            async move {
                let _held = guard;
                peer.closed().await;
                Ok(())
            }
        })
    };
    let a = start(config(vec![holder.clone()])).await;
    let b = start(config(vec![holder])).await;
    // Ours, plus the one the protocol's closure keeps.
    let idle = Arc::strong_count(&guard);
    b.add_peer(a.local_enode());
    eventually(|| a.peer_count() == 1 && b.peer_count() == 1).await;
    assert_eq!(
        Arc::strong_count(&guard),
        idle + 2,
        "one handler on each side"
    );
    b.stop().await;
    a.stop().await;
    assert_eq!(Arc::strong_count(&guard), idle, "a handler outlived stop()");
    eventually(|| metrics.num_alive_tasks() == before).await;
}

#[tokio::test]
async fn a_handler_that_dropped_its_channel_ends_the_session_when_a_message_comes() {
    let deaf = Protocol::new(Capability::new("deaf", 1), 1, |peer, rw| async move {
        drop(rw);
        peer.closed().await;
        Ok(())
    });
    let server = start(config(vec![deaf])).await;
    let mut raw = Hand::connect(&server, key(), vec![Capability::new("deaf", 1)]).await;
    raw.send(0x10, &rlp::encode(&"anyone?")).await;
    assert_eq!(
        raw.disconnect_reason().await,
        DisconnectReason::SubprotocolError
    );
    server.stop().await;
}
