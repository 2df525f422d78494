//! Test files of a user's own mappings (`encharge-actions test`): events, and
//! what each must produce.
//!
//! ```yaml
//! config: ../tags-from-traits.yaml
//! cases:
//!   - name: trial users get the tag
//!     event: { type: identify, userId: u1, traits: { email: a@example.com, plan: trial } }
//!     expect:
//!       - subscription: Tag trial users
//!         action: addTag
//!         method: POST
//!         url: https://api.encharge.io/v1/tags
//!         body: { tag: trial-user, email: a@example.com, userId: u1 }
//!   - name: page views send nothing
//!     event: { type: page, name: Home }
//!     expect: []
//! ```
//!
//! [`outcomes`] runs an event the way `map` does and gives what a case expects,
//! so comparing and re-blessing are plain data work.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::Destination;

/// A file of test cases.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TestFile {
    /// The config the cases test: a file, or a directory of `*.yaml` files, relative to this file.
    /// `encharge-actions test --config` overrides it.
    #[serde(default)]
    pub config: Option<String>,
    /// The cases, run in order.
    pub cases: Vec<TestCase>,
}

/// One event and what it must produce.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct TestCase {
    /// What the case checks; shown in failures, unique in the file.
    pub name: String,
    /// The event, as a Segment library sends it (`type`, `userId`, `traits`, `properties`, `context`, …).
    #[cfg_attr(feature = "schemars", schemars(with = "serde_json::Map<String, Value>"))]
    pub event: Value,
    /// What must come out, in the order of the subscriptions: one entry per request, and one per
    /// subscription (or event) that fails with an error. `[]` means no request. Without `expect`,
    /// the case fails until `encharge-actions test --bless` writes it.
    #[serde(default)]
    pub expect: Option<Vec<Outcome>>,
}

/// One thing an event produced: a request, or an error.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(untagged)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub enum Outcome {
    /// A request that would be sent (the headers, which carry the API key, are left out).
    Request(ExpectedRequest),
    /// A subscription whose payload fails (a validation error: never sent), or an event
    /// that is not valid at all (then without `subscription`).
    Error(ExpectedError),
}

/// A request, as `map` plans it, without its headers.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ExpectedRequest {
    /// The subscription that made the request.
    pub subscription: String,
    /// Its action, e.g. `addTag`.
    pub action: String,
    /// The HTTP method: `POST` or `DELETE`.
    pub method: String,
    /// The full URL.
    pub url: String,
    /// The JSON body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub body: Option<Value>,
}

/// An error instead of a request.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ExpectedError {
    /// The subscription whose payload failed; none when the event itself is not valid.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subscription: Option<String>,
    /// The error message, exactly.
    pub error: String,
}

/// What `event` produces with `destination`, in the form a case expects.
pub fn outcomes(destination: &Destination, event: &Value) -> Vec<Outcome> {
    let mut planned = Vec::new();
    if let Err(e) = destination.plan(event, &mut planned) {
        return vec![Outcome::Error(ExpectedError {
            subscription: None,
            error: e.message,
        })];
    }
    let mut out = Vec::new();
    for p in planned {
        let subscription = &p.subscription.name;
        match p.result {
            Ok(requests) => out.extend(requests.into_iter().map(|r| {
                Outcome::Request(ExpectedRequest {
                    subscription: subscription.clone(),
                    action: p.subscription.action.name().to_owned(),
                    method: r.method.to_owned(),
                    body: r.body_json(),
                    url: r.url,
                })
            })),
            Err(e) => out.push(Outcome::Error(ExpectedError {
                subscription: Some(subscription.clone()),
                error: e.to_string(),
            })),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::{LoadOptions, load};
    use serde_json::json;

    #[test]
    fn outcomes_list_requests_and_errors_in_subscription_order() {
        let config = "version: 1\nsubscriptions:\n  - name: Tag\n    trigger: 'type = \"identify\"'\n    \
                      action: addTag\n    mapping: { tag: t }\n  - name: Identify\n    trigger: 'type = \"identify\"'\n    \
                      action: identifyUser\n";
        let files = vec![("c.yaml".to_owned(), config.to_owned())];
        let env = |_: &str| Some("key".to_owned());
        let options = LoadOptions {
            env: &env,
            require_api_key: false,
            require_write_keys: false,
        };
        let loaded = load(&files, &options).unwrap();
        let got = outcomes(&loaded.destination, &json!({"type": "identify", "userId": "u1"}));
        assert_eq!(got.len(), 2, "{got:?}");
        let Outcome::Request(tag) = &got[0] else {
            panic!("{got:?}")
        };
        assert_eq!((tag.subscription.as_str(), tag.method.as_str()), ("Tag", "POST"));
        assert_eq!(tag.url, "https://api.encharge.io/v1/tags");
        assert_eq!(tag.body, Some(json!({"tag": "t", "userId": "u1"})));
        let Outcome::Request(identify) = &got[1] else {
            panic!("{got:?}")
        };
        assert_eq!(identify.action, "identifyUser");

        let bad = outcomes(&loaded.destination, &json!({"type": "nope"}));
        assert_eq!(
            bad,
            vec![Outcome::Error(ExpectedError {
                subscription: None,
                error: "unknown event type \"nope\"; Segment's types are track, identify, page, screen, group, alias"
                    .to_owned(),
            })]
        );
    }
}
