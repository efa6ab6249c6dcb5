//! The request/response helper: correlation, timeouts, the outstanding bound, unknown ids,
//! over the in-memory pipe (paused clock) and between two servers.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use peerwire::crypto::NodeId;
use peerwire::protocol::pipe::pipe;
use peerwire::protocol::request::{
    self, Incoming, IncomingError, Request, RequestConfig, RequestError, RequestReader, Requester,
};
use peerwire::protocol::Protocol;
use peerwire::wire::Capability;
use tokio::task::JoinSet;
use tokio::time::Instant;

use crate::support::*;

const GET: u64 = 0;
const VALUE: u64 = 1;
const NOTE: u64 = 2;

fn kv() -> Capability {
    Capability::new("kv", 1)
}

fn kv_config() -> RequestConfig {
    RequestConfig::new(&[(GET, VALUE)])
}

/// Two request endpoints over a pipe.
fn ends(config: RequestConfig) -> ((Requester, RequestReader), (Requester, RequestReader)) {
    let (a, b) = pipe(kv(), 3, 16);
    (
        request::split(a.rw, config.clone()),
        request::split(b.rw, config),
    )
}

/// Keeps `reader` delivering responses.
fn drive(mut reader: RequestReader) -> tokio::task::JoinHandle<IncomingError> {
    tokio::spawn(async move {
        loop {
            if let Err(e) = reader.next().await {
                return e;
            }
        }
    })
}

async fn next_request(reader: &mut RequestReader) -> Request {
    match reader.next().await.unwrap() {
        Incoming::Request(req) => req,
        other => panic!("expected a request, got {other:?}"),
    }
}

#[tokio::test]
async fn out_of_order_answers_reach_their_own_requests() {
    let ((asker, a_reader), (server, mut b_reader)) = ends(kv_config());
    drive(a_reader);
    let mut calls = JoinSet::new();
    for key in 0..3u64 {
        let asker = asker.clone();
        calls.spawn(async move { (key, asker.request(GET, &key).await) });
    }
    let mut requests = Vec::new();
    for _ in 0..3 {
        requests.push(next_request(&mut b_reader).await);
    }
    assert_eq!(asker.outstanding(), 3);
    // Answered last to first, each with its key times ten.
    for req in requests.iter().rev() {
        let key: u64 = req.decode().unwrap();
        server.respond(req.id, VALUE, &(key * 10)).await.unwrap();
    }
    while let Some(done) = calls.join_next().await {
        let (key, response) = done.unwrap();
        let response = response.unwrap();
        assert_eq!(response.code, VALUE);
        assert_eq!(response.decode::<u64>().unwrap(), key * 10);
    }
    assert_eq!(asker.outstanding(), 0);
    assert_eq!(asker.unknown_responses(), 0);
}

#[tokio::test(start_paused = true)]
async fn a_request_times_out_on_the_paused_clock_and_its_late_answer_counts_as_unknown() {
    let config = kv_config().with_timeout(Duration::from_secs(5));
    let ((asker, a_reader), (server, mut b_reader)) = ends(config);
    drive(a_reader);
    let started = Instant::now();
    let call = tokio::spawn({
        let asker = asker.clone();
        async move { asker.request(GET, &1u64).await }
    });
    let req = next_request(&mut b_reader).await;
    assert_eq!(call.await.unwrap(), Err(RequestError::Timeout));
    assert_eq!(started.elapsed(), Duration::from_secs(5));
    assert_eq!(asker.outstanding(), 0, "a timed-out request frees its slot");

    server.respond(req.id, VALUE, &10u64).await.unwrap();
    eventually(|| asker.unknown_responses() == 1).await;
    // The peer is still there and later requests work.
    let call = tokio::spawn({
        let asker = asker.clone();
        async move { asker.request(GET, &2u64).await }
    });
    let req = next_request(&mut b_reader).await;
    server.respond(req.id, VALUE, &20u64).await.unwrap();
    assert_eq!(call.await.unwrap().unwrap().decode::<u64>().unwrap(), 20);
}

#[tokio::test(start_paused = true)]
async fn at_most_max_outstanding_requests_are_on_the_wire() {
    let config = kv_config()
        .with_max_outstanding(2)
        .with_timeout(Duration::from_secs(60));
    let ((asker, a_reader), (server, mut b_reader)) = ends(config);
    drive(a_reader);
    let mut calls = JoinSet::new();
    for key in 0..3u64 {
        let asker = asker.clone();
        calls.spawn(async move { asker.request(GET, &key).await });
    }
    let first = next_request(&mut b_reader).await;
    let second = next_request(&mut b_reader).await;
    // The third waits for a slot: nothing more arrives.
    let third = tokio::time::timeout(Duration::from_secs(10), b_reader.next()).await;
    assert!(third.is_err(), "a third request was sent: {third:?}");
    assert_eq!(asker.outstanding(), 2);

    server.respond(first.id, VALUE, &0u64).await.unwrap();
    let third = next_request(&mut b_reader).await;
    assert_eq!(asker.outstanding(), 2);
    server.respond(third.id, VALUE, &0u64).await.unwrap();
    server.respond(second.id, VALUE, &0u64).await.unwrap();
    let mut ok = 0;
    while let Some(done) = calls.join_next().await {
        done.unwrap().unwrap();
        ok += 1;
    }
    assert_eq!(ok, 3);
}

