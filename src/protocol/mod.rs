//! What protocol authors write against: [`Protocol`], [`MsgReadWriter`], [`Msg`] and [`Peer`].
//!
//! A protocol is a capability (name, version), the number of message codes it uses, and an
//! async `run` handler started once per connected peer that shares the capability:
//!
//! ```
//! use peerwire::protocol::Protocol;
//!
//! let echo = Protocol::new("echo", 1, 1, |_peer, mut rw| async move {
//!     loop {
//!         let msg = rw.read_msg().await?;
//!         let text: String = msg.decode()?;
//!         rw.send(0, &text).await?;
//!     }
//! });
//! assert_eq!(echo.capability().to_string(), "echo/1");
//! ```

mod msg;
mod peer;
pub mod pipe;
pub(crate) mod rw;

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

pub use msg::Msg;
pub use peer::{Direction, Peer, PeerInfo};
pub use rw::{MsgReadWriter, MsgReader, MsgSender, ReadError, SendError};

use crate::wire::Capability;

/// The error a handler may end with; it becomes Disconnect `SubprotocolError`.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

type BoxFuture = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>>;
type RunFn = dyn Fn(Peer, MsgReadWriter) -> BoxFuture + Send + Sync;

/// Default inbound and outbound queue capacity per protocol and peer, in messages.
pub const DEFAULT_QUEUE_CAPACITY: usize = 256;

/// A sub-protocol: a capability plus the handler run for each peer that shares it.
#[derive(Clone)]
pub struct Protocol {
    capability: Capability,
    length: u64,
    weight: u32,
    inbound_capacity: usize,
    outbound_capacity: usize,
    run: Arc<RunFn>,
}

impl std::fmt::Debug for Protocol {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Protocol")
            .field("capability", &self.capability)
            .field("length", &self.length)
            .field("weight", &self.weight)
            .finish_non_exhaustive()
    }
}

impl Protocol {
    /// A protocol `name/version` using message codes `0..length`, whose handler is `run`.
    ///
    /// The handler ending with `Ok` ends the session with Disconnect `Quitting`; with `Err`,
    /// with `SubprotocolError`; a panic ends only this peer's session, also with
    /// `SubprotocolError`.
    pub fn new<F, Fut>(name: impl Into<String>, version: u32, length: u64, run: F) -> Self
    where
        F: Fn(Peer, MsgReadWriter) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let run: Arc<RunFn> = Arc::new(move |peer, rw| Box::pin(run(peer, rw)));
        Protocol {
            capability: Capability::new(name, version),
            length,
            weight: 1,
            inbound_capacity: DEFAULT_QUEUE_CAPACITY,
            outbound_capacity: DEFAULT_QUEUE_CAPACITY,
            run,
        }
    }

    /// Its share of the link when several protocols have messages queued (default 1): the
    /// write scheduler gives each protocol bytes in proportion to its weight.
    pub fn with_weight(mut self, weight: u32) -> Self {
        self.weight = weight.max(1);
        self
    }

    /// Per-peer queue capacities in messages (default [`DEFAULT_QUEUE_CAPACITY`] each, at
    /// least 1). A full inbound queue stops reading from that peer until the handler catches
    /// up; a full outbound queue makes `send` wait and `try_send` fail with `Full`.
    pub fn with_queue_capacity(mut self, inbound: usize, outbound: usize) -> Self {
        self.inbound_capacity = inbound.max(1);
        self.outbound_capacity = outbound.max(1);
        self
    }

    /// The capability advertised in Hello.
    pub fn capability(&self) -> Capability {
        self.capability.clone()
    }

    /// How many message codes it uses.
    pub fn length(&self) -> u64 {
        self.length
    }

    /// Its write-scheduler weight.
    pub fn weight(&self) -> u32 {
        self.weight
    }

    pub(crate) fn inbound_capacity(&self) -> usize {
        self.inbound_capacity
    }

    pub(crate) fn outbound_capacity(&self) -> usize {
        self.outbound_capacity
    }

    /// Starts the handler for one peer.
    pub(crate) fn run(&self, peer: Peer, rw: MsgReadWriter) -> BoxFuture {
        (self.run)(peer, rw)
    }
}
