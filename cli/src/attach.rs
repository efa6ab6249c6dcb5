//! `peerwire attach ADDR_OR_PATH METHOD [PARAMS…]`: one JSON-RPC call to a running node,
//! over HTTP (`127.0.0.1:8545`, `http://host:port`) or its unix socket (a path), printing
//! the result as JSON.
//!
//! Each parameter is taken as JSON when it parses as JSON (`42`, `true`, `"text"`, `[1]`),
//! else as a string, so `attach ipc admin_addPeer enode://…` needs no quoting.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use hyper::Request;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

use crate::rpc::auth::Secret;

/// The most of an answer read (a peer list of thousands of peers fits).
const MAX_ANSWER: usize = 64 * 1024 * 1024;

/// `attach`'s arguments.
#[derive(clap::Args, Debug)]
pub(crate) struct AttachArgs {
    /// The node: its --rpc address (`127.0.0.1:8545`, `http://127.0.0.1:8545`) or its --ipc
    /// socket path.
    #[arg(value_name = "ADDR_OR_PATH")]
    target: String,
    /// The method, e.g. admin_peers.
    method: String,
    /// The parameters, in order: JSON where they parse as JSON, else strings.
    params: Vec<String>,
    /// The node's RPC secret file (its --rpc-secret), sent as the bearer token.
    #[arg(long, value_name = "FILE")]
    rpc_secret: Option<PathBuf>,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 30)]
    timeout: u64,
}

/// Where to connect.
enum Target<'a> {
    Tcp(SocketAddr),
    Unix(&'a Path),
}

fn target(text: &str) -> Target<'_> {
    let bare = text.strip_prefix("http://").unwrap_or(text);
    let bare = bare.strip_suffix('/').unwrap_or(bare);
    match bare.parse::<SocketAddr>() {
        Ok(addr) => Target::Tcp(addr),
        Err(_) => Target::Unix(Path::new(text)),
    }
}

/// The request body for `method` with `params`.
fn request(method: &str, params: &[String]) -> Value {
    let params: Vec<Value> = params
        .iter()
        .map(|p| serde_json::from_str(p).unwrap_or_else(|_| Value::String(p.clone())))
        .collect();
    json!({ "jsonrpc": "2.0", "id": 1, "method": method, "params": params })
}

pub(crate) async fn run(args: AttachArgs) -> Result<(), String> {
    let secret = args.rpc_secret.as_deref().map(Secret::read).transpose()?;
    let body = request(&args.method, &args.params).to_string();
    let limit = Duration::from_secs(args.timeout);
    let answer = match target(&args.target) {
        Target::Tcp(addr) => {
            let io = TcpStream::connect(addr)
                .await
                .map_err(|e| format!("cannot connect to {addr}: {e}"))?;
            tokio::time::timeout(limit, call(io, &addr.to_string(), secret.as_ref(), body)).await
        }
        Target::Unix(path) => {
            let io = UnixStream::connect(path)
                .await
                .map_err(|e| format!("cannot connect to {}: {e}", path.display()))?;
            tokio::time::timeout(limit, call(io, "localhost", secret.as_ref(), body)).await
        }
    }
    .map_err(|_| format!("no answer within {} s", args.timeout))??;
    if let Some(error) = answer.get("error") {
        let code = error.get("code").and_then(Value::as_i64).unwrap_or(0);
        let message = error.get("message").and_then(Value::as_str).unwrap_or("");
        return Err(format!("error {code}: {message}"));
    }
    let result = answer.get("result").unwrap_or(&Value::Null);
    // serde_json's pretty printer cannot fail on a `Value`.
    println!(
        "{}",
        serde_json::to_string_pretty(result).unwrap_or_default()
    );
    Ok(())
}

/// One HTTP/1.1 POST over `io`; the answer's JSON body.
async fn call<I>(io: I, host: &str, secret: Option<&Secret>, body: String) -> Result<Value, String>
where
    I: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("HTTP handshake failed: {e}"))?;
    tokio::spawn(conn);
    let mut req = Request::post("/")
        .header(HOST, host)
        .header(CONTENT_TYPE, "application/json");
    if let Some(secret) = secret {
        req = req.header(AUTHORIZATION, secret.header());
    }
    let req = req
        .body(Full::new(Bytes::from(body)))
        .map_err(|e| format!("bad request: {e}"))?;
    let rp = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request failed: {e}"))?;
    let status = rp.status();
    let bytes = Limited::new(rp.into_body(), MAX_ANSWER)
        .collect()
        .await
        .map_err(|e| format!("reading the answer failed: {e}"))?
        .to_bytes();
    match serde_json::from_slice::<Value>(&bytes) {
        Ok(value) if value.get("result").is_some() || value.get("error").is_some() => Ok(value),
        _ => Err(format!(
            "HTTP {status}: {}",
            String::from_utf8_lossy(&bytes[..bytes.len().min(200)]).trim()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parameters_are_json_where_they_parse_else_strings() {
        let args = ["42", "true", "enode://ab@1.2.3.4:5", "\"x\"", "[1]"].map(String::from);
        assert_eq!(
            request("m", &args)["params"],
            json!([42, true, "enode://ab@1.2.3.4:5", "x", [1]])
        );
    }

    #[test]
    fn addresses_are_tcp_and_anything_else_a_socket_path() {
        assert!(matches!(target("127.0.0.1:8545"), Target::Tcp(_)));
        assert!(matches!(target("http://[::1]:8545/"), Target::Tcp(_)));
        assert!(matches!(target("/run/peerwire.ipc"), Target::Unix(_)));
        assert!(matches!(target("node.ipc"), Target::Unix(_)));
    }
}
