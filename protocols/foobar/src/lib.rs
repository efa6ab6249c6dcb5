//! The foo/bar protocol: capability `foo/1`, one message code carrying one RLP string.
//!
//! It speaks the wire form of the seed handler (go-ethereum's `p2p` guide, `docs/Peer-to-Peer.md`):
//! a message is an RLP **list of one string**, `["foo"]`, as `p2p.SendItems(ws, messageId, "bar")`
//! sends it. A bare RLP string, `"foo"`, is accepted too (the guide's complete program decodes a
//! bare `Message`, and earlier peerwire versions sent that form).
//!
//! - On "foo" the handler replies "bar" **in the form the peer used**: `["foo"]` gets `["bar"]`,
//!   `"foo"` gets `"bar"`.
//! - Any other string is surfaced to the application as a [`FooBarEvent::Message`] (its text cut
//!   to [`MAX_TEXT`] bytes) and logged.
//! - A payload that is not one UTF-8 string in either form (not RLP, trailing bytes, a list of
//!   zero or two items, a nested list, non-UTF-8 bytes) is logged and skipped, as the seed does,
//!   and counted in [`FooBar::skipped`]; the peer stays connected.
//!
//! [`FooBar::send`], [`FooBar::try_send`] and [`FooBar::broadcast`] send strings in the list
//! form. Built on peerwire's
//! public API only.

#![forbid(unsafe_code)]

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use peerwire::crypto::NodeId;
use peerwire::protocol::{
    Msg, MsgReader, MsgSender, Peer, PeerRegistry, Protocol, Registration, SendError,
};
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

/// The longest text a [`FooBarEvent::Message`] carries, in bytes. Longer strings are cut at the
/// last UTF-8 character boundary at or below it (and counted in [`FooBar::truncated`]), so the
/// event queue ([`FooBar::new`]) holds at most about 1024 × 4 KiB = 4 MiB of text, however
/// large the peers' messages are (a frame may carry 16 MiB).
pub const MAX_TEXT: usize = 4096;

/// Events queued for the application before the handlers wait for it.
const EVENT_CAPACITY: usize = 1024;

/// What the protocol tells the application.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum FooBarEvent {
    /// A peer sent a string other than "foo" (a "bar" reply included), in either wire form.
    Message {
        /// The sender.
        from: NodeId,
        /// What it sent, cut to at most [`MAX_TEXT`] bytes.
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

/// How a peer framed its string; replies use the same form.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Form {
    /// `["text"]`: an RLP list of one string (the seed's form, and ours when we start).
    List,
    /// `"text"`: a bare RLP string.
    Bare,
}

/// Why a received payload was skipped. Peer misbehaviour, but not worth a disconnect: the seed
/// logs it and reads on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
enum Malformed {
    /// Truncated, or a length that is not in canonical (shortest) form.
    #[error("not RLP")]
    NotRlp,
    /// Bytes after the item.
    #[error("bytes after the RLP item")]
    Trailing,
    /// A list that does not hold exactly one string.
    #[error("not a list of one string")]
    NotOneString,
    /// The string is not UTF-8.
    #[error("not UTF-8")]
    NotUtf8,
    /// A code other than [`TEXT`] (the session only delivers codes below [`LENGTH`]).
    #[error("unknown message code")]
    UnknownCode,
}

/// The protocol's shared state: one sender per connected peer, and counters.
#[derive(Clone, Debug)]
pub struct FooBar {
    shared: Arc<Shared>,
    events: mpsc::Sender<FooBarEvent>,
}

#[derive(Debug, Default)]
struct Shared {
    peers: PeerRegistry<MsgSender>,
    skipped: AtomicU64,
    truncated: AtomicU64,
}

impl FooBar {
    /// The protocol state and the stream of its events. The handlers wait when the
    /// application falls more than 1024 events behind, so nothing is dropped; each event's
    /// text is at most [`MAX_TEXT`] bytes, so the queue stays within a few MiB.
    pub fn new() -> (Self, mpsc::Receiver<FooBarEvent>) {
        let (events, rx) = mpsc::channel(EVENT_CAPACITY);
        let foobar = Self {
            shared: Arc::default(),
            events,
        };
        (foobar, rx)
    }

