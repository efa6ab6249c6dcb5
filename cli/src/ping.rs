//! `peerwire ping`: dial, handshake, print the remote Hello, disconnect politely.

use std::time::Duration;

use peerwire::crypto::{Enode, NodeKey};
use peerwire::rlpx::{RlpxConfig, RlpxError, RlpxStream};
use peerwire::wire::{code, DisconnectReason, Hello, PayloadCodec, P2P_VERSION};
use serde_json::json;
use tokio::net::TcpStream;

use crate::output::{escape, Output};

pub(crate) async fn run(enode: Enode, timeout_secs: u64, json: bool) -> Result<(), String> {
    let limit = Duration::from_secs(timeout_secs.max(1));
    let hello = tokio::time::timeout(limit, exchange(&enode, limit))
        .await
        .map_err(|_| format!("timed out after {} s", limit.as_secs()))??;
    let caps: Vec<String> = hello.capabilities.iter().map(|c| c.to_string()).collect();
    Output { json }.line(
        || {
            format!(
                "client:   {}\nversion:  {}\ncaps:     {}\nnode id:  {}",
                escape(&hello.client_id),
                hello.protocol_version,
                caps.join(", "),
                hello.id
            )
        },
        || {
            json!({
                "client": hello.client_id,
                "protocol_version": hello.protocol_version,
                "capabilities": caps,
                "id": hello.id.to_string(),
                "listen_port": hello.listen_port,
            })
        },
    );
    Ok(())
}

async fn exchange(enode: &Enode, limit: Duration) -> Result<Hello, String> {
    let addr = enode.tcp_addr();
    let io = TcpStream::connect(addr).await.map_err(|e| match e.kind() {
        std::io::ErrorKind::ConnectionRefused => format!("connection refused by {addr}"),
        _ => format!("cannot connect to {addr}: {e}"),
    })?;
    let key = NodeKey::random();
    let config = RlpxConfig {
        handshake_timeout: limit,
        ..RlpxConfig::default()
    };
    let mut stream = RlpxStream::connect(io, &key, enode.id, &config)
        .await
        .map_err(|e| match e {
            RlpxError::HandshakeTimeout => "handshake timed out".to_string(),
            other => format!("handshake with {addr} failed: {other}"),
        })?;
    let ours = Hello {
        protocol_version: P2P_VERSION,
        client_id: concat!("peerwire-ping/", env!("CARGO_PKG_VERSION")).into(),
        capabilities: Vec::new(),
        listen_port: 0,
        id: key.id(),
    };
    let io_error = |e: RlpxError| format!("connection to {addr} failed: {e}");
    stream
        .send(code::HELLO, &ours.encode())
        .await
        .map_err(io_error)?;
    let frame = stream
        .recv()
        .await
        .map_err(io_error)?
        .ok_or_else(|| format!("{addr} closed the connection before Hello"))?;
    match frame.code {
        code::HELLO => {}
        code::DISCONNECT => {
            return Err(match DisconnectReason::decode_message(&frame.payload) {
                Ok(reason) => format!("peer disconnected: {reason}"),
                Err(_) => "peer disconnected (unreadable reason)".to_string(),
            });
        }
        other => return Err(format!("expected Hello, got message {other:#x}")),
    }
    let hello = Hello::decode(&frame.payload).map_err(|e| format!("bad Hello: {e}"))?;
    // Polite goodbye, compressed if the peer expects it; the answer is not awaited.
    let bye = DisconnectReason::Requested
        .encode_message(PayloadCodec::negotiate(P2P_VERSION, hello.protocol_version));
    let _ = stream.send(code::DISCONNECT, &bye).await;
    Ok(hello)
}
