//! Outbound queues bounded in bytes, messages received before a Disconnect still
//! reach the handler, and a protocol whose `run` panics before returning a future.

use std::time::Duration;

use bytes::{Bytes, BytesMut};
use peerwire::protocol::pipe::run_handler;
use peerwire::protocol::{
    HandlerError, MsgReadWriter, Peer, Protocol, ReadError, SendError, SessionEnd,
};
use peerwire::server::{PeerEvent, SessionTimeouts};
use peerwire::wire::{code, Capability, DisconnectReason, PayloadCodec};
use tokio::sync::mpsc;

use crate::support::peer::Hand;
use crate::support::*;

/// Lets the pipe's forwarding tasks run.
async fn settle() {
    tokio::time::sleep(Duration::from_millis(20)).await;
}

fn block(tag: u8, len: usize) -> Bytes {
    let mut b = vec![0u8; len];
    b[0] = tag;
    Bytes::from(b)
}

#[tokio::test]
async fn outbound_queue_is_bounded_in_bytes_and_send_waits_for_room() {
    const LIMIT: usize = 1 << 20;
    let (tx, mut rx) = mpsc::unbounded_channel();
    // Room for 64 messages but only 1 MiB; the remote's inbound queue holds one message.
    let proto = probe("out", 1, 1, tx)
        .with_queue_capacity(1, 64)
        .with_outbound_bytes(LIMIT);
    let (_task, mut remote) = run_handler(&proto);
    let (_peer, local) = rx.recv().await.unwrap();

    // m0 goes to the remote's inbound queue, m1 into the forwarder, which then waits.
    local.try_send_raw(0, block(0, LIMIT)).unwrap();
    settle().await;
    local.try_send_raw(0, block(1, LIMIT)).unwrap();
    settle().await;
    // m2 fills the byte limit with 1 of 64 message slots used.
    local.try_send_raw(0, block(2, LIMIT)).unwrap();
    assert_eq!(
        local.try_send_raw(0, Bytes::from_static(b"x")),
        Err(SendError::Full)
    );
    let sender = local.sender().clone();
    let mut pending = tokio::spawn(async move { sender.send_raw(0, block(3, LIMIT)).await });
    assert!(
        tokio::time::timeout(Duration::from_millis(100), &mut pending)
            .await
            .is_err(),
        "send returned although the queue's bytes are spent"
    );
    // Reading one message moves m1 on and m2 off the queue: the waiting send gets room.
    let first = remote.rw.read_msg().await.unwrap();
    assert_eq!(first.payload[0], 0);
    tokio::time::timeout(Duration::from_secs(1), pending)
        .await
        .expect("send proceeds once the queue has room")
        .unwrap()
        .unwrap();
    for tag in 1..4 {
        assert_eq!(remote.rw.read_msg().await.unwrap().payload[0], tag);
    }
    // An empty queue takes one message of any size, even 3 × the limit.
    settle().await;
    local.try_send_raw(0, block(4, 3 * LIMIT)).unwrap();
    let big = remote.rw.read_msg().await.unwrap();
    assert_eq!((big.payload[0], big.payload.len()), (4, 3 * LIMIT));
}

/// Over a real session the writer frees the room as it writes: many sends through a queue
/// of 1 MiB all arrive.
#[tokio::test]
async fn the_writer_frees_outbound_room_as_it_writes() {
    const COUNT: u32 = 32;
    let sender = Protocol::new(Capability::new("out", 1), 1, |_peer, rw| async move {
        // Incompressible, so each message holds its full size on the queue.
        let payload: Vec<u8> = (0..128 * 1024u32)
            .flat_map(|i| i.wrapping_mul(2_654_435_761).to_le_bytes())
            .collect();
        for i in 0..COUNT {
            let mut p = payload.clone();
            p[0] = i as u8;
            rw.send_raw(0, p.into()).await?;
        }
        Ok(())
    })
    .with_outbound_bytes(1 << 20);
    let server = start(config(vec![sender])).await;
    let mut raw = Hand::connect(&server, key(), vec![Capability::new("out", 1)]).await;
    for i in 0..COUNT {
        let (code, payload) = raw.recv().await.expect("message");
        assert_eq!(
            (code, payload[0], payload.len()),
            (0x10, i as u8, 512 * 1024)
        );
    }
    assert_eq!(raw.disconnect_reason().await, DisconnectReason::Quitting);
    server.stop().await;
}

