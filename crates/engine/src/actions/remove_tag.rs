//! Untag User (`removeTag`): removes a tag through the REST API, a `DELETE
//! {api_url}/v1/tags` with a JSON body; otherwise the same as Tag User.

use super::fields::Field;
use super::payload::Payload;
use super::{PlannedRequest, Settings, ValidationError, add_tag};

/// The fields, in the reference's order.
pub(super) const FIELDS: &[Field] = &[
    Field {
        description: "The tags to remove, separated by commas.",
        ..add_tag::FIELDS[0]
    },
    add_tag::FIELDS[1],
    add_tag::FIELDS[2],
    add_tag::FIELDS[3],
];

pub(super) fn build(payload: &Payload<'_>, settings: &Settings) -> Result<PlannedRequest, ValidationError> {
    add_tag::request("DELETE", payload, settings)
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::actions::{Action, Settings, ValidationErrorKind};

    #[test]
    fn deletes_with_a_json_body() {
        let requests = Action::RemoveTag.plan(Some(json!({"tag": "t", "email": "a@example.com"})), &Settings::new("k"));
        let request = &requests.unwrap()[0];
        assert_eq!(
            (request.method, request.url.as_str()),
            ("DELETE", "https://api.encharge.io/v1/tags")
        );
        assert_eq!(request.to_json()["body"], json!({"tag": "t", "email": "a@example.com"}));
        assert_eq!(request.headers[1], ("content-type", "application/json".to_owned()));
    }

    #[test]
    fn failures() {
        for (payload, kind) in [
            (json!({"tag": "t"}), ValidationErrorKind::NoIdentifier),
            (json!({"email": "a@example.com"}), ValidationErrorKind::MissingField),
            (
                json!({"tag": ["a", "b"], "email": "a@example.com"}),
                ValidationErrorKind::WrongType,
            ),
        ] {
            let err = Action::RemoveTag
                .plan(Some(payload.clone()), &Settings::new("k"))
                .err()
                .map(|e| e.kind);
            assert_eq!(err, Some(kind), "{payload}");
        }
    }
}
