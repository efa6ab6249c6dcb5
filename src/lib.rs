//! # peerwire
//!
//! devp2p-style peer-to-peer networking for tokio.
//!
//! ```text
//! ┌────────────────────────────────────────────────────────────┐
//! │ server      Server, admission, dialer, peer events          │
//! ├────────────────────────────────────────────────────────────┤
//! │ protocol    Protocol, MsgReadWriter, Peer, in-memory pipe   │
//! ├────────────────────────────────────────────────────────────┤
//! │ session     (internal) Hello exchange, reader, writer (DRR) │
//! │ wire        p2p base protocol: Hello, Disconnect, payload   │
//! ├────────────────────────────────────────────────────────────┤
//! │ rlpx        RlpxStream (tokio) over sans-IO handshake/frame │
//! │ crypto      NodeKey, NodeId, enode URLs, ECIES              │
//! └────────────────────────────────────────────────────────────┘
//!   net: the sockets the server and discovery use (the host's, or any Transport)
//!   nat: port mapping on a home router (UPnP IGD, NAT-PMP) that the server runs
//! ```
//!
//! The transport on its own, over an in-memory pipe (see the README for a server):
//!
//! ```
//! # tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(async {
//! use peerwire::crypto::NodeKey;
//! use peerwire::rlpx::{RlpxConfig, RlpxStream};
//!
//! let server_key = NodeKey::random();
//! let client_key = NodeKey::random();
//! let server_id = server_key.id();
//! let (a, b) = tokio::io::duplex(64 * 1024);
//! let config = RlpxConfig::default();
//!
//! let server = tokio::spawn(async move {
//!     let mut stream = RlpxStream::accept(b, &server_key, &RlpxConfig::default()).await?;
//!     let frame = stream.recv().await?.expect("a frame");
//!     stream.send(frame.code, &frame.payload).await?;
//!     Ok::<_, peerwire::rlpx::RlpxError>(stream.remote_id())
//! });
//! let mut client = RlpxStream::connect(a, &client_key, server_id, &config).await?;
//! client.send(0x10, b"ping").await?;
//! let echo = client.recv().await?.expect("the echo");
//! assert_eq!((echo.code, &echo.payload[..]), (0x10, &b"ping"[..]));
//! assert_eq!(server.await.unwrap()?, client_key.id());
//! # Ok::<_, peerwire::rlpx::RlpxError>(())
//! # }).unwrap();
//! ```

#![forbid(unsafe_code)]

pub mod crypto;
pub mod datadir;
pub mod discovery;
#[cfg(any(test, feature = "test-utils"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod metrics;
pub mod nat;
pub mod net;
pub mod protocol;
pub mod rlpx;
pub mod server;
mod session;
#[cfg(any(test, feature = "test-utils"))]
#[doc(hidden)]
pub mod testdata;
mod util;
pub mod wire;

/// The RLP crate message payloads are encoded with.
pub use rlp;

/// The README's Rust examples, compiled as doc tests so they cannot rot.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
pub struct ReadmeDoctests;
