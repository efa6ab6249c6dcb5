//! Two nodes on loopback TCP: an RLPx handshake, then frames echoed back.
//!
//! `cargo run --example rlpx_echo`

use peerwire::crypto::{Enode, NodeKey};
use peerwire::rlpx::{RlpxConfig, RlpxError, RlpxStream};
use rand::rngs::OsRng;
use tokio::net::{TcpListener, TcpStream};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let server_key = NodeKey::generate(&mut OsRng);
    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let enode = Enode::new(server_key.id(), listener.local_addr()?);
    println!("server listening as {enode}");

    let server = tokio::spawn(async move {
        let (io, addr) = listener.accept().await?;
        let mut stream = RlpxStream::accept(io, &server_key, &RlpxConfig::default()).await?;
        println!(
            "server: handshake with {} from {addr}",
            stream.remote_id().short()
        );
        while let Some(frame) = stream.recv().await? {
            stream.send(frame.code, &frame.payload).await?;
        }
        Ok::<_, RlpxError>(())
    });

    let client_key = NodeKey::generate(&mut OsRng);
    let target: Enode = enode.to_string().parse()?;
    let io = TcpStream::connect(target.tcp_addr()).await?;
    let mut client =
        RlpxStream::connect(io, &client_key, target.id, &RlpxConfig::default()).await?;
    println!("client: handshake with {}", client.remote_id().short());
    for (code, text) in [(0x10, "hello"), (0x11, "world")] {
        client.send(code, text.as_bytes()).await?;
        let echo = client.recv().await?.ok_or("server closed")?;
        println!(
            "client: echo code {:#x}: {}",
            echo.code,
            String::from_utf8_lossy(&echo.payload)
        );
    }
    drop(client);
    server.await??;
    println!("done");
    Ok(())
}
