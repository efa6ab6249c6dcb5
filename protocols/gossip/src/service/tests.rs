//! One session of the shell against a hand-driven peer over the in-memory pipe: Status,
//! penalties, the read rate, direct-only sessions.

use std::time::Duration;

use bytes::Bytes;
use peerwire::crypto::NodeKey;
use peerwire::protocol::pipe::{run_handler, PipeEnd};
use tokio::sync::mpsc;

use super::{Gossip, GossipEvent};
use crate::config::Config;
use crate::error::PenaltyReason;
use crate::message::{Message, Signed};
use crate::wire::{self, Status, DIRECT, GOSSIP, STATUS, VERSION};

const LIMIT: Duration = Duration::from_secs(30);

async fn status(remote: &PipeEnd, relay: bool) {
    let ours = Status {
        version: VERSION,
        relay,
    };
    remote.rw.send_raw(STATUS, ours.encode()).await.unwrap();
}

async fn read(remote: &mut PipeEnd) -> peerwire::protocol::Msg {
    tokio::time::timeout(LIMIT, remote.rw.read_msg())
        .await
        .expect("a message in time")
        .expect("still connected")
}

async fn event(events: &mut mpsc::Receiver<GossipEvent>) -> GossipEvent {
    tokio::time::timeout(LIMIT, events.recv())
        .await
        .expect("an event in time")
        .expect("the stream is open")
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64
}