    /// The [`Protocol`] to register with a server.
    pub fn protocol(&self) -> Protocol {
        let state = self.clone();
        Protocol::new(Capability::new(NAME, VERSION), LENGTH, move |peer, rw| {
            // Registered before the handler's future exists: the server reports a peer added
            // only after this closure ran, so `send` and `broadcast` reach it from then on.
            let (reader, sender) = rw.split();
            let registered = state.shared.peers.register(peer.id(), sender.clone());
            let state = state.clone();
            async move { state.run(peer, reader, sender, &registered).await }
        })
    }

    /// Sends `text` to one peer as `[text]`, waiting if its queue is full.
    ///
    /// Cancel-safe: if the future is dropped, the message was either queued or not.
    pub async fn send(&self, to: &NodeId, text: &str) -> Result<(), FooBarError> {
        let sender = self
            .shared
            .peers
            .get(to)
            .ok_or(FooBarError::UnknownPeer(*to))?;
        send_text(&sender, Form::List, text)
            .await
            .map_err(FooBarError::Send)
    }

    /// Queues `text` for one peer as `[text]` if its queue has room now; never waits.
    ///
    /// Fails with [`FooBarError::Send`]`(`[`SendError::Full`]`)` while the peer's outbound
    /// queue is full (in messages or bytes), as it stays when the peer does not read: the
    /// session's write timeout then ends it. An application that must not stall on one slow
    /// peer (a broadcast from a UI loop) uses this instead of [`FooBar::send`] and reports
    /// who was skipped.
    pub fn try_send(&self, to: &NodeId, text: &str) -> Result<(), FooBarError> {
        let sender = self
            .shared
            .peers
            .get(to)
            .ok_or(FooBarError::UnknownPeer(*to))?;
        let payload = peerwire::rlp::encode_list::<&str, _>(&[text]).freeze();
        sender
            .try_send_raw(TEXT, payload)
            .map_err(FooBarError::Send)
    }

    /// Sends `text` as `[text]` to every connected foo/1 peer; returns how many accepted it.
    /// Waits for each peer's queue in turn, so one peer that does not read holds it up until
    /// its write timeout; see [`FooBar::try_send`] for a broadcast that never waits.
    ///
    /// Not cancel-safe as a whole: dropped midway, some peers got it and some did not.
    pub async fn broadcast(&self, text: &str) -> usize {
        let mut sent = 0;
        for (_, sender) in self.shared.peers.snapshot() {
            if send_text(&sender, Form::List, text).await.is_ok() {
                sent += 1;
            }
        }
        sent
    }

    /// The peers currently running foo/1 with us.
    pub fn peers(&self) -> Vec<NodeId> {
        self.shared.peers.ids()
    }

    /// How many received messages were skipped because they were not one UTF-8 string (in
    /// either form), over all peers since [`FooBar::new`].
    pub fn skipped(&self) -> u64 {
        self.shared.skipped.load(Ordering::Relaxed)
    }

    /// How many [`FooBarEvent::Message`] texts were cut to [`MAX_TEXT`] bytes, since
    /// [`FooBar::new`].
    pub fn truncated(&self) -> u64 {
        self.shared.truncated.load(Ordering::Relaxed)
    }

    /// The handler of one peer, registered under `_registered` until it ends.
    async fn run(
        &self,
        peer: Peer,
        mut reader: MsgReader,
        sender: MsgSender,
        _registered: &Registration<MsgSender>,
    ) -> Result<(), peerwire::protocol::HandlerError> {
        let id = peer.id();
        loop {
            let msg = reader.read_msg().await?;
            // Seed: `err = msg.Decode(&myMessage); if err != nil { continue }`.
            let (form, text) = match parse(&msg) {
                Ok(parsed) => parsed,
                Err(why) => {
                    self.shared.skipped.fetch_add(1, Ordering::Relaxed);
                    // Debug, not warn: a peer could otherwise flood the log at will.
                    tracing::debug!(peer = %id.short(), size = msg.payload.len(), %why, "foobar: skipped");
                    continue;
                }
            };
            if text == "foo" {
                tracing::debug!(peer = %id.short(), ?form, "foo: replying bar");
                send_text(&sender, form, "bar").await?;
            } else {
                let kept = truncate(text, MAX_TEXT);
                if kept.len() < text.len() {
                    self.shared.truncated.fetch_add(1, Ordering::Relaxed);
                }
                tracing::info!(peer = %id.short(), text = %kept, len = text.len(), "foobar message");
                let event = FooBarEvent::Message {
                    from: id,
                    text: kept.to_owned(),
                };
                self.events.send(event).await.ok();
            }
        }
    }
}

