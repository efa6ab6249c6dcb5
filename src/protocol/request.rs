//! Request/response on top of a [`MsgReadWriter`], for protocols whose requests and responses
//! carry a request id, as eth/66 does (EIP-2481):
//!
//! > "every request message now carries a request ID … the response message must contain
//! > the same ID … `[request-id: P, [original-message-fields…]]`"
//!
//! [`split`] turns a handler's channel into a [`Requester`] (cheap to clone: issue requests
//! and answer them from any task) and a [`RequestReader`], which the handler's read loop
//! polls: it hands out the peer's requests (with their ids) and other messages, and routes
//! responses to the waiting [`Requester::request`] calls itself.
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use peerwire::protocol::pipe::pipe;
//! use peerwire::protocol::request::{self, Incoming, RequestConfig};
//! use peerwire::wire::Capability;
//!
//! const GET_NAME: u64 = 0;
//! const NAME: u64 = 1;
//! let config = RequestConfig::new(&[(GET_NAME, NAME)]);
//! let (a, b) = pipe(Capability::new("names", 1), 2, 16);
//! let (asker, mut a_reader) = request::split(a.rw, config.clone());
//! let (server, mut b_reader) = request::split(b.rw, config);
//! // The serving side: answer each request with its id.
//! tokio::spawn(async move {
//!     while let Ok(Incoming::Request(req)) = b_reader.next().await {
//!         let key: u64 = req.decode()?;
//!         server.respond(req.id, NAME, &format!("node-{key}")).await?;
//!     }
//!     Ok::<_, Box<dyn std::error::Error + Send + Sync>>(())
//! });
//! // The asking side's reader must be polled for responses to arrive.
//! tokio::spawn(async move { while a_reader.next().await.is_ok() {} });
//! let name: String = asker.request(GET_NAME, &7u64).await.unwrap().decode().unwrap();
//! assert_eq!(name, "node-7");
//! # });
//! ```
//!
//! Bounds: at most [`RequestConfig::max_outstanding`] requests wait for an answer per
//! `split` (that is, per peer and protocol); more `request` calls wait for a slot. Each call
//! ends after [`RequestConfig::timeout`]. A response whose id matches no waiting request (an
//! unknown id, or one that timed out) is counted ([`Requester::unknown_responses`]) and
//! dropped; the peer is not disconnected for it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use bytes::Bytes;
use rlp::{DecoderError, Rlp, RlpStream};
use tokio::sync::{oneshot, Semaphore};

use super::{Msg, MsgReadWriter, MsgReader, MsgSender, ReadError, SendError};

/// Default [`RequestConfig::timeout`]: 10 s.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);

/// Default [`RequestConfig::max_outstanding`]: 64 requests.
pub const DEFAULT_MAX_OUTSTANDING: usize = 64;

/// Which codes are requests and responses, and the bounds of one peer's requests.
#[derive(Clone, Debug)]
pub struct RequestConfig {
    /// `(request code, response code)` pairs. Messages with a code in either role carry
    /// `[request-id, payload]`; other codes pass through as plain messages. A code listed as
    /// a response is treated as one, even if it is listed as a request too.
    pub pairs: Vec<(u64, u64)>,
    /// How long a `request` call may take, waiting for a slot included.
    pub timeout: Duration,
    /// Most requests waiting for a response at once (at least 1).
    pub max_outstanding: usize,
}

impl RequestConfig {
    /// The given code pairs with the default timeout and bound.
    pub fn new(pairs: &[(u64, u64)]) -> Self {
        Self {
            pairs: pairs.to_vec(),
            timeout: DEFAULT_TIMEOUT,
            max_outstanding: DEFAULT_MAX_OUTSTANDING,
        }
    }

    /// With `timeout` per request.
    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.timeout = timeout;
        self
    }

    /// With at most `max` outstanding requests.
    pub fn with_max_outstanding(mut self, max: usize) -> Self {
        self.max_outstanding = max;
        self
    }

    fn response_code(&self, request: u64) -> Option<u64> {
        self.pairs
            .iter()
            .find(|(req, _)| *req == request)
            .map(|(_, resp)| *resp)
    }

    fn is_response(&self, code: u64) -> bool {
        self.pairs.iter().any(|(_, resp)| *resp == code)
    }

    fn is_request(&self, code: u64) -> bool {
        self.pairs.iter().any(|(req, _)| *req == code)
    }
}

/// Why a [`Requester::request`] got no response.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum RequestError {
    /// API misuse: `code` is not a request code of the [`RequestConfig`].
    #[error("message code {0} is not a request code")]
    NotARequestCode(u64),
    /// The request could not be queued.
    #[error("request not sent: {0}")]
    Send(SendError),
    /// No response within the timeout (a later one is counted as unknown).
    #[error("no response within the timeout")]
    Timeout,
    /// The session ended, or the [`RequestReader`] was dropped, before the response came.
    #[error("peer disconnected before responding")]
    Disconnected,
    /// Peer misbehaviour: the response carries our id under a code that does not answer
    /// this request.
    #[error("response code {got} where {expected} was expected")]
    WrongResponse {
        /// The response code paired with the request.
        expected: u64,
        /// The code the peer used.
        got: u64,
    },
}

