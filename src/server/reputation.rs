//! Peer reputation, sans-IO: scores that penalties lower, that decay back toward 0 over
//! time (exponentially, with a half-life), and a threshold below which the peer is banned.
//! The clock is an input (`now`); the server converts to Unix seconds for the store.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use crate::crypto::NodeId;
use crate::protocol::{ReputationChange, REPUTATION_UNIT};

/// Scores and bans; see [`Peer::report`](crate::protocol::Peer::report).
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ReputationConfig {
    /// A score at or below this bans the peer. Default −64 units (−65,536): one
    /// `BadProtocol`, four `BadMessage`s, or sixteen failed dials in quick succession.
    pub ban_threshold: i32,
    /// How long such a ban lasts. Default 30 min.
    pub ban_duration: Duration,
    /// A score halves toward 0 in this time. Default 10 min.
    pub half_life: Duration,
    /// Highest score, so that good behaviour cannot bank credit for later abuse. Default
    /// 16 units.
    pub max_score: i32,
    /// Peers with a score other than 0 remembered at once (about 100 bytes each); past it
    /// the score nearest 0 is forgotten. Default 16,384.
    pub max_tracked: usize,
}

impl Default for ReputationConfig {
    fn default() -> Self {
        Self {
            ban_threshold: -64 * REPUTATION_UNIT,
            ban_duration: Duration::from_secs(30 * 60),
            half_life: Duration::from_secs(10 * 60),
            max_score: 16 * REPUTATION_UNIT,
            max_tracked: 16 * 1024,
        }
    }
}

#[derive(Clone, Copy, Debug)]
struct Score {
    value: i32,
    at: Instant,
}

/// What a change did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Applied {
    /// The score after it.
    pub(crate) score: i32,
    /// Whether it crossed the ban threshold (from above).
    pub(crate) ban: bool,
}

/// The scores of the peers whose score is not 0.
#[derive(Debug)]
pub(crate) struct Reputations {
    config: ReputationConfig,
    scores: HashMap<NodeId, Score>,
}

impl Reputations {
    pub(crate) fn new(config: ReputationConfig) -> Self {
        Self {
            config,
            scores: HashMap::new(),
        }
    }

    /// `value` decayed over `elapsed`: halved every `half_life`, toward 0, rounded toward 0.
    fn decay(&self, value: i32, elapsed: Duration) -> i32 {
        let half_life = self.config.half_life.as_secs_f64();
        if value == 0 || half_life <= 0.0 {
            return value;
        }
        let factor = 0.5f64.powf(elapsed.as_secs_f64() / half_life);
        // |value * factor| <= |value|, so the cast back cannot overflow.
        (f64::from(value) * factor).trunc() as i32
    }

    /// The score of `id` at `now`.
    pub(crate) fn score(&self, id: &NodeId, now: Instant) -> i32 {
        self.scores.get(id).map_or(0, |s| {
            self.decay(s.value, now.saturating_duration_since(s.at))
        })
    }

    /// Applies `change` to `id` at `now`.
    pub(crate) fn apply(&mut self, id: NodeId, change: ReputationChange, now: Instant) -> Applied {
        let before = self.score(&id, now);
        let score = before
            .saturating_add(change.value())
            .min(self.config.max_score);
        self.set(id, score, now);
        Applied {
            score,
            ban: before > self.config.ban_threshold && score <= self.config.ban_threshold,
        }
    }

    /// Sets the score of `id` as it was `ago` before `now` (a stored score).
    pub(crate) fn restore(&mut self, id: NodeId, score: i32, ago: Duration, now: Instant) {
        let score = self.decay(score, ago).min(self.config.max_score);
        self.set(id, score, now);
    }

    fn set(&mut self, id: NodeId, score: i32, now: Instant) {
        if score == 0 {
            self.scores.remove(&id);
            return;
        }
        if !self.scores.contains_key(&id) && self.scores.len() >= self.config.max_tracked.max(1) {
            let nearest_zero = self
                .scores
                .iter()
                .min_by_key(|(_, s)| {
                    self.decay(s.value, now.saturating_duration_since(s.at))
                        .unsigned_abs()
                })
                .map(|(id, _)| *id);
            if let Some(forget) = nearest_zero {
                self.scores.remove(&forget);
            }
        }
        self.scores.insert(
            id,
            Score {
                value: score,
                at: now,
            },
        );
    }

