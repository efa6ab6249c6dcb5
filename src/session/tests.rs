//! Session timing on tokio's paused clock (time is an input, so no test waits for real): keepalive, idle, write timeout, linger.
//!
//! One side is a real [`Session`] over an in-memory duplex; the other is driven frame by frame
//! by the test, through an [`RlpxStream`]. The test also plays the session's protocol
//! handlers, holding their [`Channels`] directly (the `protocol` layer is above this one).
//! With the clock paused, tokio moves time only when every task is idle, and then straight to
//! the next timer: every instant asserted here is exact, and a test over minutes of session
//! time runs in milliseconds. Anything that should block does so on the duplex buffer or on a
//! queue, never on CPU work.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use tokio::io::DuplexStream;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;
use tokio::time::Instant;

use super::setup::Negotiated;
use super::{negotiate, our_hello, SessionTimeouts, SetupError, Slot};
use super::{Channels, Handler, Msg, Outgoing, Session, SessionControl, SessionEnd};
use crate::crypto::NodeKey;
use crate::rlpx::{FrameCodec, RlpxConfig, RlpxStream};
use crate::wire::{code, Capability, DisconnectReason, PayloadCodec, EMPTY_LIST, MAX_PAYLOAD_SIZE};

/// Both sides announced `p2p` v5 in Hello: everything after it is snappy-compressed.
const CODEC: PayloadCodec = PayloadCodec::Snappy;

fn secs(s: u64) -> Duration {
    Duration::from_secs(s)
}

fn timeouts(ping: u64, idle: u64) -> SessionTimeouts {
    SessionTimeouts {
        ping_interval: secs(ping),
        read_idle: secs(idle),
        ..SessionTimeouts::default()
    }
}

/// A protocol at `offset` with `length` codes and queues of `capacity` messages.
fn slot(offset: u64, length: u64, capacity: usize) -> Slot {
    Slot {
        capability: Capability::new("test", 1),
        offset,
        length,
        weight: 1,
        inbound_capacity: capacity,
        outbound_capacity: capacity,
        outbound_bytes: MAX_PAYLOAD_SIZE,
    }
}

/// `len` bytes that snappy cannot shrink, so they take their full size on the wire.
fn incompressible(len: usize, seed: u32) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect()
}

/// Our end and the remote's end of an RLPx connection over a duplex of `buffer` bytes each way.
async fn rlpx_pair(buffer: usize) -> (RlpxStream<DuplexStream>, RlpxStream<DuplexStream>) {
    let (ours, theirs) = tokio::io::duplex(buffer);
    let mut rng = rand::rngs::OsRng;
    let (our_key, their_key) = (NodeKey::generate(&mut rng), NodeKey::generate(&mut rng));
    let config = RlpxConfig::default();
    let (ours, theirs) = tokio::join!(
        RlpxStream::accept(ours, &our_key, &config),
        RlpxStream::connect(theirs, &their_key, our_key.id(), &config),
    );
    (ours.unwrap(), theirs.unwrap())
}

/// One protocol handler of the session, played by the test.
struct TestHandler {
    channels: Channels,
    /// Makes the handler return with this reason, as a real handler ending would.
    finish: Option<oneshot::Sender<DisconnectReason>>,
}

impl TestHandler {
    /// The next message for this protocol, taken off its queue as `MsgReader` does.
    async fn read(&mut self) -> Msg {
        let inbound = self
            .channels
            .inbound
            .recv()
            .await
            .expect("session delivers");
        // Dropping the rest of `inbound` releases its budget, as `MsgReader` does.
        inbound.msg
    }

    /// Queues `plain` under the protocol's `code`, as `MsgSender::try_send_raw` does.
    fn queue(&self, code: u64, plain: &[u8]) {
        let payload = CODEC.encode_parts(Bytes::copy_from_slice(plain)).unwrap();
        let room = self
            .channels
            .outbound_limit
            .try_reserve(payload.len())
            .expect("room in bytes");
        let out = Outgoing {
            code: self.channels.offset + code,
            payload,
            _room: room,
        };
        self.channels.outbound.try_send(out).expect("room queued");
        self.channels.control.wake_writer();
    }

