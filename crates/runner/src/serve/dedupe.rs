//! Duplicate detection: an event whose `messageId` was already seen within the
//! window is not delivered again, as Segment's own pipeline does (a client that
//! retries a batch whose answer it never got sends the same ids again).
//!
//! The planner asks for every event, in queue order, so the first copy wins. Ids
//! are kept as 128-bit keyed hashes (a false match, which would drop an event, is
//! out of reach: about one in 10^26 for a million ids), oldest first, so expiry
//! and the memory cap both drop from the front. After a restart the window holds
//! the ids of every event still in the queue's files, delivered or not.

use std::collections::{HashSet, VecDeque};
use std::hash::{BuildHasher, RandomState};
use std::time::{Duration, Instant};

/// The ids seen within the window.
pub struct Dedupe {
    window: Duration,
    max_ids: usize,
    hashers: (RandomState, RandomState),
    seen: HashSet<u128>,
    order: VecDeque<(Instant, u128)>,
}

impl Dedupe {
    /// Remembers ids for `window` (zero: no duplicate detection), at most `max_ids` of them.
    pub fn new(window: Duration, max_ids: usize) -> Dedupe {
        Dedupe {
            window,
            max_ids,
            hashers: (RandomState::new(), RandomState::new()),
            seen: HashSet::new(),
            order: VecDeque::new(),
        }
    }

    /// Whether `id` is seen for the first time within the window (and remembers it).
    pub fn first(&mut self, id: &str, now: Instant) -> bool {
        if self.window.is_zero() || self.max_ids == 0 {
            return true;
        }
        while let Some(&(at, old)) = self.order.front() {
            if now.saturating_duration_since(at) < self.window {
                break;
            }
            self.order.pop_front();
            self.seen.remove(&old);
        }
        let key = (u128::from(self.hashers.0.hash_one(id)) << 64) | u128::from(self.hashers.1.hash_one(id));
        if !self.seen.insert(key) {
            return false;
        }
        if self.order.len() >= self.max_ids
            && let Some((_, oldest)) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.order.push_back((now, key));
        true
    }

    /// Ids remembered now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.order.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_repeated_id_is_a_duplicate_until_the_window_has_passed() {
        let mut d = Dedupe::new(Duration::from_secs(60), 100);
        let t0 = Instant::now();
        assert!(d.first("m1", t0));
        assert!(d.first("m2", t0));
        assert!(!d.first("m1", t0 + Duration::from_secs(59)));
        assert!(d.first("m1", t0 + Duration::from_secs(60)));
        // m2 expired with it; the new m1 counts from its own time.
        assert_eq!(d.len(), 1);
        assert!(!d.first("m1", t0 + Duration::from_secs(61)));
    }

    #[test]
    fn the_oldest_ids_go_when_the_cap_is_reached() {
        let mut d = Dedupe::new(Duration::from_secs(3600), 2);
        let t = Instant::now();
        assert!(d.first("a", t));
        assert!(d.first("b", t));
        assert!(d.first("c", t));
        assert_eq!(d.len(), 2);
        assert!(d.first("a", t), "`a` was forgotten to make room");
        assert!(!d.first("c", t));
    }

    #[test]
    fn a_zero_window_turns_detection_off() {
        let mut d = Dedupe::new(Duration::ZERO, 100);
        let t = Instant::now();
        assert!(d.first("a", t));
        assert!(d.first("a", t));
        assert_eq!(d.len(), 0);
    }
}
