//! A line chat over foo/bar: every stdin line goes to all peers; `/to <id-prefix> text` goes
//! to one. Incoming lines are printed with the sender's short id.
//!
//! ```sh
//! cargo run --example chat -- --listen 127.0.0.1:30301
//! cargo run --example chat -- --listen 127.0.0.1:30302 --peer enode://...@127.0.0.1:30301
//! ```

use std::net::SocketAddr;

use clap::Parser;
use peerwire::crypto::{Enode, NodeKey};
use peerwire::server::{PeerEvent, Server, ServerConfig};
use peerwire_foobar::{FooBar, FooBarEvent};
use tokio::io::AsyncBufReadExt;

#[derive(Parser, Debug)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// A peer to connect to (repeatable).
    #[arg(long = "peer", value_name = "ENODE")]
    peers: Vec<Enode>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let (chat, mut incoming) = FooBar::new();
    let mut config = ServerConfig::new(NodeKey::random());
    config.listen_addr = Some(args.listen);
    config.name = "peerwire-chat".into();
    config.protocols = vec![chat.protocol()];
    let server = Server::start(config).await?;
    let mut events = server.events();
    println!("you are {}", server.local_enode());
    for peer in args.peers {
        server.add_peer(peer);
    }
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Some(line) = line? else { break };
                if let Some(rest) = line.strip_prefix("/to ") {
                    let (prefix, text) = rest.split_once(' ').unwrap_or((rest, ""));
                    match chat.peers().into_iter().find(|id| id.to_string().starts_with(prefix)) {
                        Some(id) => chat.send(&id, text).await?,
                        None => println!("* no peer {prefix}"),
                    }
                } else if !line.is_empty() {
                    let reached = chat.broadcast(&line).await;
                    if reached == 0 {
                        println!("* nobody is connected");
                    }
                }
            }
            Some(FooBarEvent::Message { from, text }) = incoming.recv() => {
                println!("<{}> {text}", from.short());
            }
            Ok(event) = events.recv() => match event {
                PeerEvent::Added(info) => println!("* {} joined ({})", info.id.short(), info.client_id),
                PeerEvent::Dropped { id, end } => println!("* {} left ({})", id.short(), end.reason()),
                _ => {}
            },
            _ = tokio::signal::ctrl_c() => break,
        }
    }
    server.stop().await;
    // Tokio's stdin reader blocks in a read that only input or EOF ends; leaving main would
    // wait for it, so exit here.
    std::process::exit(0)
}
