//! Identify User (`identifyUser`): creates or updates a person from an `identify` event.
//!
//! Unlike track and page, the traits field is called `user`; it is spread into
//! the body's `user` but not sent at the top level. The default `email` is
//! `traits.email`, else `context.traits.email`.

use serde_json::{Map, Value};

use super::fields::{self, Field};
use super::ingest::{self, Spread};
use super::payload::Payload;
use super::{PlannedRequest, Settings};

const USER: Field = Field {
    name: "user",
    label: "User Fields",
    description: "Fields to associate with the user in Encharge. Any unexisting fields will be automatically \
                  created in Encharge.",
    ..fields::PROPERTIES
};

/// The fields, in the reference's order.
pub(super) const FIELDS: &[Field] = &[
    USER,
    fields::EMAIL,
    fields::TYPE,
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
    m.insert("user".to_owned(), fields::path("$.traits"));
    m.insert(
        "email".to_owned(),
        fields::email_if("$.traits.email", "$.context.traits.email"),
    );
    m.insert("type".to_owned(), fields::path("$.type"));
    fields::push_common_defaults(m);
}

pub(super) fn build(payload: &Payload<'_>, settings: &Settings) -> PlannedRequest {
    let body = ingest::event_body(
        payload,
        Spread {
            field: "user",
            keep_top_level: false,
        },
    );
    PlannedRequest::new("POST", settings.ingest_url.clone(), settings, body)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::actions::{Action, Settings, ValidationErrorKind};

    fn body(payload: serde_json::Value) -> Result<serde_json::Value, ValidationErrorKind> {
        let requests = Action::IdentifyUser
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
                json!({"type": "identify"}),
                json!({"type": "identify", "context": {}, "user": {}}),
            ),
            // `user` is spread into `user` only, and overrides the resolved identifiers.
            (
                json!({"type": "identify", "userId": "u", "email": "a@example.com",
                    "user": {"email": "b@example.com", "name": "B", "userId": null}, "groupId": 5}),
                json!({"type": "identify", "userId": "u", "email": "a@example.com", "context": {"groupId": "5"},
                    "user": {"email": "b@example.com", "userId": null, "name": "B"}}),
            ),
        ] {
            assert_eq!(body(payload.clone()), Ok(want), "{payload}");
        }
    }

    #[test]
    fn failures() {
        for (payload, kind) in [
            (json!({"user": {}}), ValidationErrorKind::MissingField),
            (json!({"type": "identify", "user": "x"}), ValidationErrorKind::WrongType),
            (
                json!({"type": "identify", "timestamp": 1709632800}),
                ValidationErrorKind::InvalidDateTime,
            ),
        ] {
            assert_eq!(body(payload.clone()), Err(kind), "{payload}");
        }
    }
}
