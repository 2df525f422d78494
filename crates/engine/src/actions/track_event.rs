//! Track Event (`trackEvent`): a Segment `track` event, posted to the ingest API.
//!
//! The body is the payload with the context fields moved into `context` and
//! `userFields` kept at the top level and also spread into `user` (see `ingest.rs`).

use serde_json::{Map, Value};

use super::fields::{self, Field};
use super::ingest::{self, Spread};
use super::payload::Payload;
use super::{PlannedRequest, Settings};

const EVENT: Field = Field {
    name: "event",
    label: "Event Name",
    description: "The name of the event.",
    ty: fields::FieldType::String,
    required: true,
    allow_null: false,
    format_date_time: false,
    properties: &[],
};

/// The fields, in the reference's order.
pub(super) const FIELDS: &[Field] = &[
    EVENT,
    fields::PROPERTIES,
    fields::USER_FIELDS,
    fields::TYPE,
    fields::EMAIL,
    fields::SEGMENT_ANONYMOUS_ID,
    fields::USER_ID,
    fields::GROUP_ID,
    fields::TIMESTAMP,
    fields::MESSAGE_ID,
    fields::IP,
    fields::USER_AGENT,
    fields::CAMPAIGN,
    fields::PAGE,
    fields::LOCATION,
];

pub(super) fn default_mapping(m: &mut Map<String, Value>) {
    m.insert("event".to_owned(), fields::path("$.event"));
    m.insert("properties".to_owned(), fields::path("$.properties"));
    m.insert("userFields".to_owned(), fields::path("$.context.traits"));
    m.insert("type".to_owned(), fields::path("$.type"));
    m.insert(
        "email".to_owned(),
        fields::email_if("$.context.traits.email", "$.properties.email"),
    );
    fields::push_common_defaults(m);
}

pub(super) fn build(payload: &Payload<'_>, settings: &Settings) -> PlannedRequest {
    let body = ingest::event_body(
        payload,
        Spread {
            field: "userFields",
            keep_top_level: true,
        },
    );
    PlannedRequest::new("POST", settings.ingest_url.clone(), settings, body)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::actions::{Action, Settings, ValidationErrorKind};

    fn body(payload: serde_json::Value) -> Result<serde_json::Value, ValidationErrorKind> {
        let requests = Action::TrackEvent
            .plan(Some(payload), &Settings::new("k"))
            .map_err(|e| e.kind)?;
        assert_eq!((requests.len(), requests[0].method), (1, "POST"));
        assert_eq!(requests[0].url, "https://ingest.encharge.io/v1");
        Ok(requests[0].to_json()["body"].clone())
    }

    #[test]
    fn bodies() {
        for (payload, want) in [
            (
                json!({"event": "Signup", "type": "track", "campaign": {}, "page": {}, "location": {}}),
                json!({"event": "Signup", "type": "track", "context": {"campaign": {}, "page": {}, "location": {}}, "user": {}}),
            ),
            // Context fields move into `context`; identifiers are copied into `user`.
            (
                json!({"event": "E", "type": "track", "ip": "192.0.2.1", "groupId": "g", "userAgent": "UA",
                       "email": "a@example.com", "userId": "u", "segmentAnonymousId": "an", "messageId": "m",
                       "timestamp": "2024-03-05T10:00:00Z", "properties": {"x": 1}}),
                json!({"event": "E", "type": "track", "email": "a@example.com", "userId": "u", "segmentAnonymousId": "an",
                       "messageId": "m", "timestamp": "2024-03-05T10:00:00Z", "properties": {"x": 1},
                       "context": {"ip": "192.0.2.1", "userAgent": "UA", "groupId": "g"},
                       "user": {"email": "a@example.com", "userId": "u", "segmentAnonymousId": "an"}}),
            ),
            // userFields stays at the top level and is spread last into `user`: its values win, null too.
            (
                json!({"event": "E", "type": "track", "email": "p@example.com", "userId": 7,
                       "userFields": {"email": null, "userId": 8, "plan": "pro"}}),
                json!({"event": "E", "type": "track", "email": "p@example.com", "userId": "7",
                       "userFields": {"email": null, "userId": 8, "plan": "pro"}, "context": {},
                       "user": {"email": null, "userId": 8, "plan": "pro"}}),
            ),
            // Unknown fields (`user`, `context`) are dropped before the body is built.
            (
                json!({"event": "E", "type": "track", "user": {"a": 1}, "context": {"ip": "x"}}),
                json!({"event": "E", "type": "track", "context": {}, "user": {}}),
            ),
        ] {
            assert_eq!(body(payload.clone()), Ok(want), "{payload}");
        }
    }

    #[test]
    fn failures() {
        for (payload, kind) in [
            (json!({"type": "track"}), ValidationErrorKind::MissingField),
            (json!({"event": "", "type": "track"}), ValidationErrorKind::MissingField),
            (
                json!({"event": "E", "type": "track", "properties": "x"}),
                ValidationErrorKind::WrongType,
            ),
            (
                json!({"event": "E", "type": "track", "userFields": []}),
                ValidationErrorKind::WrongType,
            ),
            (
                json!({"event": "E", "type": "track", "timestamp": "2024-03-05"}),
                ValidationErrorKind::InvalidDateTime,
            ),
        ] {
            assert_eq!(body(payload.clone()), Err(kind), "{payload}");
        }
    }
}