/// Why [`RequestReader::next`] returned no message.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IncomingError {
    /// The session ended; requests still waiting fail with `Disconnected`.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// Peer misbehaviour: a request or response that is not `[request-id, payload]`.
    #[error("malformed request or response (code {code}): {error}")]
    Malformed {
        /// The message code.
        code: u64,
        /// What was wrong with it.
        error: DecoderError,
    },
}

/// A request from the peer: answer it with [`Requester::respond`] and its `id`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    /// The peer's request id.
    pub id: u64,
    /// The request code and its payload (the id removed).
    pub msg: Msg,
}

impl Request {
    /// Decodes the payload as RLP.
    pub fn decode<T: rlp::Decodable>(&self) -> Result<T, DecoderError> {
        self.msg.decode()
    }
}

/// What [`RequestReader::next`] hands to the handler.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Incoming {
    /// A request from the peer.
    Request(Request),
    /// A message whose code is neither a request nor a response code.
    Message(Msg),
}

/// The state `Requester`s and the `RequestReader` of one channel share.
#[derive(Debug)]
struct Shared {
    sender: MsgSender,
    config: RequestConfig,
    /// One permit per request that may wait for a response.
    slots: Semaphore,
    table: Mutex<Table>,
    unknown: AtomicU64,
}

/// The requests waiting for a response.
#[derive(Debug, Default)]
struct Table {
    next_id: u64,
    pending: HashMap<u64, oneshot::Sender<Msg>>,
    /// The reader is gone: no response can arrive any more.
    closed: bool,
}

impl Shared {
    fn table(&self) -> MutexGuard<'_, Table> {
        // No code panics while holding the lock; recover the data if it ever happens.
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Fails every waiting request with `Disconnected`, and any later one at once.
    fn close(&self) {
        let mut table = self.table();
        table.closed = true;
        table.pending.clear();
    }
}

/// Splits a handler's channel into a [`Requester`] and the [`RequestReader`] that its read
/// loop polls.
pub fn split(rw: MsgReadWriter, config: RequestConfig) -> (Requester, RequestReader) {
    let (reader, sender) = rw.split();
    let shared = Arc::new(Shared {
        sender,
        slots: Semaphore::new(config.max_outstanding.max(1)),
        config,
        table: Mutex::default(),
        unknown: AtomicU64::new(0),
    });
    (
        Requester {
            shared: shared.clone(),
        },
        RequestReader { reader, shared },
    )
}

/// Issues requests to the peer and answers its requests. Cheap to clone; every clone shares
/// the ids, the outstanding bound and the counters.
#[derive(Clone, Debug)]
pub struct Requester {
    shared: Arc<Shared>,
}

/// Removes a request from the table however its call ends (answered, timed out, dropped).
struct Waiting<'a> {
    shared: &'a Shared,
    id: u64,
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        self.shared.table().pending.remove(&self.id);
    }
}

impl Requester {
    /// Sends `msg` as a request under `code` with a fresh id and returns the peer's response
    /// (its code and payload, the id removed). Waits first for an outstanding slot if
    /// `max_outstanding` requests are waiting; the timeout covers the whole call.
    ///
    /// Responses arrive only while the [`RequestReader`] is polled.
    ///
    /// Cancel-safe in that a dropped call frees its slot and id at once; the request may have
    /// been sent, and its response is then counted as unknown.
    pub async fn request<T: rlp::Encodable>(
        &self,
        code: u64,
        msg: &T,
    ) -> Result<Msg, RequestError> {
        let expected = self
            .shared
            .config
            .response_code(code)
            .ok_or(RequestError::NotARequestCode(code))?;
        let body = rlp::encode(msg);
        let exchange = async {
            // The semaphore is never closed.
            let _slot = self
                .shared
                .slots
                .acquire()
                .await
                .map_err(|_| RequestError::Disconnected)?;
            let (id, response) = {
                let mut table = self.shared.table();
                if table.closed {
                    return Err(RequestError::Disconnected);
                }
                let id = table.next_id;
                table.next_id = id.wrapping_add(1);
                let (tx, rx) = oneshot::channel();
                table.pending.insert(id, tx);
                (id, rx)
            };
            let _waiting = Waiting {
                shared: &self.shared,
                id,
            };
            self.shared
                .sender
                .send_raw(code, envelope(id, &body))
                .await
                .map_err(RequestError::Send)?;
            let response = response.await.map_err(|_| RequestError::Disconnected)?;
            if response.code != expected {
                return Err(RequestError::WrongResponse {
                    expected,
                    got: response.code,
                });
            }
            Ok(response)
        };
        tokio::time::timeout(self.shared.config.timeout, exchange)
            .await
            .map_err(|_| RequestError::Timeout)?
    }

