//! The event body that trackEvent, trackPageView and identifyUser send to the ingest API.
//!
//! The reference builds it as
//! `{...omit(payload, context fields), context: pick(payload, context fields), user: {email, userId, segmentAnonymousId, ...spread}}`:
//!
//! - `ip`, `userAgent`, `campaign`, `page`, `location` and `groupId` move into
//!   `context`, which is always present (`{}` when none is set);
//! - every other field stays at the top level, except identify's `user`;
//! - `user` starts with the resolved identifiers, then the spread object
//!   (`userFields` or identify's `user`) is copied over them. The spread comes
//!   last, so a trait named `email`, `userId` or `segmentAnonymousId` wins in
//!   `user`, even when it is `null` or not a string (values in the spread are
//!   never validated or coerced).

use serde_json::{Map, Value};

use super::fields::CONTEXT_FIELDS;

/// Where the action's user object comes from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Spread {
    /// The payload field spread into `user`: `userFields` or `user`.
    pub field: &'static str,
    /// Whether that field is also sent at the top level (`userFields` is, identify's `user` is not).
    pub keep_top_level: bool,
}

const IDENTIFIERS: [&str; 3] = ["email", "userId", "segmentAnonymousId"];

/// Builds the ingest body from a validated payload.
pub(super) fn event_body(payload: Map<String, Value>, spread: Spread) -> Value {
    let mut body = Map::with_capacity(payload.len() + 2);
    // `pick` lists the context fields in its own order, whatever the payload's.
    let mut context: [Option<(String, Value)>; CONTEXT_FIELDS.len()] = Default::default();
    // The reference's `user` keeps `email`, `userId`, `segmentAnonymousId` in this
    // order, whatever the order of the payload.
    let mut identifiers: [Option<Value>; 3] = [None, None, None];
    let mut spread_value = None;
    for (key, value) in payload {
        if let Some(i) = IDENTIFIERS.iter().position(|k| *k == key) {
            identifiers[i] = Some(value.clone());
        }
        if let Some(i) = CONTEXT_FIELDS.iter().position(|k| *k == key) {
            context[i] = Some((key, value));
        } else if key == spread.field {
            if spread.keep_top_level {
                spread_value = Some(value.clone());
                body.insert(key, value);
            } else {
                spread_value = Some(value);
            }
        } else {
            body.insert(key, value);
        }
    }
    let mut context_map = Map::with_capacity(context.iter().flatten().count());
    for (key, value) in context.into_iter().flatten() {
        context_map.insert(key, value);
    }
    let spread = match spread_value {
        Some(Value::Object(spread)) => spread,
        _ => Map::new(),
    };
    let mut user = Map::with_capacity(spread.len() + IDENTIFIERS.len());
    for (key, value) in IDENTIFIERS.iter().zip(identifiers) {
        // JavaScript keeps the position of a key that the spread overwrites,
        // even one whose first value was `undefined`: the identifiers come first.
        match value {
            Some(value) => {
                user.insert((*key).to_owned(), value);
            }
            None if spread.contains_key(*key) => {
                user.insert((*key).to_owned(), Value::Null);
            }
            None => {}
        }
    }
    for (key, value) in spread {
        user.insert(key, value);
    }
    body.insert("context".to_owned(), Value::Object(context_map));
    body.insert("user".to_owned(), Value::Object(user));
    Value::Object(body)
}
