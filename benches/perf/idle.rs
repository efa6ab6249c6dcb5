//! Memory per idle peer: the server's RSS growth when peers in a child process connect and
//! stay idle.

use std::time::{Duration, Instant};

use peerwire::crypto::Enode;
use peerwire::protocol::Protocol;
use peerwire::server::{Server, ServerHandle};
use peerwire::wire::Capability;
use tokio::runtime::Runtime;

use crate::common::{config, rss};
use crate::table::{Row, Target};

const PEERS: usize = 1000;

/// Child process: `PEERS` client nodes, each dialing the server, idle until killed.
pub async fn clients(enode: Enode) {
    let mut handles: Vec<ServerHandle> = Vec::new();
    for _ in 0..PEERS {
        let idle = Protocol::new(Capability::new("bench", 1), 1, |peer, _rw| async move {
            peer.closed().await;
            Ok(())
        });
        let server = Server::start(config(vec![idle], false, 1)).await.unwrap();
        server.add_peer(enode);
        handles.push(server);
    }
    std::future::pending::<()>().await;
}

async fn idle_peer_rss() -> f64 {
    let idle = Protocol::new(Capability::new("bench", 1), 1, |peer, _rw| async move {
        peer.closed().await;
        Ok(())
    });
    let server = Server::start(config(vec![idle], true, 2 * PEERS))
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss();
    let exe = std::env::current_exe().unwrap();
    let mut child = tokio::process::Command::new(exe)
        .arg("--clients")
        .arg(server.local_enode().to_string())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let started = Instant::now();
    while server.peer_count() < PEERS {
        assert!(
            started.elapsed() < Duration::from_secs(120),
            "peers did not connect"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Let start-up buffers settle, then measure the idle state.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = rss();
    child.kill().await.ok();
    server.stop().await;
    (after.saturating_sub(before)) as f64 / PEERS as f64
}

pub fn rows(runtime: &Runtime) -> Vec<Row> {
    let per_peer = runtime.block_on(idle_peer_rss());
    vec![Row::new(
        format!("RSS per idle peer, {PEERS} peers"),
        per_peer / 1024.0,
        "KiB",
    )
    .target(Target::AtMost(24.0))]
}
