//! Helpers shared by the server integration tests.
#![allow(dead_code)]

use std::time::Duration;

use peerwire::crypto::generate_secret_key;
use peerwire::peer::SessionTimeouts;
use peerwire::protocol::Protocol;
use peerwire::server::{PeerEvent, Server, ServerConfig, ServerHandle};
use tokio::sync::broadcast;

/// A config on 127.0.0.1 with an OS-chosen port and short timeouts.
pub fn config(protocols: Vec<Protocol>) -> ServerConfig {
    let mut c = ServerConfig::new(generate_secret_key(&mut rand::rngs::OsRng));
    c.listen_addr = Some("127.0.0.1:0".parse().unwrap());
    c.protocols = protocols;
    c.handshake_timeout = Duration::from_secs(2);
    c.redial_backoff = (Duration::from_millis(50), Duration::from_millis(400));
    c.session = SessionTimeouts {
        disconnect_linger: Duration::from_millis(300),
        ..SessionTimeouts::default()
    };
    c
}

pub async fn start(config: ServerConfig) -> ServerHandle {
    Server::start(config).await.expect("server starts")
}

/// The next event matching `pick`, within 5 s.
pub async fn next_event<T>(
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
pub async fn eventually(mut cond: impl FnMut() -> bool) {
    let wait = async {
        while !cond() {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    };
    tokio::time::timeout(Duration::from_secs(5), wait)
        .await
        .expect("condition within 5 s")
}

/// A protocol `name/version` whose handler echoes every string back, uppercased, on code 0.
pub fn echo(name: &str, version: u32) -> Protocol {
    Protocol::new(name, version, 2, |_peer, mut rw| async move {
        loop {
            let msg = rw.read_msg().await?;
            if msg.code == 0 {
                let text: String = msg.decode()?;
                rw.send(1, &text.to_uppercase()).await?;
            }
        }
    })
}