    fn finish(&mut self, reason: DisconnectReason) {
        let _ = self.finish.take().expect("finished once").send(reason);
    }
}

/// A running session: its handlers, its shared state and the task that runs it.
struct Local {
    handlers: Vec<TestHandler>,
    control: Arc<SessionControl>,
    running: JoinHandle<SessionEnd>,
}

impl Local {
    /// Runs a session on `stream` with one test handler per slot. A handler returns when the
    /// test finishes it, or `Quitting` once the session ends, as a well-behaved one does.
    async fn start(
        stream: RlpxStream<DuplexStream>,
        timeouts: SessionTimeouts,
        slots: Vec<Slot>,
        inbound_budget: usize,
    ) -> Self {
        let server_budget = super::budget::InboundBudget::new(usize::MAX);
        let session = Session::new(stream, CODEC, inbound_budget, server_budget, timeouts);
        let control = session.control().clone();
        let (handed_tx, handed_rx) = oneshot::channel();
        let attach = move |channels: Vec<Channels>| {
            let mut handed = Vec::new();
            let mut handlers = Vec::new();
            for channels in channels {
                let (finish, finished) = oneshot::channel();
                let control = channels.control.clone();
                handlers.push(Box::pin(async move {
                    tokio::select! {
                        Ok(reason) = finished => reason,
                        () = control.ending() => DisconnectReason::Quitting,
                    }
                }) as Handler);
                handed.push(TestHandler {
                    channels,
                    finish: Some(finish),
                });
            }
            let _ = handed_tx.send(handed);
            handlers
        };
        let running = tokio::spawn(session.run(tracing::Span::none(), slots, attach));
        let handlers = handed_rx.await.expect("session attached its handlers");
        Self {
            handlers,
            control,
            running,
        }
    }

    /// Waits until the session's end is recorded (the moment it decided to end).
    async fn ending(&self) -> SessionEnd {
        self.control.ending().await;
        self.control.outcome().expect("recorded before ending")
    }
}

/// The remote peer, driven frame by frame.
struct Remote {
    stream: RlpxStream<DuplexStream>,
}

impl Remote {
    async fn send(&mut self, code: u64, plain: &[u8]) {
        let payload = CODEC.encode(Bytes::copy_from_slice(plain)).unwrap();
        self.stream.send(code, &payload).await.unwrap();
    }

    /// The next frame's code and decoded payload; `None` once the session closed its side.
    async fn recv(&mut self) -> Option<(u64, Bytes)> {
        let frame = self.stream.recv().await.unwrap()?;
        Some((
            frame.code,
            CODEC.decode(frame.payload, MAX_PAYLOAD_SIZE).unwrap(),
        ))
    }

    /// The next frame other than a Ping, answering every Ping with a Pong as a live peer does.
    async fn recv_answering_pings(&mut self) -> Option<(u64, Bytes)> {
        loop {
            match self.recv().await? {
                (code::PING, _) => self.send(code::PONG, &EMPTY_LIST).await,
                other => return Some(other),
            }
        }
    }

    /// Reads until the session closes its side, answering nothing; returns each frame's code
    /// with when it arrived, a Disconnect with its reason, and when the close came.
    async fn frames_until_closed(&mut self, t0: Instant) -> (Vec<Seen>, Duration) {
        let mut seen = Vec::new();
        while let Some((code, payload)) = self.recv().await {
            seen.push(match code {
                code::DISCONNECT => {
                    Seen::Disconnect(DisconnectReason::decode(&payload).unwrap(), t0.elapsed())
                }
                code => Seen::Frame(code, t0.elapsed()),
            });
        }
        (seen, t0.elapsed())
    }
}

/// A frame the remote saw, and when.
#[derive(Debug, PartialEq, Eq)]
enum Seen {
    Frame(u64, Duration),
    Disconnect(DisconnectReason, Duration),
}

/// A session with one protocol (`0x10`, two codes) under `timeouts`, over a roomy duplex.
async fn connected(timeouts: SessionTimeouts) -> (Local, Remote) {
    let (ours, theirs) = rlpx_pair(64 * 1024).await;
    let local = Local::start(ours, timeouts, vec![slot(0x10, 2, 16)], 1 << 20).await;
    (local, Remote { stream: theirs })
}

