//! The seven Encharge actions: their fields, default mappings, payload
//! validation and the HTTP request each one builds, plus the user-deletion request.
//!
//! Everything here follows Segment's "Encharge (Actions)" destination
//! (`@segment/action-destinations` 3.497.0), quirks included, because users
//! bring their mappings over from Segment and expect the same requests. A
//! mapped payload goes through [`Action::plan`]: cleaning and validation
//! (`payload.rs`), then the body the action builds (one file per action).
//! Static data (field tables) is `const`; nothing is parsed or built per event
//! except the request itself.

mod add_tag;
mod alias_user;
mod create_update_object;
mod delete;
mod fields;
mod identify_user;
mod ingest;
mod payload;
mod remove_tag;
mod track_event;
mod track_page_view;

use std::borrow::Cow;

use serde_json::value::RawValue;
use serde_json::{Map, Value};

pub use delete::plan_delete;
pub use fields::{Field, FieldType};
pub use payload::{ValidationError, ValidationErrorKind, is_date_time};

use self::payload::Payload;
use crate::mapping::Mapped;

// Payload validation tracks present fields as bits of a `u64`.
const _: () = {
    let tables = [
        track_event::FIELDS,
        identify_user::FIELDS,
        track_page_view::FIELDS,
        alias_user::FIELDS,
        create_update_object::FIELDS,
        add_tag::FIELDS,
        remove_tag::FIELDS,
    ];
    let mut i = 0;
    while i < tables.len() {
        assert!(tables[i].len() <= 64);
        i += 1;
    }
};

/// One of the seven Encharge actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Track Event: a Segment `track` event, sent to the ingest API.
    TrackEvent,
    /// Identify User: creates or updates a person from an `identify` event.
    IdentifyUser,
    /// Track Page View: a `page` event.
    TrackPageView,
    /// Alias User: changes a person's User ID.
    AliasUser,
    /// Create or Update Object: a custom object (by default a company) from a `group` event.
    CreateUpdateObject,
    /// Tag User: adds a tag through the REST API.
    AddTag,
    /// Untag User: removes a tag through the REST API.
    RemoveTag,
}

impl Action {
    /// Every action, in the reference's order.
    pub const ALL: [Action; 7] = [
        Action::TrackEvent,
        Action::IdentifyUser,
        Action::TrackPageView,
        Action::AliasUser,
        Action::CreateUpdateObject,
        Action::AddTag,
        Action::RemoveTag,
    ];

