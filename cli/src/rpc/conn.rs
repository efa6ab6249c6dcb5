//! One RPC connection: HTTP/1.1 with keep-alive, over TCP or the unix socket.
//!
//! Routes: `POST /` (any path) is JSON-RPC, handed to jsonrpsee, which parses the request
//! and answers the JSON-RPC errors (-32700 unparsable JSON, -32600 not a request, -32601
//! no such method, -32602 bad parameters) and refuses a body over [`MAX_REQUEST`] (413,
//! -32007) without reading more of it, and a batch of more than [`MAX_BATCH`] calls (-32010). `GET /` and `GET /status.js` are the status page,
//! which holds no data: it asks the node over the same JSON-RPC.
//!
//! Safety on TCP: with a secret, every JSON-RPC request needs `Authorization: Bearer
//! <secret>` (401 otherwise). Without one (loopback only, see `check`), the `Host` header
//! must name a loopback host or an IP address, so that a web page the operator visits cannot
//! reach the node through a DNS name rebound to 127.0.0.1 (geth's `--http.vhosts`). No CORS
//! header is sent, so browsers keep other origins' pages from reading answers.

use std::convert::Infallible;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::header::{HeaderValue, AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::{TokioIo, TokioTimer};
use jsonrpsee::server::middleware::rpc::RpcServiceBuilder;
use jsonrpsee::server::{
    http, BatchRequestConfig, ConnectionState, HttpBody, ServerConfig, ServerHandle as StopSide,
    StopHandle,
};
use jsonrpsee::Methods;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

use super::auth::Secret;
use super::per_host::PerHost;
use super::{status, MAX_REQUEST, MAX_RESPONSE};

/// A client gets this long to send a request's head once it starts one.
const HEADER_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a closing connection is drained for, and how much of it, so that the client
/// reads our last answer rather than a reset (see [`linger`]).
const LINGER: Duration = Duration::from_secs(2);
const LINGER_BYTES: usize = 2 * MAX_REQUEST as usize;
/// JSON-RPC requests taken per second, over all connections of a listener; more wait their
/// turn in order. An operator's tools make a few a second; a flood (measured: 1,000
/// connections each with a request always in flight) is held to this, so the RPC server's
/// share of the CPU stays small and the peers' latency with it.
const MAX_REQUESTS_PER_SEC: u32 = 2_000;
/// Calls in one batch; a larger batch is refused whole (-32010). Pacing counts HTTP
/// requests, so this bounds the calls a paced request can carry.
const MAX_BATCH: u32 = 16;

/// What every connection of one listener shares.
#[derive(Debug)]
pub(crate) struct Shared {
    methods: Methods,
    stop: StopHandle,
    /// Kept so that `stop` never reports a stop.
    _stop_side: Arc<StopSide>,
    config: ServerConfig,
    secret: Option<Secret>,
    /// Whether to check `Host` (TCP without a secret).
    check_host: bool,
    next_id: AtomicU32,
    /// Paces JSON-RPC requests: one tick per request (tokio's mutex queues waiters fairly).
    pace: tokio::sync::Mutex<tokio::time::Interval>,
}

impl Shared {
    pub(crate) fn new(
        methods: Methods,
        (stop, stop_side): (StopHandle, Arc<StopSide>),
        secret: Option<Secret>,
        tcp: bool,
    ) -> Self {
        let config = ServerConfig::builder()
            .max_request_body_size(MAX_REQUEST)
            .max_response_body_size(MAX_RESPONSE)
            .set_batch_request_config(BatchRequestConfig::Limit(MAX_BATCH))
            .http_only()
            .build();
        Self {
            methods,
            stop,
            _stop_side: stop_side,
            config,
            check_host: tcp && secret.is_none(),
            secret,
            next_id: AtomicU32::new(0),
            pace: tokio::sync::Mutex::new(pacer(MAX_REQUESTS_PER_SEC)),
        }
    }
}

/// Accepts TCP connections, at most as many at once as `slots` holds and as `per_host`
/// allows one remote host; past either a new connection is closed at once (not queued), so a
/// flood costs the RPC server its own clients, never memory.
pub(crate) async fn accept_tcp(
    listener: TcpListener,
    shared: Arc<Shared>,
    slots: Arc<Semaphore>,
    per_host: Arc<PerHost>,
) {
    loop {
        match listener.accept().await {
            Ok((io, from)) => {
                let Some(held) = per_host.admit(from.ip()) else {
                    tracing::debug!(%from, "RPC connection refused: its host holds its share");
                    continue;
                };
                let Ok(slot) = slots.clone().try_acquire_owned() else {
                    continue;
                };
                let _ = io.set_nodelay(true);
                let shared = shared.clone();
                tokio::spawn(async move {
                    serve(io, shared, slot).await;
                    drop(held);
                });
            }
            Err(e) => {
                // EMFILE and friends: wait for connections to end rather than spin.
                tracing::warn!(error = %e, "RPC accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Serves one connection until the client closes it or breaks the protocol.
pub(crate) async fn serve<I>(io: I, shared: Arc<Shared>, slot: OwnedSemaphorePermit)
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let id = shared.next_id.fetch_add(1, Ordering::Relaxed);
    let state = ConnectionState::new(shared.stop.clone(), id, slot);
    let service = hyper::service::service_fn(move |req| {
        let shared = shared.clone();
        let state = state.clone();
        async move { Ok::<_, Infallible>(route(req, &shared, state).await) }
    });
    let served = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_TIMEOUT)
        .keep_alive(true)
        .serve_connection(TokioIo::new(io), service)
        .without_shutdown()
        .await;
    match served {
        Ok(parts) => linger(parts.io.into_inner()).await,
        Err(e) => tracing::debug!(error = %e, "RPC connection ended"),
    }
}

/// Closes a connection so that its last answer reaches the client: our side is shut down
/// first, then what the client still sends is read and dropped until it closes too, for at
/// most [`LINGER`] and [`LINGER_BYTES`]. Closing with unread bytes would make the kernel send
/// a reset, which can destroy an answer the client has not read yet, such as the 413 sent
/// for a body refused on its `Content-Length` while the client is still sending it.
async fn linger<I: AsyncRead + AsyncWrite + Unpin>(mut io: I) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    if io.shutdown().await.is_err() {
        return;
    }
    let drain = async {
        let mut buf = vec![0; 16 * 1024];
        let mut left = LINGER_BYTES;
        while left > 0 {
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(n) => left = left.saturating_sub(n),
            }
        }
    };
    let _ = tokio::time::timeout(LINGER, drain).await;
}

async fn route(
    req: Request<Incoming>,
    shared: &Shared,
    state: ConnectionState,
) -> Response<HttpBody> {
    if shared.check_host && !host_is_local(req.headers().get(HOST)) {
        return plain(
            StatusCode::FORBIDDEN,
            "the Host header must name a loopback host or an IP address\n",
        );
    }
    match (req.method(), req.uri().path()) {
        (&Method::GET, "/") => asset(status::PAGE, "text/html; charset=utf-8"),
        (&Method::GET, "/status.js") => asset(status::SCRIPT, "text/javascript; charset=utf-8"),
        (&Method::POST, _) => {
            if let Some(secret) = &shared.secret {
                if !secret.admits(req.headers().get(AUTHORIZATION)) {
                    let mut rp = plain(StatusCode::UNAUTHORIZED, "a bearer token is needed\n");
                    rp.headers_mut()
                        .insert("www-authenticate", HeaderValue::from_static("Bearer"));
                    return rp;
                }
            }
            shared.pace.lock().await.tick().await;
            // jsonrpsee's limit is checked on Content-Length and while reading; the body is
            // never taken whole before that.
            let req = req.map(|body| body.map_err(|e| Box::new(e) as Box<_>));
            http::call_with_service_builder(
                req,
                shared.config.clone(),
                state,
                shared.methods.clone(),
                RpcServiceBuilder::new(),
            )
            .await
        }
        (&Method::GET, _) => plain(StatusCode::NOT_FOUND, "not found: try / or POST JSON-RPC\n"),
        _ => plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "GET the page or POST JSON-RPC\n",
        ),
    }
}

/// One tick per `1 / rate` s; after a quiet spell the first tick is at once, with no burst
/// saved up.
fn pacer(rate: u32) -> tokio::time::Interval {
    let mut interval = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    interval
}

/// `Host` is `localhost`, a `.localhost` name, or an IP address (with or without a port).
/// A missing header (HTTP/1.0) is let through: a browser always sends one.
fn host_is_local(host: Option<&HeaderValue>) -> bool {
    let Some(host) = host else {
        return true;
    };
    let Ok(host) = host.to_str() else {
        return false;
    };
    let name = match host.strip_prefix('[') {
        // [v6]:port
        Some(rest) => {
            return rest
                .split(']')
                .next()
                .is_some_and(|ip| ip.parse::<std::net::Ipv6Addr>().is_ok())
        }
        None => host.rsplit_once(':').map_or(host, |(name, _)| name),
    };
    let name = name.to_ascii_lowercase();
    name == "localhost"
        || name.ends_with(".localhost")
        || name.parse::<std::net::Ipv4Addr>().is_ok()
}

fn asset(body: &'static str, content_type: &'static str) -> Response<HttpBody> {
    let mut rp = Response::new(HttpBody::from(body));
    let h = rp.headers_mut();
    h.insert(CONTENT_TYPE, HeaderValue::from_static(content_type));
    // The page runs only its own script and talks only to this server.
    h.insert(
        "content-security-policy",
        HeaderValue::from_static(
            "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'",
        ),
    );
    h.insert(
        "x-content-type-options",
        HeaderValue::from_static("nosniff"),
    );
    rp
}

fn plain(status: StatusCode, text: &'static str) -> Response<HttpBody> {
    let mut rp = Response::new(HttpBody::from(text));
    *rp.status_mut() = status;
    rp.headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("text/plain"));
    rp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn requests_are_paced_with_no_burst_after_a_quiet_spell() {
        let mut pace = pacer(1000);
        let start = tokio::time::Instant::now();
        for _ in 0..11 {
            pace.tick().await;
        }
        assert_eq!(start.elapsed(), Duration::from_millis(10));
        tokio::time::sleep(Duration::from_secs(5)).await;
        let quiet = tokio::time::Instant::now();
        for _ in 0..3 {
            pace.tick().await;
        }
        // The first is at once, the others a millisecond apart: nothing was saved up.
        assert_eq!(quiet.elapsed(), Duration::from_millis(2));
    }

    /// Sends a request for the status page's script on `tcp` and reads the whole answer;
    /// whether it was a 200.
    async fn answered(tcp: &mut tokio::net::TcpStream) -> bool {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let request = b"GET /status.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n";
        if tcp.write_all(request).await.is_err() {
            return false;
        }
        let read = async {
            let mut got = Vec::new();
            let mut buf = [0; 4096];
            loop {
                let n = tcp.read(&mut buf).await.ok().filter(|&n| n > 0)?;
                got.extend_from_slice(&buf[..n]);
                let Some(end) = got.windows(4).position(|w| w == b"\r\n\r\n") else {
                    continue;
                };
                let head = String::from_utf8_lossy(&got[..end]).to_ascii_lowercase();
                let length: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))?
                    .trim()
                    .parse()
                    .ok()?;
                if got.len() >= end + 4 + length {
                    return Some(head.starts_with("http/1.1 200"));
                }
            }
        };
        let answer = tokio::time::timeout(Duration::from_secs(5), read).await;
        matches!(answer, Ok(Some(true)))
    }

    #[tokio::test]
    async fn a_host_past_its_limit_is_closed_at_once_and_served_again_once_one_closes() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, handle) = jsonrpsee::server::stop_channel();
        let shared = Shared::new(Methods::new(), (stop, Arc::new(handle)), None, true);
        tokio::spawn(accept_tcp(
            listener,
            Arc::new(shared),
            Arc::new(Semaphore::new(100)),
            PerHost::counting_loopback(2),
        ));
        let connect = || tokio::net::TcpStream::connect(addr);
        let mut first = connect().await.unwrap();
        let mut second = connect().await.unwrap();
        assert!(answered(&mut first).await && answered(&mut second).await);
        let mut third = connect().await.unwrap();
        let mut byte = [0; 1];
        let closed = tokio::time::timeout(
            Duration::from_secs(1),
            tokio::io::AsyncReadExt::read(&mut third, &mut byte),
        )
        .await;
        assert!(
            matches!(closed, Ok(Ok(0) | Err(_))),
            "a third from the host is closed at once: {closed:?}"
        );

        drop(first);
        // The server sees the close when it next reads; until then the place is held.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let mut again = connect().await.unwrap();
            if answered(&mut again).await {
                break;
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "the place was not freed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        assert!(
            answered(&mut second).await,
            "the other connection is still served"
        );
    }

    #[test]
    fn hosts_a_rebound_name_cannot_use_are_the_local_ones() {
        let ok = |h: &str| host_is_local(Some(&HeaderValue::from_str(h).unwrap()));
        assert!(ok("localhost:8545"));
        assert!(ok("LOCALHOST"));
        assert!(ok("node.localhost:1"));
        assert!(ok("127.0.0.1:8545"));
        assert!(ok("[::1]:8545"));
        assert!(ok("10.1.2.3"));
        assert!(!ok("evil.example:8545"));
        assert!(!ok("localhost.evil.example"));
        assert!(!ok("[evil]:1"));
        assert!(host_is_local(None));
    }
}
