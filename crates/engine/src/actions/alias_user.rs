//! Alias User (`aliasUser`): changes a person's User ID.
//!
//! The body is the validated payload plus `type: "alias"`:
//! `{userId, previousUserId, timestamp?, messageId?, type}`.

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value};

use super::fields::{self, Field};
use super::payload::Payload;
use super::{PlannedRequest, Settings, json_body};

/// The fields, in the reference's order.
pub(super) const FIELDS: &[Field] = &[
    Field {
        description: "The new User ID to associate with the user in Encharge.",
        required: true,
        ..fields::USER_ID
    },
    Field {
        name: "previousUserId",
        label: "Previous User ID",
        description: "The previous User ID associated with the user in Encharge.",
        required: true,
        ..fields::USER_ID
    },
    fields::TIMESTAMP,
    fields::MESSAGE_ID,
];

pub(super) fn default_mapping(m: &mut Map<String, Value>) {
    m.insert("userId".to_owned(), fields::path("$.userId"));
    m.insert("previousUserId".to_owned(), fields::path("$.previousId"));
    m.insert("timestamp".to_owned(), fields::path("$.timestamp"));
    m.insert("messageId".to_owned(), fields::path("$.messageId"));
}

pub(super) fn build(payload: &Payload<'_>, settings: &Settings) -> PlannedRequest {
    let body = json_body(&AliasBody(payload));
    PlannedRequest::new("POST", settings.ingest_url.clone(), settings, body)
}

/// `{...payload, type: "alias"}` (`type` is not a field, so it comes last).
struct AliasBody<'b, 'p>(&'b Payload<'p>);

impl Serialize for AliasBody<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut body = serializer.serialize_map(None)?;
        for (key, value) in self.0.iter() {
            body.serialize_entry(key, value)?;
        }
        body.serialize_entry("type", "alias")?;
        body.end()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::actions::{Action, Settings, ValidationErrorKind};

    fn body(payload: serde_json::Value) -> Result<serde_json::Value, ValidationErrorKind> {
        let requests = Action::AliasUser
            .plan(Some(payload), &Settings::new("k"))
            .map_err(|e| e.kind)?;
        assert_eq!(
            (requests.len(), requests[0].method, requests[0].url.as_str()),
            (1, "POST", "https://ingest.encharge.io/v1")
        );
        Ok(requests[0].to_json()["body"].clone())
    }

    #[test]
    fn bodies() {
        for (payload, want) in [
            (
                json!({"userId": "new", "previousUserId": "old"}),
                json!({"userId": "new", "previousUserId": "old", "type": "alias"}),
            ),
            // A mapped `type` is not a field: dropped, then set to "alias".
            (
                json!({"userId": 1, "previousUserId": ["old"], "type": "x", "timestamp": "2024-03-05T10:00:00", "messageId": null}),
                json!({"userId": "1", "previousUserId": "old", "timestamp": "2024-03-05T10:00:00", "type": "alias"}),
            ),
        ] {
            assert_eq!(body(payload.clone()), Ok(want), "{payload}");
        }
    }

    #[test]
    fn failures() {
        for (payload, kind) in [
            (json!({"userId": "new"}), ValidationErrorKind::MissingField),
            (
                json!({"userId": "", "previousUserId": "old"}),
                ValidationErrorKind::MissingField,
            ),
            (
                json!({"userId": ["a", "b"], "previousUserId": "old"}),
                ValidationErrorKind::WrongType,
            ),
            (
                json!({"userId": "a", "previousUserId": "b", "timestamp": "x"}),
                ValidationErrorKind::InvalidDateTime,
            ),
        ] {
            assert_eq!(body(payload.clone()), Err(kind), "{payload}");
        }
    }
}
