//! Alias User (`aliasUser`): changes a person's User ID.
//!
//! The body is the validated payload plus `type: "alias"`:
//! `{userId, previousUserId, timestamp?, messageId?, type}`.

use serde_json::{Map, Value};

use super::fields::{self, Field};
use super::{PlannedRequest, Settings};

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

pub(super) fn build(mut payload: Map<String, Value>, settings: &Settings) -> PlannedRequest {
    payload.insert("type".to_owned(), Value::String("alias".to_owned()));
    PlannedRequest::new(
        "POST",
        settings.ingest_url.clone(),
        settings,
        Some(Value::Object(payload)),
    )
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
        Ok(requests[0].body.clone().unwrap())
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