#[tokio::test]
async fn answers_to_unknown_ids_are_counted_and_dropped_and_plain_messages_pass() {
    let ((asker, mut a_reader), (server, _b_reader)) = ends(kv_config());
    server.respond(999, VALUE, &1u64).await.unwrap();
    server.sender().send(NOTE, &"plain").await.unwrap();
    // The response is consumed by the reader; the note comes out.
    match a_reader.next().await.unwrap() {
        Incoming::Message(msg) => {
            assert_eq!(
                (msg.code, msg.decode::<String>().unwrap()),
                (NOTE, "plain".into())
            )
        }
        other => panic!("expected the note, got {other:?}"),
    }
    assert_eq!(asker.unknown_responses(), 1);
}

#[tokio::test]
async fn misuse_malformed_envelopes_wrong_codes_and_disconnects_are_typed_errors() {
    let ((asker, a_reader), (server, mut b_reader)) = ends(kv_config());
    assert_eq!(
        asker.request(VALUE, &1u64).await,
        Err(RequestError::NotARequestCode(VALUE))
    );

    // An answer under a response code paired with another request is `WrongResponse`.
    let two_pairs = RequestConfig::new(&[(GET, VALUE), (NOTE, VALUE + 10)]);
    let (c, d) = pipe(kv(), 12, 4);
    let (asker2, c_reader) = request::split(c.rw, two_pairs.clone());
    let (server2, mut d_reader) = request::split(d.rw, two_pairs);
    drive(c_reader);
    let call = tokio::spawn(async move { asker2.request(GET, &1u64).await });
    let req = next_request(&mut d_reader).await;
    server2.respond(req.id, VALUE + 10, &1u64).await.unwrap();
    assert_eq!(
        call.await.unwrap(),
        Err(RequestError::WrongResponse {
            expected: VALUE,
            got: VALUE + 10
        })
    );

    // A request that is not `[id, payload]` is peer misbehaviour the handler sees.
    asker.sender().send(GET, &"no id").await.unwrap();
    match b_reader.next().await {
        Err(IncomingError::Malformed { code: GET, .. }) => {}
        other => panic!("accepted a malformed request: {other:?}"),
    }

    // Waiting requests fail as soon as the session ends, not at the timeout.
    let waiting = tokio::spawn({
        let asker = asker.clone();
        async move { asker.request(GET, &1u64).await }
    });
    let _req = next_request(&mut b_reader).await;
    drop(a_reader);
    assert_eq!(waiting.await.unwrap(), Err(RequestError::Disconnected));
    assert_eq!(
        asker.request(GET, &1u64).await,
        Err(RequestError::Disconnected)
    );
    drop(server);
}

/// `kv/1` between servers: each handler serves `GET key` with its node's table and publishes
/// its `Requester` so the test can ask the peer, while the same handler keeps serving.
fn kv_protocol(
    table: HashMap<u64, String>,
    requesters: Arc<Mutex<HashMap<NodeId, Requester>>>,
) -> Protocol {
    Protocol::new(kv(), 3, move |peer, rw| {
        let table = table.clone();
        let requesters = requesters.clone();
        async move {
            let (requester, mut reader) = request::split(rw, kv_config());
            requesters
                .lock()
                .unwrap()
                .insert(peer.id(), requester.clone());
            loop {
                match reader.next().await? {
                    Incoming::Request(req) => {
                        let key: u64 = req.decode()?;
                        let value = table.get(&key).cloned().unwrap_or_default();
                        requester.respond(req.id, VALUE, &value).await?;
                    }
                    Incoming::Message(_) => {}
                    _ => {}
                }
            }
        }
    })
}

#[tokio::test]
async fn two_servers_ask_each_other_at_the_same_time() {
    let table = |prefix: &str| (0..20u64).map(|k| (k, format!("{prefix}{k}"))).collect();
    let at_a = Arc::new(Mutex::new(HashMap::new()));
    let at_b = Arc::new(Mutex::new(HashMap::new()));
    let a = start(config(vec![kv_protocol(table("a"), at_a.clone())])).await;
    let b = start(config(vec![kv_protocol(table("b"), at_b.clone())])).await;
    a.add_peer(b.local_enode());
    let (a_id, b_id) = (a.local_enode().id, b.local_enode().id);
    eventually(|| {
        at_a.lock().unwrap().contains_key(&b_id) && at_b.lock().unwrap().contains_key(&a_id)
    })
    .await;
    let ask_b = at_a.lock().unwrap()[&b_id].clone();
    let ask_a = at_b.lock().unwrap()[&a_id].clone();

    let mut calls = JoinSet::new();
    for key in 0..20u64 {
        for (asker, prefix) in [(ask_b.clone(), "b"), (ask_a.clone(), "a")] {
            calls.spawn(async move {
                let value: String = asker.request(GET, &key).await.unwrap().decode().unwrap();
                assert_eq!(value, format!("{prefix}{key}"));
            });
        }
    }
    while let Some(done) = calls.join_next().await {
        done.unwrap();
    }
    assert_eq!(ask_b.unknown_responses() + ask_a.unknown_responses(), 0);
    b.stop().await;
    a.stop().await;
}
