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

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::value::RawValue;

use super::fields::CONTEXT_FIELDS;
use super::json_body;
use super::payload::{Payload, View};

/// Where the action's user object comes from.
#[derive(Debug, Clone, Copy)]
pub(super) struct Spread {
    /// The payload field spread into `user`: `userFields` or `user`.
    pub field: &'static str,
    /// Whether that field is also sent at the top level (`userFields` is, identify's `user` is not).
    pub keep_top_level: bool,
}

const IDENTIFIERS: [&str; 3] = ["email", "userId", "segmentAnonymousId"];

/// Writes the ingest body of a validated payload.
pub(super) fn event_body(payload: &Payload<'_>, spread: Spread) -> Option<Box<RawValue>> {
    json_body(&EventBody { payload, spread })
}

struct EventBody<'b, 'p> {
    payload: &'b Payload<'p>,
    spread: Spread,
}

impl Serialize for EventBody<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut body = serializer.serialize_map(None)?;
        for (key, value) in self.payload.iter() {
            let moved = CONTEXT_FIELDS.contains(&key) || (key == self.spread.field && !self.spread.keep_top_level);
            if !moved {
                body.serialize_entry(key, value)?;
            }
        }
        // `pick` lists the context fields in its own order, whatever the payload's.
        body.serialize_entry("context", &self.payload.pick(&CONTEXT_FIELDS))?;
        body.serialize_entry("user", &User(self))?;
        body.end()
    }
}

/// `{email, userId, segmentAnonymousId, ...spread}`.
struct User<'b, 'c, 'p>(&'c EventBody<'b, 'p>);

impl Serialize for User<'_, '_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let payload = self.0.payload;
        // After validation the spread field is an object, if it is set.
        let spread = payload.get(self.0.spread.field).and_then(|s| s.members());
        // The spread's values of the identifiers, which replace the payload's.
        let mut overrides: [Option<View<'_>>; 3] = [None; 3];
        if let Some(members) = spread.clone() {
            for (key, value) in members {
                if let Some(i) = IDENTIFIERS.iter().position(|k| *k == key) {
                    overrides[i] = Some(value);
                }
            }
        }
        let mut user = serializer.serialize_map(None)?;
        // The reference's `user` keeps `email`, `userId`, `segmentAnonymousId` in this
        // order, whatever the order of the payload. JavaScript keeps the position of
        // a key that the spread overwrites, even one whose first value was `undefined`.
        for (key, value) in IDENTIFIERS.iter().zip(overrides) {
            match value {
                Some(value) => user.serialize_entry(key, &value)?,
                None => {
                    if let Some(value) = payload.get(key) {
                        user.serialize_entry(key, value)?;
                    }
                }
            }
        }
        for (key, value) in spread.into_iter().flatten() {
            if !IDENTIFIERS.contains(&key) {
                user.serialize_entry(key, &value)?;
            }
        }
        user.end()
    }
}
