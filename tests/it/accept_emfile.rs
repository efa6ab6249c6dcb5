//! The accept loop out of file descriptors (EMFILE), for real: the test lowers its process's
//! RLIMIT_NOFILE, fills every descriptor, and checks that the server keeps serving a connected
//! peer, warns at most once a second, and accepts again once descriptors are freed. It runs in
//! its own process, because the limit (and the tracing subscriber it installs) is the whole
//! process's.

use std::fs::File;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use peerwire::rlpx::{RlpxConfig, RlpxStream};
use peerwire::wire::{code, Capability};
use tokio::net::TcpStream;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::Layer;

use crate::support::*;

/// Counts the warnings of the accept loop.
struct AcceptWarnings(Arc<AtomicUsize>);

impl<S: tracing::Subscriber> Layer<S> for AcceptWarnings {
    fn on_event(&self, event: &tracing::Event<'_>, _: Context<'_, S>) {
        let meta = event.metadata();
        if *meta.level() == tracing::Level::WARN && meta.target() == "peerwire::server::accept" {
            self.0.fetch_add(1, Ordering::SeqCst);
        }
    }
}

const EMPTY_LIST: [u8; 1] = [0xc0];

#[test]
fn accept_survives_running_out_of_file_descriptors() {
    in_own_process(
        module_path!(),
        "accept_survives_running_out_of_file_descriptors",
        || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(out_of_file_descriptors());
        },
    );
}

async fn out_of_file_descriptors() {
    let warnings = Arc::new(AtomicUsize::new(0));
    tracing_subscriber::registry()
        .with(AcceptWarnings(warnings.clone()))
        .init();
    let (_, hard) = rlimit::Resource::NOFILE.get().unwrap();
    rlimit::Resource::NOFILE.set(256.min(hard), hard).unwrap();

    let server = start(config(vec![idle("idle")])).await;
    let mut peer = Hand::connect(&server, key(), vec![Capability::new("idle", 1)]).await;
    eventually(|| server.peer_count() == 1).await;

    // Every descriptor taken, but one for the next client's socket.
    let mut hog = Vec::new();
    while let Ok(f) = File::open("/dev/null") {
        hog.push(f);
        assert!(hog.len() < 4096, "the limit did not take");
    }
    hog.pop();
    let enode = server.local_enode();
    let io = TcpStream::connect(enode.tcp_addr()).await.unwrap();
    let k = key();
    let newcomer = tokio::spawn(async move {
        RlpxStream::connect(io, &k, enode.id, &RlpxConfig::default())
            .await
            .map(|_| ())
    });

    // The kernel holds the newcomer in the backlog; accept fails with EMFILE meanwhile, and
    // the connected peer is served all along.
    for _ in 0..6 {
        peer.send(code::PING, &EMPTY_LIST).await;
        loop {
            match peer.recv().await {
                Some((code::PONG, _)) => break,
                Some(_) => continue,
                None => panic!("the connected peer was dropped"),
            }
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert!(!newcomer.is_finished(), "accepted without a descriptor?");
    let warned = warnings.load(Ordering::SeqCst);
    // About 1.5 s of failures: at most one warning a second (two here), not one per retry.
    assert!((1..=2).contains(&warned), "{warned} warnings");

    drop(hog);
    // Backoff is at most 1 s: the newcomer is accepted and handshaken soon after.
    tokio::time::timeout(Duration::from_secs(3), newcomer)
        .await
        .expect("accepted again within 3 s of freeing descriptors")
        .unwrap()
        .expect("handshake succeeds");
    assert_eq!(server.peer_count(), 1);
    server.stop().await;
}
