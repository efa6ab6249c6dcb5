//! Deficit round-robin over the protocols' outbound queues, sans-IO.
//!
//! Each protocol earns `QUANTUM * weight` bytes of credit per round and may send while its
//! credit is positive; a large message drives the credit negative and the protocol waits out
//! the rounds it borrowed. Over time each busy protocol gets link bytes in proportion to its
//! weight, and a protocol with a short message waits at most about one quantum per other
//! busy protocol, never behind another protocol's whole backlog.

/// Credit per round for weight 1, in bytes.
pub(crate) const QUANTUM: i64 = 16 * 1024;

/// The queues the scheduler picks from.
pub(crate) trait Queues {
    type Item;
    fn count(&self) -> usize;
    fn is_empty(&self, index: usize) -> bool;
    /// Takes the head of queue `index` and its size in bytes.
    fn pop(&mut self, index: usize) -> Option<(Self::Item, usize)>;
}

#[derive(Debug)]
pub(crate) struct Drr {
    weights: Vec<u32>,
    deficits: Vec<i64>,
    current: usize,
}

impl Drr {
    pub(crate) fn new(weights: Vec<u32>) -> Self {
        let weights: Vec<u32> = weights.into_iter().map(|w| w.max(1)).collect();
        let deficits = weights.iter().map(|w| QUANTUM * i64::from(*w)).collect();
        Self {
            weights,
            deficits,
            current: 0,
        }
    }

    /// The next message to send, or `None` when every queue is empty.
    pub(crate) fn next<Q: Queues>(&mut self, queues: &mut Q) -> Option<Q::Item> {
        let n = queues.count();
        if n == 0 || (0..n).all(|i| queues.is_empty(i)) {
            // The link is idle: nobody waited, so nobody owes.
            self.deficits.iter_mut().for_each(|d| *d = (*d).max(0));
            return None;
        }
        loop {
            let i = self.current;
            if queues.is_empty(i) {
                // Standard DRR: a queue that runs empty keeps neither credit nor debt, so a
                // large message sent while the link was otherwise idle is not held against
                // the protocol later.
                self.deficits[i] = 0;
            } else if self.deficits[i] > 0 {
                if let Some((item, size)) = queues.pop(i) {
                    self.deficits[i] -= size as i64;
                    if queues.is_empty(i) {
                        self.deficits[i] = 0;
                    }
                    return Some(item);
                }
            }
            self.current = (i + 1) % n;
            let next = self.current;
            self.deficits[next] += QUANTUM * i64::from(self.weights[next]);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::VecDeque;

    use super::*;

    struct Fake(Vec<VecDeque<usize>>);

    impl Queues for Fake {
        type Item = (usize, usize);
        fn count(&self) -> usize {
            self.0.len()
        }
        fn is_empty(&self, i: usize) -> bool {
            self.0[i].is_empty()
        }
        fn pop(&mut self, i: usize) -> Option<((usize, usize), usize)> {
            self.0[i].pop_front().map(|size| ((i, size), size))
        }
    }

    fn bytes_sent_per_queue(weights: Vec<u32>, sizes: [usize; 2], messages: usize) -> [usize; 2] {
        let mut queues = Fake(vec![
            VecDeque::from(vec![sizes[0]; messages]),
            VecDeque::from(vec![sizes[1]; messages]),
        ]);
        let mut drr = Drr::new(weights);
        let mut sent = [0, 0];
        // Stop while both are still busy, so the split reflects the weights.
        while sent.iter().sum::<usize>() < messages * sizes.iter().min().unwrap() {
            let (i, size) = drr.next(&mut queues).unwrap();
            sent[i] += size;
        }
        sent
    }

    #[test]
    fn equal_weights_share_bytes_equally_whatever_the_message_sizes() {
        let [a, b] = bytes_sent_per_queue(vec![1, 1], [64 * 1024, 100], 20_000);
        let ratio = a as f64 / b as f64;
        assert!((0.8..1.25).contains(&ratio), "{a} vs {b}");
    }

    #[test]
    fn weights_split_bytes_proportionally() {
        let [a, b] = bytes_sent_per_queue(vec![3, 1], [1000, 1000], 20_000);
        let ratio = a as f64 / b as f64;
        assert!((2.7..3.3).contains(&ratio), "{a} vs {b}");
    }

    #[test]
    fn small_message_waits_for_at_most_a_few_bulk_messages() {
        let mut queues = Fake(vec![VecDeque::from(vec![64 * 1024; 1000]), VecDeque::new()]);
        let mut drr = Drr::new(vec![1, 1]);
        for _ in 0..10 {
            drr.next(&mut queues).unwrap();
        }
        queues.0[1].push_back(100);
        let mut bulk_before = 0;
        loop {
            match drr.next(&mut queues).unwrap() {
                (1, _) => break,
                _ => bulk_before += 1,
            }
        }
        assert!(bulk_before <= 1, "{bulk_before} bulk messages went first");
    }

    #[test]
    fn debt_from_a_message_sent_alone_is_forgiven_once_the_queue_empties() {
        let mut queues = Fake(vec![VecDeque::from(vec![16 << 20]), VecDeque::new()]);
        let mut drr = Drr::new(vec![1, 1]);
        assert_eq!(drr.next(&mut queues), Some((0, 16 << 20)));
        assert_eq!(drr.next(&mut queues), None);
        queues.0[1].extend(vec![64 * 1024; 1000]);
        queues.0[0].push_back(100);
        let mut bulk_before = 0;
        loop {
            match drr.next(&mut queues).unwrap() {
                (0, _) => break,
                _ => bulk_before += 1,
            }
        }
        assert!(bulk_before <= 1, "{bulk_before} bulk messages went first");
    }

    #[test]
    fn zero_weight_is_treated_as_one() {
        let mut queues = Fake(vec![VecDeque::from(vec![10])]);
        assert_eq!(Drr::new(vec![0]).next(&mut queues), Some((0, 10)));
    }

    #[test]
    fn empty_queues_yield_nothing_and_a_lone_queue_is_served() {
        let mut queues = Fake(vec![VecDeque::new(), VecDeque::new()]);
        let mut drr = Drr::new(vec![1, 1]);
        assert_eq!(drr.next(&mut queues), None);
        queues.0[1].extend([1 << 20, 1 << 20]);
        assert_eq!(drr.next(&mut queues), Some((1, 1 << 20)));
        assert_eq!(drr.next(&mut queues), Some((1, 1 << 20)));
        assert_eq!(drr.next(&mut queues), None);
    }
}