/// Queues `text` in `form`.
async fn send_text(sender: &MsgSender, form: Form, text: &str) -> Result<(), SendError> {
    match form {
        // Seed: `p2p.SendItems(ws, messageId, "bar")`, an RLP list of its arguments.
        Form::List => sender.send_items(TEXT, &[text]).await,
        Form::Bare => sender.send(TEXT, &text).await,
    }
}

/// The string of a foo/1 message, `["text"]` or `"text"`, and which form it came in. Borrows
/// from the payload: nothing is copied until the application's share is cut off.
fn parse(msg: &Msg) -> Result<(Form, &str), Malformed> {
    if msg.code != TEXT {
        return Err(Malformed::UnknownCode);
    }
    let (item, rest) = rlp_item(&msg.payload)?;
    if !rest.is_empty() {
        return Err(Malformed::Trailing);
    }
    let (form, bytes) = match item {
        Item::String(bytes) => (Form::Bare, bytes),
        // Seed: `var myMessage [1]Message` accepts a list of exactly one string.
        Item::List(body) => match rlp_item(body) {
            Ok((Item::String(bytes), [])) => (Form::List, bytes),
            _ => return Err(Malformed::NotOneString),
        },
    };
    let text = std::str::from_utf8(bytes).map_err(|_| Malformed::NotUtf8)?;
    Ok((form, text))
}

/// One RLP item's payload.
enum Item<'a> {
    String(&'a [u8]),
    /// The encoded items of the list.
    List(&'a [u8]),
}

/// The RLP item at the start of `bytes`, and the bytes after it. Strict like go-ethereum's
/// decoder: sizes must be in their shortest form. RLP spec (ethereum.org): "For a single byte
/// whose value is in the [0x00, 0x7f] (decimal [0, 127]) range, that byte is its own RLP
/// encoding"; "If a string is more than 55 bytes long, the RLP encoding consists of a single
/// byte with value 0xb7 plus the length in bytes of the length of the string in binary form"
/// (so long forms carry lengths over 55, big-endian without leading zeros; lists alike).
fn rlp_item(bytes: &[u8]) -> Result<(Item<'_>, &[u8]), Malformed> {
    let (&first, after) = bytes.split_first().ok_or(Malformed::NotRlp)?;
    let (is_list, len, after) = match first {
        0x00..=0x7f => return Ok((Item::String(&bytes[..1]), after)),
        0x80..=0xb7 => (false, usize::from(first - 0x80), after),
        0xb8..=0xbf => long_len(first - 0xb7, after).map(|(n, a)| (false, n, a))?,
        0xc0..=0xf7 => (true, usize::from(first - 0xc0), after),
        0xf8..=0xff => long_len(first - 0xf7, after).map(|(n, a)| (true, n, a))?,
    };
    if len > after.len() {
        return Err(Malformed::NotRlp);
    }
    let (payload, rest) = after.split_at(len);
    if !is_list && len == 1 && payload[0] < 0x80 {
        return Err(Malformed::NotRlp);
    }
    let item = if is_list {
        Item::List(payload)
    } else {
        Item::String(payload)
    };
    Ok((item, rest))
}

/// A long-form length of `len_of_len` (1..=8) big-endian bytes at the start of `bytes`.
fn long_len(len_of_len: u8, bytes: &[u8]) -> Result<(usize, &[u8]), Malformed> {
    let n = usize::from(len_of_len);
    if bytes.len() < n || bytes[0] == 0 {
        return Err(Malformed::NotRlp);
    }
    let (digits, rest) = bytes.split_at(n);
    let len = digits
        .iter()
        .try_fold(0usize, |acc, &d| {
            acc.checked_mul(256).map(|v| v | usize::from(d))
        })
        .ok_or(Malformed::NotRlp)?;
    if len <= 55 {
        return Err(Malformed::NotRlp);
    }
    Ok((len, rest))
}

/// The longest prefix of `text` of at most `max` bytes that ends on a character boundary.
fn truncate(text: &str, max: usize) -> &str {
    if text.len() <= max {
        return text;
    }
    // Index 0 is always a boundary, so this stops.
    let end = (0..=max)
        .rev()
        .find(|&i| text.is_char_boundary(i))
        .unwrap_or(0);
    &text[..end]
}