// ---------------------------------------------------------------------------------------------
// Keepalive and idle

#[tokio::test(start_paused = true)]
async fn pings_come_every_ping_interval_and_a_ponging_peer_stays() {
    let t0 = Instant::now();
    let (local, mut remote) = connected(SessionTimeouts::default()).await;
    // Ten minutes of a quiet session: a Ping every 15 s, the first one not before 15 s, and
    // the Pongs neither shift the interval nor let the 30 s idle timeout fire.
    for k in 1..=40 {
        let (code, payload) = remote.recv().await.unwrap();
        assert_eq!((code, &payload[..]), (code::PING, &EMPTY_LIST[..]));
        assert_eq!(t0.elapsed(), secs(15 * k), "ping {k}");
        remote.send(code::PONG, &EMPTY_LIST).await;
    }
    assert!(!local.control.is_ending());
    assert!(!local.running.is_finished());
}

#[tokio::test(start_paused = true)]
async fn a_silent_peer_gets_ping_timeout_at_exactly_read_idle() {
    let t0 = Instant::now();
    let (local, mut remote) = connected(timeouts(10, 25)).await;
    // The remote reads but never writes: Pings at 10 s and 20 s go unanswered.
    let (seen, closed) = remote.frames_until_closed(t0).await;
    assert_eq!(
        seen,
        [
            Seen::Frame(code::PING, secs(10)),
            Seen::Frame(code::PING, secs(20)),
            Seen::Disconnect(DisconnectReason::PingTimeout, secs(25)),
        ]
    );
    assert_eq!(closed, secs(25));
    // The reader gave up on the peer, so nobody waits for it to close: the session is over
    // once the Disconnect is written, with no linger.
    assert_eq!(
        local.running.await.unwrap(),
        SessionEnd::Local(DisconnectReason::PingTimeout)
    );
    assert_eq!(t0.elapsed(), secs(25));
}

#[tokio::test(start_paused = true)]
async fn any_frame_from_the_peer_resets_the_idle_timer() {
    let t0 = Instant::now();
    // Our Pings are far apart; the peer's own Pings (answered with Pong) keep it alive.
    let (local, mut remote) = connected(timeouts(3600, 30)).await;
    for k in 1..=10 {
        tokio::time::sleep(secs(29)).await;
        remote.send(code::PING, &EMPTY_LIST).await;
        let (code, _) = remote.recv().await.unwrap();
        assert_eq!(code, code::PONG);
        assert_eq!(t0.elapsed(), secs(29 * k), "pong {k} at once");
    }
    assert!(!local.control.is_ending());
    // Then silence: dropped exactly 30 s after the last Ping.
    assert_eq!(
        local.ending().await,
        SessionEnd::Local(DisconnectReason::PingTimeout)
    );
    assert_eq!(t0.elapsed(), secs(290 + 30));
}

#[tokio::test(start_paused = true)]
async fn time_spent_waiting_for_our_handler_is_not_silence() {
    let t0 = Instant::now();
    let (ours, theirs) = rlpx_pair(64 * 1024).await;
    // One message in the handler's queue, and a budget of little more than one message: the
    // second waits for the handler, and the reader stops reading the socket meanwhile.
    let mut local = Local::start(ours, timeouts(15, 30), vec![slot(0x10, 1, 1)], 1000).await;
    let mut remote = Remote { stream: theirs };
    // Two messages: the second waits for the handler, and nothing else is buffered behind
    // it that could reset the idle timer once the reader moves on.
    for i in 0..2u8 {
        remote.send(0x10, &[i; 600]).await;
    }
    // From here on the remote only reads, in a task of its own, so it sees each frame when
    // it is sent.
    let remote = tokio::spawn(async move { remote.frames_until_closed(t0).await });
    // The handler is busy for 100 s: only our reading was held up, so the remote is not
    // silent until its messages are read.
    tokio::time::sleep(secs(100)).await;
    assert!(!local.control.is_ending(), "dropped while we did not read");
    for i in 0..2u8 {
        let msg = local.handlers[0].read().await;
        assert_eq!((msg.code, &msg.payload[..]), (0, &[i; 600][..]));
    }
    // Read at 100 s; from then on its silence counts: PingTimeout at 130 s, after the Pings
    // (sent all along, at 15 s intervals) went unanswered.
    let (seen, _) = remote.await.unwrap();
    let mut want: Vec<_> = (1..=8)
        .map(|k| Seen::Frame(code::PING, secs(15 * k)))
        .collect();
    want.push(Seen::Disconnect(DisconnectReason::PingTimeout, secs(130)));
    assert_eq!(seen, want);
}

