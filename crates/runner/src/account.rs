//! The account calls around the actions: checking the API key
//! (`GET /v1/accounts/info`), deleting a user (`DELETE /v1/people?...`) and
//! listing the account's custom object types (`GET /v1/schemas`).
//!
//! They go through the same client and retry rules as delivery; a 401 or 403
//! is [`ErrorKind::ApiKeyRejected`].

use std::time::Duration;

use encharge_engine::actions::{Settings, plan_delete};
use serde_json::Value;

use crate::delivery::client::{self, ClientOptions};
use crate::delivery::retry::{Backoff, RetryPolicy};
use crate::delivery::{Request, request_with_retries};
use crate::error::{Error, ErrorKind};

/// Retries of an account call: a few, within a minute (someone is waiting at a terminal).
pub const ACCOUNT_RETRY: RetryPolicy = RetryPolicy {
    max_attempts: 4,
    window: Duration::from_secs(60),
    backoff: Backoff {
        initial: Duration::from_millis(500),
        max: Duration::from_secs(5),
    },
};

/// `{api_url}{path}`.
fn api(settings: &Settings, path: &str) -> String {
    format!("{}{path}", settings.api_url.trim_end_matches('/'))
}

fn get(url: String) -> Result<Request, Error> {
    Ok(Request {
        method: reqwest::Method::GET,
        url: reqwest::Url::parse(&url)
            .map_err(|e| Error::new(ErrorKind::Config, format!("settings.api_url: not a URL: {e}")))?,
        headers: Vec::new(),
        body: None,
    })
}

fn json(body: &[u8], what: &str) -> Result<Value, Error> {
    serde_json::from_slice(body)
        .map_err(|e| Error::new(ErrorKind::Response, format!("{what}: the answer is not JSON: {e}")))
}

/// `GET /v1/accounts/info`: the account the API key belongs to (Encharge's JSON as is).
pub async fn check_auth(client: &reqwest::Client, settings: &Settings) -> Result<Value, Error> {
    let request = get(api(settings, "/v1/accounts/info"))?;
    let (_, body) = request_with_retries(client, crate::api_key(settings), &request, &ACCOUNT_RETRY).await?;
    json(&body, "GET /v1/accounts/info")
}

/// Whom to delete.
#[derive(Debug, Clone)]
pub enum User {
    /// By Segment/Encharge `userId`.
    UserId(String),
    /// By Segment `anonymousId`.
    AnonymousId(String),
}

/// Deletes a user (the request Segment's destination sends, the id URL-encoded).
/// Returns the status.
pub async fn delete_user(client: &reqwest::Client, settings: &Settings, user: &User) -> Result<u16, Error> {
    let planned = match user {
        User::UserId(id) => plan_delete(Some(&Value::String(id.clone())), None, settings),
        User::AnonymousId(id) => plan_delete(None, Some(&Value::String(id.clone())), settings),
    };
    let Some(planned) = planned.first() else {
        return Err(Error::new(ErrorKind::Config, "no deletion request: the id is empty"));
    };
    let request = Request::from_planned(planned)?;
    let (status, _) = request_with_retries(client, crate::api_key(settings), &request, &ACCOUNT_RETRY).await?;
    Ok(status)
}

/// `GET /v1/schemas`: the names of the account's object types (e.g. `company`),
/// the values `createUpdateObject`'s `objectType` may take.
pub async fn object_types(client: &reqwest::Client, settings: &Settings) -> Result<Vec<String>, Error> {
    let request = get(api(settings, "/v1/schemas"))?;
    let (_, body) = request_with_retries(client, crate::api_key(settings), &request, &ACCOUNT_RETRY).await?;
    let value = json(&body, "GET /v1/schemas")?;
    let objects = value.get("objects").and_then(Value::as_array).ok_or_else(|| {
        Error::new(
            ErrorKind::Response,
            "GET /v1/schemas: the answer has no \"objects\" list",
        )
    })?;
    Ok(objects
        .iter()
        .filter_map(|o| o.get("name").and_then(Value::as_str).map(str::to_owned))
        .collect())
}

/// [`object_types`] for synchronous callers (e.g. `validate --online`): builds a
/// client and a small runtime of its own. Do not call it from async code.
pub fn fetch_object_types(settings: &Settings) -> Result<Vec<String>, Error> {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    let client = client::build(&ClientOptions::default())?;
    runtime.block_on(object_types(&client, settings))
}
