//! Helpers shared by the integration tests.

pub(crate) mod node;
pub(crate) mod peer;

pub(crate) use peer::Hand;

use std::time::Duration;

use peerwire::crypto::NodeKey;
use peerwire::protocol::Protocol;
use peerwire::rlpx::{RlpxConfig, RlpxStream};
use peerwire::server::SessionTimeouts;
use peerwire::server::{PeerEvent, Server, ServerConfig, ServerHandle};
use peerwire::wire::Capability;
use tokio::net::TcpStream;
use tokio::sync::broadcast;

/// A config on 127.0.0.1 with an OS-chosen port and short timeouts.
pub(crate) fn config(protocols: Vec<Protocol>) -> ServerConfig {
    let mut c = ServerConfig::new(NodeKey::generate(&mut rand::rngs::OsRng));
    c.listen_addr = Some("127.0.0.1:0".parse().unwrap());
    c.protocols = protocols;
    c.connection.handshake_timeout = Duration::from_secs(2);
    c.dial.redial_backoff = (Duration::from_millis(50), Duration::from_millis(400));
    c.connection.session = SessionTimeouts {
        // A peer that stops reading holds up a stop() this long.
        write: Duration::from_secs(1),
        disconnect_linger: Duration::from_millis(300),
        ..SessionTimeouts::default()
    };
    c
}

/// `RUST_LOG=peerwire=debug cargo test ...` shows the library's logs.
pub(crate) fn init_logs() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
}

pub(crate) async fn start(config: ServerConfig) -> ServerHandle {
    init_logs();
    Server::start(config).await.expect("server starts")
}

/// The next event matching `pick`, within 5 s.
pub(crate) async fn next_event<T>(
    events: &mut broadcast::Receiver<PeerEvent>,
    mut pick: impl FnMut(&PeerEvent) -> Option<T>,
) -> T {
    let wait = async {
        loop {
            match events.recv().await {
                Ok(e) => {
                    if let Some(t) = pick(&e) {
                        return t;
                    }
                }
                Err(broadcast::error::RecvError::Lagged(_)) => continue,
                Err(e) => panic!("event stream ended: {e}"),
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .expect("event within 5 s")
}

/// Waits until `cond` holds, polling, within 5 s.
pub(crate) async fn eventually(mut cond: impl FnMut() -> bool) {
    let wait = async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .expect("condition within 5 s")
}

/// A protocol `name/version` whose handler does nothing until the session ends.
pub(crate) fn idle(name: &str) -> Protocol {
    Protocol::new(Capability::new(name, 1), 1, |peer, _rw| async move {
        peer.closed().await;
        Ok(())
    })
}

/// What a [`probe`] hands to the test: the peer and the handler's channel.
pub(crate) type Handed = tokio::sync::mpsc::UnboundedSender<(
    peerwire::protocol::Peer,
    peerwire::protocol::MsgReadWriter,
)>;

/// A protocol whose handler hands its peer and channel to the test, then waits for the end.
pub(crate) fn probe(name: &str, version: u32, length: u64, tx: Handed) -> Protocol {
    Protocol::new(Capability::new(name, version), length, move |peer, rw| {
        let tx = tx.clone();
        async move {
            let closed = peer.clone();
            tx.send((peer, rw)).ok();
            closed.closed().await;
            Ok(())
        }
    })
}

/// A fresh node key.
pub(crate) fn key() -> NodeKey {
    NodeKey::generate(&mut rand::rngs::OsRng)
}

/// A protocol `name/version` whose handler echoes every string back, uppercased, on code 0.
pub(crate) fn echo(name: &str, version: u32) -> Protocol {
    Protocol::new(
        Capability::new(name, version),
        2,
        |_peer, mut rw| async move {
            loop {
                let msg = rw.read_msg().await?;
                if msg.code == 0 {
                    let text: String = msg.decode()?;
                    rw.send(1, &text.to_uppercase()).await?;
                }
            }
        },
    )
}

/// An RLPx session with `server`, handshake done, nothing else sent.
pub(crate) async fn rlpx_to(server: &ServerHandle, key: &NodeKey) -> RlpxStream<TcpStream> {
    let enode = server.local_enode();
    let io = TcpStream::connect(enode.tcp_addr()).await.unwrap();
    RlpxStream::connect(io, key, enode.id, &RlpxConfig::default())
        .await
        .unwrap()
}

/// Runs the calling test alone in a child process of this test binary, for a test that
/// changes what the whole process shares (its file-descriptor limit, the global tracing
/// subscriber) or measures it (resident memory). Call it as
/// `in_own_process(module_path!(), "test_fn_name", || ...)`: in the child, `body` runs; here,
/// the child's outcome is the test's.
pub(crate) fn in_own_process(module: &str, name: &str, body: impl FnOnce()) {
    const CHILD: &str = "PEERWIRE_TEST_IN_OWN_PROCESS";
    // libtest names tests by their path below the crate root.
    let test = match module.split_once("::") {
        Some((_crate, path)) => format!("{path}::{name}"),
        None => name.to_string(),
    };
    if std::env::var(CHILD).is_ok_and(|t| t == test) {
        return body();
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let out = std::process::Command::new(exe)
        .args([&test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, &test)
        .output()
        .expect("the test binary runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{test} failed in its own process");
    assert!(
        stdout.contains("1 passed"),
        "{test} did not run in its own process"
    );
}
