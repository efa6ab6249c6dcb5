//! What protocol authors write against: [`Protocol`], [`MsgReadWriter`], [`Msg`] and [`Peer`].
//!
//! A protocol is a capability (name, version), the number of message codes it uses, and an
//! async `run` handler started once per connected peer that shares the capability:
//!
//! ```
//! use peerwire::protocol::Protocol;
//! use peerwire::wire::Capability;
//!
//! let echo = Protocol::new(Capability::new("echo", 1), 1, |_peer, mut rw| async move {
//!     loop {
//!         let msg = rw.read_msg().await?;
//!         let text: String = msg.decode()?;
//!         rw.send(0, &text).await?;
//!     }
//! });
//! assert_eq!(echo.capability().to_string(), "echo/1");
//! ```

mod info;
mod peer;
pub mod pipe;
mod registry;
mod report;
pub mod request;
mod rw;

use std::future::Future;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::Arc;

use futures_util::FutureExt;
use tracing::Instrument;

pub(crate) use self::info::node_infos;
pub use self::info::{InfoValue, PeerReport};
pub use self::peer::{Direction, Peer, PeerInfo};
pub use self::registry::{PeerRegistry, Registration};
pub(crate) use self::report::Reporter;
pub use self::report::{ReputationChange, REPUTATION_UNIT};
pub use self::rw::{MsgReadWriter, MsgReader, MsgSender, ReadError, SendError};
use crate::session::{Channels, Handler, Slot};
pub use crate::session::{Msg, SessionEnd, Traffic};
use crate::wire::{Capability, DisconnectReason, SharedCapability};

/// The error a handler may end with; it becomes Disconnect `SubprotocolError`.
pub type HandlerError = Box<dyn std::error::Error + Send + Sync>;

type BoxFuture = Pin<Box<dyn Future<Output = Result<(), HandlerError>> + Send>>;
type RunFn = dyn Fn(Peer, MsgReadWriter) -> BoxFuture + Send + Sync;

/// Default inbound and outbound queue capacity per protocol and peer, in messages.
pub const DEFAULT_QUEUE_CAPACITY: usize = 256;

/// Default bytes the outbound queue of one protocol and peer may hold: 16 MiB, about one
/// message of the largest size a frame carries.
pub const DEFAULT_OUTBOUND_BYTES: usize = 16 * 1024 * 1024;

/// A sub-protocol: a capability plus the handler run for each peer that shares it.
#[derive(Clone)]
pub struct Protocol {
    capability: Capability,
    length: u64,
    weight: u32,
    inbound_capacity: usize,
    outbound_capacity: usize,
    outbound_bytes: usize,
    info: info::InfoHooks,
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
    /// The protocol `capability` (name and version, as advertised in Hello) using message
    /// codes `0..length`, whose handler is `run`.
    ///
    /// The handler ending with `Ok` ends the session with Disconnect `Quitting`; with `Err`,
    /// with `SubprotocolError`; a panic (in `run` or in the future it returns) ends only this
    /// peer's session, also with `SubprotocolError`.
    pub fn new<F, Fut>(capability: Capability, length: u64, run: F) -> Self
    where
        F: Fn(Peer, MsgReadWriter) -> Fut + Send + Sync + 'static,
        Fut: Future<Output = Result<(), HandlerError>> + Send + 'static,
    {
        let run: Arc<RunFn> = Arc::new(move |peer, rw| Box::pin(run(peer, rw)));
        Self {
            capability,
            length,
            weight: 1,
            inbound_capacity: DEFAULT_QUEUE_CAPACITY,
            outbound_capacity: DEFAULT_QUEUE_CAPACITY,
            outbound_bytes: DEFAULT_OUTBOUND_BYTES,
            info: info::InfoHooks::default(),
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

    /// Most bytes the outbound queue for one peer may hold, counted as payloads go on the
    /// wire (compressed, if the peer uses snappy); default [`DEFAULT_OUTBOUND_BYTES`]. When
    /// a message does not fit, `send` waits for the connection to write what is queued and
    /// `try_send` fails with `Full`. A message of any size fits when the queue holds no
    /// bytes, so a small limit does not make large messages unsendable.
    pub fn with_outbound_bytes(mut self, bytes: usize) -> Self {
        self.outbound_bytes = bytes.max(1);
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

    pub(crate) fn outbound_bytes(&self) -> usize {
        self.outbound_bytes
    }

    /// What the session needs to run this protocol at `shared`'s code range.
    pub(crate) fn slot(&self, shared: &SharedCapability) -> Slot {
        Slot {
            capability: shared.capability.clone(),
            offset: shared.offset,
            length: shared.length,
            weight: self.weight,
            inbound_capacity: self.inbound_capacity,
            outbound_capacity: self.outbound_capacity,
            outbound_bytes: self.outbound_bytes,
        }
    }

    /// The handler for one peer: `run` is called now, and its result and any panic (also one
    /// in `run` itself, before it returned a future) are caught.
    fn guarded(
        &self,
        peer: Peer,
        rw: MsgReadWriter,
    ) -> impl Future<Output = std::thread::Result<Result<(), HandlerError>>> + Send + 'static {
        let started = std::panic::catch_unwind(AssertUnwindSafe(|| (self.run)(peer, rw)));
        async move {
            match started {
                Ok(handler) => AssertUnwindSafe(handler).catch_unwind().await,
                Err(panic) => Err(panic),
            }
        }
    }
}

/// Starts one handler per protocol on a session's channels, in the order of `protocols`:
/// each protocol's `run` closure is called before this returns.
pub(crate) fn attach(
    protocols: Vec<Protocol>,
    peer: Peer,
) -> impl FnOnce(Vec<Channels>) -> Vec<Handler> + Send + 'static {
    move |channels| {
        let rws: Vec<MsgReadWriter> = channels.into_iter().map(MsgReadWriter::new).collect();
        // Before any handler runs, so that every handler's `Peer` can send on every protocol.
        let senders = protocols.iter().zip(&rws);
        peer.set_senders(
            senders
                .map(|(p, rw)| (p.capability(), rw.sender().clone()))
                .collect(),
        );
        protocols
            .iter()
            .zip(rws)
            .map(|(protocol, rw)| {
                let handler = protocol.guarded(peer.clone(), rw);
                let span = tracing::debug_span!("protocol", cap = %protocol.capability);
                Box::pin(async move { end_reason(&handler.await) }.instrument(span)) as Handler
            })
            .collect()
    }
}

/// The Disconnect a handler's end calls for: `Quitting` after `Ok`, `SubprotocolError` after
/// an error or a panic.
fn end_reason(outcome: &std::thread::Result<Result<(), HandlerError>>) -> DisconnectReason {
    match outcome {
        Ok(Ok(())) => DisconnectReason::Quitting,
        Ok(Err(e)) => {
            tracing::debug!(error = %e, "protocol handler failed");
            DisconnectReason::SubprotocolError
        }
        Err(_) => {
            tracing::warn!("protocol handler panicked");
            DisconnectReason::SubprotocolError
        }
    }
}
