//! A line chat across a whole network over gossip/1: every stdin line reaches every node,
//! also those we are not connected to; `/to <id-prefix> text` reaches one node anywhere
//! (an origin we heard from, or a peer). Lines are printed with the sender's short id and
//! the links they crossed.
//!
//! ```sh
//! cargo run --example chat -- --listen 127.0.0.1:30301
//! cargo run --example chat -- --listen 127.0.0.1:30302 --peer enode://...@127.0.0.1:30301
//! cargo run --example chat -- --listen 127.0.0.1:30303 --peer enode://...@127.0.0.1:30302
//! ```
//!
//! The third node is not connected to the first, yet each reads the other's lines (2 hops).
//! With `--bootnode` instead of `--peer`, nodes find each other through discovery.

use std::net::SocketAddr;

use clap::Parser;
use peerwire::crypto::{Enode, NodeKey};
use peerwire::server::{DiscoveryMode, PeerEvent, Server, ServerConfig};
use peerwire_gossip::{Config, Gossip, GossipEvent};
use tokio::io::AsyncBufReadExt;

const TOPIC: &str = "chat";

#[derive(Parser, Debug)]
struct Args {
    /// Address to listen on (TCP, and UDP for discovery).
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: SocketAddr,
    /// A peer to stay connected to (repeatable).
    #[arg(long = "peer", value_name = "ENODE")]
    peers: Vec<Enode>,
    /// A discovery bootnode (repeatable); without any, discovery still runs, so that
    /// others can use this node as theirs.
    #[arg(long = "bootnode", value_name = "ENODE")]
    bootnodes: Vec<Enode>,
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args = Args::parse();
    let key = NodeKey::random();
    let (chat, mut direct) = Gossip::new(key.clone(), Config::default());
    let mut config = ServerConfig::new(key);
    config.listen_addr = Some(args.listen);
    config.name = "peerwire-chat".into();
    config.protocols = vec![chat.protocol()];
    config.static_peers = args.peers;
    config.discovery.bootnodes = args.bootnodes;
    config.discovery.mode = DiscoveryMode::Always;
    let server = Server::start(config).await?;
    let mut events = server.events();
    let mut lines_in = chat.subscribe(TOPIC);
    println!("you are {}", server.local_enode());
    let mut lines = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            line = lines.next_line() => {
                let Some(line) = line? else { break };
                if let Some(rest) = line.strip_prefix("/to ") {
                    let (prefix, text) = rest.split_once(' ').unwrap_or((rest, ""));
                    let known = chat.origins().into_iter().chain(chat.peers());
                    let Some(id) = known.into_iter().find(|id| id.to_string().starts_with(prefix)) else {
                        println!("* nobody known as {prefix}");
                        continue;
                    };
                    // Sent from its own task: a lookup and a dial may take seconds.
                    let (chat, server, text) = (chat.clone(), server.clone(), text.to_string());
                    tokio::spawn(async move {
                        match chat.send_to(&server, id, text.into_bytes()).await {
                            Ok(route) => println!("* sent to {} ({route:?})", id.short()),
                            Err(e) => println!("* not sent: {e}"),
                        }
                    });
                } else if !line.is_empty() {
                    if let Err(e) = chat.publish(TOPIC, line.into_bytes()) {
                        println!("* not sent: {e}");
                    }
                }
            }
            Some(m) = lines_in.recv() => {
                println!("<{}> {} ({} hops)", m.origin.short(), String::from_utf8_lossy(&m.data), m.hops);
            }
            Some(event) = direct.recv() => {
                if let GossipEvent::Direct { from, data } = event {
                    println!("<{} to you> {}", from.short(), String::from_utf8_lossy(&data));
                }
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
