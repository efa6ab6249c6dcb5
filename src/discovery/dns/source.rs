//! A DNS list as a node source for the dialer.

use rand::seq::SliceRandom;
use tokio::time::Instant;

use super::client::{DnsClient, DnsConfig};
use super::entry::Link;
use super::resolver::TxtResolver;
use crate::crypto::Enode;
use crate::discovery::enr;
use crate::discovery::source::NodeStream;

/// The nodes of the tree at `url` (and the trees it links to) as a node source for
/// [`ServerHandle::add_node_source`](crate::server::ServerHandle::add_node_source).
///
/// The first sync starts when the stream is first polled. After each sync the stream yields
/// every record with a TCP endpoint ([`enr::dialable`]), in random order (EIP-1459:
/// *"It's in the client's best interest to traverse the tree in random order"*), then waits
/// [`DnsConfig::recheck_interval`] and checks the root again: a new sequence number fetches
/// the changed subtrees only. A failed sync is logged and retried after a tenth of the
/// interval. The stream never ends.
pub fn node_source<R: TxtResolver>(resolver: R, url: Link, config: DnsConfig) -> NodeStream {
    struct State<R> {
        client: DnsClient<R>,
        url: Link,
        pending: Vec<Enode>,
        next_sync: Option<Instant>,
    }
    let state = State {
        client: DnsClient::new(resolver, config),
        url,
        pending: Vec::new(),
        next_sync: None,
    };
    Box::pin(futures_util::stream::unfold(state, |mut st| async move {
        loop {
            if let Some(enode) = st.pending.pop() {
                return Some((enode, st));
            }
            if let Some(at) = st.next_sync {
                tokio::time::sleep_until(at).await;
            }
            let interval = st.client.config().recheck_interval;
            match st.client.sync(&st.url).await {
                Ok(report) => {
                    for (link, error) in &report.refused {
                        tracing::warn!(%link, %error, "linked DNS tree refused");
                    }
                    tracing::debug!(url = %st.url, records = report.records.len(), "DNS tree synced");
                    st.pending = report.records.iter().filter_map(enr::dialable).collect();
                    st.pending.shuffle(&mut rand::thread_rng());
                    st.next_sync = Some(Instant::now() + interval);
                }
                Err(error) => {
                    tracing::warn!(url = %st.url, %error, "DNS tree sync failed");
                    let retry = (interval / 10).max(std::time::Duration::from_secs(1));
                    st.next_sync = Some(Instant::now() + retry);
                }
            }
        }
    }))
}