#[tokio::test]
async fn status_goes_first_and_a_publish_reaches_a_relaying_peer_signed() {
    let key = NodeKey::random();
    let (gossip, _events) = Gossip::new(key.clone(), Config::default());
    let (_handler, mut remote) = run_handler(&gossip.protocol());
    let first = read(&mut remote).await;
    assert_eq!(first.code, STATUS);
    assert_eq!(
        Status::decode(&first.payload),
        Ok(Status {
            version: VERSION,
            relay: true
        })
    );
    status(&remote, true).await;
    // In the tree once its Status is read.
    tokio::time::timeout(LIMIT, async {
        while gossip.tree().is_empty() {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .unwrap();
    let id = gossip.publish("chat", &b"hello"[..]).unwrap();
    let msg = read(&mut remote).await;
    assert_eq!(msg.code, GOSSIP);
    let limits = wire::GossipLimits {
        max_topic_len: 64,
        max_data: 1024,
    };
    let (signed, hops) = wire::decode_gossip(&msg.payload, limits).unwrap();
    assert_eq!(hops, 1);
    assert_eq!(signed.id, id);
    assert_eq!(signed.message.origin, key.id());
    assert_eq!(signed.verify(), Ok(()));
}

#[tokio::test]
async fn a_session_that_does_not_start_with_status_is_ended_and_reported() {
    let (gossip, mut events) = Gossip::new(NodeKey::random(), Config::default());
    let (handler, mut remote) = run_handler(&gossip.protocol());
    read(&mut remote).await;
    remote
        .rw
        .send_raw(DIRECT, wire::encode_direct(b"hi"))
        .await
        .unwrap();
    assert!(handler.await.unwrap().is_err());
    assert!(matches!(
        event(&mut events).await,
        GossipEvent::Penalty {
            reason: PenaltyReason::NoStatus,
            ..
        }
    ));
}

#[tokio::test]
async fn a_malformed_message_ends_the_session_and_is_reported() {
    let (gossip, mut events) = Gossip::new(NodeKey::random(), Config::default());
    let (handler, mut remote) = run_handler(&gossip.protocol());
    read(&mut remote).await;
    status(&remote, true).await;
    remote
        .rw
        .send_raw(GOSSIP, Bytes::from_static(&[0xc2, 0x01]))
        .await
        .unwrap();
    assert!(handler.await.unwrap().is_err());
    assert!(matches!(
        event(&mut events).await,
        GossipEvent::Penalty {
            reason: PenaltyReason::Malformed(_),
            ..
        }
    ));
}

#[tokio::test]
async fn a_peer_relaying_forged_messages_is_reported_each_time_and_dropped_at_the_limit() {
    let (gossip, mut events) = Gossip::new(NodeKey::random(), Config::default());
    let (handler, mut remote) = run_handler(&gossip.protocol());
    read(&mut remote).await;
    status(&remote, true).await;
    let (origin, forger) = (NodeKey::random(), NodeKey::random());
    for i in 0..3u8 {
        let message = Message {
            origin: origin.id(),
            time_ms: now_ms(),
            topic: "chat".into(),
            data: Bytes::from(vec![i]),
        };
        let forged = Signed::sign(message, &forger);
        remote
            .rw
            .send_raw(GOSSIP, wire::encode_gossip(&forged, 1))
            .await
            .unwrap();
    }
    for count in 1..=3 {
        match event(&mut events).await {
            GossipEvent::Penalty {
                reason: PenaltyReason::BadSignature,
                count: c,
                ..
            } => assert_eq!(c, count),
            other => panic!("{other:?}"),
        }
    }
    // The third ended the session.
    let ended = tokio::time::timeout(LIMIT, remote.peer.closed()).await;
    assert!(ended.is_ok(), "disconnected at the limit");
    drop(handler);
}

/// With 10 messages a second (burst 10), 30 direct messages take about 2 s to be read: the
/// handler stops reading while the peer is over its rate. On a paused clock.
#[tokio::test(start_paused = true)]
async fn a_peer_over_its_read_rate_is_read_no_faster_than_the_rate() {
    let mut config = Config::default();
    config.peer.read_msgs_per_sec = 10;
    config.peer.read_msgs_burst = 10;
    let (gossip, mut events) = Gossip::new(NodeKey::random(), config);
    let (_handler, mut remote) = run_handler(&gossip.protocol());
    read(&mut remote).await;
    status(&remote, true).await;
    let t0 = tokio::time::Instant::now();
    for i in 0..30u8 {
        remote
            .rw
            .send_raw(DIRECT, wire::encode_direct(&[i]))
            .await
            .unwrap();
    }
    for i in 0..30u8 {
        match event(&mut events).await {
            GossipEvent::Direct { data, .. } => assert_eq!(data, &[i][..]),
            other => panic!("{other:?}"),
        }
    }
    let took = t0.elapsed();
    // The Status and the first 9 pass in the burst; the other 21 at 10 a second.
    assert!(
        took >= Duration::from_millis(1900) && took < Duration::from_millis(2600),
        "took {took:?}"
    );
}

/// A session whose peer says it does not relay stays out of the tree, carries direct
/// messages, and closes once idle; a relaying one does not. On a paused clock.
#[tokio::test(start_paused = true)]
async fn a_direct_only_session_stays_out_of_the_tree_and_closes_when_idle() {
    let (gossip, mut events) = Gossip::new(NodeKey::random(), Config::default());
    let (handler, mut remote) = run_handler(&gossip.protocol());
    read(&mut remote).await;
    status(&remote, false).await;
    remote
        .rw
        .send_raw(DIRECT, wire::encode_direct(b"psst"))
        .await
        .unwrap();
    assert!(matches!(
        event(&mut events).await,
        GossipEvent::Direct { data, .. } if data == b"psst"[..]
    ));
    assert!(gossip.tree().is_empty());
    gossip.publish("chat", &b"not for you"[..]).unwrap();
    let idle = Config::default().direct.idle;
    let t0 = tokio::time::Instant::now();
    assert!(handler.await.unwrap().is_ok(), "ended by itself");
    let took = t0.elapsed();
    assert!(
        took >= idle && took < idle + Duration::from_secs(1),
        "{took:?}"
    );
    // Nothing was pushed to it: the first message after Status is the end.
    assert!(remote.rw.read_msg().await.is_err());

    let (relaying, mut remote) = run_handler(&gossip.protocol());
    read(&mut remote).await;
    status(&remote, true).await;
    tokio::time::sleep(idle * 3).await;
    assert!(
        !relaying.is_finished(),
        "a relaying session does not idle out"
    );
}