    /// The name used in config files, e.g. `trackEvent`.
    pub fn name(self) -> &'static str {
        match self {
            Action::TrackEvent => "trackEvent",
            Action::IdentifyUser => "identifyUser",
            Action::TrackPageView => "trackPageView",
            Action::AliasUser => "aliasUser",
            Action::CreateUpdateObject => "createUpdateObject",
            Action::AddTag => "addTag",
            Action::RemoveTag => "removeTag",
        }
    }

    /// Looks an action up by its config name (case-sensitive, as Segment's).
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Segment's title of the action, e.g. `Track Event`, `Tag User`.
    pub fn title(self) -> &'static str {
        match self {
            Action::TrackEvent => "Track Event",
            Action::IdentifyUser => "Identify User",
            Action::TrackPageView => "Track Page View",
            Action::AliasUser => "Alias User",
            Action::CreateUpdateObject => "Create or Update Object",
            Action::AddTag => "Tag User",
            Action::RemoveTag => "Untag User",
        }
    }

    /// Segment's description of the action.
    pub fn description(self) -> &'static str {
        match self {
            Action::TrackEvent => "Track an event in Encharge for a known or anonymous person.",
            Action::IdentifyUser => {
                "Identify a user in Encharge. This will create a new user if the user does not exist in Encharge."
            }
            Action::TrackPageView => "Track a website page visit.",
            Action::AliasUser => "Change the User ID of an user.",
            Action::CreateUpdateObject => {
                "Create or Update a Custom Object (including Companies) in Encharge. If an email or a user ID is \
                 provided, an Encharge user will be associated with the object. A new user will be created if the \
                 email or user ID does not exist in Encharge."
            }
            Action::AddTag => "Add a tag to a user in Encharge.",
            Action::RemoveTag => "Remove tags from a user in Encharge.",
        }
    }

    /// The trigger of Segment's preset for this action; the tag actions have no preset.
    pub fn preset_trigger(self) -> Option<&'static str> {
        match self {
            Action::TrackEvent => Some(r#"type = "track""#),
            Action::IdentifyUser => Some(r#"type = "identify""#),
            Action::TrackPageView => Some(r#"type = "page""#),
            Action::AliasUser => Some(r#"type = "alias""#),
            Action::CreateUpdateObject => Some(r#"type = "group""#),
            Action::AddTag | Action::RemoveTag => None,
        }
    }

    /// The action's fields, in the reference's order.
    pub fn fields(self) -> &'static [Field] {
        match self {
            Action::TrackEvent => track_event::FIELDS,
            Action::IdentifyUser => identify_user::FIELDS,
            Action::TrackPageView => track_page_view::FIELDS,
            Action::AliasUser => alias_user::FIELDS,
            Action::CreateUpdateObject => create_update_object::FIELDS,
            Action::AddTag => add_tag::FIELDS,
            Action::RemoveTag => remove_tag::FIELDS,
        }
    }

    /// The field called `name`, if the action has one.
    pub fn field(self, name: &str) -> Option<&'static Field> {
        fields::find(self.fields(), name)
    }

    /// The action's default mapping, as Segment's presets use it (each field's
    /// `default`). Built on each call: call it once, when loading config.
    pub fn default_mapping(self) -> Value {
        let mut mapping = Map::new();
        match self {
            Action::TrackEvent => track_event::default_mapping(&mut mapping),
            Action::IdentifyUser => identify_user::default_mapping(&mut mapping),
            Action::TrackPageView => track_page_view::default_mapping(&mut mapping),
            Action::AliasUser => alias_user::default_mapping(&mut mapping),
            Action::CreateUpdateObject => create_update_object::default_mapping(&mut mapping),
            Action::AddTag | Action::RemoveTag => add_tag::default_mapping(&mut mapping),
        }
        Value::Object(mapping)
    }

    /// Builds the request for a mapped payload given as JSON (`None`: the mapping
    /// resolved to undefined).
    ///
    /// The payload is cleaned, coerced and validated as Segment does, then
    /// turned into the action's request. Use [`Action::plan_event`] when the
    /// event is at hand: it also applies Segment's failure on `"context": null`.
    pub fn plan(self, payload: Option<Value>, settings: &Settings) -> Result<Vec<PlannedRequest>, ValidationError> {
        let payload = payload.map_or(Mapped::Undef, Mapped::Val);
        let payload = payload::validate(self.fields(), &payload)?;
        Ok(vec![self.build(&payload, settings)?])
    }

    /// [`Action::plan`] for a payload mapped from `event` by
    /// [`Mapping::eval_borrowed`](crate::mapping::Mapping::eval_borrowed): nothing
    /// is copied from the event, the body is written straight from it.
    ///
    /// Segment fails every event whose `context` is `null` (after validating
    /// the payload, before sending), so such an event is a
    /// [`ValidationErrorKind::ContextNull`] error here too.
    pub fn plan_event(
        self,
        event: &Value,
        payload: &Mapped<'_>,
        settings: &Settings,
    ) -> Result<Vec<PlannedRequest>, ValidationError> {
        let payload = payload::validate(self.fields(), payload)?;
        if event.get("context").is_some_and(Value::is_null) {
            return Err(ValidationError::new(
                None,
                ValidationErrorKind::ContextNull,
                "the event's \"context\" is null; Segment fails such events, so it is not sent \
                 (leave \"context\" out or make it an object)"
                    .to_owned(),
            ));
        }
        Ok(vec![self.build(&payload, settings)?])
    }

    fn build(self, payload: &Payload<'_>, settings: &Settings) -> Result<PlannedRequest, ValidationError> {
        match self {
            Action::TrackEvent => Ok(track_event::build(payload, settings)),
            Action::IdentifyUser => Ok(identify_user::build(payload, settings)),
            Action::TrackPageView => Ok(track_page_view::build(payload, settings)),
            Action::AliasUser => Ok(alias_user::build(payload, settings)),
            Action::CreateUpdateObject => Ok(create_update_object::build(payload, settings)),
            Action::AddTag => add_tag::build(payload, settings),
            Action::RemoveTag => remove_tag::build(payload, settings),
        }
    }
}

/// A secret string (the API key, a write key) whose `Debug` prints `***`, so that it never
/// reaches logs, errors or dead letters by accident.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(secret: impl Into<String>) -> Secret {
        Secret(secret.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("***")
    }
}

/// Where and with which key requests go, and which write keys `serve` accepts.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The Encharge API key, sent as `X-Encharge-Token`.
    pub api_key: Secret,
    /// The ingest API endpoint; events are posted to it as is.
    pub ingest_url: String,
    /// Base of the REST API (tags, people, accounts, schemas), without `/v1`.
    pub api_url: String,
    /// Write keys the ingest server accepts from Segment clients, besides those of its command
    /// line (`settings.write_keys`, `${VAR}` expanded). Planning does not use them.
    pub write_keys: Vec<Secret>,
}

