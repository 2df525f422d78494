//! Create or Update Object (`createUpdateObject`): a custom object (by default
//! a company) from a `group` event, optionally associated with a user.
//!
//! The body is `{type: "group", objectType, properties: {...objectData,
//! externalId, id}, user: {email, userId}}`. `externalId` and `id` are set
//! after the spread, so traits of the same names are always replaced, and
//! removed when the fields are unset. The default `email` is the event's
//! top-level `email`, not `traits.email` (which ends up in `properties`).

use serde_json::{Map, Value, json};

use super::fields::{self, Field};
use super::{PlannedRequest, Settings};

/// The fields, in the reference's order.
pub(super) const FIELDS: &[Field] = &[
    Field {
        name: "objectType",
        label: "Object Type",
        description: "The type of Encharge object to create or update.",
        required: true,
        ..fields::USER_ID
    },
    Field {
        name: "externalId",
        label: "External Object ID",
        description: "An ID from your app/database that is used to uniquely identify the object in Encharge.",
        ..fields::USER_ID
    },
    Field {
        name: "id",
        label: "Object ID",
        description: "The Encharge ID of the object. Usually, you want to omit this and use External ID.",
        ..fields::USER_ID
    },
    Field {
        name: "objectData",
        label: "Object Fields",
        description: "Data for the object fields in Encharge. Any unexisting fields will be ignored.",
        ..fields::PROPERTIES
    },
    Field {
        description: "The User ID of the user to associate with the object. If no email or user ID is provided, no \
                      user will be created and associated.",
        ..fields::USER_ID
    },
    Field {
        description: "The email of the user to associate with the object. If no email or user ID is provided, no \
                      user will be created and associated.",
        ..fields::EMAIL
    },
];

pub(super) fn default_mapping(m: &mut Map<String, Value>) {
    m.insert("objectType".to_owned(), json!("company"));
    m.insert("externalId".to_owned(), fields::path("$.groupId"));
    m.insert("objectData".to_owned(), fields::path("$.traits"));
    m.insert("userId".to_owned(), fields::path("$.userId"));
    m.insert("email".to_owned(), fields::path("$.email"));
}

pub(super) fn build(payload: Map<String, Value>, settings: &Settings) -> PlannedRequest {
    let (mut object_type, mut external_id, mut id, mut object_data) = (None, None, None, None);
    let (mut email, mut user_id) = (None, None);
    for (key, value) in payload {
        match key.as_str() {
            "objectType" => object_type = Some(value),
            "externalId" => external_id = Some(value),
            "id" => id = Some(value),
            "objectData" => object_data = Some(value),
            "email" => email = Some((key, value)),
            _ => user_id = Some((key, value)),
        }
    }
    // `{email, userId}`, in this order whatever the payload's.
    let user: Map<String, Value> = [email, user_id].into_iter().flatten().collect();
    let mut properties = match object_data {
        Some(Value::Object(data)) => data,
        _ => Map::new(),
    };
    for (key, value) in [("externalId", external_id), ("id", id)] {
        match value {
            Some(value) => {
                properties.insert(key.to_owned(), value);
            }
            // `{...objectData, externalId: undefined}`: the trait is gone from the JSON.
            None => {
                properties.shift_remove(key);
            }
        }
    }
    let mut body = Map::with_capacity(4);
    body.insert("type".to_owned(), json!("group"));
    if let Some(object_type) = object_type {
        body.insert("objectType".to_owned(), object_type);
    }
    body.insert("properties".to_owned(), Value::Object(properties));
    body.insert("user".to_owned(), Value::Object(user));
    PlannedRequest::new("POST", settings.ingest_url.clone(), settings, Some(Value::Object(body)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use crate::actions::{Action, Settings, ValidationErrorKind};

    fn body(payload: serde_json::Value) -> Result<serde_json::Value, ValidationErrorKind> {
        let requests = Action::CreateUpdateObject
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
                json!({"objectType": "company"}),
                json!({"type": "group", "objectType": "company", "properties": {}, "user": {}}),
            ),
            // externalId and id replace the traits of the same names, or remove them when unset.
            (
                json!({"objectType": "company", "externalId": "g1", "objectData": {"externalId": "t", "id": "t", "name": "Acme"},
                    "userId": "u", "email": "a@example.com", "timestamp": "2024-03-05T10:00:00Z"}),
                json!({"type": "group", "objectType": "company", "properties": {"externalId": "g1", "name": "Acme"},
                    "user": {"userId": "u", "email": "a@example.com"}}),
            ),
            (
                json!({"objectType": "c", "id": 5, "objectData": {"id": "x", "externalId": "y", "z": 1}}),
                json!({"type": "group", "objectType": "c", "properties": {"id": "5", "z": 1}, "user": {}}),
            ),
        ] {
            assert_eq!(body(payload.clone()), Ok(want), "{payload}");
        }
    }

    #[test]
    fn failures() {
        for (payload, kind) in [
            (json!({"objectType": ""}), ValidationErrorKind::MissingField),
            (
                json!({"objectType": "c", "objectData": ["x"]}),
                ValidationErrorKind::WrongType,
            ),
        ] {
            assert_eq!(body(payload.clone()), Err(kind), "{payload}");
        }
    }
}
