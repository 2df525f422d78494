//! The seven Encharge actions: fields, default mappings, payload validation and requests.

use serde_json::Value;

/// One of the seven Encharge actions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Action {
    /// Track Event.
    TrackEvent,
    /// Identify User.
    IdentifyUser,
    /// Track Page View.
    TrackPageView,
    /// Alias User.
    AliasUser,
    /// Create or Update Object.
    CreateUpdateObject,
    /// Tag User.
    AddTag,
    /// Untag User.
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

    /// Looks an action up by its config name.
    pub fn from_name(name: &str) -> Option<Action> {
        Action::ALL.into_iter().find(|a| a.name() == name)
    }
}

/// Where and with which key requests go.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    /// The Encharge API key, sent as `X-Encharge-Token`.
    pub api_key: String,
    /// Base of the ingest API; events go to `{ingest_url}` itself.
    pub ingest_url: String,
    /// Base of the REST API (tags, people, accounts, schemas).
    pub api_url: String,
}

impl Settings {
    /// Settings with the given key and Encharge's public endpoints.
    pub fn new(api_key: String) -> Settings {
        Settings {
            api_key,
            ingest_url: "https://ingest.encharge.io/v1".to_owned(),
            api_url: "https://api.encharge.io".to_owned(),
        }
    }
}

/// An HTTP request ready to send.
#[derive(Debug, Clone, PartialEq)]
pub struct PlannedRequest {
    /// Upper-case HTTP method.
    pub method: &'static str,
    /// Full URL.
    pub url: String,
    /// Header names (lower case) and values.
    pub headers: Vec<(&'static str, String)>,
    /// JSON body, if any.
    pub body: Option<Value>,
}

/// A payload that cannot be sent.
#[derive(Debug, Clone, PartialEq)]
pub struct ValidationError {
    /// The payload field at fault, if one is.
    pub field: Option<String>,
    /// What went wrong.
    pub message: String,
}

impl Action {
    /// Builds the request for a mapped payload (`None`: the mapping resolved to undefined).
    pub fn plan(self, _payload: Option<Value>, _settings: &Settings) -> Result<Vec<PlannedRequest>, ValidationError> {
        Err(ValidationError {
            field: None,
            message: "actions are not implemented yet".to_owned(),
        })
    }
}

impl PlannedRequest {
    /// The request as `{"method", "url", "headers", "body"}`, the format of `eval` and the corpus.
    pub fn to_json(&self) -> Value {
        let headers: serde_json::Map<String, Value> = self
            .headers
            .iter()
            .map(|(k, v)| ((*k).to_owned(), Value::String(v.clone())))
            .collect();
        serde_json::json!({ "method": self.method, "url": self.url, "headers": headers, "body": self.body })
    }
}

impl std::fmt::Display for ValidationError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.field {
            Some(field) => write!(f, "field {field}: {}", self.message),
            None => f.write_str(&self.message),
        }
    }
}

impl Action {
    /// The action's fields.
    pub fn fields(self) -> &'static [Field] {
        &[]
    }

    /// The action's default mapping, as Segment's presets use it.
    pub fn default_mapping(self) -> Value {
        Value::Null
    }
}

/// The user-deletion request: by `userId`, else by `anonymousId`; none when neither is set.
pub fn plan_delete(
    _user_id: Option<&Value>,
    _anonymous_id: Option<&Value>,
    _settings: &Settings,
) -> Vec<PlannedRequest> {
    Vec::new()
}

/// A field of an action's payload.
#[derive(Debug)]
pub struct Field {
    /// Its name in the mapping.
    pub name: &'static str,
    /// Whether the payload must have it.
    pub required: bool,
}