    /// Answers the peer's request `id` with `msg` under `code`, waiting while the queue is
    /// full. Cancel-safe like [`MsgSender::send`].
    pub async fn respond<T: rlp::Encodable>(
        &self,
        id: u64,
        code: u64,
        msg: &T,
    ) -> Result<(), SendError> {
        let payload = envelope(id, &rlp::encode(msg));
        self.shared.sender.send_raw(code, payload).await
    }

    /// The channel's plain sender, for messages that are neither requests nor responses.
    pub fn sender(&self) -> &MsgSender {
        &self.shared.sender
    }

    /// Requests waiting for a response now.
    pub fn outstanding(&self) -> usize {
        self.shared.table().pending.len()
    }

    /// Responses dropped so far because their id matched no waiting request.
    pub fn unknown_responses(&self) -> u64 {
        self.shared.unknown.load(Ordering::Relaxed)
    }
}

/// The receiving half: hands out requests and plain messages, and delivers responses to the
/// waiting [`Requester::request`] calls. Dropping it fails those calls with `Disconnected`.
#[derive(Debug)]
pub struct RequestReader {
    reader: MsgReader,
    shared: Arc<Shared>,
}

impl RequestReader {
    /// The next request or plain message from the peer; responses read meanwhile are
    /// delivered (or, with an unknown id, counted and dropped).
    ///
    /// Cancel-safe: a dropped call loses no message.
    pub async fn next(&mut self) -> Result<Incoming, IncomingError> {
        loop {
            let msg = match self.reader.read_msg().await {
                Ok(msg) => msg,
                Err(e) => {
                    self.shared.close();
                    return Err(e.into());
                }
            };
            let config = &self.shared.config;
            if config.is_response(msg.code) {
                let response = open(msg)?;
                self.deliver(response.id, response.msg);
            } else if config.is_request(msg.code) {
                return Ok(Incoming::Request(open(msg)?));
            } else {
                return Ok(Incoming::Message(msg));
            }
        }
    }

    fn deliver(&self, id: u64, msg: Msg) {
        let waiting = self.shared.table().pending.remove(&id);
        // A request that just timed out may have dropped its receiver: that counts as unknown.
        if let Some(Err(_)) | None = waiting.map(|tx| tx.send(msg)) {
            self.shared.unknown.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(id, "response to no waiting request dropped");
        }
    }
}

impl Drop for RequestReader {
    fn drop(&mut self) {
        self.shared.close();
    }
}

/// `[id, body]`, `body` being one RLP item.
fn envelope(id: u64, body: &[u8]) -> Bytes {
    let mut stream = RlpStream::new_list(2);
    stream.append(&id);
    stream.append_raw(body, 1);
    stream.out().freeze()
}

/// Splits `[id, body]` into the id and a message carrying `body`.
fn open(msg: Msg) -> Result<Request, IncomingError> {
    let code = msg.code;
    let malformed = |error| IncomingError::Malformed { code, error };
    let rlp = Rlp::new(&msg.payload);
    if !rlp.is_list() {
        return Err(malformed(DecoderError::RlpExpectedToBeList));
    }
    let info = rlp.payload_info().map_err(malformed)?;
    if info.header_len + info.value_len != msg.payload.len() {
        return Err(malformed(DecoderError::RlpIsTooBig));
    }
    if rlp.item_count().map_err(malformed)? != 2 {
        return Err(malformed(DecoderError::RlpIncorrectListLen));
    }
    let id: u64 = rlp.val_at(0).map_err(malformed)?;
    let body = rlp.at(1).map_err(malformed)?.as_raw();
    let payload = msg.payload.slice_ref(body);
    Ok(Request {
        id,
        msg: Msg {
            code,
            payload,
            received_at: msg.received_at,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelopes_round_trip_and_reject_other_shapes() {
        let body = rlp::encode(&"payload");
        let opened = open(Msg::new(3, envelope(42, &body))).unwrap();
        assert_eq!((opened.id, opened.msg.code), (42, 3));
        assert_eq!(opened.decode::<String>().unwrap(), "payload");

        let bad = |payload: Vec<u8>| match open(Msg::new(3, payload.into())) {
            Err(IncomingError::Malformed { code: 3, error }) => error,
            other => panic!("accepted {other:?}"),
        };
        assert_eq!(
            bad(rlp::encode(&"x").to_vec()),
            DecoderError::RlpExpectedToBeList
        );
        assert_eq!(
            bad(rlp::encode_list(&[1u64]).to_vec()),
            DecoderError::RlpIncorrectListLen
        );
        let mut trailing = envelope(1, &body).to_vec();
        trailing.push(0);
        assert_eq!(bad(trailing), DecoderError::RlpIsTooBig);
    }
}
