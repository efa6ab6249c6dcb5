//! What the router remembers: ids seen (to know a copy), and whole messages (to answer
//! Grafts). Both expire and both are bounded; the oldest go first.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::message::{MessageId, Signed};

/// Ids seen, each until its expiry.
#[derive(Debug)]
pub(super) struct Seen {
    ttl: Duration,
    max: usize,
    expiry: HashMap<MessageId, Instant>,
    /// In insertion order, which is expiry order (one ttl, a clock that does not go back).
    order: VecDeque<(Instant, MessageId)>,
}

impl Seen {
    pub(super) fn new(ttl: Duration, max: usize) -> Self {
        Self {
            ttl,
            max: max.max(1),
            expiry: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub(super) fn contains(&self, id: &MessageId, now: Instant) -> bool {
        self.expiry.get(id).is_some_and(|&until| until > now)
    }

    /// Remembers `id` from `now`; the oldest go when it is full.
    pub(super) fn insert(&mut self, id: MessageId, now: Instant) {
        self.expire(now);
        let until = now + self.ttl;
        if self.expiry.insert(id, until).is_none() {
            self.order.push_back((until, id));
        }
        while self.expiry.len() > self.max {
            self.pop_front();
        }
    }

    pub(super) fn expire(&mut self, now: Instant) {
        while self.order.front().is_some_and(|(until, _)| *until <= now) {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        if let Some((_, id)) = self.order.pop_front() {
            self.expiry.remove(&id);
        }
    }

    pub(super) fn len(&self) -> usize {
        self.expiry.len()
    }
}

/// A message kept whole, with the hops it arrived with.
#[derive(Debug, Clone)]
pub(super) struct Stored {
    pub(super) signed: Arc<Signed>,
    pub(super) hops: u8,
}

/// Whole messages, until expiry, at most a count and a number of bytes.
#[derive(Debug)]
pub(super) struct Store {
    ttl: Duration,
    max: usize,
    max_bytes: usize,
    bytes: usize,
    messages: HashMap<MessageId, Stored>,
    order: VecDeque<(Instant, MessageId)>,
}

impl Store {
    pub(super) fn new(ttl: Duration, max: usize, max_bytes: usize) -> Self {
        Self {
            ttl,
            max,
            max_bytes,
            bytes: 0,
            messages: HashMap::new(),
            order: VecDeque::new(),
        }
    }

    pub(super) fn get(&self, id: &MessageId) -> Option<&Stored> {
        self.messages.get(id)
    }

    /// Keeps `stored`; the oldest go while over the count or bytes. A message larger than
    /// the whole byte budget is not kept.
    pub(super) fn insert(&mut self, stored: Stored, now: Instant) {
        self.expire(now);
        let size = stored.signed.size();
        if size > self.max_bytes || self.max == 0 {
            return;
        }
        let id = stored.signed.id;
        if self.messages.contains_key(&id) {
            return;
        }
        self.bytes += size;
        self.messages.insert(id, stored);
        self.order.push_back((now + self.ttl, id));
        while self.messages.len() > self.max || self.bytes > self.max_bytes {
            self.pop_front();
        }
    }

    pub(super) fn expire(&mut self, now: Instant) {
        while self.order.front().is_some_and(|(until, _)| *until <= now) {
            self.pop_front();
        }
    }

    fn pop_front(&mut self) {
        if let Some((_, id)) = self.order.pop_front() {
            if let Some(old) = self.messages.remove(&id) {
                self.bytes -= old.signed.size();
            }
        }
    }

    pub(super) fn len(&self) -> usize {
        self.messages.len()
    }

    pub(super) fn bytes(&self) -> usize {
        self.bytes
    }
}
