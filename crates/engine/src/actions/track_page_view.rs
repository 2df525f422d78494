//! Track Page View (`trackPageView`): a Segment `page` event, posted to the ingest API.
//!
//! Built like trackEvent, without an event name; only `type` is required, so
//! a page view without any user identifier is still sent (as Segment sends it).

use serde_json::{Map, Value};

use super::fields::{self, Field};
use super::ingest::{self, Spread};
use super::payload::Payload;
use super::{PlannedRequest, Settings};

const PROPERTIES: Field = Field {
    label: "Page View Properties",
    description: "Custom properties to send with the pageview. Please note that URL, title, refererrer, path and \
                  search are automatically collected and don't have to be mapped here.",
    ..fields::PROPERTIES
};

/// The fields, in the reference's order.
pub(super) const FIELDS: &[Field] = &[
    PROPERTIES,
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
        let requests = Action::TrackPageView
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
            // No identifier at all: still sent.
            (
                json!({"type": "page", "page": {"url": "https://example.com/", "title": null}}),
                json!({"type": "page", "context": {"page": {"url": "https://example.com/"}}, "user": {}}),
            ),
            (
                json!({"type": "page", "properties": {"name": "Home"}, "userFields": {"segmentAnonymousId": 1},
                    "segmentAnonymousId": "an", "location": {"city": "", "country": ["DE"], "zip": "1"}}),
                json!({"type": "page", "properties": {"name": "Home"}, "userFields": {"segmentAnonymousId": 1},
                    "segmentAnonymousId": "an", "context": {"location": {"city": "", "country": "DE"}},
                    "user": {"segmentAnonymousId": 1}}),
            ),
        ] {
            assert_eq!(body(payload.clone()), Ok(want), "{payload}");
        }
    }

    #[test]
    fn failures() {
        for (payload, kind) in [
            (json!({}), ValidationErrorKind::MissingField),
            (json!({"type": "page", "page": []}), ValidationErrorKind::WrongType),
            (
                json!({"type": "page", "timestamp": "2021-10-16T16:00:27.029:Z"}),
                ValidationErrorKind::InvalidDateTime,
            ),
        ] {
            assert_eq!(body(payload.clone()), Err(kind), "{payload}");
        }
    }
}
