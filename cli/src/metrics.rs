//! `node --metrics ADDR`: the library's metrics as Prometheus text at `http://ADDR/metrics`.
//!
//! The library records through the `metrics` facade; this installs the Prometheus recorder
//! and answers scrapes with a minimal HTTP/1.1 responder (one request per connection), so
//! the command needs no HTTP server crate.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;

/// Longest request head read; a scrape's is a few hundred bytes.
const MAX_REQUEST: usize = 8 * 1024;
/// A client gets this long to send its request and read the answer.
const CLIENT_TIMEOUT: Duration = Duration::from_secs(10);
/// How often the recorder's buckets are maintained.
const UPKEEP: Duration = Duration::from_secs(5);
/// Scrapes answered at once. A scraper makes one connection at a time; more than this many
/// open at once is a flood, and further connections are closed unanswered until some end.
const MAX_CONNECTIONS: usize = 16;

/// Installs the Prometheus recorder (before the server starts, so that every handle the
/// library makes records into it), binds `addr` and serves scrapes until the process ends.
/// Returns the bound address.
pub(crate) async fn serve(addr: SocketAddr) -> Result<SocketAddr, String> {
    let listener = TcpListener::bind(addr)
        .await
        .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))?;
    let bound = listener
        .local_addr()
        .map_err(|e| format!("cannot listen for metrics on {addr}: {e}"))?;
    let handle = PrometheusBuilder::new()
        .install_recorder()
        .map_err(|e| format!("cannot install the metrics recorder: {e}"))?;
    tokio::spawn(accept_loop(listener, handle, MAX_CONNECTIONS));
    Ok(bound)
}

/// Accepts scrapes, at most `max_connections` answered at once.
async fn accept_loop(listener: TcpListener, handle: PrometheusHandle, max_connections: usize) {
    let mut upkeep = tokio::time::interval(UPKEEP);
    let slots = Arc::new(Semaphore::new(max_connections));
    loop {
        tokio::select! {
            _ = upkeep.tick() => handle.run_upkeep(),
            accepted = listener.accept() => match accepted {
                Ok((io, _)) => {
                    // Over the cap the connection is dropped at once: closed, not queued.
                    let Ok(slot) = slots.clone().try_acquire_owned() else {
                        continue;
                    };
                    let handle = handle.clone();
                    tokio::spawn(async move {
                        let _ = tokio::time::timeout(CLIENT_TIMEOUT, answer(io, &handle)).await;
                        drop(slot);
                    });
                }
                Err(e) => {
                    tracing::warn!(error = %e, "metrics accept failed");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            },
        }
    }
}

/// Reads one request head and answers it: the metrics for `GET /metrics`, 404 otherwise.
async fn answer(mut io: TcpStream, handle: &PrometheusHandle) -> std::io::Result<()> {
    let mut head = Vec::with_capacity(512);
    let mut buf = [0u8; 1024];
    while !head.windows(4).any(|w| w == b"\r\n\r\n") {
        let n = io.read(&mut buf).await?;
        if n == 0 || head.len() + n > MAX_REQUEST {
            return Ok(());
        }
        head.extend_from_slice(&buf[..n]);
    }
    let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
    let mut parts = line.split(|&b| b == b' ');
    let (method, path) = (parts.next(), parts.next());
    let path = path.map(|p| p.split(|&b| b == b'?').next().unwrap_or_default());
    let (status, body) = match (method, path) {
        (Some(b"GET"), Some(b"/metrics")) => ("200 OK", handle.render()),
        (Some(b"GET"), _) => ("404 Not Found", "not found: try /metrics\n".to_string()),
        _ => ("405 Method Not Allowed", "only GET\n".to_string()),
    };
    let response = format!(
        "HTTP/1.1 {status}\r\nContent-Type: text/plain; version=0.0.4\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    io.write_all(response.as_bytes()).await?;
    io.shutdown().await
}

#[cfg(test)]
mod tests {
    use super::*;
    use metrics_exporter_prometheus::PrometheusBuilder;

    /// Reads until the server closes; returns what it sent.
    async fn read_all(io: &mut TcpStream) -> Vec<u8> {
        let mut got = Vec::new();
        let _ = tokio::time::timeout(Duration::from_secs(5), io.read_to_end(&mut got)).await;
        got
    }

    #[tokio::test]
    async fn connections_past_the_cap_are_closed_and_scrapes_resume_when_they_end() {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // A recorder of its own, not installed: the test changes no global state.
        let handle = PrometheusBuilder::new().build_recorder().handle();
        tokio::spawn(accept_loop(listener, handle, 4));

        // Four idle connections hold every slot (they never send a request).
        let mut idle = Vec::new();
        for _ in 0..4 {
            idle.push(TcpStream::connect(addr).await.unwrap());
        }
        // A fifth is closed unanswered rather than served or left waiting: the close comes at
        // once, not when the reader gives up.
        let mut over = TcpStream::connect(addr).await.unwrap();
        over.write_all(b"GET /metrics HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        let started = tokio::time::Instant::now();
        assert!(read_all(&mut over).await.is_empty());
        assert!(started.elapsed() < Duration::from_secs(1), "left waiting");

        // Once the idle ones go away, scrapes are answered again.
        drop(idle);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let mut scrape = TcpStream::connect(addr).await.unwrap();
            scrape
                .write_all(b"GET /metrics HTTP/1.1\r\n\r\n")
                .await
                .unwrap();
            let got = read_all(&mut scrape).await;
            if got.starts_with(b"HTTP/1.1 200 OK") {
                break;
            }
            assert!(tokio::time::Instant::now() < deadline, "no scrape answered");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}