    /// Peers with a score.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.scores.len()
    }
}

/// The change the server applies itself when it ends a session for `reason`, if any.
pub(crate) fn for_local_disconnect(
    reason: crate::wire::DisconnectReason,
) -> Option<ReputationChange> {
    use crate::wire::DisconnectReason as R;
    match reason {
        R::ProtocolError => Some(ReputationChange::BadProtocol),
        R::SubprotocolError => Some(ReputationChange::BadMessage),
        R::PingTimeout => Some(ReputationChange::Timeout),
        R::UselessPeer => Some(ReputationChange::Useless),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::crypto::NodeKey;

    fn id() -> NodeId {
        NodeKey::random().id()
    }

    /// On tokio's paused clock: the time that passes is the time the test advances.
    #[tokio::test(start_paused = true)]
    async fn penalties_add_up_decay_by_half_lives_and_ban_once_at_the_threshold() {
        let mut r = Reputations::new(ReputationConfig::default());
        let peer = id();
        let now = || tokio::time::Instant::now().into_std();
        let bad = ReputationChange::BadMessage;
        for expected in [-16, -32, -48] {
            let applied = r.apply(peer, bad, now());
            assert_eq!(applied.score, expected * REPUTATION_UNIT);
            assert!(!applied.ban);
        }
        tokio::time::advance(Duration::from_secs(10 * 60)).await;
        assert_eq!(r.score(&peer, now()), -24 * REPUTATION_UNIT, "halved");
        tokio::time::advance(Duration::from_secs(10 * 60)).await;
        assert_eq!(r.score(&peer, now()), -12 * REPUTATION_UNIT);
        // -12 - 16·3 = -60: not yet; one more reaches -76 and bans.
        for _ in 0..3 {
            assert!(!r.apply(peer, bad, now()).ban);
        }
        let crossing = r.apply(peer, bad, now());
        assert!(crossing.ban, "{crossing:?}");
        assert!(!r.apply(peer, bad, now()).ban, "only the crossing bans");
        // Long after, the score is back to 0 and forgotten.
        tokio::time::advance(Duration::from_secs(24 * 3600)).await;
        assert_eq!(r.score(&peer, now()), 0);
        r.apply(peer, ReputationChange::Good, now());
        r.apply(peer, ReputationChange::Units(-1), now());
        assert_eq!(r.len(), 0, "a score of 0 is not kept");
    }

    #[test]
    fn one_bad_protocol_bans_and_good_behaviour_is_capped() {
        let mut r = Reputations::new(ReputationConfig::default());
        let now = Instant::now();
        let peer = id();
        assert!(r.apply(peer, ReputationChange::BadProtocol, now).ban);
        let good = id();
        for _ in 0..100 {
            r.apply(good, ReputationChange::Good, now);
        }
        assert_eq!(r.score(&good, now), 16 * REPUTATION_UNIT);
        // The capped credit does not absorb a protocol breach.
        assert!(r.apply(good, ReputationChange::Units(-80), now).ban);
    }

    #[test]
    fn a_stored_score_decays_by_the_time_it_was_away_and_the_table_is_bounded() {
        let config = ReputationConfig {
            max_tracked: 3,
            ..ReputationConfig::default()
        };
        let mut r = Reputations::new(config);
        let now = Instant::now();
        let peer = id();
        r.restore(
            peer,
            -40 * REPUTATION_UNIT,
            Duration::from_secs(20 * 60),
            now,
        );
        assert_eq!(r.score(&peer, now), -10 * REPUTATION_UNIT);
        for _ in 0..10 {
            r.apply(id(), ReputationChange::Timeout, now);
        }
        assert_eq!(r.len(), 3);
        assert_eq!(
            r.score(&peer, now),
            -10 * REPUTATION_UNIT,
            "the largest score stays"
        );
    }
}
