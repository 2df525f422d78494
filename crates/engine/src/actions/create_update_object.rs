//! Create or Update Object (`createUpdateObject`): a custom object (by default
//! a company) from a `group` event, optionally associated with a user.
//!
//! The body is `{type: "group", objectType, properties: {...objectData,
//! externalId, id}, user: {email, userId}}`. `externalId` and `id` are set
//! after the spread, so traits of the same names are always replaced, and
//! removed when the fields are unset. The default `email` is the event's
//! top-level `email`, not `traits.email` (which ends up in `properties`).

use serde::ser::{Serialize, SerializeMap, Serializer};
use serde_json::{Map, Value, json};

use super::fields::{self, Field};
use super::payload::Payload;
use super::{PlannedRequest, Settings, json_body};

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

pub(super) fn build(payload: &Payload<'_>, settings: &Settings) -> PlannedRequest {
    let body = json_body(&ObjectBody(payload));
    PlannedRequest::new("POST", settings.ingest_url.clone(), settings, body)
}

/// `{type: "group", objectType, properties: {...objectData, externalId, id}, user: {email, userId}}`.
struct ObjectBody<'b, 'p>(&'b Payload<'p>);

impl Serialize for ObjectBody<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let payload = self.0;
        let mut body = serializer.serialize_map(None)?;
        body.serialize_entry("type", "group")?;
        if let Some(object_type) = payload.get("objectType") {
            body.serialize_entry("objectType", object_type)?;
        }
        body.serialize_entry("properties", &Properties(payload))?;
        // `{email, userId}`, in this order whatever the payload's.
        body.serialize_entry("user", &payload.pick(&["email", "userId"]))?;
        body.end()
    }
}

/// `{...objectData, externalId, id}`.
struct Properties<'b, 'p>(&'b Payload<'p>);

impl Serialize for Properties<'_, '_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let payload = self.0;
        let ids = ["externalId", "id"].map(|key| (key, payload.get(key)));
        let data = payload.get("objectData").and_then(|d| d.members());
        let mut properties = serializer.serialize_map(None)?;
        for (key, value) in data.clone().into_iter().flatten() {
            match ids.iter().find(|(id, _)| *id == key) {
                Some((_, Some(id))) => properties.serialize_entry(key, id)?,
                // `{...objectData, externalId: undefined}`: the trait is gone from the JSON.
                Some((_, None)) => {}
                None => properties.serialize_entry(key, &value)?,
            }
        }
        for (key, value) in ids {
            let in_data = || data.clone().into_iter().flatten().any(|(k, _)| k == key);
            if let Some(value) = value
                && !in_data()
            {
                properties.serialize_entry(key, value)?;
            }
        }
        properties.end()
    }
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
        Ok(requests[0].to_json()["body"].clone())
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
