//! Per-user order: the requests of one user go out one at a time, in the order
//! of the input, while different users go in parallel.
//!
//! Encharge applies requests as they arrive: an `identify` that sets a trait
//! and a `track` that a flow reads it in must not swap places, nor must an
//! `alias` and the events after it. A user is the event's `userId`, else its
//! `anonymousId`, else its email; an event with none of them has no order to keep.

use std::collections::HashMap;
use std::collections::VecDeque;
use std::sync::Arc;

use serde_json::Value;

/// The key requests are ordered by, e.g. `u:user-1`; `None`: no order to keep.
pub type OrderKey = Option<Arc<str>>;

/// The user of an event: `u:<userId>`, else `a:<anonymousId>`, else `e:<email>`
/// (from `traits`, `context.traits` or `properties`). Empty strings count as missing,
/// numbers as their digits. The prefixes keep a userId from meeting an equal anonymousId.
pub fn order_key(event: &Value) -> OrderKey {
    let id = |v: Option<&Value>| match v {
        Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
        Some(Value::Number(n)) => Some(n.to_string()),
        _ => None,
    };
    if let Some(user) = id(event.get("userId")) {
        return Some(format!("u:{user}").into());
    }
    if let Some(anonymous) = id(event.get("anonymousId")) {
        return Some(format!("a:{anonymous}").into());
    }
    let email = id(event.pointer("/traits/email"))
        .or_else(|| id(event.pointer("/context/traits/email")))
        .or_else(|| id(event.pointer("/properties/email")));
    email.map(|e| format!("e:{e}").into())
}

/// Lanes of waiting work, one per key: at most one item per key is out at a time.
#[derive(Debug)]
pub struct Lanes<T> {
    lanes: HashMap<Arc<str>, VecDeque<T>>,
    waiting: usize,
}

impl<T> Default for Lanes<T> {
    fn default() -> Lanes<T> {
        Lanes {
            lanes: HashMap::new(),
            waiting: 0,
        }
    }
}

impl<T> Lanes<T> {
    /// Takes an item in: returns it when it may start now (its lane was idle),
    /// or keeps it behind the lane's other items.
    pub fn admit(&mut self, key: &OrderKey, item: T) -> Option<T> {
        let Some(key) = key else { return Some(item) };
        match self.lanes.get_mut(key) {
            Some(lane) => {
                lane.push_back(item);
                self.waiting += 1;
                None
            }
            None => {
                self.lanes.insert(Arc::clone(key), VecDeque::new());
                Some(item)
            }
        }
    }

    /// The item out for `key` is finished: returns the next one of its lane to
    /// start, or frees the lane.
    pub fn finish(&mut self, key: &OrderKey) -> Option<T> {
        let key = key.as_ref()?;
        let lane = self.lanes.get_mut(key)?;
        match lane.pop_front() {
            Some(next) => {
                self.waiting -= 1;
                Some(next)
            }
            None => {
                self.lanes.remove(key);
                None
            }
        }
    }

    /// Items kept waiting behind another of their lane.
    pub fn waiting(&self) -> usize {
        self.waiting
    }

    /// Lanes with an item out.
    pub fn busy(&self) -> usize {
        self.lanes.len()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    #[test]
    fn keys() {
        for (event, want) in [
            (json!({"userId": "u1", "anonymousId": "a1"}), Some("u:u1")),
            (json!({"userId": 42}), Some("u:42")),
            (json!({"userId": "", "anonymousId": "a1"}), Some("a:a1")),
            (json!({"userId": null, "anonymousId": "a1"}), Some("a:a1")),
            (json!({"traits": {"email": "x@example.com"}}), Some("e:x@example.com")),
            (
                json!({"context": {"traits": {"email": "y@example.com"}}}),
                Some("e:y@example.com"),
            ),
            (
                json!({"properties": {"email": "z@example.com"}}),
                Some("e:z@example.com"),
            ),
            (json!({"type": "track"}), None),
        ] {
            assert_eq!(order_key(&event).as_deref(), want, "{event}");
        }
    }

    #[test]
    fn one_item_per_lane_in_order() {
        let a: OrderKey = Some("u:a".into());
        let b: OrderKey = Some("u:b".into());
        let mut lanes = Lanes::default();
        assert_eq!(lanes.admit(&a, 1), Some(1));
        assert_eq!(lanes.admit(&a, 2), None);
        assert_eq!(lanes.admit(&b, 3), Some(3));
        assert_eq!(lanes.admit(&a, 4), None);
        assert_eq!(lanes.admit(&None, 5), Some(5));
        assert_eq!((lanes.waiting(), lanes.busy()), (2, 2));
        assert_eq!(lanes.finish(&a), Some(2));
        assert_eq!(lanes.finish(&b), None);
        assert_eq!(lanes.finish(&a), Some(4));
        assert_eq!(lanes.finish(&a), None);
        assert_eq!(lanes.finish(&None), None);
        assert_eq!((lanes.waiting(), lanes.busy()), (0, 0));
        // A freed lane starts afresh.
        assert_eq!(lanes.admit(&a, 6), Some(6));
    }
}