#[tokio::test(start_paused = true)]
async fn a_slow_handler_delays_neither_other_protocols_nor_pongs() {
    let t0 = Instant::now();
    let (ours, theirs) = rlpx_pair(64 * 1024).await;
    // "slow" at 0x10 (one code, queue of one) never reads; "fast" at 0x11 echoes.
    let slots = vec![slot(0x10, 1, 1), slot(0x11, 2, 16)];
    let mut local = Local::start(ours, timeouts(15, 30), slots, 1 << 20).await;
    let mut remote = Remote { stream: theirs };
    for _ in 0..10 {
        remote.send(0x10, &rlp::encode(&"work")).await;
    }
    // Nine messages parked behind the full queue. For two minutes, every 10 s, an echo and a
    // Ping round trip each take no time at all, and the session outlives the idle timeout.
    for i in 1..=12u64 {
        tokio::time::sleep_until(t0 + secs(10 * i)).await;
        remote.send(0x11, &rlp::encode(&i)).await;
        let msg = local.handlers[1].read().await;
        assert_eq!((msg.code, msg.decode::<u64>().unwrap()), (0, i));
        local.handlers[1].queue(1, &rlp::encode(&(i * 100)));
        let (code, payload) = remote.recv_answering_pings().await.unwrap();
        assert_eq!(
            (code, rlp::decode::<u64>(&payload).unwrap()),
            (0x12, i * 100)
        );
        remote.send(code::PING, &EMPTY_LIST).await;
        assert_eq!(remote.recv_answering_pings().await.unwrap().0, code::PONG);
        assert_eq!(t0.elapsed(), secs(10 * i), "round trips {i} took time");
    }
    assert!(!local.control.is_ending());
    // The slow handler's messages all waited, in order.
    for _ in 0..10 {
        let msg = local.handlers[0].read().await;
        assert_eq!(msg.decode::<String>().unwrap(), "work");
    }
}

// ---------------------------------------------------------------------------------------------
// Write timeout