/// Encharge's ingest endpoint.
pub const INGEST_URL: &str = "https://ingest.encharge.io/v1";
/// Encharge's REST API base.
pub const API_URL: &str = "https://api.encharge.io";

impl Settings {
    /// Settings with the given key and Encharge's public endpoints ([`INGEST_URL`], [`API_URL`]).
    pub fn new(api_key: impl Into<String>) -> Settings {
        Settings {
            api_key: Secret::new(api_key),
            ingest_url: INGEST_URL.to_owned(),
            api_url: API_URL.to_owned(),
            write_keys: Vec::new(),
        }
    }

    /// `{api_url}{path}`, without doubling the slash when `api_url` ends with one.
    pub fn api(&self, path: &str) -> String {
        let base = self.api_url.strip_suffix('/').unwrap_or(&self.api_url);
        let mut url = String::with_capacity(base.len() + path.len());
        url.push_str(base);
        url.push_str(path);
        url
    }
}

/// The header that carries the API key.
pub const TOKEN_HEADER: &str = "x-encharge-token";
const CONTENT_TYPE: &str = "content-type";
const JSON: &str = "application/json";

/// An HTTP request ready to send.
///
/// `Debug` masks the API key header.
#[derive(Clone)]
pub struct PlannedRequest {
    /// Upper-case HTTP method.
    pub method: &'static str,
    /// Full URL.
    pub url: String,
    /// Header names (lower case) and values: `x-encharge-token` and `content-type`.
    pub headers: Vec<(&'static str, String)>,
    /// The JSON body as it goes on the wire (compact), if any. It serializes as
    /// the JSON it holds; [`PlannedRequest::to_json`] parses it back.
    pub body: Option<Box<RawValue>>,
}

impl PartialEq for PlannedRequest {
    fn eq(&self, other: &PlannedRequest) -> bool {
        self.method == other.method
            && self.url == other.url
            && self.headers == other.headers
            && self.body.as_deref().map(RawValue::get) == other.body.as_deref().map(RawValue::get)
    }
}

impl PlannedRequest {
    /// A request with the headers every Encharge request carries. Segment's own
    /// `user-agent` and `x-segment-actions` are left out on purpose. The bodiless
    /// DELETE of a user deletion also declares a JSON content type, as Segment's does.
    pub(crate) fn new(
        method: &'static str,
        url: String,
        settings: &Settings,
        body: Option<Box<RawValue>>,
    ) -> PlannedRequest {
        PlannedRequest {
            method,
            url,
            headers: vec![
                (TOKEN_HEADER, settings.api_key.expose().to_owned()),
                (CONTENT_TYPE, JSON.to_owned()),
            ],
            body,
        }
    }

    /// The request as `{"method", "url", "headers", "body"}`, the format of `eval` and the corpus.
    ///
    /// The body is parsed back from its bytes: this is for tools and tests, not for every event.
    pub fn to_json(&self) -> Value {
        let headers: Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
            .collect();
        serde_json::json!({ "method": self.method, "url": self.url, "headers": headers, "body": self.body_json() })
    }

    /// The body parsed back into a value: for tools and tests, not for every event.
    pub fn body_json(&self) -> Option<Value> {
        // The body was written from JSON by `json_body`, so it parses.
        self.body
            .as_deref()
            .and_then(|b| serde_json::from_str::<Value>(b.get()).ok())
    }

    /// The body as it goes on the wire (compact JSON); empty when there is none.
    pub fn body_bytes(&self) -> &[u8] {
        self.body.as_deref().map_or(&[], |b| b.get().as_bytes())
    }
}

/// A request body: `body` written as compact JSON.
fn json_body(body: &impl serde::Serialize) -> Option<Box<RawValue>> {
    // Writing JSON into memory cannot fail: every key is a string.
    serde_json::value::to_raw_value(body).ok()
}

impl std::fmt::Debug for PlannedRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let headers: Vec<(&str, Cow<'_, str>)> = self
            .headers
            .iter()
            .map(|(k, v)| {
                (
                    *k,
                    if *k == TOKEN_HEADER {
                        Cow::Borrowed("***")
                    } else {
                        Cow::Borrowed(v.as_str())
                    },
                )
            })
            .collect();
        f.debug_struct("PlannedRequest")
            .field("method", &self.method)
            .field("url", &self.url)
            .field("headers", &headers)
            .field("body", &self.body)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn reference() -> Value {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../tests/conformance/default-mappings.json"
        );
        serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap()
    }

