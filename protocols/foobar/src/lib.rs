//! The foo/bar protocol: capability `foo/1`, one message code carrying an RLP string.
//!
//! On "foo" the handler replies "bar"; any other string is surfaced to the application as a
//! [`FooBarEvent::Message`] and logged. [`FooBar::send`] and [`FooBar::broadcast`] send
//! strings to connected peers. Built on peerwire's public API only.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use peerwire::crypto::NodeId;
use peerwire::protocol::{MsgSender, Peer, Protocol, SendError};
use peerwire::wire::Capability;
use tokio::sync::mpsc;

/// Capability name.
pub const NAME: &str = "foo";
/// Capability version.
pub const VERSION: u32 = 1;
/// Message codes used: just code 0.
pub const LENGTH: u64 = 1;
/// The code of the string message.
pub const TEXT: u64 = 0;

/// Events queued for the application before the handlers wait for it.
const EVENT_CAPACITY: usize = 1024;

/// What the protocol tells the application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FooBarEvent {
    /// A peer sent a string other than "foo" (a "bar" reply included).
    Message {
        /// The sender.
        from: NodeId,
        /// What it sent.
        text: String,
    },
}

/// Why a string was not sent.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FooBarError {
    /// No connected peer runs foo/1 with that id.
    #[error("no foo/1 peer {}", .0.short())]
    UnknownPeer(NodeId),
    /// The peer's queue refused it.
    #[error("send failed: {0}")]
    Send(SendError),
}

/// The protocol's shared state: one sender per connected peer.
#[derive(Clone, Debug)]
pub struct FooBar {
    peers: Arc<Mutex<HashMap<NodeId, MsgSender>>>,
    events: mpsc::Sender<FooBarEvent>,
}

impl FooBar {
    /// The protocol state and the stream of its events. The handlers wait when the
    /// application falls more than 1024 events behind, so nothing is dropped.
    pub fn new() -> (FooBar, mpsc::Receiver<FooBarEvent>) {
        let (events, rx) = mpsc::channel(EVENT_CAPACITY);
        let foobar = FooBar {
            peers: Arc::default(),
            events,
        };
        (foobar, rx)
    }

    /// The [`Protocol`] to register with a server.
    pub fn protocol(&self) -> Protocol {
        let state = self.clone();
        Protocol::new(Capability::new(NAME, VERSION), LENGTH, move |peer, rw| {
            let state = state.clone();
            async move { state.run(peer, rw).await }
        })
    }

    /// Sends `text` to one peer, waiting if its queue is full.
    pub async fn send(&self, to: &NodeId, text: &str) -> Result<(), FooBarError> {
        let sender = self
            .lock()
            .get(to)
            .cloned()
            .ok_or(FooBarError::UnknownPeer(*to))?;
        sender.send(TEXT, &text).await.map_err(FooBarError::Send)
    }

    /// Sends `text` to every connected foo/1 peer; returns how many accepted it.
    pub async fn broadcast(&self, text: &str) -> usize {
        let senders: Vec<MsgSender> = self.lock().values().cloned().collect();
        let mut sent = 0;
        for sender in senders {
            if sender.send(TEXT, &text).await.is_ok() {
                sent += 1;
            }
        }
        sent
    }

    /// The peers currently running foo/1 with us.
    pub fn peers(&self) -> Vec<NodeId> {
        self.lock().keys().copied().collect()
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<NodeId, MsgSender>> {
        // The map is only inserted into and removed from; a panic elsewhere cannot leave
        // it half-updated.
        self.peers.lock().unwrap_or_else(|e| e.into_inner())
    }

    async fn run(
        self,
        peer: Peer,
        rw: peerwire::protocol::MsgReadWriter,
    ) -> Result<(), peerwire::protocol::HandlerError> {
        let id = peer.id();
        let (mut reader, sender) = rw.split();
        self.lock().insert(id, sender.clone());
        let _registered = Unregister { state: &self, id };
        loop {
            let msg = reader.read_msg().await?;
            let text: String = msg.decode()?;
            if text == "foo" {
                tracing::debug!(peer = %id.short(), "foo: replying bar");
                sender.send(TEXT, &"bar").await?;
            } else {
                tracing::info!(peer = %id.short(), %text, "foobar message");
                self.events
                    .send(FooBarEvent::Message { from: id, text })
                    .await
                    .ok();
            }
        }
    }
}

/// Removes a peer from the map when its handler ends, however it ends.
struct Unregister<'a> {
    state: &'a FooBar,
    id: NodeId,
}

impl Drop for Unregister<'_> {
    fn drop(&mut self) {
        self.state.lock().remove(&self.id);
    }
}
