//! Tag User (`addTag`): adds a tag through the REST API (`POST {api_url}/v1/tags`).
//!
//! The tag actions do not use the ingest API, and their body is the validated
//! payload as is: `{tag, email?, userId?, segmentAnonymousId?}`, with `tag`
//! kept as one string (commas are not split). They have no Segment preset,
//! and their default `email` is `context.traits.email`, else `properties.email`
//! (an identify's `traits.email` is not used).

use serde_json::{Map, Value};

use super::fields::{self, Field};
use super::{PlannedRequest, Settings, ValidationError, ValidationErrorKind};

/// The fields, in the reference's order.
pub(super) const FIELDS: &[Field] = &[
    Field {
        name: "tag",
        label: "Tag",
        description: "The tags to add, separated by commas.",
        required: true,
        ..fields::USER_ID
    },
    fields::EMAIL,
    fields::USER_ID,
    fields::SEGMENT_ANONYMOUS_ID,
];

/// The default mapping of both tag actions.
pub(super) fn default_mapping(m: &mut Map<String, Value>) {
    m.insert("tag".to_owned(), fields::path("$.traits.tag"));
    m.insert(
        "email".to_owned(),
        fields::email_if("$.context.traits.email", "$.properties.email"),
    );
    m.insert("userId".to_owned(), fields::path("$.userId"));
    m.insert("segmentAnonymousId".to_owned(), fields::path("$.anonymousId"));
}

pub(super) fn build(payload: Map<String, Value>, settings: &Settings) -> Result<PlannedRequest, ValidationError> {
    request("POST", payload, settings)
}

/// The request of both tag actions, after the reference's checks in `perform`.
pub(super) fn request(
    method: &'static str,
    payload: Map<String, Value>,
    settings: &Settings,
) -> Result<PlannedRequest, ValidationError> {
    // After validation these are strings, but `[""]` or `[null]` still became `""`.
    let non_empty = |key: &str| payload.get(key).and_then(Value::as_str).is_some_and(|s| !s.is_empty());
    if !["email", "userId", "segmentAnonymousId"].into_iter().any(non_empty) {
        return Err(ValidationError::new(
            None,
            ValidationErrorKind::NoIdentifier,
            "no user identified: map at least one of \"email\", \"userId\" or \"segmentAnonymousId\" \
             to a non-empty value"
                .to_owned(),
        ));
    }
    if !non_empty("tag") {
        return Err(ValidationError::new(
            Some("tag"),
            ValidationErrorKind::MissingField,
            "is required, but the mapping gave an empty tag".to_owned(),
        ));
    }
    Ok(PlannedRequest::new(
        method,
        settings.api("/v1/tags"),
        settings,
        Some(Value::Object(payload)),
    ))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::actions::{Action, Settings, ValidationErrorKind};

    fn body(payload: serde_json::Value) -> Result<serde_json::Value, ValidationErrorKind> {
        let requests = Action::AddTag
            .plan(Some(payload), &Settings::new("k"))
            .map_err(|e| e.kind)?;
        assert_eq!(
            (requests.len(), requests[0].method, requests[0].url.as_str()),
            (1, "POST", "https://api.encharge.io/v1/tags")
        );
        Ok(requests[0].body.clone().unwrap())
    }

    #[test]
    fn bodies() {
        for (payload, want) in [
            (
                json!({"tag": "vip,trial", "userId": "u"}),
                json!({"tag": "vip,trial", "userId": "u"}),
            ),
            (
                json!({"tag": [5], "userId": true, "email": 1.5, "foo": null}),
                json!({"tag": "5", "userId": "true", "email": "1.5"}),
            ),
            (
                json!({"segmentAnonymousId": "a", "tag": "t", "email": null}),
                json!({"segmentAnonymousId": "a", "tag": "t"}),
            ),
        ] {
            assert_eq!(body(payload.clone()), Ok(want), "{payload}");
        }
    }

    #[test]
    fn failures() {
        for (payload, kind) in [
            (json!({"tag": "t"}), ValidationErrorKind::NoIdentifier),
            (
                json!({"tag": "t", "email": "", "userId": null}),
                ValidationErrorKind::NoIdentifier,
            ),
            (json!({"tag": "t", "userId": [null]}), ValidationErrorKind::NoIdentifier),
            (json!({"userId": "u"}), ValidationErrorKind::MissingField),
            (json!({"tag": "", "userId": "u"}), ValidationErrorKind::MissingField),
            (json!({"tag": [""], "userId": "u"}), ValidationErrorKind::MissingField),
            (
                json!({"tag": ["a", "b"], "userId": "u"}),
                ValidationErrorKind::WrongType,
            ),
        ] {
            assert_eq!(body(payload.clone()), Err(kind), "{payload}");
        }
    }
}