    #[test]
    fn definitions_match_the_reference() {
        let reference = reference();
        for action in Action::ALL {
            let want = &reference[action.name()];
            assert_eq!(Action::from_name(action.name()), Some(action));
            assert_eq!(want["title"], action.title(), "{action:?}");
            assert_eq!(want["presetSubscription"], json!(action.preset_trigger()), "{action:?}");
            // Same keys in the same order: presets.yaml and docs list them as Segment does.
            assert_eq!(
                want["mapping"].to_string(),
                action.default_mapping().to_string(),
                "{action:?}"
            );
            let names: Vec<&str> = action.fields().iter().map(|f| f.name).collect();
            let want_names: Vec<&str> = want["fields"].as_object().unwrap().keys().map(String::as_str).collect();
            assert_eq!(names, want_names, "{action:?}");
            let required: Vec<&str> = action.fields().iter().filter(|f| f.required).map(|f| f.name).collect();
            assert_eq!(json!(required), want["requiredFields"], "{action:?}");
            for field in action.fields() {
                let spec = &want["fields"][field.name];
                assert_eq!(spec["type"], field.ty.json_type(), "{action:?}.{}", field.name);
                assert_eq!(
                    spec["format"].as_str() == Some("date-time"),
                    field.format_date_time,
                    "{}",
                    field.name
                );
                assert_eq!(
                    spec["allowNull"].as_bool().unwrap_or(false),
                    field.allow_null,
                    "{}",
                    field.name
                );
                let members: Map<String, Value> = field
                    .properties
                    .iter()
                    .map(|(k, t)| ((*k).to_owned(), json!(t.json_type())))
                    .collect();
                assert_eq!(
                    spec.get("properties").cloned().unwrap_or(json!({})),
                    Value::Object(members)
                );
                assert!(!field.description.is_empty() && !field.label.is_empty());
                assert_eq!(action.field(field.name), Some(field));
            }
        }
        assert_eq!(Action::from_name("TrackEvent"), None);
    }

    #[test]
    fn the_key_never_shows_in_debug() {
        let settings = Settings::new("sk-very-secret");
        let requests = Action::AliasUser
            .plan(Some(json!({"userId": "a", "previousUserId": "b"})), &settings)
            .unwrap();
        let printed = format!("{settings:?} {requests:?}");
        assert!(!printed.contains("sk-very-secret"), "{printed}");
        assert!(printed.contains("***"));
        assert_eq!(
            requests[0].headers[0],
            ("x-encharge-token", "sk-very-secret".to_owned())
        );
    }

    #[test]
    fn urls_come_from_the_settings() {
        let settings = Settings {
            ingest_url: "http://127.0.0.1:9000/ingest".to_owned(),
            api_url: "http://127.0.0.1:9000/".to_owned(),
            ..Settings::new("k")
        };
        let event = Action::TrackPageView
            .plan(Some(json!({"type": "page"})), &settings)
            .unwrap();
        assert_eq!(event[0].url, "http://127.0.0.1:9000/ingest");
        let tag = Action::AddTag
            .plan(Some(json!({"tag": "t", "userId": "u"})), &settings)
            .unwrap();
        assert_eq!(tag[0].url, "http://127.0.0.1:9000/v1/tags");
    }

    #[test]
    fn context_null_fails_the_event_after_validation() {
        let settings = Settings::new("k");
        let payload = json!({"userId": "a", "previousUserId": "b"});
        let err = |event: Value, payload: Value| {
            Action::AliasUser
                .plan_event(&event, &Mapped::Val(payload), &settings)
                .err()
                .map(|e| e.kind)
        };
        assert_eq!(
            err(json!({"context": null}), payload.clone()),
            Some(ValidationErrorKind::ContextNull)
        );
        assert_eq!(
            err(json!({"context": null}), json!({})),
            Some(ValidationErrorKind::MissingField)
        );
        assert_eq!(err(json!({"context": 5}), payload.clone()), None);
        assert_eq!(err(json!(null), payload), None);
    }

    #[test]
    fn body_bytes_are_compact_json() {
        let requests = Action::AddTag.plan(Some(json!({"tag": "t", "email": "a@example.com"})), &Settings::new("k"));
        let request = &requests.unwrap()[0];
        assert_eq!(request.body_bytes(), br#"{"tag":"t","email":"a@example.com"}"#);
        let delete = plan_delete(Some(&json!("u")), None, &Settings::new("k"));
        assert_eq!(delete[0].body_bytes(), b"");
    }
}
