//! Two servers on 127.0.0.1 play foo/bar: bob dials alice, sends "foo", alice answers "bar".
//!
//! `cargo run --example foobar`

use std::time::Duration;

use peerwire::crypto::NodeKey;
use peerwire::server::{PeerEvent, Server, ServerConfig, ServerHandle};
use peerwire_foobar::{FooBar, FooBarEvent};
use tokio::sync::broadcast;
use tokio::time::timeout;

type Error = Box<dyn std::error::Error>;

const WAIT: Duration = Duration::from_secs(5);

async fn node(name: &str, foobar: &FooBar) -> Result<ServerHandle, Error> {
    let mut config = ServerConfig::new(NodeKey::random());
    config.name = format!("peerwire-example/{name}");
    config.listen_addr = Some("127.0.0.1:0".parse()?);
    config.protocols = vec![foobar.protocol()];
    let server = Server::start(config).await?;
    println!("{name:>5} listening: {}", server.local_enode());
    Ok(server)
}

/// Prints the next peer event of `name`'s server.
async fn show_event(name: &str, events: &mut broadcast::Receiver<PeerEvent>) -> Result<(), Error> {
    match timeout(WAIT, events.recv()).await?? {
        PeerEvent::Added(info) => println!(
            "{name:>5} peer added: {} at {} ({}), {} capability",
            info.id.short(),
            info.remote_addr,
            info.client_id,
            info.capabilities.len()
        ),
        PeerEvent::Dropped { id, end } => {
            println!("{name:>5} peer dropped: {} ({})", id.short(), end.reason())
        }
        other => println!("{name:>5} {other:?}"),
    }
    Ok(())
}

#[tokio::main]
async fn main() -> Result<(), Error> {
    let (alice_foobar, _alice_messages) = FooBar::new();
    let (bob_foobar, mut bob_messages) = FooBar::new();
    let alice = node("alice", &alice_foobar).await?;
    let bob = node("bob", &bob_foobar).await?;
    let (mut alice_events, mut bob_events) = (alice.events(), bob.events());

    bob.add_peer(alice.local_enode());
    show_event("bob", &mut bob_events).await?;
    show_event("alice", &mut alice_events).await?;
    let alice_id = alice.local_enode().id;
    timeout(WAIT, async {
        while !bob_foobar.peers().contains(&alice_id) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await?;

    println!("  bob -> alice: foo");
    bob_foobar.send(&alice_id, "foo").await?;
    match timeout(WAIT, bob_messages.recv()).await? {
        Some(FooBarEvent::Message { from, text }) => {
            println!("  bob <- {}: {text}", from.short())
        }
        other => return Err(format!("no reply: {other:?}").into()),
    }

    bob.stop().await;
    show_event("alice", &mut alice_events).await?;
    alice.stop().await;
    println!("done");
    Ok(())
}
