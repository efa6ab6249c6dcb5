//! A token bucket over an input clock: how much a peer may send or be sent per second.

use std::time::{Duration, Instant};

/// `burst` tokens at most, refilled at `rate` a second. Charging may overdraw it; the
/// debt says how long to wait.
#[derive(Clone, Debug)]
pub(crate) struct TokenBucket {
    rate: f64,
    burst: f64,
    tokens: f64,
    last: Instant,
}

impl TokenBucket {
    /// A full bucket at `now`.
    pub(crate) fn new(rate: u64, burst: u64, now: Instant) -> Self {
        let burst = burst.max(1) as f64;
        Self {
            rate: rate.max(1) as f64,
            burst,
            tokens: burst,
            last: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let elapsed = now.saturating_duration_since(self.last).as_secs_f64();
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst);
        self.last = self.last.max(now);
    }

    /// Takes `amount` if the bucket holds it; says whether it did.
    pub(crate) fn try_take(&mut self, amount: u64, now: Instant) -> bool {
        self.refill(now);
        if self.tokens >= amount as f64 {
            self.tokens -= amount as f64;
            true
        } else {
            false
        }
    }

    /// Takes `amount`, overdrawing if need be, and returns how long until the bucket is
    /// back at zero (zero if it was not overdrawn).
    pub(crate) fn charge(&mut self, amount: u64, now: Instant) -> Duration {
        self.refill(now);
        self.tokens -= amount as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_passes_then_the_rate_holds() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(100, 10, t0);
        for _ in 0..10 {
            assert!(b.try_take(1, t0));
        }
        assert!(!b.try_take(1, t0), "burst spent");
        assert!(
            !b.try_take(2, t0 + Duration::from_millis(10)),
            "one token back"
        );
        assert!(b.try_take(1, t0 + Duration::from_millis(10)));
        // Never more than the burst, however long it waits.
        assert!(!b.try_take(11, t0 + Duration::from_secs(60)));
        assert!(b.try_take(10, t0 + Duration::from_secs(60)));
    }

    #[test]
    fn an_overdraft_is_a_wait_at_the_rate() {
        let t0 = Instant::now();
        let mut b = TokenBucket::new(1000, 1000, t0);
        assert_eq!(b.charge(1000, t0), Duration::ZERO);
        let wait = b.charge(500, t0);
        assert_eq!(wait, Duration::from_millis(500));
        // After waiting it out, the bucket is at zero: the next charge waits its own cost.
        assert_eq!(b.charge(100, t0 + wait), Duration::from_millis(100));
    }
}