/// A remote sends N messages and Disconnect in one write to a handler whose queue holds one
/// message and that reads slowly: all N are parked or queued when the Disconnect is read,
/// and the handler must still read all of them, then `Disconnected(Remote(reason))`.
#[tokio::test]
async fn messages_parked_before_a_remote_disconnect_reach_the_handler() {
    const N: u32 = 8;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let slow = Protocol::new(Capability::new("slow", 1), 1, move |_peer, mut rw| {
        let tx = tx.clone();
        async move {
            loop {
                tokio::time::sleep(Duration::from_millis(20)).await;
                let got = rw.read_msg().await.map(|m| m.decode::<u32>().unwrap());
                let end = got.is_err();
                tx.send(got).ok();
                if end {
                    return Ok(());
                }
            }
        }
    })
    .with_queue_capacity(1, 1);
    let mut c = config(vec![slow]);
    c.connection.session = SessionTimeouts {
        disconnect_linger: Duration::from_secs(1),
        ..c.connection.session
    };
    let server = start(c).await;
    let mut hand = Hand::dial(&server, key()).await;
    let mut out = BytesMut::new();
    hand.seal_hello(vec![Capability::new("slow", 1)], &mut out);
    hand.write(&out).await;
    hand.server_hello().await;
    let mut out = BytesMut::new();
    for i in 0..N {
        hand.seal_snappy(0x10, &rlp::encode(&i), &mut out);
    }
    let bye = DisconnectReason::UselessPeer.encode_message(PayloadCodec::Snappy);
    hand.seal(code::DISCONNECT, &bye, &mut out);
    hand.write(&out).await;

    for i in 0..N {
        let got = tokio::time::timeout(Duration::from_secs(5), rx.recv())
            .await
            .expect("handler reports within 5 s")
            .unwrap();
        assert_eq!(got, Ok(i), "message {i} of {N}");
    }
    assert_eq!(
        rx.recv().await.unwrap(),
        Err(ReadError::Disconnected(SessionEnd::Remote(
            DisconnectReason::UselessPeer
        )))
    );
    server.stop().await;
}

fn panics_at_once(_peer: Peer, _rw: MsgReadWriter) -> std::future::Ready<Result<(), HandlerError>> {
    panic!("run panicked before returning its future")
}

/// The panic is caught, the session ends with SubprotocolError, and the peer's admission
/// entry is gone: the same node can connect again (and is not `AlreadyConnected`).
#[tokio::test]
async fn run_panicking_before_returning_a_future_frees_the_peer_slot() {
    let boom = Protocol::new(Capability::new("boom", 1), 1, panics_at_once);
    let server = start(config(vec![boom, echo("foo", 1)])).await;
    let mut events = server.events();
    let k = key();
    for attempt in 0..2 {
        let caps = vec![Capability::new("boom", 1), Capability::new("foo", 1)];
        let mut raw = Hand::connect(&server, k.clone(), caps).await;
        assert_eq!(
            raw.disconnect_reason().await,
            DisconnectReason::SubprotocolError,
            "attempt {attempt}"
        );
        let end = next_event(&mut events, |e| match e {
            PeerEvent::Dropped { id, end } if *id == k.id() => Some(*end),
            _ => None,
        })
        .await;
        assert_eq!(end, SessionEnd::Local(DisconnectReason::SubprotocolError));
        assert!(server.peer(&k.id()).is_none());
    }
    server.stop().await;
}

#[tokio::test]
async fn run_panicking_before_returning_a_future_over_the_pipe() {
    let boom = Protocol::new(Capability::new("boom", 1), 1, panics_at_once);
    let (handler, mut remote) = run_handler(&boom);
    assert_eq!(
        remote.rw.read_msg().await,
        Err(ReadError::Disconnected(SessionEnd::Local(
            DisconnectReason::SubprotocolError
        )))
    );
    assert_eq!(
        remote.rw.try_send(0, &"anyone?"),
        Err(SendError::Disconnected)
    );
    let join = handler.await.expect_err("the panic is passed on");
    assert!(join.is_panic());
}
