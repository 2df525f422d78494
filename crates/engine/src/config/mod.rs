//! Config files: the YAML format users write, and loading it into a checked
//! [`Destination`](crate::Destination).
//!
//! Loading reads each file once (positions of every node are kept, see
//! [`yaml`]), checks its shape, then compiles every subscription: the FQL
//! trigger is parsed, the action looked up, the mapping merged with the
//! action's defaults and compiled. Every problem found is reported, each with
//! its file, line, column, subscription and field.

pub mod cases;
mod load;
pub mod yaml;

use serde::Deserialize;
use serde_json::{Map, Value};

pub use load::{Diagnostic, ErrorKind, LoadOptions, Loaded, Severity, load};

/// One config file.
///
/// ```yaml
/// version: 1
/// settings:
///   api_key: ${ENCHARGE_API_KEY}
/// subscriptions:
///   - name: Track Event
///     trigger: 'type = "track"'
///     action: trackEvent
/// ```
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct ConfigFile {
    /// Version of the config format. Always `1`.
    #[cfg_attr(feature = "schemars", schemars(range(min = 1, max = 1)))]
    pub version: u32,
    /// Where requests go and with which API key; the write keys `serve` accepts.
    #[serde(default)]
    pub settings: SettingsConfig,
    /// Which events go to which action, and how their fields are filled in.
    #[serde(default)]
    pub subscriptions: Vec<SubscriptionConfig>,
}

/// Destination settings. Strings may use `${VAR}` to read an environment variable.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SettingsConfig {
    /// The Encharge API key (Encharge: Account → Integrations → API key), usually `${ENCHARGE_API_KEY}`.
    pub api_key: Option<String>,
    /// Base URL of Encharge's ingest API. Default `https://ingest.encharge.io/v1`.
    pub ingest_url: Option<String>,
    /// Base URL of Encharge's REST API (tags, people, objects). Default `https://api.encharge.io`.
    pub api_url: Option<String>,
    /// Write keys that `encharge-actions serve` accepts from Segment clients (the basic-auth user
    /// name, or the body's `writeKey`), besides those of `--write-key` and `ENCHARGE_WRITE_KEYS`.
    /// Each may use `${VAR}`, e.g. `- ${SEGMENT_WRITE_KEY}`. A reload of the config applies them at
    /// once. Other commands ignore them.
    #[cfg_attr(feature = "schemars", schemars(inner(length(min = 1))))]
    pub write_keys: Option<Vec<String>>,
}

/// One subscription: a trigger, an action and a mapping.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
#[cfg_attr(feature = "schemars", derive(schemars::JsonSchema))]
pub struct SubscriptionConfig {
    /// A name, unique across the config; it appears in errors, `map` output and metrics.
    pub name: String,
    /// Which events this subscription takes, in Segment's FQL, e.g. `type = "track" and event = "Order Completed"`.
    pub trigger: String,
    /// The Encharge action to run: `trackEvent`, `identifyUser`, `trackPageView`, `aliasUser`,
    /// `createUpdateObject`, `addTag` or `removeTag`.
    pub action: String,
    /// `false` keeps the subscription in the file but off.
    #[serde(default = "yes")]
    pub enabled: bool,
    /// Start from the action's default mapping (`true`, the default) or from an empty one.
    #[serde(default = "yes")]
    pub use_defaults: bool,
    /// Field name → value: a raw value, a mapping-kit directive (`{"@path": "$.properties"}`)
    /// or `{"@jmespath": "expr"}`. `null` leaves the field unmapped. Fields not listed keep the default.
    #[serde(default)]
    pub mapping: Map<String, Value>,
}

fn yes() -> bool {
    true
}
