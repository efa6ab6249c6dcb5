//! The iterative node lookup (discv4.md, "Recursive Lookup").
//!
//! *"The lookup initiator starts by picking `α` closest nodes to the target it knows of. [...]
//! Of the `k` nodes the initiator has heard of closest to the target, it picks `α` that it has
//! not yet queried and resends FindNode to them. Nodes that fail to respond quickly are
//! removed from consideration until and unless they do respond. [...] The lookup terminates
//! when the initiator has queried and gotten responses from the `k` closest nodes it has
//! seen."*
//!
//! The state machine only decides whom to ask; sending FindNode, collecting the Neighbors
//! packets of one reply and timing out are the caller's job.

use std::collections::HashSet;

use super::distance::NodeHash;
use super::message::{NodeRecord, Target};
use super::table::BUCKET_SIZE;
use crate::crypto::NodeId;

/// *"`α` is a system-wide concurrency parameter, such as 3."*
pub(crate) const ALPHA: usize = 3;
/// The lookup result size, the bucket size `k`.
pub(crate) const K: usize = BUCKET_SIZE;
/// Candidates remembered at once; farther ones are forgotten (they could only be asked after
/// this many closer nodes failed).
pub(crate) const MAX_CANDIDATES: usize = 4 * K;
/// Nodes taken from one reply (a well-behaved node sends at most `k`).
pub(crate) const MAX_NODES_PER_REPLY: usize = K;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    NotAsked,
    Asked,
    Responded,
    Failed,
}

#[derive(Clone, Copy, Debug)]
struct Candidate {
    node: NodeRecord,
    hash: NodeHash,
    state: State,
    /// Replies between the seeds and this node: 0 for a seed.
    hop: u32,
}

/// One lookup for the nodes closest to a target.
#[derive(Clone, Debug)]
pub(crate) struct Lookup {
    target: Target,
    target_hash: NodeHash,
    local: NodeId,
    /// Closest first.
    candidates: Vec<Candidate>,
    /// Every id ever taken as a candidate, so a forgotten or failed node is not re-added.
    /// Bounded by `MAX_NODES_PER_REPLY` per query.
    seen: HashSet<NodeId>,
    in_flight: usize,
    queries: usize,
}

impl Lookup {
    /// A lookup for `target` by `local`, starting from `seeds` (typically the table's closest).
    pub(crate) fn new(
        local: NodeId,
        target: Target,
        seeds: impl IntoIterator<Item = NodeRecord>,
    ) -> Self {
        let mut lookup = Self {
            target,
            target_hash: NodeHash::of_target(&target),
            local,
            candidates: Vec::new(),
            seen: HashSet::new(),
            in_flight: 0,
            queries: 0,
        };
        lookup.add(seeds.into_iter().take(MAX_CANDIDATES), 0);
        lookup
    }

    /// The target.
    pub(crate) fn target(&self) -> &Target {
        &self.target
    }

    /// FindNode queries started so far.
    pub(crate) fn queries(&self) -> usize {
        self.queries
    }

    /// The next node to send FindNode to, if fewer than `α` are in flight and one of the `k`
    /// closest live candidates has not been asked yet.
    pub(crate) fn next_query(&mut self) -> Option<NodeRecord> {
        if self.in_flight >= ALPHA {
            return None;
        }
        let c = self
            .candidates
            .iter_mut()
            .filter(|c| c.state != State::Failed)
            .take(K)
            .find(|c| c.state == State::NotAsked)?;
        c.state = State::Asked;
        self.in_flight += 1;
        self.queries += 1;
        Some(c.node)
    }

    /// `from` answered with `nodes`. Replies from nodes we did not ask are ignored; a reply
    /// from a node that had timed out brings it back into consideration.
    pub(crate) fn on_response(&mut self, from: &NodeId, nodes: &[NodeRecord]) {
        let Some(c) = self.candidates.iter_mut().find(|c| c.node.id == *from) else {
            return;
        };
        match c.state {
            State::Asked => self.in_flight -= 1,
            State::Failed => {}
            State::NotAsked | State::Responded => return,
        }
        c.state = State::Responded;
        let hop = c.hop + 1;
        self.add(nodes.iter().copied().take(MAX_NODES_PER_REPLY), hop);
    }

    /// The query to `from` failed (timed out).
    pub(crate) fn on_failure(&mut self, from: &NodeId) {
        if let Some(c) = self
            .candidates
            .iter_mut()
            .find(|c| c.node.id == *from && c.state == State::Asked)
        {
            c.state = State::Failed;
            self.in_flight -= 1;
        }
    }

    /// Whether the `k` closest live candidates have all answered (or no candidate is left).
    pub(crate) fn is_done(&self) -> bool {
        self.live().all(|c| c.state == State::Responded)
    }

    /// The `k` closest nodes that answered, closest first.
    pub(crate) fn result(&self) -> Vec<NodeRecord> {
        self.live()
            .filter(|c| c.state == State::Responded)
            .map(|c| c.node)
            .collect()
    }

    /// The longest chain of replies that led to a node in the result, plus one for the
    /// query to the node itself: the number of sequential round trips the lookup needed.
    pub(crate) fn depth(&self) -> u32 {
        self.live()
            .filter(|c| c.state == State::Responded)
            .map(|c| c.hop + 1)
            .max()
            .unwrap_or(0)
    }

    fn live(&self) -> impl Iterator<Item = &Candidate> {
        self.candidates
            .iter()
            .filter(|c| c.state != State::Failed)
            .take(K)
    }

    fn add(&mut self, nodes: impl Iterator<Item = NodeRecord>, hop: u32) {
        for node in nodes {
            if node.id == self.local || !self.seen.insert(node.id) {
                continue;
            }
            let hash = NodeHash::of_id(&node.id);
            let pos = self
                .candidates
                .partition_point(|c| self.target_hash.cmp_distance(&c.hash, &hash).is_lt());
            self.candidates.insert(
                pos,
                Candidate {
                    node,
                    hash,
                    state: State::NotAsked,
                    hop,
                },
            );
        }
        // Forget the farthest candidates that are not awaiting a reply.
        while self.candidates.len() > MAX_CANDIDATES {
            match self
                .candidates
                .iter()
                .rposition(|c| c.state != State::Asked)
            {
                Some(i) => self.candidates.remove(i),
                None => break,
            };
        }
    }
}

#[cfg(test)]
mod tests;