#[tokio::test(start_paused = true)]
async fn a_peer_that_never_reads_ends_the_session_at_the_write_timeout() {
    let t0 = Instant::now();
    // A small duplex, so our writes block on the remote, not on anything else.
    let (ours, theirs) = rlpx_pair(1024).await;
    let limits = SessionTimeouts::default();
    let local = Local::start(ours, limits, vec![slot(0x10, 1, 16)], 1 << 20).await;
    let _never_reads = Remote { stream: theirs };
    for i in 0..4 {
        local.handlers[0].queue(0, &incompressible(8 * 1024, i));
    }
    // A stalled write is a dead connection: it ends without a Disconnect (which could not be
    // written either), at exactly the write timeout, before the idle timeout (30 s).
    assert_eq!(local.ending().await, SessionEnd::Closed);
    assert_eq!(t0.elapsed(), limits.write);
    // The remote neither reads nor closes: the reader gets the linger time, then it is over.
    assert_eq!(local.running.await.unwrap(), SessionEnd::Closed);
    assert_eq!(t0.elapsed(), limits.write + limits.disconnect_linger);
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_reads_slowly_but_steadily_outlasts_the_write_timeout() {
    let t0 = Instant::now();
    let (ours, theirs) = rlpx_pair(1024).await;
    let limits = SessionTimeouts::default();
    let local = Local::start(ours, limits, vec![slot(0x10, 1, 16)], 1 << 20).await;
    let mut remote = Remote { stream: theirs };
    // Six messages, sealed into one batch that the peer takes a frame per 15 s: 90 s in all,
    // 4.5 write timeouts, but never 20 s without progress.
    let sent: Vec<Vec<u8>> = (0..6).map(|i| incompressible(8 * 1024, i)).collect();
    for msg in &sent {
        local.handlers[0].queue(0, msg);
    }
    let mut received = Vec::new();
    while received.len() < sent.len() {
        tokio::time::sleep(secs(15)).await;
        // Something from the peer within the read idle timeout, as a live peer sends.
        remote.send(code::PING, &EMPTY_LIST).await;
        match remote.recv().await.expect("session still open") {
            (code::PING | code::PONG, _) => {}
            (code, payload) => {
                assert_eq!(code, 0x10);
                received.push(payload.to_vec());
            }
        }
    }
    assert_eq!(received, sent);
    assert!(t0.elapsed() >= 4 * limits.write, "{:?}", t0.elapsed());
    assert!(!local.control.is_ending(), "{:?}", local.control.outcome());
}

// ---------------------------------------------------------------------------------------------
// Ending: order, Disconnect, linger

#[tokio::test(start_paused = true)]
async fn after_our_disconnect_the_session_lingers_for_the_peer_to_close() {
    let t0 = Instant::now();
    let (mut local, mut remote) = connected(SessionTimeouts::default()).await;
    tokio::time::sleep(secs(5)).await;
    local.handlers[0].finish(DisconnectReason::Quitting);
    let (seen, closed) = remote.frames_until_closed(t0).await;
    assert_eq!(
        seen,
        [Seen::Disconnect(DisconnectReason::Quitting, secs(5))]
    );
    assert_eq!(closed, secs(5), "our side closed right after Disconnect");
    // The remote keeps its side open: the session ends after exactly the linger time.
    assert_eq!(
        local.running.await.unwrap(),
        SessionEnd::Local(DisconnectReason::Quitting)
    );
    assert_eq!(t0.elapsed(), secs(5) + secs(2));
}

#[tokio::test(start_paused = true)]
async fn a_peer_that_closes_after_our_disconnect_ends_the_session_at_once() {
    let t0 = Instant::now();
    let (mut local, mut remote) = connected(SessionTimeouts::default()).await;
    tokio::time::sleep(secs(5)).await;
    local.handlers[0].finish(DisconnectReason::SubprotocolError);
    let (code, payload) = remote.recv().await.unwrap();
    assert_eq!(code, code::DISCONNECT);
    assert_eq!(
        DisconnectReason::decode(&payload).unwrap(),
        DisconnectReason::SubprotocolError
    );
    drop(remote);
    assert_eq!(
        local.running.await.unwrap(),
        SessionEnd::Local(DisconnectReason::SubprotocolError)
    );
    assert_eq!(t0.elapsed(), secs(5));
}

#[tokio::test(start_paused = true)]
async fn the_peers_disconnect_ends_the_session_at_once_without_a_reply() {
    let t0 = Instant::now();
    let (local, mut remote) = connected(SessionTimeouts::default()).await;
    tokio::time::sleep(secs(5)).await;
    remote
        .send(code::DISCONNECT, &DisconnectReason::TooManyPeers.encode())
        .await;
    // The peer leaves; we close without a word and without lingering.
    let (seen, closed) = remote.frames_until_closed(t0).await;
    assert_eq!((seen, closed), (vec![], secs(5)));
    assert_eq!(
        local.running.await.unwrap(),
        SessionEnd::Remote(DisconnectReason::TooManyPeers)
    );
    assert_eq!(t0.elapsed(), secs(5));
}

#[tokio::test(start_paused = true)]
async fn messages_queued_before_a_local_disconnect_go_out_before_it() {
    let t0 = Instant::now();
    // 40 KiB queued against a 4 KiB duplex: the writer needs the remote to read as it goes.
    let (ours, theirs) = rlpx_pair(4 * 1024).await;
    let local = Local::start(ours, timeouts(15, 30), vec![slot(0x10, 1, 64)], 1 << 20).await;
    let mut remote = Remote { stream: theirs };
    let messages: Vec<_> = (0..40).map(|i| incompressible(1024, i)).collect();
    for m in &messages {
        local.handlers[0].queue(0, m);
    }
    // As `Peer::disconnect` does, in the same instant: nothing has been written yet.
    local
        .control
        .end(SessionEnd::Local(DisconnectReason::Requested));
    for (i, m) in messages.iter().enumerate() {
        let (code, payload) = remote.recv().await.unwrap();
        assert_eq!(code, 0x10, "message {i}");
        assert!(payload[..] == m[..], "message {i} is not the {i}th queued");
    }
    let (seen, closed) = remote.frames_until_closed(t0).await;
    assert_eq!(
        seen,
        [Seen::Disconnect(DisconnectReason::Requested, secs(0))]
    );
    assert_eq!(closed, secs(0));
    drop(remote);
    assert_eq!(
        local.running.await.unwrap(),
        SessionEnd::Local(DisconnectReason::Requested)
    );
    assert_eq!(t0.elapsed(), secs(0));
}

// ---------------------------------------------------------------------------------------------
// Setup: the Hello exchange

/// What [`hello_dripped_under`] saw.
struct Dripped {
    result: Result<Negotiated, SetupError>,
    /// When `negotiate` returned.
    at: Duration,
    /// Bytes of the remote's Hello frame, one written per second.
    hello_len: usize,
    /// The remote's transport, to read what we sent.
    framed: tokio_util::codec::Framed<DuplexStream, FrameCodec>,
}

/// Runs `negotiate` against a remote that writes its Hello one byte per second.
async fn hello_dripped_under(timeout: Duration) -> Dripped {
    use tokio::io::AsyncWriteExt;

    let t0 = Instant::now();
    let (mut ours, theirs) = rlpx_pair(64 * 1024).await;
    let caps = vec![Capability::new("foo", 1)];
    let their_hello = our_hello("dripper", caps.clone(), 0, ours.remote_id());
    // Ours names the remote's id: our side does not check its own, and the remote checks none.
    let hello = our_hello("peerwire", caps.clone(), 0, theirs.remote_id());
    let mut framed = theirs.into_framed();
    let mut wire = bytes::BytesMut::new();
    framed
        .codec_mut()
        .sealer()
        .seal(code::HELLO, &their_hello.encode(), &mut wire)
        .unwrap();
    let hello_len = wire.len();
    let local_caps = [(caps[0].clone(), 2)];
    let result = {
        let io = framed.get_mut();
        let drip = async move {
            for b in wire.iter() {
                tokio::time::sleep(secs(1)).await;
                io.write_all(&[*b]).await.unwrap();
            }
            std::future::pending::<()>().await
        };
        tokio::select! {
            result = negotiate(&mut ours, &hello, &local_caps, timeout) => result,
            () = drip => unreachable!(),
        }
    };
    Dripped {
        result,
        at: t0.elapsed(),
        hello_len,
        framed,
    }
}

#[tokio::test(start_paused = true)]
async fn a_hello_dripped_slower_than_the_timeout_is_cut_at_exactly_the_timeout() {
    use futures_util::StreamExt;

    let Dripped {
        result,
        at,
        mut framed,
        ..
    } = hello_dripped_under(secs(5)).await;
    assert!(matches!(result, Err(SetupError::Timeout)), "{result:?}");
    assert_eq!(
        at,
        secs(5),
        "a byte a second, but the Hello as a whole was late"
    );
    // Our Hello went first; then Disconnect, uncompressed as the peer's Hello was not read.
    let hello = framed.next().await.unwrap().unwrap();
    assert_eq!(hello.code, code::HELLO);
    let bye = framed.next().await.unwrap().unwrap();
    assert_eq!(
        (bye.code, DisconnectReason::decode(&bye.payload)),
        (code::DISCONNECT, Ok(DisconnectReason::ProtocolError))
    );
}

#[tokio::test(start_paused = true)]
async fn a_hello_dripped_within_the_timeout_is_accepted_when_its_last_byte_arrives() {
    let dripped = hello_dripped_under(secs(3600)).await;
    let negotiated = dripped.result.unwrap();
    assert_eq!(negotiated.hello.client_id, "dripper");
    assert_eq!(negotiated.codec, PayloadCodec::Snappy);
    // One byte a second: done the moment the last byte is in, no later.
    assert_eq!(dripped.at, secs(dripped.hello_len as u64));
}
