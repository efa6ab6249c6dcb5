//! Node sources: where the dialer gets candidates, whatever finds them (discv4 random walks
//! today; discv5, DNS lists or peer exchange later).
//!
//! A source is a [`Stream`] of [`Enode`]s that may repeat nodes, wait as long as it likes
//! and end. [`FairMix`] merges several the way go-ethereum's `enode.FairMix` does: the sources
//! take turns, and one that has nothing ready does not hold up the others.
//!
//! ```
//! use peerwire::crypto::{Enode, NodeKey};
//! use peerwire::discovery::source::{FairMix, NodeStream};
//!
//! let id = NodeKey::random().id();
//! let dns: NodeStream = Box::pin(futures_util::stream::iter(vec![Enode::new(
//!     id,
//!     ([10, 0, 0, 1], 30303).into(),
//! )]));
//! let mut mix = FairMix::new();
//! mix.add(dns);
//! assert_eq!(mix.len(), 1);
//! // The server takes more: `ServerHandle::add_node_source(stream)`.
//! ```

use std::pin::Pin;
use std::task::{Context, Poll};

pub use futures_util::stream::Stream;

use crate::crypto::Enode;

/// A boxed node source.
pub type NodeStream = Pin<Box<dyn Stream<Item = Enode> + Send>>;

/// Several node sources taking turns; see the module docs.
///
/// The mix itself never ends: with no source (or every source ended) it is pending, so
/// sources can be added later.
#[derive(Default)]
pub struct FairMix {
    sources: Vec<NodeStream>,
    /// The source asked first next time.
    next: usize,
}

impl std::fmt::Debug for FairMix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FairMix")
            .field("sources", &self.sources.len())
            .finish()
    }
}

impl FairMix {
    /// An empty mix.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds a source.
    pub fn add(&mut self, source: NodeStream) {
        self.sources.push(source);
    }

    /// Sources that have not ended.
    pub fn len(&self) -> usize {
        self.sources.len()
    }

    /// Whether there is no source left.
    pub fn is_empty(&self) -> bool {
        self.sources.is_empty()
    }
}

impl Stream for FairMix {
    type Item = Enode;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Enode>> {
        let this = &mut *self;
        let mut tried = 0;
        while tried < this.sources.len() {
            let i = this.next % this.sources.len();
            match this.sources[i].as_mut().poll_next(cx) {
                Poll::Ready(Some(enode)) => {
                    this.next = i + 1;
                    return Poll::Ready(Some(enode));
                }
                Poll::Ready(None) => {
                    // Ended: drop it; the one after it moves into slot `i`.
                    drop(this.sources.remove(i));
                    this.next = i;
                }
                Poll::Pending => {
                    this.next = i + 1;
                    tried += 1;
                }
            }
        }
        // Every source is pending (and registered our waker) or there is none.
        Poll::Pending
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;
    use crate::crypto::NodeKey;

    fn enode(i: u8) -> Enode {
        let key = NodeKey::random();
        Enode::new(key.id(), ([10, 0, 0, i], 30303).into())
    }

    fn last_octet(e: &Enode) -> u8 {
        match e.ip {
            std::net::IpAddr::V4(ip) => ip.octets()[3],
            std::net::IpAddr::V6(_) => 0,
        }
    }

    #[tokio::test]
    async fn sources_take_turns_and_a_silent_one_does_not_block() {
        let mut mix = FairMix::new();
        mix.add(Box::pin(futures_util::stream::iter(vec![
            enode(1),
            enode(2),
            enode(3),
        ])));
        // Never yields.
        mix.add(Box::pin(futures_util::stream::pending()));
        mix.add(Box::pin(futures_util::stream::iter(vec![
            enode(11),
            enode(12),
        ])));
        let mut got = Vec::new();
        for _ in 0..5 {
            got.push(last_octet(&mix.next().await.unwrap()));
        }
        assert_eq!(got, [1, 11, 2, 12, 3]);
        // The finite ones ended; the pending one remains, so the mix is pending, not over.
        let more = tokio::time::timeout(std::time::Duration::from_millis(20), mix.next()).await;
        assert!(more.is_err());
        assert_eq!(mix.len(), 1);
    }
}
